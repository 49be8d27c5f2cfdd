#include "dlrm/shard/shard_server.h"

#include "dlrm/common/error.h"
#include "dlrm/shard/embedding_bag.h"

namespace dlrm::shard {

ShardServer::ShardServer(std::vector<model::RowsView> slices) : slices_(std::move(slices)) {}

int64_t ShardServer::response_floats(const int32_t* request, int64_t ints) {
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

int64_t ShardServer::serve_impl(const int32_t* request, int64_t ints, float* dst, bool ref) {
  reader_.parse(request, ints, num_slices());
  const int batch = reader_.batch();
  int64_t bad = 0;
  for (int k = 0; k < num_slices(); ++k) {
    const model::RowsView& view = slices_[k];
    const SliceRequest& s = reader_.slices()[k];
    if (s.encoding != BagEncoding::kGeneral) {
      const int n = s.count;
      bad += ref ? embedding_gather_ref(view, s.rows, n, dst, view.cols) : embedding_gather(view, s.rows, n, dst, view.cols);
    } else {
      offsets_.assign(1, 0);
      for (int b = 0; b < batch; ++b) {
        if (s.lengths[b] > 0) offsets_.push_back(offsets_.back() + s.lengths[b]);
      }
      const int answered = static_cast<int>(s.answered);
      bad += ref ? embedding_bag_sum_ref(view, s.rows, offsets_.data(), answered, dst, view.cols)
                 : embedding_bag_sum(view, s.rows, offsets_.data(), answered, dst, view.cols);
    }
    dst += s.answered * view.cols;
  }
  return bad;
}

}  // namespace dlrm::shard
