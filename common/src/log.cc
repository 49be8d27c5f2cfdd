#include "dlrm/common/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <cstdlib>

#include "dlrm/common/error.h"

namespace dlrm {

void init_logging(const std::string& program, int rank) {
  std::string name = rank >= 0 ? fmt::format("{} r{}", program, rank) : program;
  auto logger = spdlog::stderr_color_mt(name);
  logger->set_pattern("[%H:%M:%S.%e] [%n] [%^%l%$] %v");
  spdlog::level::level_enum level = spdlog::level::info;
  if (const char* env = std::getenv("DLRM_LOG_LEVEL")) level = spdlog::level::from_str(env);
  logger->set_level(level);
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
}

int report_fatal(const std::exception& e) {
  if (auto* err = dynamic_cast<const Error*>(&e)) {
    spdlog::debug("raised at {}:{}", err->src_file(), err->src_line());
  }
  spdlog::error("{}", e.what());
  spdlog::default_logger()->flush();
  return 1;
}

}  // namespace dlrm
