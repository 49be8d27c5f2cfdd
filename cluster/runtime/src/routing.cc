#include "dlrm/cluster/routing.h"

#include <algorithm>
#include <numeric>

#include "dlrm/common/error.h"
#include "dlrm/shard/request.h"

namespace dlrm::cluster {

void Batch::reset(int batch_size, int num_tables) {
  size = batch_size;
  indices.resize(num_tables);
  offsets.resize(num_tables);
  for (int t = 0; t < num_tables; ++t) {
    indices[t].clear();
    offsets[t].clear();
    offsets[t].push_back(0);
  }
}

void Batch::make_one_hot() {
  for (size_t t = 0; t < indices.size(); ++t) {
    indices[t].resize(static_cast<size_t>(size));
    offsets[t].resize(static_cast<size_t>(size) + 1);
    std::iota(offsets[t].begin(), offsets[t].end(), 0);
  }
}

bool Batch::one_hot_table(int t) const {
  const auto& o = offsets[t];
  if (static_cast<int>(o.size()) != size + 1 || static_cast<int>(indices[t].size()) != size) return false;
  bool one = true;
  for (int b = 0; b <= size; ++b) one &= o[b] == b;
  return one;
}

RoutingTable::RoutingTable(const model::Manifest& manifest) : dim_(manifest.arch.dim) {
  const int tables = manifest.arch.num_tables();
  by_shard_.resize(manifest.num_shards());
  by_table_.resize(tables);
  sample_offsets_.resize(manifest.num_shards());
  row_split_.assign(tables, 0);
  table_rows_ = manifest.arch.table_rows;
  for (const auto& info : manifest.shards) {
    for (size_t k = 0; k < info.slices.size(); ++k) {
      SliceRoute route{info.shard, static_cast<int>(k), info.slices[k]};
      by_shard_[info.shard].push_back(route);
      sample_offsets_[info.shard].push_back(int64_t{route.rect.table} * dim_ + route.rect.col_begin);
      by_table_[route.rect.table].push_back(route);
    }
  }
  for (int t = 0; t < tables; ++t) {
    auto& routes = by_table_[t];
    std::sort(routes.begin(), routes.end(), [](const SliceRoute& a, const SliceRoute& b) {
      return a.rect.row_begin != b.rect.row_begin ? a.rect.row_begin < b.rect.row_begin
                                                  : a.rect.col_begin < b.rect.col_begin;
    });
    DLRM_CHECK(!routes.empty(), "the plan holds no rows of table {}", t);
    row_split_[t] = routes.front().rect.row_begin != routes.back().rect.row_begin ||
                    routes.front().rect.row_end != table_rows_[t];
  }
}

std::vector<int64_t> max_response_floats(const RoutingTable& routing, int batch) {
  std::vector<int64_t> floats(routing.num_shards(), 0);
  for (int s = 0; s < routing.num_shards(); ++s) {
    for (const SliceRoute& route : routing.shard_slices(s)) floats[s] += static_cast<int64_t>(batch) * route.rect.cols();
  }
  return floats;
}

RequestBuilder::RequestBuilder(const RoutingTable& routing)
    : routing_(routing), messages_(routing.num_shards()), response_floats_(routing.num_shards(), 0) {}

void RequestBuilder::build(const Batch& batch) {
  DLRM_ASSERT(batch.tables() == routing_.num_tables());
  batch_size_ = batch.size;
  lookups_ = 0;
  for (const auto& indices : batch.indices) lookups_ += static_cast<int64_t>(indices.size());
  lengths_.resize(batch.size);
  for (int s = 0; s < routing_.num_shards(); ++s) {
    shard::RequestWriter writer(messages_[s], batch.size);
    int64_t floats = 0;
    for (const SliceRoute& route : routing_.shard_slices(s)) {
      const model::Slice& rect = route.rect;
      const auto& indices = batch.indices[rect.table];
      const auto& offsets = batch.offsets[rect.table];
      DLRM_ASSERT(static_cast<int>(offsets.size()) == batch.size + 1);
      const bool whole = !routing_.row_split(rect.table);
      const auto row_begin = static_cast<int32_t>(rect.row_begin);
      if (whole && batch.size > 0 && batch.one_hot_table(rect.table)) {  // each sample's one row, as it is
        DLRM_ASSERT(row_begin == 0);
        floats += writer.add_all_one(indices.data()) * rect.cols();
        continue;
      }
      rows_.clear();
      for (int b = 0; b < batch.size; ++b) {
        int32_t n = 0;
        for (int32_t k = offsets[b]; k < offsets[b + 1]; ++k) {
          const int32_t row = indices[k];
          if (whole || (row >= rect.row_begin && row < rect.row_end)) {
            rows_.push_back(row - row_begin);
            ++n;
          }
        }
        lengths_[b] = n;
      }
      floats += writer.add_slice(lengths_.data(), rows_.data()) * rect.cols();
    }
    response_floats_[s] = floats;
  }
}

}  // namespace dlrm::cluster
