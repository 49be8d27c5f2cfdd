// DatasetSource: batches of a dataset's samples in order, then empty ones;
// predictions back in sample order; folding of out-of-range indices.
#include "dlrm/cluster/batch_source.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace dlrm::cluster {
namespace {

// 10 samples of 2 dense features and 2 tables: sample i has dense (i, -1),
// indices (i, 100 + i) and label i % 2.
std::vector<int32_t> records() {
  std::vector<int32_t> r;
  for (int i = 0; i < 10; ++i) r.insert(r.end(), {i % 2, i, -1, i, 100 + i});
  return r;
}

TEST(DatasetSource, BatchesInOrderThenEmpty) {
  const auto recs = records();
  const datasets::RecordLayout layout{2, 2};
  const auto data = datasets::Dataset::from_records(recs.data(), 10, layout);
  DatasetSource source(data, 3, 10, 4, 4, {1000, 1000}, false);
  InputBatch batch;
  const std::vector<int> sizes = {4, 3, 0, 0};
  int64_t first = 3;
  for (int size : sizes) {
    ASSERT_TRUE(source.ready());
    ASSERT_TRUE(source.next(batch));
    ASSERT_EQ(batch.size, size);
    ASSERT_EQ(batch.bags.size, size);
    for (int b = 0; b < size; ++b) {
      const int64_t i = first + b;
      EXPECT_FLOAT_EQ(batch.dense[2 * b], std::log(static_cast<float>(i) + 1.0f)) << "sample " << i;
      EXPECT_EQ(batch.dense[2 * b + 1], 0.0f) << "negative counts clip to 0, log(1) = 0";
      EXPECT_EQ(batch.bags.indices[0][b], i);
      EXPECT_EQ(batch.bags.indices[1][b], 100 + i);
    }
    std::vector<float> predictions(size);
    for (int b = 0; b < size; ++b) predictions[b] = static_cast<float>(first + b) / 100;
    source.complete(batch, predictions.data());
    first += size;
  }
  EXPECT_FALSE(source.next(batch)) << "4 steps, then the end of the run";
  ASSERT_EQ(source.predictions().size(), 7u);
  for (int64_t i = 3; i < 10; ++i) EXPECT_EQ(source.predictions()[i - 3], static_cast<float>(i) / 100);
  source.rewind(1);
  ASSERT_TRUE(source.next(batch));
  EXPECT_EQ(batch.size, 4);
  EXPECT_EQ(batch.bags.indices[0][0], 3);
  EXPECT_FALSE(source.next(batch));
}

TEST(DatasetSource, FoldsIndicesWhenAsked) {
  const auto recs = records();
  const auto data = datasets::Dataset::from_records(recs.data(), 10, datasets::RecordLayout{2, 2});
  InputBatch batch;
  DatasetSource folded(data, 0, 10, 10, 1, {7, 50}, true);
  ASSERT_TRUE(folded.next(batch));
  for (int b = 0; b < 10; ++b) {
    EXPECT_EQ(batch.bags.indices[0][b], b % 7);
    EXPECT_EQ(batch.bags.indices[1][b], (100 + b) % 50);
  }
}

// Multi-hot samples: each (sample, table) bag holds hotness(t) indices, in
// order, each folded; the dense floats are taken as they are.
TEST(DatasetSource, MultiHotBagsKeepEveryIndex) {
  const std::vector<float> dense = {0.5f, -2.0f, 1.5f, 3.0f, 2.5f, 4.0f};  // 3 samples x 2 features
  const std::vector<int32_t> labels = {1, 0, 1};
  const std::vector<int32_t> bag0 = {1, 2, 3, 4, 5, 6, 7, 8, 9};  // hotness 3
  const std::vector<int32_t> bag1 = {10, 11, 12};                 // hotness 1
  const auto data = datasets::Dataset::from_multi_hot(
      {dense.data(), labels.data(), {bag0.data(), bag1.data()}, {3, 1}}, 2, 0, 3, 3, "multi-hot");
  InputBatch batch;
  DatasetSource source(data, 1, 3, 2, 1, {5, 100}, true);
  ASSERT_TRUE(source.next(batch));
  ASSERT_EQ(batch.size, 2);
  EXPECT_EQ(std::vector<float>(batch.dense.begin(), batch.dense.begin() + 4),
            std::vector<float>({1.5f, 3.0f, 2.5f, 4.0f}));
  EXPECT_EQ(batch.bags.indices[0], std::vector<int32_t>({4 % 5, 5 % 5, 6 % 5, 7 % 5, 8 % 5, 9 % 5}));
  EXPECT_EQ(batch.bags.offsets[0], std::vector<int32_t>({0, 3, 6}));
  EXPECT_EQ(batch.bags.offsets[1], std::vector<int32_t>({0, 1, 2}));
  EXPECT_EQ(batch.bags.indices[1], std::vector<int32_t>({11, 12}));
}

}  // namespace
}  // namespace dlrm::cluster
