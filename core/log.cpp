#include "core/log.hpp"

#include <cstdlib>

#include <spdlog/sinks/stdout_color_sinks.h>

namespace ibnbd {

namespace {

std::shared_ptr<spdlog::logger> make_logger() {
    auto logger = spdlog::stderr_color_mt("ibnbd");
    const char* level = std::getenv("IBNBD_LOG");
    logger->set_level(level ? spdlog::level::from_str(level) : spdlog::level::warn);
    logger->set_pattern("%H:%M:%S.%f %^%l%$ %v");
    return logger;
}

}  // namespace

spdlog::logger& log() {
    static const std::shared_ptr<spdlog::logger> logger = make_logger();
    return *logger;
}

}  // namespace ibnbd
