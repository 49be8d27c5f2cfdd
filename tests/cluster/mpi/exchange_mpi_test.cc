// The real all-to-all exchange under mpiexec with multi-hot bags (the MLPerf
// data is one-hot, so the cluster runs cannot exercise these): every dense
// rank routes random bags (empty ones included) through the shard ranks and
// compares the assembled embeddings with sums of the model's exact rows.
// The pool transport also runs one-hot bags, which it pools straight into
// each sample's rows where no table is split by rows
// (Exchange::pool_into_samples).
#include <gtest/gtest.h>
#include <mpi.h>

#include <filesystem>
#include <cmath>
#include <optional>
#include <random>

#include "dlrm/cluster/answers.h"
#include "dlrm/cluster/exchange.h"
#include "dlrm/cluster/roles.h"
#include "dlrm/cluster/routing.h"
#include "dlrm/cluster/shared_rows.h"
#include "dlrm/sharding/model_writer.h"
#include "dlrm/model/shard_file.h"
#include "dlrm/sharding/source.h"
#include "huge_page_probe.h"

namespace fs = std::filesystem;

namespace dlrm::cluster {
namespace {

constexpr uint64_t kModelSeed = 3;
constexpr uint64_t kBatchSeed = 1234;

int world_rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}
int world_size() {
  int s = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &s);
  return s;
}

// Rank 0 writes the model; everybody waits for it.
fs::path shared_model(sharding::PlanKind kind, int shards) {
  std::string name = sharding::to_string(kind) + "-" + std::to_string(shards);
  fs::path dir = fs::temp_directory_path() / ("dlrm_exchange_mpi_" + std::to_string(world_size())) / name;
  int ok = 1;
  if (world_rank() == 0) {
    try {
      fs::remove_all(dir);
      fs::create_directories(dir.parent_path());
      auto arch = model::make_preset("small", 300);
      auto source = sharding::make_synth_source(arch, kModelSeed);
      sharding::WriteOptions options;
      options.plan.kind = kind;
      options.plan.shards = shards;
      options.plan.column_splits = 2;
      options.progress = false;
      sharding::write_model(*source, options, dir);
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what();
      ok = 0;
    }
  }
  MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
  if (!ok) return {};
  return dir;
}

struct ExchangeCase {
  sharding::PlanKind plan;
  Transport transport;
  ElementType type;
  int max_bag = 5;  // bags of 0..max_bag indices; 1: exactly one (one-hot)
};

class ExchangeMpiTest : public ::testing::TestWithParam<ExchangeCase> {};

TEST_P(ExchangeMpiTest, MultiHotBagsMatchDirectSums) {
  const int size = world_size();
  ASSERT_GE(size, 2) << "run under mpiexec with 2 or more ranks";
  const int shards = std::min(size - 1, 3);
  const ExchangeCase param = GetParam();
  fs::path dir = shared_model(param.plan, shards);
  ASSERT_FALSE(dir.empty());
  auto manifest = model::load_manifest(dir);
  Roles roles = assign_roles(world_rank(), size, shards, "");
  constexpr int kMaxBatch = 64;
  // The pool transport: the shard ranks load their rows into shared memory
  // that the dense ranks pool from themselves.
  std::optional<SharedRows> rows;
  if (param.transport == Transport::kPool) {
    rows.emplace(MPI_COMM_WORLD, roles, manifest, dir);
    // Every rank maps rows (its own, or every shard's), on huge pages where
    // the kernel makes them.
    EXPECT_GT(rows->mapped_bytes(), 0u);
    static const bool collapses = dlrm::test::kernel_collapses_shared_memory();
    if (collapses) {
      EXPECT_EQ(rows->huge_page_bytes(), rows->mapped_bytes()) << "rows not on 2 MiB pages on rank " << world_rank();
    } else if (world_rank() == 0) {
      std::printf("this kernel does not collapse shared memory into huge pages: their check is skipped\n");
    }
  }
  std::optional<model::ShardFile> file;
  if (roles.my_role() == Role::kShard) {
    model::ShardFile::Options options;
    if (rows) {
      options.in_memory = true;
      options.allocate = rows->allocator();
    }
    file.emplace(model::ShardFile::open(dir / manifest.shards[roles.my_index()].file, options));
  }
  MPI_Barrier(MPI_COMM_WORLD);  // every shard's rows are in place before a dense rank pools them
  Exchange exchange(MPI_COMM_WORLD, roles, param.type, param.transport,
                    max_response_floats(RoutingTable(manifest), kMaxBatch), rows ? &*rows : nullptr);
  ASSERT_EQ(exchange.transport(), param.transport);  // every rank of the test is on this host
  const int batches = 4;
  const auto& arch = manifest.arch;
  const int dim = arch.dim, tables = arch.num_tables();

  if (roles.my_role() == Role::kShard) {
    std::vector<model::RowsView> views;
    for (size_t k = 0; k < file->slices().size(); ++k) views.push_back(file->slice_view(static_cast<int>(k)));
    shard::ShardServer server(std::move(views));
    // The cluster's shard loop: each batch answered as soon as it is pooled
    // (pool: the dense ranks pool every batch themselves).
    for (int b = 0; b < batches && !rows; ++b) {
      EXPECT_TRUE(exchange.receive_requests(b % 2)) << "batch " << b;
      EXPECT_EQ(exchange.serve(b % 2, server), 0);
      exchange.post_answers(b % 2);
    }
    // Then the dense ranks end the run.
    EXPECT_FALSE(exchange.receive_requests(rows ? 0 : batches % 2));
    exchange.finish();
  } else {
    const uint64_t seed = kBatchSeed + roles.my_index();
    std::printf("dense rank %d: batch seed %llu\n", roles.my_index(), static_cast<unsigned long long>(seed));
    std::mt19937_64 rng(seed);
    auto source = sharding::make_synth_source(arch, kModelSeed);
    RoutingTable routing(manifest);
    std::vector<RequestBuilder> builders(2, RequestBuilder(routing));
    std::vector<BatchAnswers> located(2, BatchAnswers(routing));
    std::vector<Batch> inputs(batches);
    std::vector<std::vector<float>> wants(batches);
    std::vector<float> row(dim);
    for (int i = 0; i < batches; ++i) {
      // Dense rank d's last batch is empty for odd d: empty batches must work too.
      const int n = (i == batches - 1 && roles.my_index() % 2 == 1) ? 0 : std::min(kMaxBatch, 37 + 9 * i);
      Batch& batch = inputs[i];
      batch.reset(n, tables);
      auto& want = wants[i];
      want.assign(static_cast<size_t>(n) * tables * dim, 0.f);
      for (int t = 0; t < tables; ++t) {
        std::uniform_int_distribution<int64_t> pick(0, arch.table_rows[t] - 1);
        std::uniform_int_distribution<int> length(param.max_bag == 1 ? 1 : 0, param.max_bag);
        for (int b = 0; b < n; ++b) {
          int bag = length(rng);
          float* dst = want.data() + (static_cast<size_t>(b) * tables + t) * dim;
          for (int k = 0; k < bag; ++k) {
            int64_t r = pick(rng);
            batch.add(t, static_cast<int32_t>(r));
            source->read_rows(t, r, 1, 0, dim, row.data());
            for (int c = 0; c < dim; ++c) dst[c] += row[c];
          }
          batch.end_sample(t);
        }
      }
    }
    // The cluster's dense loop: batch i+1's requests and receive go out before batch i's answers are read.
    auto post = [&](int i) {
      builders[i % 2].build(inputs[i]);
      located[i % 2].locate(builders[i % 2]);
      exchange.post_requests(i % 2, builders[i % 2]);
      exchange.post_pooled(i % 2, builders[i % 2]);
    };
    post(0);
    for (int i = 0; i < batches; ++i) {
      if (i + 1 < batches) post(i + 1);
      const auto& want = wants[i];
      std::vector<float> got(want.size(), NAN);
      bool pooled_here = false;
      if (inputs[i].size > 0) pooled_here = exchange.pool_into_samples(i % 2, got.data(), int64_t{tables} * dim);
      // Only the pool transport pools here, and for one-hot bags of tables not
      // split by rows it always does; bags of 0..5 never (some length is not 1).
      const bool one_row_each = param.transport == Transport::kPool && param.max_bag == 1 &&
                                (param.plan == sharding::PlanKind::kTable || param.plan == sharding::PlanKind::kColumn);
      if (inputs[i].size > 0 && (one_row_each || param.max_bag > 1)) {
        EXPECT_EQ(pooled_here, one_row_each) << "batch " << i;
      }
      if (!pooled_here) {
        const auto& responses = exchange.wait_pooled(i % 2);
        if (inputs[i].size > 0) located[i % 2].assemble(responses, got.data());
      }
      // Up to 5 rows of |x| <= sqrt(1/rows) <= 1 summed in another grouping
      // (per row range, then added): each of the <= 5 roundings is at most
      // eps * 5, so the difference stays below 25 * eps = 3e-6. 16-bit rows
      // on the way add one rounding of each partial sum (|sum| <= 5): half an
      // ulp, 2^-9 relative for bf16 (2^-12 for fp16), so 5 * 2^-9 per
      // partial, at most 3 partials (row ranges) per value. (EXPECT, not
      // ASSERT: leaving the loop early would strand the other ranks.)
      const double rounding = param.type == ElementType::kFp32   ? 0.0
                              : param.type == ElementType::kBf16 ? 3 * 5 * std::ldexp(1.0, -9)
                                                                : 3 * 5 * std::ldexp(1.0, -12);
      const double tolerance = 25 * 1.2e-7 + rounding;
      int64_t mismatches = 0;
      for (size_t k = 0; k < want.size(); ++k) {
        if (!(std::fabs(got[k] - want[k]) <= tolerance)) {
          if (mismatches++ == 0) ADD_FAILURE() << "batch " << i << " value " << k << ": " << got[k] << " vs " << want[k];
        }
      }
      EXPECT_EQ(mismatches, 0) << "batch " << i;
    }
    exchange.post_stop(batches % 2);
    exchange.finish();
  }
  if (rows) rows->finish();
}

// Every plan through every transport, and 16-bit rows through both wires.
INSTANTIATE_TEST_SUITE_P(
    Plans, ExchangeMpiTest,
    ::testing::Values(ExchangeCase{sharding::PlanKind::kTable, Transport::kAlltoall, ElementType::kFp32},
                      ExchangeCase{sharding::PlanKind::kRow, Transport::kAlltoall, ElementType::kFp32},
                      ExchangeCase{sharding::PlanKind::kColumn, Transport::kAlltoall, ElementType::kFp32},
                      ExchangeCase{sharding::PlanKind::kAuto, Transport::kAlltoall, ElementType::kFp32},
                      ExchangeCase{sharding::PlanKind::kTable, Transport::kSharedMemory, ElementType::kFp32},
                      ExchangeCase{sharding::PlanKind::kRow, Transport::kSharedMemory, ElementType::kFp32},
                      ExchangeCase{sharding::PlanKind::kColumn, Transport::kSharedMemory, ElementType::kFp32},
                      ExchangeCase{sharding::PlanKind::kAuto, Transport::kSharedMemory, ElementType::kFp32},
                      ExchangeCase{sharding::PlanKind::kRow, Transport::kAlltoall, ElementType::kBf16},
                      ExchangeCase{sharding::PlanKind::kRow, Transport::kSharedMemory, ElementType::kBf16},
                      ExchangeCase{sharding::PlanKind::kColumn, Transport::kSharedMemory, ElementType::kFp16},
                      ExchangeCase{sharding::PlanKind::kTable, Transport::kPool, ElementType::kFp32},
                      ExchangeCase{sharding::PlanKind::kRow, Transport::kPool, ElementType::kFp32},
                      ExchangeCase{sharding::PlanKind::kColumn, Transport::kPool, ElementType::kFp32},
                      ExchangeCase{sharding::PlanKind::kAuto, Transport::kPool, ElementType::kFp32},
                      ExchangeCase{sharding::PlanKind::kTable, Transport::kPool, ElementType::kFp32, 1},
                      ExchangeCase{sharding::PlanKind::kRow, Transport::kPool, ElementType::kFp32, 1},
                      ExchangeCase{sharding::PlanKind::kColumn, Transport::kPool, ElementType::kFp32, 1}),
    [](const auto& info) {
      return sharding::to_string(info.param.plan) + "_" + to_string(info.param.transport) + "_" +
             to_string(info.param.type) + (info.param.max_bag == 1 ? "_one_hot" : "");
    });

}  // namespace
}  // namespace dlrm::cluster

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  if (dlrm::cluster::world_rank() != 0) {
    // Failures on other ranks still fail the job through the exit code.
    delete ::testing::UnitTest::GetInstance()->listeners().Release(
        ::testing::UnitTest::GetInstance()->listeners().default_result_printer());
  }
  int failed = RUN_ALL_TESTS() != 0 ? 1 : 0;
  int any = 0;
  MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (any && dlrm::cluster::world_rank() == 0) std::printf("a test failed on some rank\n");
  MPI_Finalize();
  return any;
}
