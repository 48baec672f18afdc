// API key files and constant-time matching.
#include "common/api_keys.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace r1 {
namespace {

TEST(ApiKeysTest, ParseFile) {
  auto keys = ParseApiKeys("# comment\n\n  sk-one  \nsk-two\r\n", "keys.txt");
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_EQ(*keys, (std::vector<std::string>{"sk-one", "sk-two"}));
  EXPECT_FALSE(ParseApiKeys("# only a comment\n", "k").ok());
  auto bad = ParseApiKeys("good\nsk bad\n", "k");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("k:2"), absl::string_view::npos);
  EXPECT_EQ(bad.status().message().find("sk bad"), absl::string_view::npos);  // never the key
  EXPECT_FALSE(ParseApiKeys(std::string(600, 'a'), "k").ok());
  EXPECT_FALSE(LoadApiKeysFile("/nonexistent/keys").ok());
}

TEST(ApiKeysTest, Matching) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "ab"));
  ApiKeySet none;
  EXPECT_TRUE(none.empty());
  EXPECT_FALSE(none.Matches("x"));
  ApiKeySet keys({"short", "a-much-longer-key"});
  EXPECT_TRUE(keys.Matches("short"));
  EXPECT_TRUE(keys.Matches("a-much-longer-key"));
  EXPECT_FALSE(keys.Matches("shor"));
  EXPECT_FALSE(keys.Matches("shortt"));
  EXPECT_FALSE(keys.Matches(std::string("short\0\0", 7)));  // zero padding is not a match
  EXPECT_FALSE(keys.Matches(""));
  EXPECT_FALSE(keys.Matches("a-much-longer-key-and-more"));
  EXPECT_TRUE(keys.Authorizes("Bearer short"));
  EXPECT_TRUE(keys.Authorizes("  BEARER   short  "));
  EXPECT_FALSE(keys.Authorizes("short"));
  EXPECT_FALSE(keys.Authorizes("Bearer"));
  EXPECT_FALSE(keys.Authorizes("Token short"));
}

}  // namespace
}  // namespace r1
