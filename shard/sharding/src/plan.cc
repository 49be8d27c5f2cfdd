#include "dlrm/sharding/plan.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "dlrm/common/error.h"
#include "dlrm/common/format.h"
#include "dlrm/common/progress.h"

namespace dlrm::sharding {

std::string to_string(PlanKind kind) {
  switch (kind) {
    case PlanKind::kAuto: return "auto";
    case PlanKind::kTable: return "table";
    case PlanKind::kRow: return "row";
    case PlanKind::kColumn: return "column";
  }
  return "unknown";
}

PlanKind parse_plan_kind(const std::string& name) {
  if (name == "auto") return PlanKind::kAuto;
  if (name == "table") return PlanKind::kTable;
  if (name == "row") return PlanKind::kRow;
  if (name == "column") return PlanKind::kColumn;
  DLRM_FAIL("unknown plan '{}'; choose auto, table, row or column", name);
}

namespace {

// More shards than any cluster would run: plans (and their errors) stay cheap.
constexpr int kMaxShards = 1 << 16;

// A whole table may go onto a shard as long as that shard stays within this
// fraction above the mean; only larger tables are split (auto plan).
constexpr double kWholeTableSlack = 0.03;

// The storage type of every table.
using TableTypes = std::vector<ElementType>;

TableTypes table_types(const model::ModelArch& arch, const PlanOptions& options) {
  if (options.table_dtypes.empty()) return TableTypes(static_cast<size_t>(arch.num_tables()), options.dtype);
  DLRM_CHECK(options.table_dtypes.size() == static_cast<size_t>(arch.num_tables()),
             "{} table storage types given for a model of {} tables", options.table_dtypes.size(), arch.num_tables());
  for (size_t t = 0; t < options.table_dtypes.size(); ++t) {
    DLRM_CHECK(model::kStorageTypes.contains(options.table_dtypes[t]), "table {}: {} is not a storage type; choose {}",
               t, to_string(options.table_dtypes[t]), model::kStorageTypes.names());
  }
  return options.table_dtypes;
}

// Shards under construction with their byte loads.
class PlanBuilder {
 public:
  PlanBuilder(int shards, const TableTypes& types) : shards_(shards), load_(shards, 0), types_(types) {
    for (int s = 0; s < shards; ++s) shards_[s].shard = s;
  }

  uint64_t slice_bytes(const model::Slice& slice) const {
    return static_cast<uint64_t>(slice.rows()) * model::row_stride(types_[slice.table], slice.cols());
  }
  void add(int shard, const model::Slice& slice) {
    shards_[shard].slices.push_back(slice);
    load_[shard] += slice_bytes(slice);
  }
  // Extends the last slice of `shard` to row_end (it must be the adjacent range).
  void extend_last(int shard, int64_t row_end) {
    model::Slice& last = shards_[shard].slices.back();
    load_[shard] += static_cast<uint64_t>(row_end - last.row_end) * model::row_stride(types_[last.table], last.cols());
    last.row_end = row_end;
  }
  int least_loaded() const {
    return static_cast<int>(std::min_element(load_.begin(), load_.end()) - load_.begin());
  }
  // Shard indices by increasing load (ties: lower index first).
  std::vector<int> by_load() const {
    std::vector<int> order(load_.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return load_[a] < load_[b]; });
    return order;
  }
  uint64_t load(int shard) const { return load_[shard]; }
  int num_shards() const { return static_cast<int>(shards_.size()); }

  // Gives every empty shard something: half the rows of the largest slice, or
  // failing that (all slices single rows) a slice of a shard holding several.
  void fill_empty_shards() {
    for (int e = 0; e < num_shards(); ++e) {
      if (!shards_[e].slices.empty()) continue;
      int best_shard = -1, best_slice = -1;
      int64_t best_rows = 1;
      for (int s = 0; s < num_shards(); ++s) {
        for (int i = 0; i < static_cast<int>(shards_[s].slices.size()); ++i) {
          if (shards_[s].slices[i].rows() > best_rows) {
            best_rows = shards_[s].slices[i].rows();
            best_shard = s;
            best_slice = i;
          }
        }
      }
      if (best_shard >= 0) {
        model::Slice& src = shards_[best_shard].slices[best_slice];
        model::Slice upper = src;
        upper.row_begin = src.row_begin + src.rows() / 2;
        load_[best_shard] -= slice_bytes(upper);
        src.row_end = upper.row_begin;
        add(e, upper);
        continue;
      }
      for (int s = 0; s < num_shards(); ++s) {
        if (shards_[s].slices.size() >= 2) {
          model::Slice moved = shards_[s].slices.back();
          shards_[s].slices.pop_back();
          load_[s] -= slice_bytes(moved);
          add(e, moved);
          break;
        }
      }
    }
  }

  std::vector<model::ShardInfo> finish() {
    for (int s = 0; s < num_shards(); ++s) {
      auto& slices = shards_[s].slices;
      std::sort(slices.begin(), slices.end(), [](const model::Slice& a, const model::Slice& b) {
        return std::tie(a.table, a.row_begin, a.col_begin) < std::tie(b.table, b.row_begin, b.col_begin);
      });
      shards_[s].embedding_bytes = load_[s];
    }
    return std::move(shards_);
  }

 private:
  std::vector<model::ShardInfo> shards_;
  std::vector<uint64_t> load_;
  const TableTypes& types_;
};

model::Slice whole_table(const model::ModelArch& arch, int table) {
  return model::Slice{table, 0, arch.table_rows[table], 0, arch.dim};
}

// Table indices by decreasing rows (ties: lower index first).
std::vector<int> tables_by_size(const model::ModelArch& arch) {
  std::vector<int> order(arch.num_tables());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return arch.table_rows[a] > arch.table_rows[b]; });
  return order;
}

std::vector<model::ShardInfo> plan_table(const model::ModelArch& arch, int shards, const TableTypes& types) {
  DLRM_CHECK(shards <= arch.num_tables(),
             "plan table: {} shards but the model has only {} tables, so some shard would hold "
             "nothing; use --plan auto or --plan row, or at most {} shards",
             shards, arch.num_tables(), arch.num_tables());
  PlanBuilder builder(shards, types);
  for (int t : tables_by_size(arch)) builder.add(builder.least_loaded(), whole_table(arch, t));
  return builder.finish();
}

std::vector<model::ShardInfo> plan_row(const model::ModelArch& arch, int shards, const TableTypes& types) {
  PlanBuilder builder(shards, types);
  for (int t : tables_by_size(arch)) {
    int64_t rows = arch.table_rows[t];
    if (rows >= shards) {
      for (int s = 0; s < shards; ++s) {
        model::Slice slice = whole_table(arch, t);
        slice.row_begin = rows * s / shards;
        slice.row_end = rows * (s + 1) / shards;
        builder.add(s, slice);
      }
    } else {
      builder.add(builder.least_loaded(), whole_table(arch, t));
    }
  }
  builder.fill_empty_shards();
  return builder.finish();
}

std::vector<model::ShardInfo> plan_column(const model::ModelArch& arch, int shards, const TableTypes& types, int splits) {
  DLRM_CHECK(splits >= 1 && splits <= arch.dim && arch.dim % splits == 0,
             "plan column: --column-splits {} must divide the embedding dim {} (try {})", splits, arch.dim,
             arch.dim % 2 == 0 ? 2 : 1);
  int64_t blocks = static_cast<int64_t>(arch.num_tables()) * splits;
  DLRM_CHECK(shards <= blocks,
             "plan column: {} tables x {} column splits give {} blocks for {} shards, so some shard "
             "would hold nothing; use more --column-splits, fewer --shards, or --plan auto",
             arch.num_tables(), splits, blocks, shards);
  int cols = arch.dim / splits;
  PlanBuilder builder(shards, types);
  for (int t : tables_by_size(arch)) {
    for (int k = 0; k < splits; ++k) {
      model::Slice slice = whole_table(arch, t);
      slice.col_begin = k * cols;
      slice.col_end = (k + 1) * cols;
      builder.add(builder.least_loaded(), slice);
    }
  }
  return builder.finish();
}

// Largest tables first; each goes whole onto the least-loaded shard when that
// keeps the shard within kWholeTableSlack of the mean. Otherwise the table is
// cut into contiguous row ranges that fill the least-loaded shards up to the
// mean. Every cut fills a shard to the mean, so there are at most `shards`
// cuts in all, and no shard ends above mean * (1 + slack) (plus < shards rows
// of rounding). A shard byte limit (0: none) lowers the whole-table bound.
std::vector<model::ShardInfo> plan_auto(const model::ModelArch& arch, int shards, const TableTypes& types,
                                        uint64_t limit) {
  uint64_t total = 0;
  for (int t = 0; t < arch.num_tables(); ++t) {
    total += static_cast<uint64_t>(arch.table_rows[t]) * model::row_stride(types[t], arch.dim);
  }
  double mean = static_cast<double>(total) / shards;
  auto fill_target = static_cast<uint64_t>(std::ceil(mean));
  double whole_limit = mean * (1.0 + kWholeTableSlack);
  if (limit > 0) whole_limit = std::min(whole_limit, static_cast<double>(limit));

  PlanBuilder builder(shards, types);
  for (int t : tables_by_size(arch)) {
    int64_t rows = arch.table_rows[t];
    const uint64_t stride = model::row_stride(types[t], arch.dim);
    int s = builder.least_loaded();
    if (static_cast<double>(builder.load(s) + rows * stride) <= whole_limit) {
      builder.add(s, whole_table(arch, t));
      continue;
    }
    int64_t row = 0;
    int last = -1;
    for (int dst : builder.by_load()) {
      if (row == rows) break;
      if (builder.load(dst) >= fill_target) continue;
      auto room = static_cast<int64_t>((fill_target - builder.load(dst)) / stride);
      int64_t take = std::min(room, rows - row);
      if (take == 0) continue;
      model::Slice slice = whole_table(arch, t);
      slice.row_begin = row;
      slice.row_end = row + take;
      builder.add(dst, slice);
      row += take;
      last = dst;
    }
    if (row < rows) {  // rounding left a few rows: they join the last range
      if (last >= 0) {
        builder.extend_last(last, rows);
      } else {
        model::Slice slice = whole_table(arch, t);
        slice.row_begin = row;
        builder.add(builder.least_loaded(), slice);
      }
    }
  }
  builder.fill_empty_shards();
  return builder.finish();
}

std::vector<model::ShardInfo> plan_for(const model::ModelArch& arch, const PlanOptions& options, int shards) {
  const TableTypes types = table_types(arch, options);
  switch (options.kind) {
    case PlanKind::kAuto: return plan_auto(arch, shards, types, options.max_shard_bytes);
    case PlanKind::kTable: return plan_table(arch, shards, types);
    case PlanKind::kRow: return plan_row(arch, shards, types);
    case PlanKind::kColumn: return plan_column(arch, shards, types, options.column_splits);
  }
  DLRM_ASSERT(false);
  return {};
}

uint64_t largest_shard_bytes(const std::vector<model::ShardInfo>& shards) {
  uint64_t largest = 0;
  for (const auto& s : shards) largest = std::max(largest, s.embedding_bytes);
  return largest;
}

// The smallest shard count above `shards` whose plan fits max_shard_bytes
// (negative: no count up to kMaxShards fits; -lower is a lower bound), or 0 if
// no count fits with this plan kind.
int fitting_shard_count(const model::ModelArch& arch, const PlanOptions& options, uint64_t total_bytes) {
  constexpr int kSearch = 256;
  uint64_t lower = std::max<uint64_t>(options.shards + 1,
                                      (total_bytes + options.max_shard_bytes - 1) / options.max_shard_bytes);
  if (lower > static_cast<uint64_t>(kMaxShards)) return -static_cast<int>(std::min<uint64_t>(lower, INT32_MAX));
  uint64_t upper = std::min<uint64_t>({arch.total_rows(), lower + kSearch, static_cast<uint64_t>(kMaxShards)});
  if (options.kind == PlanKind::kTable) upper = std::min<uint64_t>(upper, arch.num_tables());
  if (options.kind == PlanKind::kColumn) {
    upper = std::min<uint64_t>(upper, static_cast<uint64_t>(arch.num_tables()) * options.column_splits);
  }
  for (uint64_t n = lower; n <= upper; ++n) {
    if (largest_shard_bytes(plan_for(arch, options, static_cast<int>(n))) <= options.max_shard_bytes) {
      return static_cast<int>(n);
    }
  }
  return 0;
}

}  // namespace

std::vector<model::ShardInfo> make_plan(const model::ModelArch& arch, const PlanOptions& options) {
  arch.validate();
  DLRM_CHECK(options.shards >= 1, "--shards must be at least 1, got {}", options.shards);
  DLRM_CHECK(options.shards <= kMaxShards, "--shards {} is more than the {} shards supported", options.shards,
             kMaxShards);
  DLRM_CHECK(static_cast<uint64_t>(options.shards) <= arch.total_rows(),
             "--shards {} is more than the model's {} embedding rows; every shard needs at least one row",
             options.shards, arch.total_rows());
  std::vector<model::ShardInfo> shards = plan_for(arch, options, options.shards);
  model::check_plan(arch, shards);

  uint64_t limit = options.max_shard_bytes;
  uint64_t largest = largest_shard_bytes(shards);
  if (limit > 0 && largest > limit) {
    uint64_t total = 0;
    for (const auto& s : shards) total += s.embedding_bytes;
    uint64_t capacity = limit * static_cast<uint64_t>(options.shards);
    std::string need =
        capacity < total
            ? fmt::format("{} shards of at most {} ({} bytes) hold {} but the embeddings need {}: short by {}",
                          options.shards, format_bytes(limit), limit, format_bytes(capacity),
                          format_bytes(total), format_bytes(total - capacity))
            : fmt::format("the largest shard needs {} ({} bytes), over --max-shard-bytes {} by {}",
                          format_bytes(largest), largest, limit, format_bytes(largest - limit));
    int fits = fitting_shard_count(arch, options, total);
    std::string advice =
        fits > 0   ? fmt::format("use --shards {} or more (or raise --max-shard-bytes)", fits)
        : fits < 0 ? fmt::format("it would take at least {} shards; raise --max-shard-bytes", -fits)
                   : std::string("no shard count fits with this plan; raise --max-shard-bytes") +
                         (options.kind == PlanKind::kAuto ? "" : " or use --plan auto");
    DLRM_FAIL("plan {}: {}; {}", to_string(options.kind), need, advice);
  }
  return shards;
}

double plan_imbalance(const std::vector<model::ShardInfo>& shards) {
  if (shards.empty()) return 0.0;
  uint64_t total = 0;
  for (const auto& s : shards) total += s.embedding_bytes;
  if (total == 0) return 1.0;
  double mean = static_cast<double>(total) / static_cast<double>(shards.size());
  return static_cast<double>(largest_shard_bytes(shards)) / mean;
}

}  // namespace dlrm::sharding
