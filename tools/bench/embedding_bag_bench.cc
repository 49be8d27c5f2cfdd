// bench-embedding-bag: times embedding_bag_sum and embedding_gather for every
// storage type at dim 128 over a table larger than the caches.
//
//   bench-embedding-bag [--rows=N] [Google Benchmark flags, e.g. --benchmark_filter=sum8]
//
// Cases, per storage type (fp32, fp16, int8, int4):
//   gather/TYPE   embedding_gather of 256 indices (one-hot bags)
//   sum8/TYPE     embedding_bag_sum of 256 bags of 8 indices
//   sum64/TYPE    embedding_bag_sum of 256 bags of 64 indices
//   gather/fp32/shm-4k, gather/fp32/shm-2m
//                 the fp32 gather from shared memory (a memfd) on 4 KiB pages,
//                 and on 2 MiB pages (MADV_COLLAPSE), as the pool transport's
//                 dense ranks read the shard ranks' rows (docs/exchange.md);
//                 counter huge_fraction: the part on 2 MiB pages
// Indices are uniform over the table's rows (--rows, default 2M: 1 GB in
// fp32), drawn from a fixed seed; each iteration takes the next of 64 index
// batches, so rows are rarely still cached from the iteration before.
// Times are the process's CPU time (all OpenMP threads; OMP_NUM_THREADS=1 for
// one core's figures). Counters: ns_per_row (CPU time per index), diff_vs_ref
// (values of one batch that differ from the _ref twin's; must be 0). Tables
// are built on first use, so a filter builds only the types it runs.
#include <benchmark/benchmark.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "dlrm/common/error.h"
#include "dlrm/common/huge_pages.h"
#include "dlrm/model/row_codec.h"
#include "dlrm/shard/embedding_bag.h"

namespace {

using dlrm::ElementType;

constexpr int kDim = 128;
constexpr int kBatch = 256;
constexpr int kBatches = 64;  // index batches cycled through
constexpr uint32_t kSeed = 13;
constexpr int64_t kBlockRows = 1 << 16;  // rows generated and encoded at a time

int64_t g_rows = int64_t{2} << 20;

// Where a table lies: anonymous memory on huge pages where the kernel gives
// them, as a shard rank holds its rows (ShardFile::load_into_memory); or
// shared memory on 4 KiB or 2 MiB pages, as the pool transport's rows.
enum class Memory { kAnonymous, kShared4k, kShared2m };

const char* suffix(Memory memory) {
  switch (memory) {
    case Memory::kAnonymous: return "";
    case Memory::kShared4k: return "/shm-4k";
    case Memory::kShared2m: return "/shm-2m";
  }
  return "";
}

// One table of g_rows rows of kDim columns stored as `type`.
struct Table {
  void* region = nullptr;
  uint64_t bytes = 0;  // mapped
  dlrm::model::RowsView view;
  double huge_fraction = 0;
  ~Table() {
    if (region != nullptr) ::munmap(region, bytes);
  }
};

// `bytes` of `memory` (see Memory).
void* allocate(Memory memory, uint64_t& bytes, ElementType type) {
  if (memory == Memory::kAnonymous) {
    void* region = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    DLRM_CHECK(region != MAP_FAILED, "cannot allocate {} bytes for the {} table; try a smaller --rows", bytes,
               to_string(type));
    ::madvise(region, bytes, MADV_HUGEPAGE);
    return region;
  }
  bytes = dlrm::round_up_to_huge_page(bytes);
  const int fd = ::memfd_create("bench-embedding-bag", MFD_CLOEXEC);
  const bool sized = fd >= 0 && ::ftruncate(fd, static_cast<off_t>(bytes)) == 0;
  if (!sized && fd >= 0) ::close(fd);
  DLRM_CHECK(sized, "cannot make {} bytes of shared memory for the {} table; try a smaller --rows", bytes,
             to_string(type));
  uint8_t* region = dlrm::map_huge_aligned(fd, bytes, PROT_READ | PROT_WRITE, "the table");
  if (memory == Memory::kShared4k) {
    ::madvise(region, bytes, MADV_NOHUGEPAGE);  // 4 KiB pages even where shmem_enabled allows huge ones
  } else if (const std::string why_not = dlrm::collapse_to_huge_pages(region, bytes, "", false); !why_not.empty()) {
    ::munmap(region, bytes);
    DLRM_FAIL("this kernel does not put shared memory on 2 MiB pages (MADV_COLLAPSE: {})", why_not);
  }
  return region;
}

// Values in [-1, 1) of row block `block` (a cheap generator: tables are GBs).
void block_values(int64_t block, int64_t rows, std::vector<float>& values) {
  uint64_t state = 0x9e3779b97f4a7c15ull * static_cast<uint64_t>(block + 1) + kSeed;
  values.resize(static_cast<size_t>(rows) * kDim);
  for (float& v : values) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    v = static_cast<float>(state >> 40) / static_cast<float>(1 << 23) - 1.0f;
  }
}

const Table& table_of(ElementType type, Memory memory) {
  static std::map<std::pair<ElementType, Memory>, Table> tables;
  auto it = tables.find({type, memory});
  if (it != tables.end()) return it->second;
  const uint64_t stride = dlrm::model::row_stride(type, kDim);
  uint64_t bytes = stride * static_cast<uint64_t>(g_rows);
  void* region = allocate(memory, bytes, type);
  Table& table = tables[{type, memory}];
  table.region = region;
  table.bytes = bytes;
  auto* rows = static_cast<uint8_t*>(region);
  std::vector<float> values;
  for (int64_t r0 = 0; r0 < g_rows; r0 += kBlockRows) {
    const int64_t n = std::min(kBlockRows, g_rows - r0);
    block_values(r0 / kBlockRows, n, values);
    const dlrm::model::EncodeResult result = dlrm::model::encode_rows(type, values.data(), n, kDim, rows + r0 * stride);
    DLRM_CHECK(result.bad_rows == 0, "encoding the {} table failed: {}", to_string(type), result.reason);
  }
  table.view = {rows, stride, g_rows, kDim, type};
  table.huge_fraction = static_cast<double>(dlrm::huge_mapped_bytes(rows, bytes)) / static_cast<double>(bytes);
  return table;
}

// kBatches batches of kBatch bags of `hot` indices each.
struct Batches {
  std::vector<std::vector<int32_t>> indices;
  std::vector<int32_t> offsets;  // the same for every batch
};

const Batches& batches_of(int hot) {
  static std::map<int, Batches> all;
  auto it = all.find(hot);
  if (it != all.end()) return it->second;
  Batches& batches = all[hot];
  std::mt19937 rng(kSeed + static_cast<uint32_t>(hot));
  std::uniform_int_distribution<int32_t> row(0, static_cast<int32_t>(g_rows - 1));
  batches.indices.resize(kBatches);
  for (auto& indices : batches.indices) {
    indices.resize(static_cast<size_t>(kBatch) * hot);
    for (int32_t& i : indices) i = row(rng);
  }
  for (int b = 0; b <= kBatch; ++b) batches.offsets.push_back(b * hot);
  return batches;
}

// Values (bit patterns) of a and b that differ.
int64_t count_diff(const std::vector<float>& a, const std::vector<float>& b) {
  int64_t diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff += std::memcmp(&a[i], &b[i], sizeof(float)) != 0 ? 1 : 0;
  return diff;
}

void set_counters(benchmark::State& state, int64_t rows_per_iteration, int64_t diff) {
  state.SetItemsProcessed(state.iterations() * rows_per_iteration);
  state.counters["ns_per_row"] = benchmark::Counter(static_cast<double>(rows_per_iteration) * 1e-9,
                                                    benchmark::Counter::kIsIterationInvariantRate |
                                                        benchmark::Counter::kInvert);
  state.counters["diff_vs_ref"] = static_cast<double>(diff);
}

// table_of, or nullptr with the case skipped when it cannot be built.
const Table* table_or_skip(benchmark::State& state, ElementType type, Memory memory = Memory::kAnonymous) {
  try {
    return &table_of(type, memory);
  } catch (const dlrm::Error& e) {
    state.SkipWithError(e.what());
    return nullptr;
  }
}

void bench_sum(benchmark::State& state, ElementType type, int hot) {
  const Table* found = table_or_skip(state, type);
  if (found == nullptr) return;
  const Table& table = *found;
  const Batches& batches = batches_of(hot);
  std::vector<float> dst(static_cast<size_t>(kBatch) * kDim);
  size_t next = 0;
  for (auto _ : state) {
    const std::vector<int32_t>& indices = batches.indices[next++ % kBatches];
    int64_t bad = dlrm::shard::embedding_bag_sum(table.view, indices.data(), batches.offsets.data(), kBatch,
                                                 dst.data(), kDim);
    benchmark::DoNotOptimize(bad);
    benchmark::ClobberMemory();
  }
  std::vector<float> ref(dst.size());
  const std::vector<int32_t>& indices = batches.indices[0];
  dlrm::shard::embedding_bag_sum(table.view, indices.data(), batches.offsets.data(), kBatch, dst.data(), kDim);
  dlrm::shard::embedding_bag_sum_ref(table.view, indices.data(), batches.offsets.data(), kBatch, ref.data(), kDim);
  set_counters(state, int64_t{kBatch} * hot, count_diff(dst, ref));
}

void bench_gather(benchmark::State& state, ElementType type, Memory memory) {
  const Table* found = table_or_skip(state, type, memory);
  if (found == nullptr) return;
  const Table& table = *found;
  const Batches& batches = batches_of(1);
  std::vector<float> dst(static_cast<size_t>(kBatch) * kDim);
  size_t next = 0;
  for (auto _ : state) {
    const std::vector<int32_t>& indices = batches.indices[next++ % kBatches];
    int64_t bad = dlrm::shard::embedding_gather(table.view, indices.data(), kBatch, dst.data(), kDim);
    benchmark::DoNotOptimize(bad);
    benchmark::ClobberMemory();
  }
  std::vector<float> ref(dst.size());
  const std::vector<int32_t>& indices = batches.indices[0];
  dlrm::shard::embedding_gather(table.view, indices.data(), kBatch, dst.data(), kDim);
  dlrm::shard::embedding_gather_ref(table.view, indices.data(), kBatch, ref.data(), kDim);
  set_counters(state, kBatch, count_diff(dst, ref));
  if (memory != Memory::kAnonymous) state.counters["huge_fraction"] = table.huge_fraction;
}

// Takes --rows=N out of argv (Google Benchmark rejects flags it does not know).
void parse_rows(int& argc, char** argv) {
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--rows=", 0) == 0) {
      char* end = nullptr;
      g_rows = std::strtoll(arg.c_str() + 7, &end, 10);
      DLRM_CHECK(*end == '\0' && g_rows > 0 && g_rows <= INT32_MAX,
                 "--rows: expected a row count in [1, 2^31), got '{}'", arg.substr(7));
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    parse_rows(argc, argv);
  } catch (const dlrm::Error& e) {
    std::fprintf(stderr, "bench-embedding-bag: %s\n", e.what());
    return 2;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  std::printf("bench-embedding-bag: %lld rows of dim %d per table, batch %d, seed %u\n",
              static_cast<long long>(g_rows), kDim, kBatch, kSeed);
  const ElementType types[] = {ElementType::kFp32, ElementType::kFp16, ElementType::kInt8, ElementType::kInt4};
  for (ElementType type : types) {
    const std::string name = to_string(type);
    benchmark::RegisterBenchmark(("gather/" + name).c_str(), bench_gather, type, Memory::kAnonymous)
        ->MeasureProcessCPUTime();
    benchmark::RegisterBenchmark(("sum8/" + name).c_str(), bench_sum, type, 8)->MeasureProcessCPUTime();
    benchmark::RegisterBenchmark(("sum64/" + name).c_str(), bench_sum, type, 64)->MeasureProcessCPUTime();
  }
  for (Memory memory : {Memory::kShared4k, Memory::kShared2m}) {
    benchmark::RegisterBenchmark((std::string("gather/fp32") + suffix(memory)).c_str(), bench_gather,
                                 ElementType::kFp32, memory)
        ->MeasureProcessCPUTime();
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
