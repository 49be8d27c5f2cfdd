#include "dlrm/shard/shard_server.h"

#include <omp.h>

#include "dlrm/common/error.h"
#include "dlrm/shard/embedding_bag.h"

namespace dlrm::shard {

ShardServer::ShardServer(std::vector<model::RowsView> slices) : slices_(std::move(slices)) {}

int64_t ShardServer::response_floats(const int32_t* request, int64_t ints) {
  one_row_parsed_ = false;
  reader_.parse(request, ints, num_slices());
  int64_t floats = 0;
  for (int k = 0; k < num_slices(); ++k) floats += reader_.slices()[k].answered * slices_[k].cols;
  return floats;
}

int64_t ShardServer::serve(const int32_t* request, int64_t ints, float* dst) {
  return serve_impl(request, ints, dst, false);
}

int64_t ShardServer::serve_ref(const int32_t* request, int64_t ints, float* dst) {
  return serve_impl(request, ints, dst, true);
}

// Slice k of the parsed request into dst (its place in the answer);
// `offsets`: scratch for the bag offsets of a kGeneral slice.
int64_t ShardServer::serve_slice(int k, float* dst, bool ref, std::vector<int32_t>& offsets) const {
  const model::RowsView& view = slices_[k];
  const SliceRequest& s = reader_.slices()[k];
  if (s.encoding != BagEncoding::kGeneral) {
    const int n = s.count;
    return ref ? embedding_gather_ref(view, s.rows, n, dst, view.cols) : embedding_gather(view, s.rows, n, dst, view.cols);
  }
  offsets.assign(1, 0);
  for (int b = 0; b < reader_.batch(); ++b) {
    if (s.lengths[b] > 0) offsets.push_back(offsets.back() + s.lengths[b]);
  }
  const int answered = static_cast<int>(s.answered);
  return ref ? embedding_bag_sum_ref(view, s.rows, offsets.data(), answered, dst, view.cols)
             : embedding_bag_sum(view, s.rows, offsets.data(), answered, dst, view.cols);
}

// Each slice's kernel splits a call of kParallelIndices or more over the
// threads; a request of many smaller slices (a dense rank pooling a whole
// shard's tables itself, the pool transport) is split by slice instead.
bool ShardServer::by_slice(int slices, int64_t indices) {
  return slices > 1 && indices >= kParallelIndices && omp_get_max_threads() > 1 && !omp_in_parallel();
}

bool ShardServer::one_row_per_sample(const int32_t* request, int64_t ints) {
  one_row_parsed_ = false;
  reader_.parse(request, ints, num_slices());
  for (const SliceRequest& s : reader_.slices()) {
    if (s.encoding != BagEncoding::kAllOne) return false;
  }
  one_row_parsed_ = true;
  return true;
}

int64_t ShardServer::serve_sample_slice(int k, float* dst, int64_t sample_stride, int64_t slice_offset) const {
  DLRM_CHECK(one_row_parsed_, "serve_sample_slice: the last request read was not one row per sample and slice");
  DLRM_CHECK(k >= 0 && k < num_slices(), "serve_sample_slice: slice {} of {}", k, num_slices());
  return embedding_gather(slices_[k], reader_.slices()[k].rows, reader_.batch(), dst + slice_offset, sample_stride);
}

int64_t ShardServer::serve_impl(const int32_t* request, int64_t ints, float* dst, bool ref) {
  one_row_parsed_ = false;
  reader_.parse(request, ints, num_slices());
  const int slices = num_slices();
  starts_.assign(1, 0);
  int64_t indices = 0;
  for (int k = 0; k < slices; ++k) {
    starts_.push_back(starts_.back() + reader_.slices()[k].answered * slices_[k].cols);
    indices += reader_.slices()[k].count;
  }
  int64_t bad = 0;
  if (!ref && by_slice(slices, indices)) {
#pragma omp parallel reduction(+ : bad)
    {
      std::vector<int32_t> offsets;
#pragma omp for schedule(dynamic)
      for (int k = 0; k < slices; ++k) bad += serve_slice(k, dst + starts_[k], ref, offsets);
    }
    return bad;
  }
  for (int k = 0; k < slices; ++k) bad += serve_slice(k, dst + starts_[k], ref, offsets_);
  return bad;
}

}  // namespace dlrm::shard
