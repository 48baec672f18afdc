#include "common/logging.h"
#include "common/status_macros.h"

#include <sstream>

#include <gtest/gtest.h>

#include "spdlog/sinks/ostream_sink.h"

namespace r1 {
namespace {

TEST(LoggingTest, EveryLineCarriesTheRequestId) {
  std::ostringstream out;
  log::Init("test", "debug");
  log::SetSinkForTesting(std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  log::Info("req-42", "admitted prompt_tokens={}", 17);
  log::Warn({}, "process-level event");
  log::Debug("req-43", "debug {}", "line");
  std::string text = out.str();
  EXPECT_NE(text.find(" I test req=req-42 admitted prompt_tokens=17\n"), std::string::npos) << text;
  EXPECT_NE(text.find(" W test req=- process-level event\n"), std::string::npos) << text;
  EXPECT_NE(text.find("req=req-43 debug line"), std::string::npos) << text;
}

TEST(LoggingTest, LevelFiltersLines) {
  std::ostringstream out;
  log::Init("test", "warn");
  log::SetSinkForTesting(std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  log::Info("r", "hidden");
  log::Error("r", "shown");
  EXPECT_EQ(out.str().find("hidden"), std::string::npos);
  EXPECT_NE(out.str().find("shown"), std::string::npos);
}

TEST(StatusMacrosTest, PropagateErrorsAndValues) {
  auto fails = []() -> absl::StatusOr<int> { return absl::NotFoundError("nope"); };
  auto works = []() -> absl::StatusOr<int> { return 5; };
  auto use = [&](bool ok) -> absl::StatusOr<int> {
    ASSIGN_OR_RETURN(int v, ok ? works() : fails());
    RETURN_IF_ERROR(v == 5 ? absl::OkStatus() : absl::InternalError("bad"));
    return v * 2;
  };
  EXPECT_EQ(*use(true), 10);
  EXPECT_EQ(use(false).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace r1
