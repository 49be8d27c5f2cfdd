#!/usr/bin/python3
"""The server peak that any single queue could reach.

A queue scores pairs at a fixed rate (the cluster's offline rate, or its
MLP-only bound); queries arrive as a Poisson stream with MLPerf's sizes. The
ideal peak is the highest arrival rate at which the p99 of (wait + service)
stays under the latency bound. Three orders are simulated: FIFO (what the
dynamic batcher does), non-preemptive shortest-job-first and preemptive
shortest-remaining-time-first. bench-scenarios.sh prints the FIFO figure
beside every measured peak.

  tools/queue_ideal.py --pairs-per-s 95000 --bound-ms 60 [--sizes mlperf|N] [--queries Q] [--seed S]
"""
import argparse
import heapq
import sys

import numpy as np

MLPERF_SIZES = [100, 100] + [200] * 12 + [300, 300, 400, 500, 600, 700]  # DESIGN.md's 20 quantiles
POLICIES = ("fifo", "sjf", "srpt")


def latencies(arrive, service, policy="fifo"):
    """Each query's completion minus its arrival, for arrival times (sorted)
    and service times in seconds, on one server working in `policy` order."""
    n = len(arrive)
    lat = np.empty(n)
    if policy == "fifo":
        last = 0.0
        for i in range(n):  # Lindley's recursion
            last = max(last, arrive[i]) + service[i]
            lat[i] = last - arrive[i]
        return lat
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}; use one of {', '.join(POLICIES)}")
    waiting, t, i, done = [], 0.0, 0, 0  # heap of [remaining service, query]
    while done < n:
        if not waiting:
            t = max(t, arrive[i])
            heapq.heappush(waiting, [service[i], i])
            i += 1
            continue
        remaining, q = waiting[0]
        next_arrival = arrive[i] if i < n else np.inf
        if policy == "srpt" and t + remaining > next_arrival:  # preempted by the next arrival
            waiting[0][0] = remaining - (next_arrival - t)
            t = next_arrival
            heapq.heappush(waiting, [service[i], i])
            i += 1
            continue
        heapq.heappop(waiting)
        t += remaining
        lat[q] = t - arrive[q]
        done += 1
        while i < n and arrive[i] <= t:
            heapq.heappush(waiting, [service[i], i])
            i += 1
    return lat


def ideal_peak(pairs_per_s, sizes, bound_s, policy="fifo", seed=1, queries=200000, steps=20):
    """Highest Poisson rate (queries/s) whose p99 latency is <= bound_s, by
    bisection between 0 and the queue's capacity; the same seeded arrivals
    and sizes at every rate."""
    rng = np.random.default_rng(seed)
    service = rng.choice(sizes, queries).astype(np.float64) / pairs_per_s
    gaps = rng.exponential(1.0, queries)
    lo, hi = 0.0, pairs_per_s / float(np.mean(sizes))
    for _ in range(steps):
        mid = (lo + hi) / 2
        p99 = np.sort(latencies(np.cumsum(gaps / mid), service, policy))[int(queries * 0.99)]
        lo, hi = (mid, hi) if p99 <= bound_s else (lo, mid)
    return lo


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs-per-s", type=float, required=True, help="the queue's scoring rate")
    ap.add_argument("--bound-ms", type=float, required=True, help="the p99 latency bound")
    ap.add_argument("--sizes", default="mlperf", help="'mlperf' (DESIGN.md's quantiles) or a fixed pair count")
    ap.add_argument("--queries", type=int, default=100000, help="queries simulated at each rate tried (100000)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the arrivals and sizes (1)")
    a = ap.parse_args(argv)
    if a.pairs_per_s <= 0 or a.bound_ms <= 0 or a.queries < 100:
        ap.error("--pairs-per-s and --bound-ms must be > 0 and --queries at least 100")
    if a.sizes == "mlperf":
        sizes = MLPERF_SIZES
    elif a.sizes.isdigit() and int(a.sizes) > 0:
        sizes = [int(a.sizes)]
    else:
        ap.error(f"--sizes must be 'mlperf' or a positive pair count, got {a.sizes!r}")
    capacity = a.pairs_per_s / float(np.mean(sizes))
    print(f"queue scoring {a.pairs_per_s:.0f} pairs/s = {capacity:.1f} queries/s; p99 <= {a.bound_ms:g} ms; "
          f"{a.queries} queries, seed {a.seed}")
    for policy in POLICIES:
        peak = ideal_peak(a.pairs_per_s, sizes, a.bound_ms / 1e3, policy, a.seed, a.queries, steps=16)
        print(f"  {policy:>4}: peak {peak:9.1f} queries/s = {peak / capacity:.3f} of capacity")


if __name__ == "__main__":
    main(sys.argv[1:])
