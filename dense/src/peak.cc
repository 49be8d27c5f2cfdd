// The peak loops (see peak.h), shaped like a GEMM's inner kernel: 24
// independent accumulators, each round one instruction per accumulator whose
// operands are one of 4 registers and a 32-bit value broadcast from memory
// (the {1to16} form). With AVX-512 the loops are inline assembly, because the
// instruction form matters: on the AMD EPYC (Zen 5) development machine
// VPDPBUSD with three register operands issued once per cycle, and with the
// broadcast memory operand (as oneDNN's kernels use it) twice; compilers
// choose the register form. 24 accumulators cover the latency (4-5 cycles) of
// two pipes with room to spare.
#include "dlrm/dense/peak.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#if !defined(__AVX512F__) && defined(__FMA__)
#include <immintrin.h>
#endif

#include "dlrm/common/error.h"

namespace dlrm::dense {

namespace {

// Rounds per timed chunk: fp32 lanes stay exact integers (< 2^24).
constexpr int64_t kChunk = 1 << 16;

#if defined(__AVX512F__)
constexpr int kAccumulators = 24;
constexpr int kLanes = 16;
constexpr const char* kFmaName = "avx512 vfmadd231ps zmm, m32bcst";

// zmm0..23 accumulate; zmm28..31 hold the register operand. `one` holds 6
// 32-bit values (1.0f, or four u8 1s) that are broadcast.
#define DLRM_ZERO(k) "vpxord %%zmm" #k ", %%zmm" #k ", %%zmm" #k "\n\t"
#define DLRM_STORE(k) "vmovdqu32 %%zmm" #k ", " #k "*64(%[out])\n\t"
#define DLRM_ROUND(op)                                                                                          \
  op(0, 0, 28) op(1, 4, 28) op(2, 8, 28) op(3, 12, 28) op(4, 16, 28) op(5, 20, 28) op(6, 0, 29) op(7, 4, 29)     \
      op(8, 8, 29) op(9, 12, 29) op(10, 16, 29) op(11, 20, 29) op(12, 0, 30) op(13, 4, 30) op(14, 8, 30)         \
          op(15, 12, 30) op(16, 16, 30) op(17, 20, 30) op(18, 0, 31) op(19, 4, 31) op(20, 8, 31) op(21, 12, 31) \
              op(22, 16, 31) op(23, 20, 31)
#define DLRM_ALL(m)                                                                                              \
  m(0) m(1) m(2) m(3) m(4) m(5) m(6) m(7) m(8) m(9) m(10) m(11) m(12) m(13) m(14) m(15) m(16) m(17) m(18) m(19) \
      m(20) m(21) m(22) m(23)
#define DLRM_FMA(k, off, reg) "vfmadd231ps " #off "(%[one])%{1to16%}, %%zmm" #reg ", %%zmm" #k "\n\t"
#define DLRM_VNNI(k, off, reg) "vpdpbusd " #off "(%[one])%{1to16%}, %%zmm" #reg ", %%zmm" #k "\n\t"
#define DLRM_PEAK_LOOP(op)                                                                                         \
  asm volatile(DLRM_ALL(DLRM_ZERO)                                                                               \
               "vpbroadcastd (%[one]), %%zmm28\n\t"                                                               \
               "vpbroadcastd (%[one]), %%zmm29\n\t"                                                               \
               "vpbroadcastd (%[one]), %%zmm30\n\t"                                                               \
               "vpbroadcastd (%[one]), %%zmm31\n\t"                                                               \
               "test %[n], %[n]\n\t"                                                                              \
               "jz 2f\n\t"                                                                                        \
               "1:\n\t" DLRM_ROUND(op) "dec %[n]\n\t"                                                             \
               "jnz 1b\n\t"                                                                                       \
               "2:\n\t" DLRM_ALL(DLRM_STORE)                                                                      \
               : [n] "+r"(n)                                                                                      \
               : [one] "r"(one), [out] "r"(out)                                                                   \
               : "zmm0", "zmm1", "zmm2", "zmm3", "zmm4", "zmm5", "zmm6", "zmm7", "zmm8", "zmm9", "zmm10", "zmm11",  \
                 "zmm12", "zmm13", "zmm14", "zmm15", "zmm16", "zmm17", "zmm18", "zmm19", "zmm20", "zmm21", "zmm22", \
                 "zmm23", "zmm28", "zmm29", "zmm30", "zmm31", "memory", "cc")
#elif defined(__FMA__)
constexpr int kAccumulators = 16;
constexpr int kLanes = 8;
constexpr const char* kFmaName = "avx2 vfmadd231ps ymm";
#else
constexpr int kAccumulators = 16;
constexpr int kLanes = 1;
constexpr const char* kFmaName = "scalar fmaf";
#endif

// 2 FLOP per lane and round (fp32); 4 byte products of 2 ops per lane and round (int8).
double fma_ops(int64_t steps) { return 2.0 * static_cast<double>(steps) * kAccumulators * kLanes; }
double int8_ops(int64_t steps) { return 8.0 * static_cast<double>(steps) * kAccumulators * 16; }

}  // namespace

double fma_rounds(int64_t steps, double* ops) {
  DLRM_CHECK(steps >= 0 && steps <= (int64_t{1} << 24), "fma_rounds: {} steps, not in [0, 2^24]", steps);
  float lanes[kAccumulators * kLanes];
#if defined(__AVX512F__)
  alignas(64) const float one[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  float* out = lanes;
  int64_t n = steps;
  DLRM_PEAK_LOOP(DLRM_FMA);
#elif defined(__FMA__)
  __m256 one = _mm256_set1_ps(1.0f), add = _mm256_set1_ps(1.0f);
  asm volatile("" : "+v"(one), "+v"(add));  // else x * 1 + 1 may become an add
  __m256 acc[kAccumulators];
  for (__m256& a : acc) a = _mm256_setzero_ps();
  for (int64_t s = 0; s < steps; ++s) {
#pragma GCC unroll 16
    for (int k = 0; k < kAccumulators; ++k) acc[k] = _mm256_fmadd_ps(acc[k], one, add);
  }
  for (int k = 0; k < kAccumulators; ++k) _mm256_storeu_ps(lanes + k * kLanes, acc[k]);
#else
  volatile float one_v = 1.0f;
  const float one = one_v;
  float acc[kAccumulators] = {};
  for (int64_t s = 0; s < steps; ++s) {
    for (float& a : acc) a = std::fma(a, one, one);
  }
  std::memcpy(lanes, acc, sizeof(acc));
#endif
  double sum = 0;
  for (float v : lanes) sum += v;
  if (ops != nullptr) *ops = fma_ops(steps);
  return sum;
}

double fma_rounds_ref(int64_t steps, double* ops) {
  double sum = 0;
  for (int lane = 0; lane < kAccumulators * kLanes; ++lane) {
    float x = 0.0f;
    for (int64_t s = 0; s < steps; ++s) x = std::fma(x, 1.0f, 1.0f);
    sum += x;
  }
  if (ops != nullptr) *ops = fma_ops(steps);
  return sum;
}

bool have_vnni() {
#if defined(__AVX512VNNI__)
  return true;
#else
  return false;
#endif
}

double vnni_rounds(int64_t steps, double* ops) {
  DLRM_CHECK(steps >= 0 && steps <= (int64_t{1} << 28), "vnni_rounds: {} steps, not in [0, 2^28]", steps);
  if (ops != nullptr) *ops = 0;
#if defined(__AVX512VNNI__)
  int32_t lanes[kAccumulators * 16];
  alignas(64) const uint32_t one[16] = {0x01010101u, 0x01010101u, 0x01010101u, 0x01010101u, 0x01010101u, 0x01010101u,
                                        0x01010101u, 0x01010101u, 0x01010101u, 0x01010101u, 0x01010101u, 0x01010101u,
                                        0x01010101u, 0x01010101u, 0x01010101u, 0x01010101u};
  int32_t* out = lanes;
  int64_t n = steps;
  DLRM_PEAK_LOOP(DLRM_VNNI);
  double sum = 0;
  for (int32_t v : lanes) sum += v;
  if (ops != nullptr) *ops = int8_ops(steps);
  return sum;
#else
  (void)steps;
  return 0;
#endif
}

double vnni_rounds_ref(int64_t steps, double* ops) {
  if (ops != nullptr) *ops = 0;
  if (!have_vnni()) return 0;
  double sum = 0;
  for (int lane = 0; lane < kAccumulators * 16; ++lane) {
    int32_t x = 0;
    for (int64_t s = 0; s < steps; ++s) {
      for (int byte = 0; byte < 4; ++byte) x += int32_t{1} * int32_t{1};  // u8 1 x s8 1
    }
    sum += x;
  }
  if (ops != nullptr) *ops = int8_ops(steps);
  return sum;
}

namespace {

// Every OpenMP thread runs `rounds` in chunks until a window of
// seconds / windows has passed; ops per second of wall time over all of
// them, in the fastest window.
template <class Rounds>
double measure(double seconds, int windows, Rounds rounds) {
  DLRM_CHECK(seconds > 0 && std::isfinite(seconds), "peak measurement: {} seconds, must be positive", seconds);
  DLRM_CHECK(windows >= 1, "peak measurement: {} windows, must be at least 1", windows);
  rounds(kChunk / 16, nullptr);  // warm-up: wakes the vector units
  double best = 0;
  for (int w = 0; w < windows; ++w) {
    double total_ops = 0, sums = 0;
    const auto t0 = std::chrono::steady_clock::now();
    const auto until = t0 + std::chrono::duration<double>(seconds / windows);
#pragma omp parallel reduction(+ : total_ops, sums)
    {
      do {
        double ops = 0;
        sums += rounds(kChunk, &ops);
        total_ops += ops;
      } while (std::chrono::steady_clock::now() < until);
    }
    volatile double sink = sums;  // the loops' results are used: they cannot be folded away
    (void)sink;
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (wall > 0) best = std::max(best, total_ops / wall);
  }
  return best;
}

}  // namespace

const char* fma_peak_instruction() { return kFmaName; }

PeakRate measure_fma_peak(double seconds, int windows) {
  PeakRate peak;
  peak.ops_per_s = measure(seconds, windows, fma_rounds);
  peak.instruction = kFmaName;
  return peak;
}

const char* vnni_peak_instruction() {
  return have_vnni() ? "avx512-vnni vpdpbusd zmm, m32bcst" : "none (no AVX512-VNNI in this build)";
}

PeakRate measure_vnni_peak(double seconds, int windows) {
  PeakRate peak;
  peak.instruction = vnni_peak_instruction();
  if (have_vnni()) peak.ops_per_s = measure(seconds, windows, vnni_rounds);
  return peak;
}

}  // namespace dlrm::dense
