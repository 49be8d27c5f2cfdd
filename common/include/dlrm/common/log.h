// Logging through spdlog. Every line carries the program and, under MPI, the
// rank: "[12:00:01.234] [dlrm-cluster r3] [info] ...".
#pragma once

#include <spdlog/spdlog.h>

#include <string>

namespace dlrm {

// rank < 0: not an MPI program. Level from DLRM_LOG_LEVEL (trace..off), default info.
void init_logging(const std::string& program, int rank = -1);

// Maps an exception escaping main() to one clear line on stderr; returns the exit code.
int report_fatal(const std::exception& e);

}  // namespace dlrm
