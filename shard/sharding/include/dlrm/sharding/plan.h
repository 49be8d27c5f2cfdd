// The sharding planner: which shard holds which rows and columns of which table.
//
// Plan kinds:
//   table   whole tables only, largest first onto the least-loaded shard (LPT)
//   row     every table with at least `shards` rows split into contiguous row
//           ranges over all shards; smaller tables whole
//   column  every table split into `column_splits` column blocks, blocks placed
//           like whole tables
//   auto    balanced hybrid: whole tables where they fit, large tables split
//           into row ranges only where needed so that largest / mean shard
//           bytes stays close to 1 (<= 1.05 on terabyte-40m for 2..8 shards)
// Every plan covers every (table, row, column) exactly once (check_plan).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dlrm/model/manifest.h"

namespace dlrm::sharding {

enum class PlanKind { kAuto, kTable, kRow, kColumn };
std::string to_string(PlanKind kind);
PlanKind parse_plan_kind(const std::string& name);

struct PlanOptions {
  PlanKind kind = PlanKind::kAuto;
  int shards = 1;
  model::StorageType dtype = model::StorageType::kFp32;
  uint64_t max_shard_bytes = 0;  // 0: unlimited
  int column_splits = 2;         // for kColumn; must divide arch.dim
};

// Returns one ShardInfo per shard with slices and embedding_bytes filled in
// (file, file_bytes, checksum left empty). Throws dlrm::Error for zero shards,
// more shards than rows, and a model that cannot fit max_shard_bytes (naming
// the shortfall and the shard count that would fit).
std::vector<model::ShardInfo> make_plan(const model::ModelArch& arch, const PlanOptions& options);

// largest shard bytes / mean shard bytes
double plan_imbalance(const std::vector<model::ShardInfo>& shards);

}  // namespace dlrm::sharding
