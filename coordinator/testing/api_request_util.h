// Helpers for coordinator/api's tests: chat requests and messages, a PromptBuilder over the tiny
// tokenizer with a given template, and the templates of tests/templates. Header-only; tests only.
#ifndef R1_COORDINATOR_TESTING_API_REQUEST_UTIL_H_
#define R1_COORDINATOR_TESTING_API_REQUEST_UTIL_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/file_util.h"
#include "coordinator/api/openai_request.h"
#include "coordinator/api/prompt_builder.h"
#include "coordinator/testing/tiny_tokenizer.h"
#include "gtest/gtest.h"

namespace r1::testing {

inline const std::string kBos = "<｜begin▁of▁sentence｜>";

// A builder with template `source` (bos/eos as the tiny tokenizer's).
inline absl::StatusOr<std::unique_ptr<api::PromptBuilder>> BuilderWith(const std::string& source) {
  api::ChatTemplateConfig c;
  c.source = source;
  c.origin = "test.jinja";
  c.bos_token = kBos;
  c.eos_token = kEos;
  return api::PromptBuilder::Create(&TinyTokenizer(), kEos, c);
}

// tests/templates/<name> (a checkpoint's chat template); fails the test when unreadable.
inline std::string TemplateFile(const std::string& name) {
  auto text = ReadFileBounded("tests/templates/" + name, 1 << 20);
  EXPECT_TRUE(text.ok()) << text.status();
  return text.ok() ? *text : "";
}

inline api::OpenAiRequest ChatRequest(std::vector<api::ChatMessage> messages,
                                      std::string kwargs = "") {
  api::OpenAiRequest r;
  r.kind = api::ApiKind::kChat;
  r.model = kModelId;
  r.messages = std::move(messages);
  r.chat_template_kwargs = std::move(kwargs);
  return r;
}

inline api::ChatMessage Msg(std::string role, std::string content) {
  api::ChatMessage m;
  m.role = std::move(role);
  m.content = std::move(content);
  return m;
}

}  // namespace r1::testing

#endif  // R1_COORDINATOR_TESTING_API_REQUEST_UTIL_H_
