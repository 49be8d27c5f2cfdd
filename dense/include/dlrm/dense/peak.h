// The arithmetic peak of the cores this process runs on, measured: every
// OpenMP thread issues independent vector multiply-adds on registers and one
// cached line (no memory traffic) for a while. It is what an MLP's GEMMs could at best reach
// here, so dlrm-bench sets its MLP-only bound against it (docs/performance.md,
// "The MLPs against the peaks").
//
// fp32: FMAs on the widest vectors the build has (AVX-512, else AVX2 + FMA,
// else scalar fmaf), 2 FLOP per lane. int8: AVX512-VNNI VPDPBUSD (u8 x s8
// products summed into s32), 2 ops per product, as for FLOPs; not measured
// (0) without AVX512-VNNI. With AVX-512 both take a broadcast memory operand,
// as oneDNN's GEMM kernels do (see peak.cc for why that matters).
#pragma once

#include <cstdint>
#include <string>

namespace dlrm::dense {

struct PeakRate {
  double ops_per_s = 0;     // FLOP/s (fp32) or int8 OP/s; 0 when not measured
  std::string instruction;  // what was issued, e.g. "avx512 vfmadd231ps zmm, m32bcst"
};

// All of this process's OpenMP threads at once for about `seconds` (> 0),
// in `windows` windows (>= 1): the rate of the fastest, as dlrm-bench takes
// the fastest window of its bound (on a shared machine the others measure
// the neighbours too).
PeakRate measure_fma_peak(double seconds, int windows = 1);
PeakRate measure_vnni_peak(double seconds, int windows = 1);
// What the measurements issue in this build (their `instruction`).
const char* fma_peak_instruction();
const char* vnni_peak_instruction();

// The loops the measurements time, for tests: `steps` rounds over every
// accumulator, each starting from 0. fp32: acc += 1 * 1, so each lane counts
// the rounds exactly (steps <= 2^24). int8: acc += four products of 1s
// (steps <= 2^28). They return the sum over every lane of every accumulator
// and the ops issued in `ops`. The _ref twins compute the same with plain
// scalar loops.
double fma_rounds(int64_t steps, double* ops);
double fma_rounds_ref(int64_t steps, double* ops);
bool have_vnni();
double vnni_rounds(int64_t steps, double* ops);  // 0, and ops 0, without AVX512-VNNI
double vnni_rounds_ref(int64_t steps, double* ops);

}  // namespace dlrm::dense
