// The peak loop (see peak.h). Each round issues one instruction per
// accumulator; the accumulators are independent, more of them than the FMA
// latency times the pipes (4 cycles x 2 on current x86 cores), so the loop
// runs at the issue rate. The multiplier and addend are hidden from the
// compiler (an empty asm), which could otherwise turn x * 1 + 1 into an add.
#include "dlrm/dense/peak.h"

#include <omp.h>

#include <chrono>
#include <cmath>

#if defined(__AVX512F__) || defined(__FMA__)
#include <immintrin.h>
#endif

#include "dlrm/common/error.h"

namespace dlrm::dense {

namespace {

constexpr int kAccumulators = 16;
// Rounds per timed chunk: fp32 lanes stay exact integers (< 2^24).
constexpr int64_t kChunk = 1 << 16;

#if defined(__AVX512F__)
constexpr int kLanes = 16;
constexpr const char* kFmaName = "avx512 vfmadd231ps zmm";
#elif defined(__FMA__)
constexpr int kLanes = 8;
constexpr const char* kFmaName = "avx2 vfmadd231ps ymm";
#else
constexpr int kLanes = 1;
constexpr const char* kFmaName = "scalar fmaf";
#endif

}  // namespace

double fma_rounds(int64_t steps, double* ops) {
  DLRM_CHECK(steps >= 0 && steps <= (int64_t{1} << 24), "fma_rounds: {} steps, not in [0, 2^24]", steps);
  float lanes[kAccumulators * kLanes];
#if defined(__AVX512F__) || defined(__FMA__)
#if defined(__AVX512F__)
  using V = __m512;
  auto set1 = [](float x) { return _mm512_set1_ps(x); };
  auto fma = [](V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); };
  auto store = [](float* p, V v) { _mm512_storeu_ps(p, v); };
#else
  using V = __m256;
  auto set1 = [](float x) { return _mm256_set1_ps(x); };
  auto fma = [](V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); };
  auto store = [](float* p, V v) { _mm256_storeu_ps(p, v); };
#endif
  V one = set1(1.0f), add = set1(1.0f);
  asm volatile("" : "+v"(one), "+v"(add));
  V acc[kAccumulators];
  for (V& a : acc) a = set1(0.0f);
  for (int64_t s = 0; s < steps; ++s) {
#pragma GCC unroll 16
    for (int k = 0; k < kAccumulators; ++k) acc[k] = fma(acc[k], one, add);
  }
  for (int k = 0; k < kAccumulators; ++k) store(lanes + k * kLanes, acc[k]);
#else
  volatile float one_v = 1.0f;
  const float one = one_v;
  float acc[kAccumulators] = {};
  for (int64_t s = 0; s < steps; ++s) {
    for (float& a : acc) a = std::fma(a, one, one);
  }
  for (int k = 0; k < kAccumulators; ++k) lanes[k] = acc[k];
#endif
  double sum = 0;
  for (float v : lanes) sum += v;
  if (ops != nullptr) *ops = 2.0 * static_cast<double>(steps) * kAccumulators * kLanes;
  return sum;
}

double fma_rounds_ref(int64_t steps, double* ops) {
  double sum = 0;
  for (int lane = 0; lane < kAccumulators * kLanes; ++lane) {
    float x = 0.0f;
    for (int64_t s = 0; s < steps; ++s) x = std::fma(x, 1.0f, 1.0f);
    sum += x;
  }
  if (ops != nullptr) *ops = 2.0 * static_cast<double>(steps) * kAccumulators * kLanes;
  return sum;
}

namespace {

// Every OpenMP thread runs `rounds` in chunks until `seconds` have passed;
// ops per second of wall time over all of them.
template <class Rounds>
double measure(double seconds, Rounds rounds) {
  DLRM_CHECK(seconds > 0 && std::isfinite(seconds), "peak measurement: {} seconds, must be positive", seconds);
  rounds(kChunk / 16, nullptr);  // warm-up: wakes the vector units and the threads
  double total_ops = 0;
  volatile double sink = 0;
  const auto t0 = std::chrono::steady_clock::now();
  const auto until = t0 + std::chrono::duration<double>(seconds);
#pragma omp parallel reduction(+ : total_ops)
  {
    double local = 0;
    do {
      double ops = 0;
      local += rounds(kChunk, &ops);
      total_ops += ops;
    } while (std::chrono::steady_clock::now() < until);
    sink = sink + local;
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return wall > 0 ? total_ops / wall : 0;
}

}  // namespace

const char* fma_peak_instruction() { return kFmaName; }

PeakRate measure_fma_peak(double seconds) {
  PeakRate peak;
  peak.ops_per_s = measure(seconds, fma_rounds);
  peak.instruction = kFmaName;
  return peak;
}

}  // namespace dlrm::dense
