// A shard rank's rows, answering requests (request.h).
//
//   serve(request) = for each slice k, in order:
//     kAllOne / kSparseOne: embedding_gather(slice k, rows)      (one row per answered sample)
//     kGeneral:             embedding_bag_sum(slice k, bags of answered samples)
//   written one after the other into dst (response_floats(request) floats);
//   serve_sample_slice() writes one slice's rows into per-sample rows instead.
// With several OpenMP threads, a request of kParallelIndices indices or more
// runs its slices in parallel (each slice's kernel alone splits only calls
// that large); the answer is the same, bit for bit.
#pragma once

#include <cstdint>
#include <vector>

#include "dlrm/model/row_codec.h"
#include "dlrm/shard/request.h"

namespace dlrm::shard {

class ShardServer {
 public:
  // slices[k] holds the rows of manifest slice k of this shard.
  explicit ShardServer(std::vector<model::RowsView> slices);
  int num_slices() const { return static_cast<int>(slices_.size()); }
  // Floats the answer to `request` holds. Throws dlrm::Error when the
  // request is malformed (RequestReader::parse).
  int64_t response_floats(const int32_t* request, int64_t ints);
  // Pools every bag of `request` into dst; returns the number of indices
  // outside their slice (skipped; 0 after the dense ranks' up-front check).
  int64_t serve(const int32_t* request, int64_t ints, float* dst);
  // The same with the _ref kernels.
  int64_t serve_ref(const int32_t* request, int64_t ints, float* dst);
  // Whether every slice of `request` has exactly one row for every sample
  // (kAllOne: one-hot bags, no table split by rows here).
  bool one_row_per_sample(const int32_t* request, int64_t ints);
  // For the request one_row_per_sample() last read and found one row per
  // sample: slice k's row of sample b straight to
  // dst + b * sample_stride + slice_offset (its place among the sample's
  // embedding rows); returns the indices outside the slice (zeros written).
  // For a dense rank pooling itself (the pool transport), whose interaction
  // then reads each sample's rows where they lie. One slice at a time, so
  // that threads can share a request's slices among themselves and with
  // other work: it reads nothing it writes, so threads may call it at once
  // for different k (until the next request is read). Throws dlrm::Error
  // when that request was not one row per sample.
  int64_t serve_sample_slice(int k, float* dst, int64_t sample_stride, int64_t slice_offset) const;
  // Whether a request of `slices` slices and `indices` indices is split by
  // slice over the OpenMP threads (several threads, not inside a parallel
  // region, kParallelIndices indices or more).
  static bool by_slice(int slices, int64_t indices);

 private:
  int64_t serve_impl(const int32_t* request, int64_t ints, float* dst, bool ref);
  int64_t serve_slice(int k, float* dst, bool ref, std::vector<int32_t>& offsets) const;
  std::vector<model::RowsView> slices_;
  RequestReader reader_;
  bool one_row_parsed_ = false;  // reader_ holds a request of one row per sample and slice
  std::vector<int32_t> offsets_;  // bag offsets of the answered samples (kGeneral)
  std::vector<int64_t> starts_;   // where each slice's rows start in the answer
};

}  // namespace dlrm::shard
