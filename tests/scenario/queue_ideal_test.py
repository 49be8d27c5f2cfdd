#!/usr/bin/python3
"""tools/queue_ideal.py: the simulated queue against queueing theory.

Seeds are fixed (printed by unittest's names: SEED below); tolerances are
derived where they are statistical, exact where the property holds on every
sample path.
"""
import os
import subprocess
import sys
import unittest

import numpy as np

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools")
sys.path.insert(0, TOOLS)
import queue_ideal as qi  # noqa: E402

SEED = 7


def path(n, load, sizes_rng=None):
    rng = np.random.default_rng(SEED)
    arrive = np.cumsum(rng.exponential(1.0 / load, n))  # Poisson at rate `load`, service rate 1
    service = rng.exponential(1.0, n) if sizes_rng is None else sizes_rng(rng, n)
    return arrive, service


class QueueIdeal(unittest.TestCase):
    def test_mm1_fifo_mean_response(self):
        # M/M/1 at rho = 0.5: mean response 1 / (mu - lambda) = 2. Response times
        # have sd 2; at rho 0.5 neighbours are correlated over about
        # (1 + rho) / (1 - rho)^2 = 6 queries, so the mean of 200k has a standard
        # error near 2 * sqrt(6 / 200000) = 0.011: 0.06 is more than 5 of them.
        arrive, service = path(200000, 0.5)
        mean = qi.latencies(arrive, service, "fifo").mean()
        print(f"seed {SEED}: M/M/1 FIFO mean response {mean:.4f} (theory 2)")
        self.assertAlmostEqual(mean, 2.0, delta=0.06)

    def test_orders_on_one_path(self):
        # On every sample path: SRPT has the least total response time of any
        # order (Schrage, 1968), and every work-conserving order ends its last
        # query at the same time. Exact up to float rounding.
        arrive, service = path(20000, 0.9, lambda rng, n: rng.choice([1.0, 2.0, 7.0], n) / 3.0)
        lat = {p: qi.latencies(arrive, service, p) for p in qi.POLICIES}
        ends = {p: float(np.max(arrive + lat[p])) for p in qi.POLICIES}
        for p in ("fifo", "sjf"):
            self.assertLessEqual(lat["srpt"].sum(), lat[p].sum() * (1 + 1e-12), p)
            self.assertAlmostEqual(ends[p], ends["srpt"], delta=1e-9 * ends["srpt"])
        self.assertLess(lat["sjf"].mean(), lat["fifo"].mean())  # SJF: the best mean of the non-preemptive orders
        self.assertTrue(np.all(lat["fifo"] >= service - 1e-12))  # nobody finishes before its own work is done

    def test_peak_fractions(self):
        # 1-pair queries with a bound of 770 services: the queue is ideal up to
        # the edge of capacity (M/D/1 waits stay far below the bound until rho
        # is within a fraction of a percent of 1).
        cap = 78000.0
        tiny = qi.ideal_peak(cap, [1], 0.010, queries=50000, steps=14) / cap
        self.assertGreater(tiny, 0.99)
        self.assertLessEqual(tiny, 1.0)
        # MLPerf sizes at 60 ms on a 95k pairs/s queue: the queue cannot reach
        # 0.9 (the goal); FIFO does better than SRPT for the p99.
        mean = float(np.mean(qi.MLPERF_SIZES))
        fifo = qi.ideal_peak(95000.0, qi.MLPERF_SIZES, 0.060, queries=50000, steps=12) * mean / 95000.0
        srpt = qi.ideal_peak(95000.0, qi.MLPERF_SIZES, 0.060, "srpt", queries=50000, steps=12) * mean / 95000.0
        print(f"seed 1: MLPerf sizes at 95k pairs/s, 60 ms: FIFO {fifo:.3f}, SRPT {srpt:.3f} of capacity")
        self.assertTrue(0.75 < fifo < 0.9, fifo)
        self.assertLess(srpt, fifo)

    def test_bad_input(self):
        tool = os.path.join(TOOLS, "queue_ideal.py")
        for args, word in ((["--pairs-per-s", "0", "--bound-ms", "60"], "must be > 0"),
                           (["--pairs-per-s", "1000", "--bound-ms", "60", "--sizes", "many"], "--sizes"),
                           (["--bound-ms", "60"], "--pairs-per-s")):
            r = subprocess.run([sys.executable, tool, *args], capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn(word, r.stderr, args)
        with self.assertRaisesRegex(ValueError, "unknown policy"):
            qi.latencies(np.array([0.0]), np.array([1.0]), "lifo")


if __name__ == "__main__":
    unittest.main(verbosity=2)
