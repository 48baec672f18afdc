#include "common/logging.h"

#include <mutex>

#include "spdlog/sinks/stdout_sinks.h"

namespace r1::log {
namespace {

constexpr const char* kPattern = "%Y-%m-%dT%H:%M:%S.%eZ %L %n %v";

std::mutex& Mu() {
  static std::mutex mu;
  return mu;
}

std::shared_ptr<spdlog::logger>& Instance() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto l =
        std::make_shared<spdlog::logger>("r1", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    l->set_pattern(kPattern, spdlog::pattern_time_type::utc);
    return l;
  }();
  return logger;
}

}  // namespace

void Init(std::string_view process, std::string_view level) {
  std::lock_guard<std::mutex> lock(Mu());
  auto sinks = Instance()->sinks();
  auto l = std::make_shared<spdlog::logger>(std::string(process), sinks.begin(), sinks.end());
  l->set_pattern(kPattern, spdlog::pattern_time_type::utc);
  auto lvl = spdlog::level::from_str(std::string(level));
  if (lvl == spdlog::level::off && level != "off") lvl = spdlog::level::info;
  l->set_level(lvl);
  l->flush_on(spdlog::level::warn);
  Instance() = l;
}

void SetSinkForTesting(std::shared_ptr<spdlog::sinks::sink> sink) {
  std::lock_guard<std::mutex> lock(Mu());
  auto l = std::make_shared<spdlog::logger>(Instance()->name(), sink);
  l->set_pattern(kPattern, spdlog::pattern_time_type::utc);
  l->set_level(Instance()->level());
  Instance() = l;
}

spdlog::logger& Logger() { return *Instance(); }

}  // namespace r1::log
