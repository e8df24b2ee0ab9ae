#include "fabric/verbs/verbs_log.hpp"

#include <cstdlib>

#include <spdlog/sinks/stdout_color_sinks.h>

namespace ibnbd::fabric::verbs {

namespace {

std::shared_ptr<spdlog::logger> make_logger() {
    auto logger = spdlog::get("ibnbd.verbs");
    if (logger) return logger;
    logger = spdlog::stderr_color_mt("ibnbd.verbs");
    const char* level = std::getenv("IBNBD_LOG");
    logger->set_level(level ? spdlog::level::from_str(level) : spdlog::level::warn);
    logger->set_pattern("%H:%M:%S.%f %^%l%$ [verbs] %v");
    return logger;
}

}  // namespace

spdlog::logger& verbs_log() {
    static const std::shared_ptr<spdlog::logger> logger = make_logger();
    return *logger;
}

}  // namespace ibnbd::fabric::verbs
