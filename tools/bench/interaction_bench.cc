// bench-interaction: times the dot interaction (dense/interaction.h) of the
// terabyte shape (26 tables + the bottom MLP's output, dim 128) on batches
// of 256, against its arithmetic floor.
//
//   bench-interaction [Google Benchmark flags, e.g. --benchmark_filter=cold]
//
// Cases, for the fp32 and the bf16 interaction (--interaction):
//   hot/TYPE    one batch's rows (3.4 MB), the same every iteration: from cache
//   cold/TYPE   each iteration the next of 32 batches (109 MB, more than the
//               caches): from memory, as rows a shard rank wrote meanwhile
//   tables/TYPE the hot batch's rows as answers pooled table by table lie:
//               one [batch][dim] block per table (kTables), so each sample's
//               rows are gathered first (multi-hot bags, tables split by
//               rows; one-hot batches of the pool transport avoid it)
//   ref/fp32    the _ref twin on the hot batch
// Otherwise rows lie as a dense rank reads them in place: [batch][tables][dim].
// Wall time, all OpenMP threads (OMP_NUM_THREADS=1 for one core's figures).
// Counters: pairs (per second), flops (89,856 FLOP per pair: 351 dot
// products of 128), diff_vs_ref (largest |difference| from the _ref twin of
// the same precision on one batch, rows laid out as the case reads them; 0 up
// to summation order, below 1e-4 here).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "dlrm/dense/interaction.h"

namespace {

using dlrm::ElementType;
using dlrm::dense::EmbeddingRows;
using dlrm::dense::InteractionShape;

constexpr int kBatch = 256;
constexpr int kColdBatches = 32;
constexpr uint32_t kSeed = 17;

struct Inputs {
  InteractionShape shape;
  std::vector<float> x, rows, out;  // x [batch][dim]; rows [batches][batch][tables][dim]
  int64_t batch_floats = 0;
};

const Inputs& inputs() {
  static const Inputs in = [] {
    Inputs r;
    r.batch_floats = int64_t{kBatch} * r.shape.tables * r.shape.dim;
    std::mt19937 rng(kSeed);
    std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
    r.x.resize(static_cast<size_t>(kBatch) * r.shape.dim);
    for (float& v : r.x) v = uniform(rng);
    r.rows.resize(static_cast<size_t>(r.batch_floats) * kColdBatches);
    for (float& v : r.rows) v = uniform(rng);
    r.out.resize(static_cast<size_t>(kBatch) * r.shape.width());
    return r;
  }();
  return in;
}

double floor_flops_per_pair(const InteractionShape& shape) { return 2.0 * shape.pairs() * shape.dim; }

// The rows of cold batch `next`: [batch][tables][dim], or (per_table) the
// same floats read as one [batch][dim] block per table.
EmbeddingRows batch_rows(const Inputs& in, int next, bool per_table, std::vector<const void*>& tables) {
  const float* base = in.rows.data() + next * in.batch_floats;
  if (!per_table) return EmbeddingRows::block(base, in.shape.tables, in.shape.dim);
  tables.resize(in.shape.tables);
  for (int t = 0; t < in.shape.tables; ++t) tables[t] = base + int64_t{t} * kBatch * in.shape.dim;
  return EmbeddingRows::per_table(tables.data(), in.shape.tables, in.shape.dim, ElementType::kFp32);
}

// Largest |difference| between the fast path and the _ref twin on batch 0,
// its rows laid out as the case reads them.
double diff_vs_ref(const InteractionShape& shape, bool per_table) {
  const Inputs& in = inputs();
  std::vector<const void*> tables;
  const EmbeddingRows rows = batch_rows(in, 0, per_table, tables);
  std::vector<float> fast(in.out.size()), ref(in.out.size());
  dlrm::dense::interaction_dot(shape, in.x.data(), rows, kBatch, fast.data(), shape.width());
  dlrm::dense::interaction_dot_ref(shape, in.x.data(), rows, kBatch, ref.data(), shape.width());
  double worst = 0;
  for (size_t i = 0; i < fast.size(); ++i) worst = std::max(worst, std::fabs(double(fast[i]) - ref[i]));
  return worst;
}

void run(benchmark::State& state, ElementType precision, int batches, bool ref, bool per_table) {
  const Inputs& in = inputs();
  InteractionShape shape = in.shape;
  shape.precision = precision;
  std::vector<float> out(in.out.size());
  std::vector<const void*> tables;
  int next = 0;
  for (auto _ : state) {
    const EmbeddingRows rows = batch_rows(in, next, per_table, tables);
    if (ref) {
      dlrm::dense::interaction_dot_ref(shape, in.x.data(), rows, kBatch, out.data(), shape.width());
    } else {
      dlrm::dense::interaction_dot(shape, in.x.data(), rows, kBatch, out.data(), shape.width());
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
    next = (next + 1) % batches;
  }
  using benchmark::Counter;
  state.counters["pairs"] = Counter(kBatch, Counter::kIsIterationInvariantRate);
  state.counters["flops"] = Counter(kBatch * floor_flops_per_pair(shape), Counter::kIsIterationInvariantRate);
  state.counters["diff_vs_ref"] = diff_vs_ref(shape, per_table);
}

void register_all() {
  for (ElementType type : {ElementType::kFp32, ElementType::kBf16}) {
    const std::string name = dlrm::to_string(type);
    benchmark::RegisterBenchmark(("hot/" + name).c_str(), run, type, 1, false, false)->UseRealTime();
    benchmark::RegisterBenchmark(("cold/" + name).c_str(), run, type, kColdBatches, false, false)->UseRealTime();
    benchmark::RegisterBenchmark(("tables/" + name).c_str(), run, type, 1, false, true)->UseRealTime();
  }
  benchmark::RegisterBenchmark("ref/fp32", run, ElementType::kFp32, 1, true, false)->UseRealTime();
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
