// The peak loop (dense/peak.h) against its _ref twin, and the timed
// measurement's plausibility.
#include "dlrm/dense/peak.h"

#include <gtest/gtest.h>

#include <omp.h>

#include <cmath>
#include <cstdio>

namespace dlrm::dense {
namespace {

// Each fp32 lane counts the rounds exactly while they stay below 2^24, and
// the sum over lanes is an integer far below 2^53: the loop and its _ref
// twin must agree exactly, and equal lanes x steps.
TEST(Peak, FmaRoundsEqualTheirRef) {
  for (int64_t steps : {int64_t{0}, int64_t{1}, int64_t{7}, int64_t{1000}, int64_t{1} << 20}) {
    double ops = -1, ref_ops = -1;
    const double sum = fma_rounds(steps, &ops);
    const double want = fma_rounds_ref(steps, &ref_ops);
    EXPECT_EQ(sum, want) << steps << " steps";
    EXPECT_EQ(ops, ref_ops) << steps << " steps";
    // ops = 2 per lane per round: the sum over lanes is steps x lanes.
    EXPECT_EQ(sum * 2, ops) << steps << " steps";
  }
}

TEST(Peak, FmaRoundsRefuseTooManySteps) {
  EXPECT_THROW(fma_rounds((int64_t{1} << 24) + 1, nullptr), std::exception);
  EXPECT_THROW(fma_rounds(-1, nullptr), std::exception);
}

// VPDPBUSD of 1s adds 4 per lane per round: exact in s32 below 2^29 rounds.
TEST(Peak, VnniRoundsEqualTheirRef) {
  if (!have_vnni()) GTEST_SKIP() << "this build has no AVX512-VNNI";
  for (int64_t steps : {int64_t{0}, int64_t{1}, int64_t{7}, int64_t{1000}, int64_t{1} << 16}) {
    double ops = -1, ref_ops = -1;
    const double sum = vnni_rounds(steps, &ops);
    EXPECT_EQ(sum, vnni_rounds_ref(steps, &ref_ops)) << steps << " steps";
    EXPECT_EQ(ops, ref_ops);
    // Each product of 1s adds 1 to the sum and counts 2 ops.
    EXPECT_EQ(sum * 2, ops) << steps << " steps";
  }
  EXPECT_THROW(vnni_rounds(-1, nullptr), std::exception);
}

// Not a speed test: the rate must be a positive finite number, and below
// what no x86 core reaches (8 GHz x 4 vector pipes x 32 FLOP of a 512-bit
// FMA = 1e12 per thread), so that a loop the
// compiler folded away, which would "run" millions of rounds in no time, fails.
TEST(Peak, MeasuredRatesArePlausible) {
  const PeakRate fma = measure_fma_peak(0.05);
  EXPECT_GT(fma.ops_per_s, 0);
  EXPECT_TRUE(std::isfinite(fma.ops_per_s));
  EXPECT_FALSE(fma.instruction.empty());
  const double ceiling = 8e9 * 4 * 32 * omp_get_max_threads();
  std::printf("fp32 %.1f GFLOP/s (%s) on %d threads\n", fma.ops_per_s / 1e9, fma.instruction.c_str(),
              omp_get_max_threads());
  EXPECT_LT(fma.ops_per_s, ceiling);
  const PeakRate vnni = measure_vnni_peak(0.05);
  EXPECT_EQ(vnni.instruction, vnni_peak_instruction());
  if (have_vnni()) {
    EXPECT_GT(vnni.ops_per_s, 0);
    EXPECT_LT(vnni.ops_per_s, ceiling * 4);  // 128 int8 ops per 512-bit instruction, 32 FLOP per FMA
    std::printf("int8 %.1f GOP/s (%s)\n", vnni.ops_per_s / 1e9, vnni.instruction.c_str());
  } else {
    EXPECT_EQ(vnni.ops_per_s, 0);
  }
  EXPECT_GT(measure_fma_peak(0.02, 4).ops_per_s, 0);
  EXPECT_THROW(measure_fma_peak(0), std::exception);
  EXPECT_THROW(measure_fma_peak(0.01, 0), std::exception);
  EXPECT_THROW(measure_fma_peak(-1), std::exception);
}

}  // namespace
}  // namespace dlrm::dense
