// The arithmetic peak of the cores this process runs on, measured: every
// OpenMP thread issues independent vector multiply-adds from registers (no
// memory traffic) for a while. It is what an MLP's GEMMs could at best reach
// here, so dlrm-bench sets its MLP-only bound against it (docs/performance.md,
// "The MLPs against the peaks").
//
// FMAs on the widest vectors the build has (AVX-512, else AVX2 + FMA, else
// scalar fmaf), 2 FLOP per lane. There is no int8 counterpart: on the AMD
// EPYC (Zen 5) development machine a loop of AVX512-VNNI VPDPBUSD issued
// 517 GOP/s per core, yet oneDNN's int8 GEMMs ran at 860 (docs/performance.md,
// "The MLPs against the peaks"), so such a loop is not this core's int8 peak.
#pragma once

#include <cstdint>
#include <string>

namespace dlrm::dense {

struct PeakRate {
  double ops_per_s = 0;     // FLOP/s (fp32) or int8 OP/s; 0 when not measured
  std::string instruction;  // what was issued, e.g. "avx512 vfmadd (16 accumulators)"
};

// All of this process's OpenMP threads at once for about `seconds` (> 0).
PeakRate measure_fma_peak(double seconds);
// What measure_fma_peak issues in this build (its `instruction`).
const char* fma_peak_instruction();

// The loop the measurement times, for tests: `steps` rounds over every
// accumulator, each starting from 0, of acc = acc * 1 + 1, so each lane
// counts the rounds exactly (steps <= 2^24). Returns the sum over every lane
// of every accumulator, and the FLOP issued in `ops` (2 per lane and round).
// The _ref twin computes the same sum with a plain scalar loop.
double fma_rounds(int64_t steps, double* ops);
double fma_rounds_ref(int64_t steps, double* ops);

}  // namespace dlrm::dense
