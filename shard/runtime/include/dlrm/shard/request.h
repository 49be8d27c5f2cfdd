// The request a dense rank sends one shard for one batch, and the shape of
// the answer. One writer builds requests, one reader walks them; nothing
// else looks inside a message.
//
// A request is int32 values:
//   [batch] then, for each slice of the shard in manifest order:
//   [encoding, count, payload...]
//     kAllOne     every sample has exactly one index here:  count = batch,
//                 payload = rows[batch]
//     kSparseOne  samples have zero or one index here:       count = n,
//                 payload = sample ids[n] (ascending), rows[n]
//     kGeneral    bags of any length:                        count = total,
//                 payload = lengths[batch], rows[total] (sample by sample)
// where rows are local rows of the slice (table row - the slice's row_begin).
//
// The answer is float values: for each slice in order, one pooled row of
// the slice's columns for every sample whose bag there is not empty, in
// sample order:
//   answer = concat over slices k, over b with length_k(b) > 0 of
//            sum_{i in bag_k(b)} row_k(i)[0 .. cols_k)
#pragma once

#include <cstdint>
#include <vector>

namespace dlrm::shard {

enum class BagEncoding : int32_t { kAllOne = 0, kSparseOne = 1, kGeneral = 2 };

// Appends a request to `msg` (cleared first).
class RequestWriter {
 public:
  RequestWriter(std::vector<int32_t>& msg, int batch);
  // Appends the next slice's section: lengths[b] indices of sample b lie in
  // this slice, their local rows are rows[...] sample by sample. Chooses the
  // smallest encoding: kAllOne when every length is 1, kSparseOne when none
  // is above 1, else kGeneral. Returns the samples answered (length > 0).
  int64_t add_slice(const int32_t* lengths, const int32_t* rows);
  // The same for a slice where every sample has exactly one row, rows[b]
  // (what add_slice makes of lengths all 1): kAllOne. Returns the batch.
  int64_t add_all_one(const int32_t* rows);

 private:
  std::vector<int32_t>& msg_;
  int batch_;
};

// One slice's section of a request, pointing into the message.
struct SliceRequest {
  BagEncoding encoding = BagEncoding::kAllOne;
  int32_t count = 0;                    // indices in the section
  const int32_t* sample_ids = nullptr;  // kSparseOne: count ascending sample ids
  const int32_t* lengths = nullptr;     // kGeneral: batch bag lengths
  const int32_t* rows = nullptr;        // count local rows
  int64_t answered = 0;                 // samples with a non-empty bag: rows in the answer

  // fn(b, answered_b) for b = 0 .. batch-1 in order; answered_b: sample b has
  // a row of this slice in the answer.
  template <class Fn>
  void for_each_sample(int batch, Fn&& fn) const {
    if (encoding == BagEncoding::kAllOne) {
      for (int b = 0; b < batch; ++b) fn(b, true);
    } else if (encoding == BagEncoding::kSparseOne) {
      int32_t next = 0;
      for (int b = 0; b < batch; ++b) {
        const bool here = next < count && sample_ids[next] == b;
        next += here;
        fn(b, here);
      }
    } else {
      for (int b = 0; b < batch; ++b) fn(b, lengths[b] > 0);
    }
  }
};

// Splits a request into its slice sections, checking the framing: the
// message must hold one section per slice, known encodings, counts that fit,
// sample ids ascending inside the batch, lengths that sum to the count.
// Throws dlrm::Error saying what is wrong. Row values are not checked here
// (the kernels count rows outside their slice).
class RequestReader {
 public:
  void parse(const int32_t* msg, int64_t ints, int slices);
  int batch() const { return batch_; }
  const std::vector<SliceRequest>& slices() const { return slices_; }

 private:
  int batch_ = 0;
  std::vector<SliceRequest> slices_;
};

}  // namespace dlrm::shard
