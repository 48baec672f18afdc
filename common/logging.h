// Structured logging: one line per event, every line carries a request id field
// (`req=<id>`, or `req=-` for process-level events). Backed by spdlog; thread-safe.
//
//   r1::log::Info(request_id, "admitted prompt_tokens={}", n);
//   r1::log::Warn({}, "worker {} missed heartbeat", id);
#ifndef R1_COMMON_LOGGING_H_
#define R1_COMMON_LOGGING_H_

#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/string_view.h"
#include "spdlog/spdlog.h"

#if !defined(ABSL_USES_STD_STRING_VIEW)
// Debian's abseil has its own string_view type (absl::Status::message() returns it); let log
// lines format it like any string.
template <>
struct fmt::formatter<absl::string_view> : fmt::formatter<fmt::string_view> {
  template <typename Context>
  auto format(absl::string_view s, Context& ctx) const {
    return fmt::formatter<fmt::string_view>::format(fmt::string_view(s.data(), s.size()), ctx);
  }
};
#endif

namespace r1::log {

// Sets the process-wide logger name ("coordinator", "worker", ...) and level
// ("trace", "debug", "info", "warn", "error", "off"). Unknown levels fall back to info.
void Init(std::string_view process, std::string_view level);

// Replaces the logger's sink (tests capture output this way). Not for concurrent use with Init.
void SetSinkForTesting(std::shared_ptr<spdlog::sinks::sink> sink);

spdlog::logger& Logger();

namespace internal {
inline std::string_view ReqOrDash(std::string_view id) { return id.empty() ? "-" : id; }
}  // namespace internal

template <typename... Args>
void Info(std::string_view request_id, spdlog::format_string_t<Args...> fmt, Args&&... args) {
  Logger().info("req={} {}", internal::ReqOrDash(request_id),
                fmt::format(fmt, std::forward<Args>(args)...));
}
template <typename... Args>
void Warn(std::string_view request_id, spdlog::format_string_t<Args...> fmt, Args&&... args) {
  Logger().warn("req={} {}", internal::ReqOrDash(request_id),
                fmt::format(fmt, std::forward<Args>(args)...));
}
template <typename... Args>
void Error(std::string_view request_id, spdlog::format_string_t<Args...> fmt, Args&&... args) {
  Logger().error("req={} {}", internal::ReqOrDash(request_id),
                 fmt::format(fmt, std::forward<Args>(args)...));
}
template <typename... Args>
void Debug(std::string_view request_id, spdlog::format_string_t<Args...> fmt, Args&&... args) {
  if (!Logger().should_log(spdlog::level::debug)) return;
  Logger().debug("req={} {}", internal::ReqOrDash(request_id),
                 fmt::format(fmt, std::forward<Args>(args)...));
}

}  // namespace r1::log

#endif  // R1_COMMON_LOGGING_H_
