#include "coordinator/http/http_server_options.h"

#include "absl/strings/str_cat.h"

namespace r1::http {
namespace {

absl::Status Bad(absl::string_view field, absl::string_view range, absl::string_view got) {
  return absl::InvalidArgumentError(
      absl::StrCat("HTTP server options: ", field, " must be ", range, ", got ", got));
}

absl::Status CheckInt(absl::string_view field, long long value, long long low, long long high,
                      absl::string_view note = "") {
  if (value >= low && value <= high) return absl::OkStatus();
  return Bad(field, absl::StrCat("in [", low, ", ", high, "]", note), absl::StrCat(value));
}

// (low, high], or [low, high] with `low_inclusive`.
absl::Status CheckDuration(absl::string_view field, absl::Duration value, absl::Duration low,
                           absl::Duration high, bool low_inclusive = false) {
  const bool ok = (low_inclusive ? value >= low : value > low) && value <= high;
  if (ok) return absl::OkStatus();
  return Bad(field,
             absl::StrCat("in ", low_inclusive ? "[" : "(", absl::FormatDuration(low), ", ",
                          absl::FormatDuration(high), "]"),
             absl::FormatDuration(value));
}

}  // namespace

absl::Status ValidateOpenAiHttpServerOptions(const OpenAiHttpServerOptions& o) {
  constexpr long long kMaxConnections = 1 << 20;
  const absl::Duration zero = absl::ZeroDuration();
  const absl::Duration day = absl::Hours(24);
  if (o.address.empty()) return Bad("address", "an IP address", "''");
  for (absl::Status s : {
           CheckInt("port", o.port, 0, 65535),
           CheckInt("io_threads", o.io_threads, 1, 256),
           CheckInt("request_threads", o.request_threads, 1, 256),
           CheckInt("max_connections", o.max_connections, 1, kMaxConnections),
           CheckInt("max_connections_per_client", o.max_connections_per_client, 0, kMaxConnections,
                    " (0 = no limit)"),
           CheckInt("max_body_bytes", static_cast<long long>(o.max_body_bytes), 1, 1ll << 32),
           CheckInt("max_header_bytes", static_cast<long long>(o.max_header_bytes), 1024, 1 << 20),
           CheckInt("linger_max_bytes", static_cast<long long>(o.linger_max_bytes), 0, 1ll << 32),
           CheckInt("retry_after_s", o.retry_after_s, 1, 3600),
           CheckDuration("read_timeout", o.read_timeout, zero, day),
           CheckDuration("idle_timeout", o.idle_timeout, zero, day),
           CheckDuration("write_timeout", o.write_timeout, zero, day),
           CheckDuration("request_timeout", o.request_timeout, zero, absl::Hours(24 * 7)),
           CheckDuration("drain_timeout", o.drain_timeout, zero, day, /*low_inclusive=*/true),
           CheckDuration("linger_timeout", o.linger_timeout, zero, absl::Minutes(10),
                         /*low_inclusive=*/true),
       }) {
    if (!s.ok()) return s;
  }
  for (const std::string& key : o.api_keys) {
    if (key.empty()) return Bad("api_keys", "non-empty strings", "an empty key");
  }
  return absl::OkStatus();
}

}  // namespace r1::http
