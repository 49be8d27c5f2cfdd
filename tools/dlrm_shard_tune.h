// dlrm-shard tune-precision (dlrm_shard_tune.cc): the subcommand of dlrm-shard
// that chooses a storage type per table and int8 MLP layers on labelled data.
#pragma once

#include <CLI/CLI.hpp>

#include "dlrm/precision/tune.h"

struct TunePrecisionCommand {
  dlrm::precision::TuneOptions options;
  std::string objective = "bytes";
  bool no_progress = false;

  CLI::App* add_to(CLI::App& app);
  int run();
};
