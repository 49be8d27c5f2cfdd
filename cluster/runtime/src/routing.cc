#include "dlrm/cluster/routing.h"

#include <algorithm>
#include <cstring>

#include "dlrm/common/error.h"

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

RoutingTable::RoutingTable(const model::Manifest& manifest) : dim_(manifest.arch.dim) {
  const int tables = manifest.arch.num_tables();
  by_shard_.resize(manifest.num_shards());
  by_table_.resize(tables);
  row_split_.assign(tables, 0);
  table_rows_ = manifest.arch.table_rows;
  for (const auto& info : manifest.shards) {
    for (size_t k = 0; k < info.slices.size(); ++k) {
      SliceRoute route{info.shard, static_cast<int>(k), info.slices[k]};
      by_shard_[info.shard].push_back(route);
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
    : routing_(routing),
      messages_(routing.num_shards()),
      response_floats_(routing.num_shards(), 0),
      table_offset_(routing.num_tables(), -1),
      zero_row_(routing.dim(), 0.0f) {
  for (int s = 0; s < routing.num_shards(); ++s) {
    for (const SliceRoute& route : routing.shard_slices(s)) full_width_ &= route.rect.cols() == routing.dim();
  }
}

void RequestBuilder::build(const Batch& batch) {
  DLRM_ASSERT(batch.tables() == routing_.num_tables());
  batch_size_ = batch.size;
  const int b_count = batch.size;
  scratch_samples_.resize(b_count);
  std::fill(table_offset_.begin(), table_offset_.end(), -1);
  for (int s = 0; s < routing_.num_shards(); ++s) {
    auto& msg = messages_[s];
    msg.clear();
    msg.push_back(b_count);
    int64_t floats = 0;
    for (const SliceRoute& route : routing_.shard_slices(s)) {
      const model::Slice& rect = route.rect;
      const auto& rows = batch.indices[rect.table];
      const auto& offsets = batch.offsets[rect.table];
      DLRM_ASSERT(static_cast<int>(offsets.size()) == b_count + 1);
      const bool whole = !routing_.row_split(rect.table);
      // Bag length of every sample inside this slice's row range.
      int32_t* lens = scratch_samples_.data();
      int64_t total = 0, present = 0;
      int32_t max_len = 0;
      bool all_one = true;
      for (int b = 0; b < b_count; ++b) {
        int32_t n;
        if (whole) {
          n = offsets[b + 1] - offsets[b];
        } else {
          n = 0;
          for (int32_t k = offsets[b]; k < offsets[b + 1]; ++k) {
            n += rows[k] >= rect.row_begin && rows[k] < rect.row_end;
          }
        }
        lens[b] = n;
        total += n;
        present += n > 0;
        max_len = std::max(max_len, n);
        all_one &= n == 1;
      }
      const int32_t row_begin = static_cast<int32_t>(rect.row_begin);
      auto in_range = [&](int32_t row) { return whole || (row >= rect.row_begin && row < rect.row_end); };
      if (all_one && b_count > 0) {
        msg.push_back(static_cast<int32_t>(BagEncoding::kAllOne));
        msg.push_back(b_count);
        for (int b = 0; b < b_count; ++b) {
          for (int32_t k = offsets[b]; k < offsets[b + 1]; ++k) {
            if (in_range(rows[k])) msg.push_back(rows[k] - row_begin);
          }
        }
      } else if (max_len <= 1) {
        msg.push_back(static_cast<int32_t>(BagEncoding::kSparseOne));
        msg.push_back(static_cast<int32_t>(present));
        size_t ids = msg.size();
        msg.resize(ids + 2 * present);
        int32_t* sample_ids = msg.data() + ids;
        int32_t* local_rows = sample_ids + present;
        int64_t n = 0;
        for (int b = 0; b < b_count; ++b) {
          if (lens[b] == 0) continue;
          for (int32_t k = offsets[b]; k < offsets[b + 1]; ++k) {
            if (in_range(rows[k])) {
              sample_ids[n] = b;
              local_rows[n] = rows[k] - row_begin;
              ++n;
            }
          }
        }
        DLRM_ASSERT(n == present);
      } else {
        msg.push_back(static_cast<int32_t>(BagEncoding::kGeneral));
        msg.push_back(static_cast<int32_t>(total));
        msg.insert(msg.end(), lens, lens + b_count);
        for (int b = 0; b < b_count; ++b) {
          for (int32_t k = offsets[b]; k < offsets[b + 1]; ++k) {
            if (in_range(rows[k])) msg.push_back(rows[k] - row_begin);
          }
        }
      }
      // A whole table whose every sample has a bag: its answer is rows[B][dim], in place.
      const bool one_slice = routing_.table_slices(rect.table).size() == 1 && rect.cols() == routing_.dim();
      if (one_slice && present == b_count) table_offset_[rect.table] = floats;
      floats += present * rect.cols();
    }
    response_floats_[s] = floats;
  }
}

// Decodes every request once more, in answer order: fn(shard, rect, b, at)
// for each sample b of each slice, `at` being where sample b's pooled row
// starts in that shard's answer (in elements), or -1 when its bag there is
// empty.
template <class Fn>
void RequestBuilder::for_each_answer_row(Fn&& fn) const {
  const int b_count = batch_size_;
  for (int s = 0; s < routing_.num_shards(); ++s) {
    const int32_t* msg = messages_[s].data();
    int64_t pos = 1, at = 0;
    for (const SliceRoute& route : routing_.shard_slices(s)) {
      const model::Slice& rect = route.rect;
      const int cols = rect.cols();
      auto encoding = static_cast<BagEncoding>(msg[pos]);
      const int32_t count = msg[pos + 1];
      pos += 2;
      if (encoding == BagEncoding::kAllOne) {
        for (int b = 0; b < b_count; ++b, at += cols) fn(s, rect, b, at);
        pos += count;
      } else if (encoding == BagEncoding::kSparseOne) {
        const int32_t* sample_ids = msg + pos;
        int32_t next = 0;
        for (int b = 0; b < b_count; ++b) {
          if (next < count && sample_ids[next] == b) {
            fn(s, rect, b, at);
            at += cols;
            ++next;
          } else {
            fn(s, rect, b, int64_t{-1});
          }
        }
        pos += 2 * static_cast<int64_t>(count);
      } else {
        const int32_t* lens = msg + pos;
        for (int b = 0; b < b_count; ++b) {
          if (lens[b] > 0) {
            fn(s, rect, b, at);
            at += cols;
          } else {
            fn(s, rect, b, int64_t{-1});
          }
        }
        pos += b_count + static_cast<int64_t>(count);
      }
    }
    DLRM_ASSERT(at == response_floats_[s]);
  }
}

void RequestBuilder::assemble(const std::vector<const float*>& responses, float* emb) const {
  const int tables = routing_.num_tables();
  const int dim = routing_.dim();
  const int64_t sample_stride = static_cast<int64_t>(tables) * dim;
  // Row-split tables receive partial sums: start them at zero.
  for (int t = 0; t < tables; ++t) {
    if (!routing_.row_split(t)) continue;
    for (int b = 0; b < batch_size_; ++b) std::memset(emb + b * sample_stride + t * dim, 0, sizeof(float) * dim);
  }
  for_each_answer_row([&](int s, const model::Slice& rect, int b, int64_t at) {
    const int cols = rect.cols();
    const bool add = routing_.row_split(rect.table);
    float* dst = emb + b * sample_stride + rect.table * dim + rect.col_begin;
    if (at < 0) {
      if (!add) std::memset(dst, 0, sizeof(float) * cols);
    } else if (add) {
      const float* row = responses[s] + at;
      for (int c = 0; c < cols; ++c) dst[c] += row[c];
    } else {
      std::memcpy(dst, responses[s] + at, sizeof(float) * cols);
    }
  });
}

template <class T>
bool RequestBuilder::point_at_rows(const std::vector<const T*>& responses, const T** rows) const {
  const int tables = routing_.num_tables();
  const int64_t count = static_cast<int64_t>(batch_size_) * tables;
  if (count == 0 || !full_width_) return false;  // column slices need joining: assemble
  std::fill(rows, rows + count, nullptr);
  bool whole = true;  // every row so far is whole in one answer
  for_each_answer_row([&](int s, const model::Slice& rect, int b, int64_t at) {
    if (at < 0 || !whole) return;
    const T*& row = rows[static_cast<int64_t>(b) * tables + rect.table];
    whole = rect.cols() == routing_.dim() && row == nullptr;  // a column slice, or a second part of the bag: assemble
    row = responses[s] + at;
  });
  if (!whole) return false;
  const T* zero = reinterpret_cast<const T*>(zero_row_.data());  // all-zero bits: 0 in fp32, fp16 and bf16
  for (int64_t k = 0; k < count; ++k) {
    if (rows[k] == nullptr) rows[k] = zero;  // an empty bag pools to zeros
  }
  return true;
}

bool RequestBuilder::sample_rows(const std::vector<const float*>& responses, const float** rows) const {
  return point_at_rows(responses, rows);
}

bool RequestBuilder::sample_rows(const std::vector<const uint16_t*>& responses, const uint16_t** rows) const {
  return point_at_rows(responses, rows);
}

ShardServer::ShardServer(std::vector<model::RowsView> slices, int dim) : slices_(std::move(slices)), dim_(dim) {}

int64_t ShardServer::response_floats(const int32_t* request, int64_t ints) const {
  DLRM_CHECK(ints >= 1, "empty exchange request");
  const int32_t b_count = request[0];
  int64_t pos = 1, floats = 0;
  for (const auto& view : slices_) {
    DLRM_CHECK(pos + 2 <= ints, "exchange request ends early ({} of {} ints)", pos, ints);
    auto encoding = static_cast<BagEncoding>(request[pos]);
    const int32_t count = request[pos + 1];
    pos += 2;
    switch (encoding) {
      case BagEncoding::kAllOne:
        floats += static_cast<int64_t>(b_count) * view.cols;
        pos += count;
        break;
      case BagEncoding::kSparseOne:
        floats += static_cast<int64_t>(count) * view.cols;
        pos += 2 * static_cast<int64_t>(count);
        break;
      case BagEncoding::kGeneral: {
        DLRM_CHECK(pos + b_count <= ints, "exchange request ends early");
        int64_t present = 0;
        for (int b = 0; b < b_count; ++b) present += request[pos + b] > 0;
        floats += present * view.cols;
        pos += b_count + static_cast<int64_t>(count);
        break;
      }
      default:
        DLRM_FAIL("exchange request has unknown bag encoding {}", static_cast<int>(encoding));
    }
  }
  DLRM_CHECK(pos == ints, "exchange request has {} ints, its slices describe {}", ints, pos);
  return floats;
}

int64_t ShardServer::serve(const int32_t* request, int64_t ints, float* dst) {
  return serve_impl(request, ints, dst, false);
}

int64_t ShardServer::serve_ref(const int32_t* request, int64_t ints, float* dst) {
  return serve_impl(request, ints, dst, true);
}

int64_t ShardServer::serve_impl(const int32_t* request, int64_t ints, float* dst, bool ref) {
  const int32_t b_count = request[0];
  int64_t pos = 1, bad = 0;
  for (const auto& view : slices_) {
    auto encoding = static_cast<BagEncoding>(request[pos]);
    const int32_t count = request[pos + 1];
    pos += 2;
    DLRM_ASSERT(pos <= ints);
    if (encoding == BagEncoding::kAllOne || encoding == BagEncoding::kSparseOne) {
      const int32_t* rows = request + pos + (encoding == BagEncoding::kSparseOne ? count : 0);
      bad += ref ? shard::embedding_gather_ref(view, rows, count, dst, view.cols)
                 : shard::embedding_gather(view, rows, count, dst, view.cols);
      dst += static_cast<int64_t>(count) * view.cols;
      pos += (encoding == BagEncoding::kSparseOne ? 2 : 1) * static_cast<int64_t>(count);
    } else {
      const int32_t* lens = request + pos;
      const int32_t* rows = lens + b_count;
      offsets_.clear();
      offsets_.push_back(0);
      for (int b = 0; b < b_count; ++b) {
        if (lens[b] > 0) offsets_.push_back(offsets_.back() + lens[b]);
      }
      const int present = static_cast<int>(offsets_.size()) - 1;
      DLRM_CHECK(offsets_.back() == count, "exchange request: bag lengths sum to {}, header says {}",
                 offsets_.back(), count);
      bad += ref ? shard::embedding_bag_sum_ref(view, rows, offsets_.data(), present, dst, view.cols)
                 : shard::embedding_bag_sum(view, rows, offsets_.data(), present, dst, view.cols);
      dst += static_cast<int64_t>(present) * view.cols;
      pos += b_count + static_cast<int64_t>(count);
    }
  }
  DLRM_ASSERT(pos == ints);
  return bad;
}

}  // namespace dlrm::cluster
