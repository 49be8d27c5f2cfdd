#include "dlrm/cluster/answers.h"

#include <algorithm>
#include <cstring>

#include "dlrm/common/error.h"

namespace dlrm::cluster {

BatchAnswers::BatchAnswers(const RoutingTable& routing)
    : routing_(routing), readers_(routing.num_shards()), zero_row_(routing.dim(), 0.0f) {
  for (int s = 0; s < routing.num_shards(); ++s) {
    for (const SliceRoute& route : routing.shard_slices(s)) full_width_ &= route.rect.cols() == routing.dim();
  }
}

void BatchAnswers::locate(const RequestBuilder& builder) {
  batch_ = builder.batch_size();
  slices_.clear();
  for (int s = 0; s < routing_.num_shards(); ++s) {
    const auto& msg = builder.message(s);
    const auto& routes = routing_.shard_slices(s);
    readers_[s].parse(msg.data(), static_cast<int64_t>(msg.size()), static_cast<int>(routes.size()));
    int64_t at = 0;
    for (size_t k = 0; k < routes.size(); ++k) {
      const shard::SliceRequest& request = readers_[s].slices()[k];
      slices_.push_back({&routes[k].rect, s, request, at});
      at += request.answered * routes[k].rect.cols();
    }
    DLRM_ASSERT(at == builder.response_floats(s));
  }
}

template <class Fn>
void BatchAnswers::for_each_answer_row(Fn&& fn) const {
  for (const Located& slice : slices_) {
    int64_t at = slice.start;
    const int cols = slice.rect->cols();
    slice.request.for_each_sample(batch_, [&](int b, bool answered) {
      fn(slice, b, answered ? at : int64_t{-1});
      at += answered ? cols : 0;
    });
  }
}

template <class T>
std::optional<dense::EmbeddingRows> BatchAnswers::view(const std::vector<const T*>& answers, ElementType type) {
  const int tables = routing_.num_tables(), dim = routing_.dim();
  // Every table whole in one answer with a row for every sample: rows[batch][dim].
  pointers_.assign(tables, nullptr);
  bool per_table = true;
  for (const Located& slice : slices_) {
    const int t = slice.rect->table;
    const bool whole = routing_.table_slices(t).size() == 1 && slice.rect->cols() == dim;
    if (!whole || slice.request.answered != batch_) {
      per_table = false;
      break;
    }
    pointers_[t] = answers[slice.shard] + slice.start;
  }
  if (per_table) {
    return dense::EmbeddingRows::per_table(pointers_.data(), tables, dim, type);
  }
  // Otherwise a pointer per row, when every bag lies whole in one full-width slice.
  const int64_t count = static_cast<int64_t>(batch_) * tables;
  if (count == 0 || !full_width_) return std::nullopt;
  pointers_.assign(count, nullptr);
  bool whole = true;
  for_each_answer_row([&](const Located& slice, int b, int64_t at) {
    if (at < 0 || !whole) return;
    const void*& row = pointers_[static_cast<int64_t>(b) * tables + slice.rect->table];
    whole = row == nullptr;  // a second part of the bag (row-split table): assemble
    row = answers[slice.shard] + at;
  });
  if (!whole) return std::nullopt;
  for (const void*& row : pointers_) {
    if (row == nullptr) row = zero_row_.data();  // all-zero bits: 0 in fp32, fp16 and bf16
  }
  return dense::EmbeddingRows::per_row(pointers_.data(), tables, type);
}

std::optional<dense::EmbeddingRows> BatchAnswers::in_place(const std::vector<const float*>& answers) {
  return view(answers, ElementType::kFp32);
}

std::optional<dense::EmbeddingRows> BatchAnswers::in_place(const std::vector<const uint16_t*>& answers,
                                                           ElementType type) {
  return view(answers, type);
}

void BatchAnswers::assemble(const std::vector<const float*>& answers, float* emb, int64_t sample_stride) const {
  const int tables = routing_.num_tables();
  const int dim = routing_.dim();
  if (sample_stride == 0) sample_stride = static_cast<int64_t>(tables) * dim;
  DLRM_ASSERT(sample_stride >= static_cast<int64_t>(tables) * dim);
  // Row-split tables receive partial sums: start them at zero.
  for (int t = 0; t < tables; ++t) {
    if (!routing_.row_split(t)) continue;
    for (int b = 0; b < batch_; ++b) std::memset(emb + b * sample_stride + t * dim, 0, sizeof(float) * dim);
  }
  for_each_answer_row([&](const Located& slice, int b, int64_t at) {
    const model::Slice& rect = *slice.rect;
    const int cols = rect.cols();
    const bool add = routing_.row_split(rect.table);
    float* dst = emb + b * sample_stride + rect.table * dim + rect.col_begin;
    if (at < 0) {
      if (!add) std::memset(dst, 0, sizeof(float) * cols);
    } else if (add) {
      const float* row = answers[slice.shard] + at;
      for (int c = 0; c < cols; ++c) dst[c] += row[c];
    } else {
      std::memcpy(dst, answers[slice.shard] + at, sizeof(float) * cols);
    }
  });
}

}  // namespace dlrm::cluster
