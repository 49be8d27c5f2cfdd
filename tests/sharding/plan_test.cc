#include "dlrm/sharding/plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <regex>
#include <set>

#include "test_files.h"
#include "dlrm/common/error.h"

namespace dlrm::sharding {
namespace {

PlanOptions options_for(PlanKind kind, int shards) {
  PlanOptions options;
  options.kind = kind;
  options.shards = shards;
  return options;
}

// Independent of check_plan: counts every (table, row, column) cell held by
// the plan through per-table interval sums, and checks row ranges of slices
// sharing columns are disjoint.
void expect_exact_cover(const model::ModelArch& arch, const std::vector<model::ShardInfo>& shards) {
  std::map<int, std::vector<model::Slice>> by_table;
  for (const auto& info : shards) {
    EXPECT_FALSE(info.slices.empty()) << "shard " << info.shard << " is empty";
    for (const auto& s : info.slices) by_table[s.table].push_back(s);
  }
  ASSERT_EQ(static_cast<int>(by_table.size()), arch.num_tables());
  for (auto& [t, slices] : by_table) {
    uint64_t cells = 0;
    for (const auto& s : slices) {
      EXPECT_GE(s.row_begin, 0);
      EXPECT_LE(s.row_end, arch.table_rows[t]);
      EXPECT_LT(s.row_begin, s.row_end);
      cells += static_cast<uint64_t>(s.rows()) * s.cols();
    }
    EXPECT_EQ(cells, static_cast<uint64_t>(arch.table_rows[t]) * arch.dim) << "table " << t;
    for (size_t i = 0; i < slices.size(); ++i) {
      for (size_t j = i + 1; j < slices.size(); ++j) {
        const model::Slice& a = slices[i];
        const model::Slice& b = slices[j];
        bool rows_meet = a.row_begin < b.row_end && b.row_begin < a.row_end;
        bool cols_meet = a.col_begin < b.col_end && b.col_begin < a.col_end;
        EXPECT_FALSE(rows_meet && cols_meet) << "table " << t << " slices overlap";
      }
    }
  }
}

uint64_t sum_bytes(const std::vector<model::ShardInfo>& shards) {
  uint64_t total = 0;
  for (const auto& s : shards) total += s.embedding_bytes;
  return total;
}

class ShardPlanTerabyteAuto : public ::testing::TestWithParam<int> {};

TEST_P(ShardPlanTerabyteAuto, BalancedWithFewSplits) {
  const int shards = GetParam();
  model::ModelArch arch = model::make_preset("terabyte-40m");
  std::vector<model::ShardInfo> plan = make_plan(arch, options_for(PlanKind::kAuto, shards));
  ASSERT_EQ(static_cast<int>(plan.size()), shards);
  EXPECT_NO_THROW(model::check_plan(arch, plan));
  expect_exact_cover(arch, plan);
  EXPECT_EQ(sum_bytes(plan), 96136908288ull);  // DESIGN.md: 96,136,908,288 bytes of fp32

  double imbalance = plan_imbalance(plan);
  std::set<int> split_tables;
  size_t slices = 0;
  for (const auto& info : plan) {
    slices += info.slices.size();
    for (const auto& s : info.slices) {
      if (s.rows() != arch.table_rows[s.table]) split_tables.insert(s.table);
      EXPECT_EQ(s.cols(), arch.dim) << "auto splits rows only";
    }
  }
  std::printf("terabyte-40m auto, %d shards: largest/mean %.4f, %zu slices, %zu tables split\n", shards, imbalance,
              slices, split_tables.size());
  EXPECT_LE(imbalance, 1.05);
  // Every cut fills a shard up to the mean: at most `shards` cuts in all.
  EXPECT_LE(slices, static_cast<size_t>(arch.num_tables() + shards));
  // Only tables larger than ~a mean shard, or those landing on a full shard, are split.
  EXPECT_LE(split_tables.size(), static_cast<size_t>(shards));
  for (int t : split_tables) {
    EXPECT_GT(arch.table_rows[t], 1000000) << "small table " << t << " was split";
  }
}

INSTANTIATE_TEST_SUITE_P(Shards, ShardPlanTerabyteAuto, ::testing::Values(2, 3, 4, 8));

TEST(ShardPlan, AutoKeepsWholeTablesWhenTheyBalance) {
  model::ModelArch arch = model::make_preset("small");
  arch.table_rows = {1000, 1000, 1000, 1000};
  std::vector<model::ShardInfo> plan = make_plan(arch, options_for(PlanKind::kAuto, 2));
  for (const auto& info : plan) {
    ASSERT_EQ(info.slices.size(), 2u);
    for (const auto& s : info.slices) EXPECT_EQ(s.rows(), 1000);
  }
  EXPECT_DOUBLE_EQ(plan_imbalance(plan), 1.0);
}

TEST(ShardPlan, AutoSplitsOneBigTable) {
  model::ModelArch arch = model::make_preset("small");
  arch.table_rows = {100000, 10, 10};
  std::vector<model::ShardInfo> plan = make_plan(arch, options_for(PlanKind::kAuto, 4));
  expect_exact_cover(arch, plan);
  EXPECT_LE(plan_imbalance(plan), 1.05);
}

TEST(ShardPlan, TablePlanPlacesWholeTables) {
  model::ModelArch arch = model::make_preset("terabyte-40m");
  std::vector<model::ShardInfo> plan = make_plan(arch, options_for(PlanKind::kTable, 4));
  expect_exact_cover(arch, plan);
  std::set<int> seen;
  for (const auto& info : plan) {
    for (const auto& s : info.slices) {
      EXPECT_EQ(s.rows(), arch.table_rows[s.table]);
      EXPECT_EQ(s.cols(), arch.dim);
      EXPECT_TRUE(seen.insert(s.table).second) << "table " << s.table << " placed twice";
    }
  }
  EXPECT_EQ(static_cast<int>(seen.size()), arch.num_tables());
  // The four tables of 38.5M-40M rows must land on four different shards (LPT).
  std::set<int> big_shards;
  for (const auto& info : plan) {
    for (const auto& s : info.slices) {
      if (arch.table_rows[s.table] > 38000000) big_shards.insert(info.shard);
    }
  }
  EXPECT_EQ(big_shards.size(), 4u);
}

TEST(ShardPlan, TablePlanWithMoreShardsThanTablesFails) {
  model::ModelArch arch = model::make_preset("small");
  EXPECT_ERROR_WITH(make_plan(arch, options_for(PlanKind::kTable, 27)), "27 shards", "26 tables", "--plan auto",
                    "row");
  EXPECT_NO_THROW(make_plan(arch, options_for(PlanKind::kTable, 26)));
}

TEST(ShardPlan, RowPlanSplitsLargeTablesOverAllShards) {
  model::ModelArch arch = model::make_preset("small");
  const int shards = 5;
  std::vector<model::ShardInfo> plan = make_plan(arch, options_for(PlanKind::kRow, shards));
  expect_exact_cover(arch, plan);
  for (int t = 0; t < arch.num_tables(); ++t) {
    std::vector<model::Slice> pieces;
    std::set<int> holders;
    for (const auto& info : plan) {
      for (const auto& s : info.slices) {
        if (s.table == t) {
          pieces.push_back(s);
          holders.insert(info.shard);
        }
      }
    }
    if (arch.table_rows[t] >= shards) {
      EXPECT_EQ(holders.size(), static_cast<size_t>(shards)) << "table " << t;
      std::sort(pieces.begin(), pieces.end(), [](auto& a, auto& b) { return a.row_begin < b.row_begin; });
      int64_t at = 0;
      for (const auto& p : pieces) {  // contiguous, disjoint, nearly equal ranges
        EXPECT_EQ(p.row_begin, at);
        EXPECT_LE(p.rows(), arch.table_rows[t] / shards + 1);
        at = p.row_end;
      }
      EXPECT_EQ(at, arch.table_rows[t]);
    } else {
      EXPECT_EQ(pieces.size(), 1u) << "small table " << t << " should stay whole";
    }
  }
}

TEST(ShardPlan, ColumnPlanSplitsColumns) {
  model::ModelArch arch = model::make_preset("small");  // dim 16
  PlanOptions options = options_for(PlanKind::kColumn, 3);
  options.column_splits = 4;
  std::vector<model::ShardInfo> plan = make_plan(arch, options);
  expect_exact_cover(arch, plan);
  for (const auto& info : plan) {
    for (const auto& s : info.slices) {
      EXPECT_EQ(s.cols(), 4);
      EXPECT_EQ(s.col_begin % 4, 0);
      EXPECT_EQ(s.rows(), arch.table_rows[s.table]);
    }
  }
  EXPECT_LE(plan_imbalance(plan), 1.05);
}

TEST(ShardPlan, ColumnSplitsMustDivideDim) {
  model::ModelArch arch = model::make_preset("small");
  PlanOptions options = options_for(PlanKind::kColumn, 2);
  options.column_splits = 3;
  EXPECT_ERROR_WITH(make_plan(arch, options), "--column-splits 3", "divide", "16");
  options.column_splits = 0;
  EXPECT_ERROR_WITH(make_plan(arch, options), "--column-splits 0");
}

TEST(ShardPlan, ZeroShardsFails) {
  model::ModelArch arch = model::make_preset("small");
  for (PlanKind kind : {PlanKind::kAuto, PlanKind::kTable, PlanKind::kRow, PlanKind::kColumn}) {
    EXPECT_ERROR_WITH(make_plan(arch, options_for(kind, 0)), "--shards", "at least 1");
  }
}

TEST(ShardPlan, MoreShardsThanRowsFails) {
  model::ModelArch arch = model::make_preset("small");
  arch.table_rows = {3, 2};
  EXPECT_ERROR_WITH(make_plan(arch, options_for(PlanKind::kAuto, 6)), "--shards 6", "5 embedding rows");
  EXPECT_ERROR_WITH(make_plan(arch, options_for(PlanKind::kRow, 6)), "--shards 6");
}

TEST(ShardPlan, EveryShardHoldsSomethingWhenRowsAreFew) {
  model::ModelArch arch = model::make_preset("small");
  arch.table_rows = {2, 2, 1};
  for (PlanKind kind : {PlanKind::kAuto, PlanKind::kRow}) {
    for (int shards = 1; shards <= 5; ++shards) {
      std::vector<model::ShardInfo> plan = make_plan(arch, options_for(kind, shards));
      expect_exact_cover(arch, plan);
    }
  }
}

TEST(ShardPlan, AllKindsCoverSmallPresetAtManyShardCounts) {
  model::ModelArch arch = model::make_preset("small");
  for (int shards = 1; shards <= 40; ++shards) {
    for (PlanKind kind : {PlanKind::kAuto, PlanKind::kRow, PlanKind::kTable, PlanKind::kColumn}) {
      if (kind == PlanKind::kTable && shards > arch.num_tables()) continue;
      if (kind == PlanKind::kColumn && shards > 2 * arch.num_tables()) continue;
      SCOPED_TRACE(to_string(kind) + " x " + std::to_string(shards));
      std::vector<model::ShardInfo> plan = make_plan(arch, options_for(kind, shards));
      ASSERT_EQ(static_cast<int>(plan.size()), shards);
      expect_exact_cover(arch, plan);
      if (kind == PlanKind::kAuto && shards <= 8) {
        EXPECT_LE(plan_imbalance(plan), 1.05);
      }
    }
  }
}

TEST(ShardPlan, MaxShardBytesTooSmallNamesShortfallAndFittingCount) {
  model::ModelArch arch = model::make_preset("terabyte-40m");
  PlanOptions options = options_for(PlanKind::kAuto, 4);
  options.max_shard_bytes = 10000000000ull;  // 10 GB: 96 GB needs 10 shards
  try {
    make_plan(arch, options);
    FAIL() << "expected a capacity error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("short by 56.14 GB"), std::string::npos) << msg;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(msg, m, std::regex("--shards ([0-9]+)"))) << msg;
    int fits = std::stoi(m[1].str());
    EXPECT_EQ(fits, 10) << msg;
    options.shards = fits;
    std::vector<model::ShardInfo> plan = make_plan(arch, options);
    for (const auto& info : plan) EXPECT_LE(info.embedding_bytes, options.max_shard_bytes);
  }
}

TEST(ShardPlan, AbsurdSizesFailQuickly) {
  model::ModelArch arch = model::make_preset("terabyte-40m");
  PlanOptions options = options_for(PlanKind::kAuto, 4);
  options.max_shard_bytes = 1000;  // 96 GB in 1 KB shards
  EXPECT_ERROR_WITH(make_plan(arch, options), "at least 96136909 shards");
  EXPECT_ERROR_WITH(make_plan(arch, options_for(PlanKind::kRow, 100000000)), "--shards 100000000", "supported");
}

TEST(ShardPlan, MaxShardBytesBelowLargestTableForTablePlan) {
  model::ModelArch arch = model::make_preset("terabyte-40m");
  PlanOptions options = options_for(PlanKind::kTable, 26);
  options.max_shard_bytes = 16000000000ull;  // a 40M-row table needs 20.5 GB
  EXPECT_ERROR_WITH(make_plan(arch, options), "largest shard", "--plan auto");
}

TEST(ShardPlan, MaxShardBytesThatFitsIsHonoured) {
  model::ModelArch arch = model::make_preset("terabyte-40m");
  PlanOptions options = options_for(PlanKind::kAuto, 8);
  uint64_t mean = 96136908288ull / 8;
  options.max_shard_bytes = mean + mean / 100;  // 1% headroom, below the auto plan's whole-table slack
  std::vector<model::ShardInfo> plan = make_plan(arch, options);
  for (const auto& info : plan) EXPECT_LE(info.embedding_bytes, options.max_shard_bytes);
}

TEST(ShardPlan, CheckPlanFindsGapsOverlapsAndStrays) {
  model::ModelArch arch = model::make_preset("small");
  arch.table_rows = {10, 4};
  std::vector<model::ShardInfo> good = make_plan(arch, options_for(PlanKind::kTable, 2));
  EXPECT_NO_THROW(model::check_plan(arch, good));

  model::ShardInfo a, b;
  a.shard = 0;
  a.slices = {model::Slice{0, 0, 6, 0, 16}, model::Slice{1, 0, 4, 0, 16}};
  b.shard = 1;
  b.slices = {model::Slice{0, 5, 10, 0, 16}};
  EXPECT_ERROR_WITH(model::check_plan(arch, {a, b}), "table 0", "twice");
  b.slices[0].row_begin = 7;
  EXPECT_ERROR_WITH(model::check_plan(arch, {a, b}), "rows [6, 7)", "table 0", "no shard");
  b.slices[0] = model::Slice{0, 6, 11, 0, 16};
  EXPECT_ERROR_WITH(model::check_plan(arch, {a, b}), "table 0", "[0, 10)");
  b.slices[0] = model::Slice{0, 6, 10, 0, 8};
  EXPECT_ERROR_WITH(model::check_plan(arch, {a, b}), "columns [8, 16)", "no shard");
  b.slices[0] = model::Slice{2, 0, 1, 0, 16};
  EXPECT_ERROR_WITH(model::check_plan(arch, {a, b}), "table 2");
  b.slices.clear();
  EXPECT_ERROR_WITH(model::check_plan(arch, {a, b}), "shard 1", "no rows");
}

TEST(ShardPlan, KindNamesRoundTrip) {
  for (PlanKind kind : {PlanKind::kAuto, PlanKind::kTable, PlanKind::kRow, PlanKind::kColumn}) {
    EXPECT_EQ(parse_plan_kind(to_string(kind)), kind);
  }
  EXPECT_ERROR_WITH(parse_plan_kind("diagonal"), "diagonal", "auto, table, row or column");
}

}  // namespace
}  // namespace dlrm::sharding

namespace dlrm::sharding {
namespace {

// Per-table storage types: every plan kind weighs each slice by its own
// table's row stride, so the shards' bytes add up to the mixed model's, and
// the auto plan balances those bytes (not rows).
TEST(ShardPlan, MixedTableTypesWeighEachTableByItsStride) {
  const model::ModelArch arch = model::make_preset("terabyte-40m", 100000);
  const ElementType kTypes[] = {ElementType::kFp32, ElementType::kFp16, ElementType::kInt8, ElementType::kInt4};
  PlanOptions options;
  options.shards = 3;
  for (int t = 0; t < arch.num_tables(); ++t) options.table_dtypes.push_back(kTypes[t % 4]);
  uint64_t want = 0;
  for (int t = 0; t < arch.num_tables(); ++t) {
    want += static_cast<uint64_t>(arch.table_rows[t]) * model::row_stride(options.table_dtypes[t], arch.dim);
  }
  for (PlanKind kind : {PlanKind::kAuto, PlanKind::kTable, PlanKind::kRow, PlanKind::kColumn}) {
    options.kind = kind;
    const std::vector<model::ShardInfo> shards = make_plan(arch, options);
    uint64_t total = 0;
    for (const model::ShardInfo& info : shards) {
      uint64_t bytes = 0;
      for (const model::Slice& s : info.slices) {
        bytes += static_cast<uint64_t>(s.rows()) * model::row_stride(options.table_dtypes[s.table], s.cols());
      }
      EXPECT_EQ(info.embedding_bytes, bytes) << to_string(kind) << " shard " << info.shard;
      total += bytes;
    }
    if (kind != PlanKind::kColumn) {  // column blocks carry their own scale, bias and padding
      EXPECT_EQ(total, want) << to_string(kind);
    }
    if (kind == PlanKind::kAuto) {
      EXPECT_LT(plan_imbalance(shards), 1.04) << "auto balances the mixed bytes";
    }
  }
  options.table_dtypes.pop_back();
  EXPECT_ERROR_WITH(make_plan(arch, options), "25 table storage types", "26 tables");
}

}  // namespace
}  // namespace dlrm::sharding
