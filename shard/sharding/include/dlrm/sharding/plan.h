// The sharding planner: which shard holds which rows and columns of which table.
//
// Plan kinds (tables taken largest first, ties by index):
//   table   each table whole onto the least-loaded shard (LPT); shards <= tables
//   row     every table with at least `shards` rows cut into `shards` contiguous
//           row ranges, range s on shard s; smaller tables whole (least-loaded)
//   column  every table cut into `column_splits` column blocks (dividing dim),
//           each placed like a whole table; shards <= tables * column_splits
//   auto    whole onto the least-loaded shard while that stays <= mean * 1.03
//           (and <= max_shard_bytes); otherwise the table is cut into row
//           ranges filling the least-loaded shards up to the mean
// Loads are bytes: rows * row_stride(type of the slice's table, cols). Every shard gets at least
// one slice, and every plan covers every (table, row, column) exactly once
// (check_plan).
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
  ElementType dtype = ElementType::kFp32;
  std::vector<ElementType> table_dtypes;  // one per table, or empty: every table is dtype
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
