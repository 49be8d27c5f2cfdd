// RequestBuilder -> shard::ShardServer -> BatchAnswers (assemble, rows in
// place) against pooling the full tables directly, for hand-made table-,
// row-, column- and mixed plans.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <random>

#include "dlrm/cluster/answers.h"
#include "dlrm/cluster/routing.h"
#include "dlrm/shard/embedding_bag.h"
#include "dlrm/shard/shard_server.h"
#include "dlrm/common/error.h"

namespace dlrm::cluster {
namespace {

using model::Slice;

constexpr uint64_t kSeed = 20261121;

struct Fixture {
  model::Manifest manifest;
  std::vector<std::vector<float>> tables;            // full tables [rows][dim]
  std::vector<std::vector<std::vector<uint8_t>>> storage;  // [shard][slice] bytes
  std::vector<std::vector<model::RowsView>> views;

  Fixture(std::vector<int64_t> rows, int dim, std::vector<std::vector<Slice>> plan) {
    manifest.arch.dim = dim;
    manifest.arch.table_rows = rows;
    std::mt19937_64 rng(kSeed);
    std::uniform_real_distribution<float> uniform(-1.f, 1.f);
    for (int64_t r : rows) {
      tables.emplace_back(r * dim);
      for (auto& v : tables.back()) v = uniform(rng);
    }
    for (size_t s = 0; s < plan.size(); ++s) {
      model::ShardInfo info;
      info.shard = static_cast<int>(s);
      info.slices = plan[s];
      manifest.shards.push_back(info);
      storage.emplace_back();
      views.emplace_back();
      for (const Slice& slice : plan[s]) {
        const uint64_t stride = model::row_stride(ElementType::kFp32, slice.cols());
        auto& bytes = storage.back().emplace_back(stride * slice.rows(), 0);
        for (int64_t r = 0; r < slice.rows(); ++r) {
          auto* dst = reinterpret_cast<float*>(bytes.data() + r * stride);
          for (int c = 0; c < slice.cols(); ++c) {
            dst[c] = tables[slice.table][(slice.row_begin + r) * dim + slice.col_begin + c];
          }
        }
        model::RowsView view;
        view.rows = bytes.data();
        view.stride = stride;
        view.num_rows = slice.rows();
        view.cols = slice.cols();
        views.back().push_back(view);
      }
    }
  }

  // Pools every bag straight from the full tables (index order).
  std::vector<float> expected(const Batch& batch) const {
    const int dim = manifest.arch.dim;
    const int t_count = batch.tables();
    std::vector<float> emb(static_cast<size_t>(batch.size) * t_count * dim, 0.f);
    for (int t = 0; t < t_count; ++t) {
      for (int b = 0; b < batch.size; ++b) {
        float* dst = emb.data() + (static_cast<size_t>(b) * t_count + t) * dim;
        for (int k = batch.offsets[t][b]; k < batch.offsets[t][b + 1]; ++k) {
          for (int c = 0; c < dim; ++c) dst[c] += tables[t][batch.indices[t][k] * dim + c];
        }
      }
    }
    return emb;
  }

  // Every shard's answer to `builder`'s requests (NaN-filled first: serve
  // must write every value).
  std::vector<std::vector<float>> answers(const RequestBuilder& builder, bool ref) {
    std::vector<std::vector<float>> out(manifest.num_shards());
    for (int s = 0; s < manifest.num_shards(); ++s) {
      shard::ShardServer server(views[s]);
      const auto& msg = builder.message(s);
      int64_t floats = server.response_floats(msg.data(), static_cast<int64_t>(msg.size()));
      EXPECT_EQ(floats, builder.response_floats(s)) << "shard " << s;
      out[s].assign(floats, NAN);
      int64_t bad = ref ? server.serve_ref(msg.data(), msg.size(), out[s].data())
                        : server.serve(msg.data(), msg.size(), out[s].data());
      EXPECT_EQ(bad, 0);
    }
    return out;
  }

  // A builder for `batch` and the shards' answers to it.
  struct Served {
    RoutingTable routing;
    RequestBuilder builder;
    std::vector<std::vector<float>> answers;
    std::vector<const float*> responses;
    BatchAnswers located;
    explicit Served(const model::Manifest& manifest) : routing(manifest), builder(routing), located(routing) {}
  };
  std::unique_ptr<Served> serve(const Batch& batch, bool ref) {
    auto served = std::make_unique<Served>(manifest);
    served->builder.build(batch);
    served->located.locate(served->builder);
    served->answers = answers(served->builder, ref);
    for (const auto& a : served->answers) served->responses.push_back(a.data());
    return served;
  }

  std::vector<float> through_cluster(const Batch& batch, bool ref) {
    auto served = serve(batch, ref);
    // NaN everywhere first: assemble() must write every value of every sample.
    std::vector<float> emb(static_cast<size_t>(batch.size) * batch.tables() * manifest.arch.dim, NAN);
    served->located.assemble(served->responses, emb.data());
    return emb;
  }

  // The rows in_place() points at, copied to emb[B][T][dim], and the view's
  // layout; empty when it declines (then assemble is the way).
  std::pair<std::vector<float>, dense::EmbeddingRows::Layout> through_in_place(const Batch& batch) {
    auto served = serve(batch, false);
    const int dim = manifest.arch.dim;
    const auto rows = served->located.in_place(served->responses);
    if (!rows) return {};
    EXPECT_EQ(rows->type, ElementType::kFp32);
    EXPECT_EQ(rows->num_tables, batch.tables());
    std::vector<float> emb(static_cast<size_t>(batch.size) * batch.tables() * dim);
    for (int b = 0; b < batch.size; ++b) {
      for (int t = 0; t < batch.tables(); ++t) {
        const void* row = rows->layout == dense::EmbeddingRows::Layout::kRows
                              ? rows->pointers[static_cast<int64_t>(b) * batch.tables() + t]
                              : static_cast<const float*>(rows->pointers[t]) + b * rows->sample_stride;
        std::copy_n(static_cast<const float*>(row), dim, emb.data() + (static_cast<int64_t>(b) * batch.tables() + t) * dim);
      }
    }
    return {emb, rows->layout};
  }

  // Whether every bag lies whole in one full-width slice (or is empty): when
  // in_place() must point at the rows instead of declining.
  bool rows_addressable(const Batch& batch) const {
    if (batch.size == 0) return false;
    for (int t = 0; t < batch.tables(); ++t) {
      std::vector<Slice> slices;
      for (const auto& shard : manifest.shards) {
        for (const Slice& s : shard.slices) {
          if (s.table != t) continue;
          if (s.cols() != manifest.arch.dim) return false;
          slices.push_back(s);
        }
      }
      for (int b = 0; b < batch.size; ++b) {
        int touched = 0;
        for (const Slice& s : slices) {
          bool in = false;
          for (int k = batch.offsets[t][b]; k < batch.offsets[t][b + 1]; ++k) {
            in |= batch.indices[t][k] >= s.row_begin && batch.indices[t][k] < s.row_end;
          }
          touched += in;
        }
        if (touched > 1) return false;
      }
    }
    return true;
  }
};

Batch random_batch(const std::vector<int64_t>& rows, int size, int max_bag, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Batch batch;
  batch.reset(size, static_cast<int>(rows.size()));
  for (size_t t = 0; t < rows.size(); ++t) {
    std::uniform_int_distribution<int64_t> pick(0, rows[t] - 1);
    std::uniform_int_distribution<int> length(max_bag == 1 ? 1 : 0, max_bag);
    for (int b = 0; b < size; ++b) {
      int n = length(rng);
      for (int k = 0; k < n; ++k) batch.add(static_cast<int>(t), static_cast<int32_t>(pick(rng)));
      batch.end_sample(static_cast<int>(t));
    }
  }
  return batch;
}

const std::vector<int64_t> kRows = {10, 7, 1, 25};
constexpr int kDim = 8;

std::vector<std::vector<Slice>> plan_named(const std::string& name) {
  if (name == "table") {
    return {{{0, 0, 10, 0, kDim}, {2, 0, 1, 0, kDim}}, {{1, 0, 7, 0, kDim}, {3, 0, 25, 0, kDim}}};
  }
  if (name == "row") {
    return {{{0, 0, 4, 0, kDim}, {1, 0, 7, 0, kDim}, {3, 0, 9, 0, kDim}},
            {{0, 4, 10, 0, kDim}, {3, 9, 20, 0, kDim}},
            {{2, 0, 1, 0, kDim}, {3, 20, 25, 0, kDim}}};
  }
  if (name == "column") {
    std::vector<std::vector<Slice>> plan(2);
    for (int t = 0; t < 4; ++t) {
      plan[t % 2].push_back({t, 0, kRows[t], 0, kDim / 2});
      plan[(t + 1) % 2].push_back({t, 0, kRows[t], kDim / 2, kDim});
    }
    return plan;
  }
  // mixed: table 3 split both ways, table 0 by rows, the rest whole
  return {{{3, 0, 12, 0, 4}, {0, 0, 5, 0, kDim}, {1, 0, 7, 0, kDim}},
          {{3, 0, 12, 4, kDim}, {3, 12, 25, 0, kDim}, {2, 0, 1, 0, kDim}},
          {{0, 5, 10, 0, kDim}}};
}

class RoutingTest : public ::testing::TestWithParam<std::tuple<std::string, int>> {};

TEST_P(RoutingTest, MatchesDirectPooling) {
  const auto& [plan, max_bag] = GetParam();
  SCOPED_TRACE("seed " + std::to_string(kSeed) + " plan " + plan + " max_bag " + std::to_string(max_bag));
  Fixture fx(kRows, kDim, plan_named(plan));
  for (int size : {1, 5, 64}) {
    Batch batch = random_batch(kRows, size, max_bag, kSeed + size);
    auto want = fx.expected(batch);
    for (bool ref : {false, true}) {
      auto got = fx.through_cluster(batch, ref);
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < want.size(); ++i) {
        if (max_bag == 1) {
          // One index per bag: every value is copied (or 0 + x), so exact.
          ASSERT_EQ(got[i], want[i]) << "value " << i << " batch " << size;
        } else {
          // Row-split bags are summed per slice, then the partial sums added:
          // a reordering of at most 4 terms of |x| <= 1, so the error is below
          // 4 * 4 * eps (each rounding at most eps * |partial| <= 4 eps).
          ASSERT_NEAR(got[i], want[i], 16 * 1.2e-7) << "value " << i << " batch " << size;
        }
      }
    }
  }
}

// in_place(): points at each (sample, table) row where it lies in the
// answers exactly when no bag needs adding (row ranges) or joining (column
// slices), and then the rows equal direct pooling bit for bit (one slice
// pools the whole bag in index order, as direct pooling does; empty bags
// point at zeros). Whole tables with a row for every sample come as one
// pointer per table (kTables), the rest as a pointer per row (kRows).
TEST_P(RoutingTest, InPlaceRowsPointAtWholeRows) {
  const auto& [plan, max_bag] = GetParam();
  SCOPED_TRACE("seed " + std::to_string(kSeed) + " plan " + plan + " max_bag " + std::to_string(max_bag));
  Fixture fx(kRows, kDim, plan_named(plan));
  int pointed = 0;
  for (int size : {1, 5, 64}) {
    Batch batch = random_batch(kRows, size, max_bag, kSeed + size);
    const auto [got, layout] = fx.through_in_place(batch);
    ASSERT_EQ(!got.empty(), fx.rows_addressable(batch)) << "batch " << size;
    if (got.empty()) continue;
    ++pointed;
    // Every table whole on one shard and no bag empty: one pointer per table.
    bool no_empty_bag = true;
    for (int t = 0; t < batch.tables(); ++t) {
      for (int b = 0; b < batch.size; ++b) no_empty_bag &= batch.offsets[t][b + 1] > batch.offsets[t][b];
    }
    const bool per_table = plan == "table" && no_empty_bag;
    EXPECT_EQ(layout == dense::EmbeddingRows::Layout::kTables, per_table) << "batch " << size;
    const auto want = fx.expected(batch);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) ASSERT_EQ(got[i], want[i]) << "value " << i << " batch " << size;
  }
  // The plans whose rows must be addressable in every batch.
  if (plan == "table" || (plan == "row" && max_bag == 1)) {
    EXPECT_EQ(pointed, 3);
  } else if (plan == "column" || plan == "mixed") {
    EXPECT_EQ(pointed, 0);
  }
}

// ShardServer::serve_sample_slice (the pool transport): where every shard's
// request has one row per sample and slice (one-hot bags, no table split by
// rows), the rows go straight to each sample's embedding rows, equal to
// direct pooling bit for bit, every value written; any other request is
// declined by one_row_per_sample and refused by serve_sample_slice.
TEST_P(RoutingTest, OneHotRowsPooledIntoSamples) {
  const auto& [plan, max_bag] = GetParam();
  SCOPED_TRACE("seed " + std::to_string(kSeed) + " plan " + plan + " max_bag " + std::to_string(max_bag));
  Fixture fx(kRows, kDim, plan_named(plan));
  RoutingTable routing(fx.manifest);
  for (int size : {1, 5, 64}) {
    Batch batch = random_batch(kRows, size, max_bag, kSeed + size);
    RequestBuilder builder(routing);
    builder.build(batch);
    const int shards = fx.manifest.num_shards();
    std::vector<shard::ShardServer> servers;
    bool every = true;
    for (int s = 0; s < shards; ++s) {
      servers.emplace_back(fx.views[s]);
      const auto& msg = builder.message(s);
      every &= servers.back().one_row_per_sample(msg.data(), static_cast<int64_t>(msg.size()));
    }
    // One-hot bags without row-split tables answer every sample in every slice.
    const bool want_every = max_bag == 1 && (plan == "table" || plan == "column");
    EXPECT_EQ(every, want_every) << "batch " << size;
    const int64_t stride = int64_t{batch.tables()} * kDim;
    std::vector<float> emb(static_cast<size_t>(batch.size) * stride, NAN);
    for (int s = 0; s < shards; ++s) {
      const std::vector<int64_t>& offsets = routing.sample_offsets(s);
      const auto& msg = builder.message(s);
      if (!every) {
        if (!servers[s].one_row_per_sample(msg.data(), static_cast<int64_t>(msg.size()))) {
          EXPECT_THROW(servers[s].serve_sample_slice(0, emb.data(), stride, 0), Error);
        }
        continue;
      }
      ASSERT_TRUE(servers[s].one_row_per_sample(msg.data(), static_cast<int64_t>(msg.size())));
      for (int k = 0; k < servers[s].num_slices(); ++k) {
        EXPECT_EQ(servers[s].serve_sample_slice(k, emb.data(), stride, offsets[static_cast<size_t>(k)]), 0);
      }
    }
    if (!every) continue;
    const auto want = fx.expected(batch);
    for (size_t i = 0; i < want.size(); ++i) ASSERT_EQ(emb[i], want[i]) << "value " << i << " batch " << size;
  }
}

INSTANTIATE_TEST_SUITE_P(Plans, RoutingTest,
                         ::testing::Combine(::testing::Values("table", "row", "column", "mixed"),
                                            ::testing::Values(1, 4)),
                         [](const auto& info) {
                           return std::get<0>(info.param) + (std::get<1>(info.param) == 1 ? "_one_hot" : "_multi_hot");
                         });

TEST(Routing, EmptyBatchSendsOnlyHeaders) {
  Fixture fx(kRows, kDim, plan_named("row"));
  Batch batch;
  batch.reset(0, 4);
  RoutingTable routing(fx.manifest);
  RequestBuilder builder(routing);
  builder.build(batch);
  for (int s = 0; s < fx.manifest.num_shards(); ++s) {
    EXPECT_EQ(builder.response_floats(s), 0);
    EXPECT_EQ(builder.message(s).size(), 1 + 2 * fx.manifest.shards[s].slices.size());
  }
}

TEST(Routing, OneHotWholeTablesUseAllOneEncoding) {
  Fixture fx(kRows, kDim, plan_named("table"));
  Batch batch = random_batch(kRows, 16, 1, kSeed);
  RoutingTable routing(fx.manifest);
  RequestBuilder builder(routing);
  builder.build(batch);
  // Shard 0 holds tables 0 and 2: [B] + 2 x ([encoding, count] + 16 rows).
  const auto& msg = builder.message(0);
  ASSERT_EQ(msg.size(), 1u + 2 * (2 + 16));
  EXPECT_EQ(msg[1], static_cast<int32_t>(shard::BagEncoding::kAllOne));
  EXPECT_EQ(builder.response_floats(0), 2 * 16 * kDim);
}

// Batch::make_one_hot fills what add/end_sample would (one index per bag),
// and RequestBuilder's shortcut for such tables (each sample's row as it is)
// writes the messages its general path writes. A bag of two beside an empty
// one (as many indices as samples, yet not one-hot) takes the general path.
TEST(Routing, OneHotShortcutWritesWhatTheGeneralPathWrites) {
  Fixture fx(kRows, kDim, plan_named("table"));
  RoutingTable routing(fx.manifest);
  const int size = 16;
  const Batch pushed = random_batch(kRows, size, 1, kSeed + 7);
  Batch filled;
  filled.reset(size, 4);
  filled.make_one_hot();
  for (int t = 0; t < 4; ++t) {
    ASSERT_TRUE(pushed.one_hot_table(t)) << "table " << t;
    for (int b = 0; b < size; ++b) filled.one_hot(t)[b] = pushed.indices[t][b];
  }
  EXPECT_EQ(filled.indices, pushed.indices);
  EXPECT_EQ(filled.offsets, pushed.offsets);
  RequestBuilder a(routing), b(routing);
  a.build(pushed);
  b.build(filled);
  for (int s = 0; s < fx.manifest.num_shards(); ++s) {
    EXPECT_EQ(a.message(s), b.message(s)) << "shard " << s;
    EXPECT_EQ(a.response_floats(s), b.response_floats(s)) << "shard " << s;
  }

  // Table 0: sample 0's bag empty, sample 1's two rows; 16 indices in all.
  Batch uneven = pushed;
  uneven.offsets[0][1] = 0;
  ASSERT_FALSE(uneven.one_hot_table(0));
  ASSERT_TRUE(uneven.one_hot_table(2));
  RequestBuilder c(routing);
  c.build(uneven);
  // Shard 0 holds tables 0 and 2 (as in OneHotWholeTablesUseAllOneEncoding).
  const auto& msg = c.message(0);
  EXPECT_EQ(msg[1], static_cast<int32_t>(shard::BagEncoding::kGeneral));
  EXPECT_EQ(c.response_floats(0), (size - 1 + size) * kDim) << "15 samples answered in table 0, 16 in table 2";
}

TEST(Routing, RowSplitOneHotSendsEachIndexOnce) {
  Fixture fx(kRows, kDim, plan_named("row"));
  Batch batch = random_batch(kRows, 32, 1, kSeed);
  RoutingTable routing(fx.manifest);
  RequestBuilder builder(routing);
  builder.build(batch);
  int64_t floats = 0;
  for (int s = 0; s < fx.manifest.num_shards(); ++s) floats += builder.response_floats(s);
  // One row back per (sample, table): the minimum.
  EXPECT_EQ(floats, 32 * 4 * kDim);
}

// A request of kParallelIndices indices or more runs its slices on several
// threads (shard_server.h): the answers must be the _ref twins', bit for
// bit, as on one thread; multi-hot (kGeneral) and one-hot (kAllOne,
// kSparseOne) slices alike.
TEST(Routing, LargeRequestsServeSlicesInParallelBitIdentical) {
  const int threads_before = omp_get_max_threads();
  for (const char* plan : {"table", "row", "column"}) {
    for (int max_bag : {1, 5}) {
      Fixture fx(kRows, kDim, plan_named(plan));
      const Batch batch = random_batch(kRows, 3000, max_bag, kSeed + max_bag);
      int64_t indices = 0;
      for (const auto& t : batch.indices) indices += static_cast<int64_t>(t.size());
      ASSERT_GE(indices, shard::kParallelIndices) << "the batch must be large enough to run in parallel";
      omp_set_num_threads(2);
      auto parallel = fx.serve(batch, false);
      omp_set_num_threads(1);
      auto serial = fx.serve(batch, false);
      auto ref = fx.serve(batch, true);
      for (int s = 0; s < fx.manifest.num_shards(); ++s) {
        const auto& p = parallel->answers[s];
        ASSERT_EQ(p.size(), ref->answers[s].size());
        EXPECT_EQ(std::memcmp(p.data(), ref->answers[s].data(), p.size() * sizeof(float)), 0)
            << plan << " max_bag " << max_bag << " shard " << s << ": parallel differs from _ref";
        EXPECT_EQ(std::memcmp(p.data(), serial->answers[s].data(), p.size() * sizeof(float)), 0)
            << plan << " max_bag " << max_bag << " shard " << s << ": 2 threads differ from 1";
      }
    }
  }
  omp_set_num_threads(threads_before);
}

TEST(Routing, ServerRejectsMalformedRequest) {
  Fixture fx(kRows, kDim, plan_named("table"));
  shard::ShardServer server(fx.views[0]);
  std::vector<int32_t> bad = {4, 7, 4};  // unknown encoding 7
  EXPECT_THROW(server.response_floats(bad.data(), bad.size()), Error);
  std::vector<int32_t> short_msg = {4};
  EXPECT_THROW(server.response_floats(short_msg.data(), short_msg.size()), Error);
}

}  // namespace
}  // namespace dlrm::cluster
