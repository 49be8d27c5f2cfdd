#include "dlrm/shard/request.h"

#include <algorithm>

#include "dlrm/common/error.h"

namespace dlrm::shard {

RequestWriter::RequestWriter(std::vector<int32_t>& msg, int batch) : msg_(msg), batch_(batch) {
  msg_.clear();
  msg_.push_back(batch);
}

int64_t RequestWriter::add_all_one(const int32_t* rows) {
  msg_.push_back(static_cast<int32_t>(BagEncoding::kAllOne));
  msg_.push_back(batch_);
  msg_.insert(msg_.end(), rows, rows + batch_);
  return batch_;
}

int64_t RequestWriter::add_slice(const int32_t* lengths, const int32_t* rows) {
  int64_t total = 0, answered = 0;
  int32_t longest = 0;
  bool all_one = batch_ > 0;
  for (int b = 0; b < batch_; ++b) {
    total += lengths[b];
    answered += lengths[b] > 0;
    longest = std::max(longest, lengths[b]);
    all_one &= lengths[b] == 1;
  }
  if (all_one) {
    add_all_one(rows);
  } else if (longest <= 1) {
    msg_.push_back(static_cast<int32_t>(BagEncoding::kSparseOne));
    msg_.push_back(static_cast<int32_t>(answered));
    for (int b = 0; b < batch_; ++b) {
      if (lengths[b] > 0) msg_.push_back(b);
    }
    msg_.insert(msg_.end(), rows, rows + answered);
  } else {
    msg_.push_back(static_cast<int32_t>(BagEncoding::kGeneral));
    msg_.push_back(static_cast<int32_t>(total));
    msg_.insert(msg_.end(), lengths, lengths + batch_);
    msg_.insert(msg_.end(), rows, rows + total);
  }
  return answered;
}

void RequestReader::parse(const int32_t* msg, int64_t ints, int slices) {
  DLRM_CHECK(ints >= 1, "empty exchange request");
  batch_ = msg[0];
  DLRM_CHECK(batch_ >= 0, "exchange request for a batch of {} samples", batch_);
  slices_.resize(slices);
  int64_t pos = 1;
  for (SliceRequest& s : slices_) {
    DLRM_CHECK(pos + 2 <= ints, "exchange request ends early ({} of {} ints)", pos, ints);
    s = SliceRequest{};
    s.encoding = static_cast<BagEncoding>(msg[pos]);
    s.count = msg[pos + 1];
    pos += 2;
    DLRM_CHECK(s.count >= 0, "exchange request has a slice with {} indices", s.count);
    switch (s.encoding) {
      case BagEncoding::kAllOne:
        DLRM_CHECK(s.count == batch_, "exchange request: one index per sample but {} for {} samples", s.count,
                   batch_);
        s.answered = batch_;
        break;
      case BagEncoding::kSparseOne:
        DLRM_CHECK(pos + s.count <= ints, "exchange request ends early");
        s.sample_ids = msg + pos;
        for (int32_t k = 0; k < s.count; ++k) {
          DLRM_CHECK(s.sample_ids[k] >= 0 && s.sample_ids[k] < batch_ && (k == 0 || s.sample_ids[k] > s.sample_ids[k - 1]),
                     "exchange request: sample ids not ascending inside the batch of {}", batch_);
        }
        s.answered = s.count;
        pos += s.count;
        break;
      case BagEncoding::kGeneral: {
        DLRM_CHECK(pos + batch_ <= ints, "exchange request ends early");
        s.lengths = msg + pos;
        int64_t total = 0;
        for (int b = 0; b < batch_; ++b) {
          DLRM_CHECK(s.lengths[b] >= 0, "exchange request: bag of length {}", s.lengths[b]);
          total += s.lengths[b];
          s.answered += s.lengths[b] > 0;
        }
        DLRM_CHECK(total == s.count, "exchange request: bag lengths sum to {}, header says {}", total, s.count);
        pos += batch_;
        break;
      }
      default:
        DLRM_FAIL("exchange request has unknown bag encoding {}", static_cast<int>(s.encoding));
    }
    DLRM_CHECK(pos + s.count <= ints, "exchange request ends early ({} of {} ints)", pos, ints);
    s.rows = msg + pos;
    pos += s.count;
  }
  DLRM_CHECK(pos == ints, "exchange request has {} ints, its slices describe {}", ints, pos);
}

}  // namespace dlrm::shard
