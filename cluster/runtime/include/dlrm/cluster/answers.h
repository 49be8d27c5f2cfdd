// Where the pooled rows of one batch lie in the shards' answers, and the
// batch's embedding rows for the interaction.
//
// After RequestBuilder::build(), locate() reads the requests (shard/request.h)
// and knows, per slice, where its rows start in its shard's answer and which
// samples have one. Then the rows e[b][t] (dim values, the sum of sample b's
// bag in table t) are
//   in_place():  a view of them where they lie in the answers, when each is
//                whole in one answer:
//                  kTables  every table answered whole by one shard, a row
//                           for every sample: rows[batch][dim] per table
//                  kRows    every bag in one slice spanning all columns, or
//                           empty (a zero row): a pointer per (sample, table)
//                nullopt otherwise (column slices to join, row-range partial
//                sums to add)
//   assemble():  emb[batch][tables][dim] from fp32 answers, in every case
//                (sample b's rows at emb + b * sample_stride, which is at
//                least tables * dim; 0 means exactly that):
//                column slices fill their columns, row-range partial sums are
//                added in shard order, empty bags give zeros
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "dlrm/cluster/routing.h"
#include "dlrm/common/element_type.h"
#include "dlrm/dense/interaction.h"
#include "dlrm/shard/request.h"

namespace dlrm::cluster {

class BatchAnswers {
 public:
  explicit BatchAnswers(const RoutingTable& routing);
  // Reads the requests of `builder` (which must outlive the uses below).
  void locate(const RequestBuilder& builder);
  int batch_size() const { return batch_; }

  // answers[s]: shard s's answer, elements of `type` (float for fp32,
  // uint16_t for fp16/bf16). The view's pointers live in this object until
  // the next call.
  std::optional<dense::EmbeddingRows> in_place(const std::vector<const float*>& answers);
  std::optional<dense::EmbeddingRows> in_place(const std::vector<const uint16_t*>& answers, ElementType type);

  void assemble(const std::vector<const float*>& answers, float* emb, int64_t sample_stride = 0) const;

 private:
  struct Located {
    const model::Slice* rect = nullptr;
    int shard = 0;
    shard::SliceRequest request;
    int64_t start = 0;  // first element of its rows in the shard's answer
  };
  // fn(located slice, b, at): `at` where sample b's row starts in the shard's
  // answer, or -1 when its bag there is empty.
  template <class Fn>
  void for_each_answer_row(Fn&& fn) const;
  template <class T>
  std::optional<dense::EmbeddingRows> view(const std::vector<const T*>& answers, ElementType type);

  const RoutingTable& routing_;
  int batch_ = 0;
  std::vector<Located> slices_;
  std::vector<shard::RequestReader> readers_;  // per shard
  std::vector<const void*> pointers_;         // the view's table or row pointers
  std::vector<float> zero_row_;               // dim zeros: the row of an empty bag
  bool full_width_ = true;                    // no table is split by columns
};

}  // namespace dlrm::cluster
