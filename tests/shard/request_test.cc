// The request format: RequestWriter's choice of encoding, RequestReader's
// walk of what it wrote, and the reader's refusal of malformed messages.
#include "dlrm/shard/request.h"

#include <gtest/gtest.h>

#include <vector>

#include "dlrm/common/error.h"
#include "test_files.h"

namespace dlrm::shard {
namespace {

struct Section {
  std::vector<int32_t> lengths, rows;
};

std::vector<int32_t> write(int batch, const std::vector<Section>& sections, std::vector<int64_t>* answered = nullptr) {
  std::vector<int32_t> msg = {99, 99};  // the writer clears what was there
  RequestWriter writer(msg, batch);
  for (const Section& s : sections) {
    const int64_t n = writer.add_slice(s.lengths.data(), s.rows.data());
    if (answered) answered->push_back(n);
  }
  return msg;
}

// Each section read back: the samples answered, and the rows in sample order.
void expect_read_back(int batch, const std::vector<Section>& sections, const std::vector<BagEncoding>& encodings) {
  std::vector<int64_t> answered;
  const auto msg = write(batch, sections, &answered);
  RequestReader reader;
  reader.parse(msg.data(), static_cast<int64_t>(msg.size()), static_cast<int>(sections.size()));
  ASSERT_EQ(reader.batch(), batch);
  ASSERT_EQ(reader.slices().size(), sections.size());
  for (size_t k = 0; k < sections.size(); ++k) {
    const SliceRequest& s = reader.slices()[k];
    EXPECT_EQ(s.encoding, encodings[k]) << "section " << k;
    EXPECT_EQ(s.answered, answered[k]) << "section " << k;
    ASSERT_EQ(s.count, static_cast<int32_t>(sections[k].rows.size())) << "section " << k;
    EXPECT_EQ(std::vector<int32_t>(s.rows, s.rows + s.count), sections[k].rows) << "section " << k;
    std::vector<bool> seen;
    s.for_each_sample(batch, [&](int b, bool here) {
      EXPECT_EQ(b, static_cast<int>(seen.size()));
      seen.push_back(here);
    });
    ASSERT_EQ(seen.size(), static_cast<size_t>(batch));
    for (int b = 0; b < batch; ++b) EXPECT_EQ(seen[b], sections[k].lengths[b] > 0) << "section " << k << " sample " << b;
  }
}

TEST(Request, EncodingsRoundTrip) {
  expect_read_back(4,
                   {{{1, 1, 1, 1}, {5, 6, 7, 8}},          // one index each: kAllOne
                    {{0, 1, 0, 1}, {3, 9}},                // zero or one: kSparseOne
                    {{2, 0, 3, 1}, {1, 2, 3, 4, 5, 6}},    // bags: kGeneral
                    {{0, 0, 0, 0}, {}}},                   // nothing: kSparseOne with no ids
                   {BagEncoding::kAllOne, BagEncoding::kSparseOne, BagEncoding::kGeneral, BagEncoding::kSparseOne});
}

TEST(Request, EmptyBatchIsHeadersOnly) {
  const auto msg = write(0, {{{}, {}}, {{}, {}}});
  EXPECT_EQ(msg, (std::vector<int32_t>{0, static_cast<int32_t>(BagEncoding::kSparseOne), 0,
                                       static_cast<int32_t>(BagEncoding::kSparseOne), 0}));
  expect_read_back(0, {{{}, {}}}, {BagEncoding::kSparseOne});
}

TEST(Request, ReaderRefusesMalformedMessages) {
  RequestReader reader;
  auto refuse = [&](std::vector<int32_t> msg, int slices, const char* part) {
    EXPECT_ERROR_WITH(reader.parse(msg.data(), static_cast<int64_t>(msg.size()), slices), part);
  };
  refuse({}, 1, "empty exchange request");
  refuse({4}, 1, "ends early");
  refuse({4, 7, 0}, 1, "unknown bag encoding 7");
  refuse({-1}, 0, "batch of -1");
  refuse({2, 0, 3, 1, 2, 3}, 1, "one index per sample but 3 for 2 samples");
  refuse({2, 0, 2, 1}, 1, "ends early");                       // kAllOne with one row missing
  refuse({3, 1, 2, 2, 1, 7, 8}, 1, "not ascending");             // sparse ids 2, 1
  refuse({3, 1, 1, 3, 7}, 1, "not ascending");                   // sample id past the batch
  refuse({2, 2, 3, 1, 1, 5, 6}, 1, "sum to 2, header says 3");   // kGeneral lengths
  refuse({2, 2, 1, -1, 2, 5}, 1, "bag of length -1");
  refuse({1, 0, 1, 5, 0, 0}, 1, "its slices describe");          // trailing ints
  refuse({1, 0, 1, 5}, 2, "ends early");                         // a slice missing
}

}  // namespace
}  // namespace dlrm::shard
