#!/usr/bin/python3
"""Checks cluster runs against the single-process reference.

  check_run.py run MODEL RUN_DIR REF.npy RANKS SHARDS
  check_run.py agreement WORK

Tolerance 1e-5 on predictions (probabilities). The cluster and the _ref
reference pool exactly the same embedding values (one index per bag: copies),
so differences come only from summation order in the MLPs (oneDNN blocks the
K loop) and the vectorised interaction. For a dot product of K fp32 terms the
reordering error is at most about K * u * sum|x_i w_i| (u = 2^-24 = 6e-8) in
the worst case and sqrt(K) * u * sum|x_i w_i| typically; with K <= 367 in the
small model and sum|x_i w_i| of order 1..10 per layer, the logit moves by at
most a few 1e-6 after 3 layers, and the sigmoid (slope <= 1/4) shrinks that:
1e-5 leaves a margin of several times over the worst case while still
catching any real error (a wrong row or pair moves predictions by >1e-3).
"""
import glob
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from dlrm_testlib import auc  # noqa: E402

TOLERANCE = 1e-5


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def check_run(model, run_dir, ref_path, ranks, shards):
    manifest = json.load(open(os.path.join(model, "manifest.json")))["dlrm_model"]
    ref = np.load(ref_path)
    want_transports = ["shm", "alltoall", "pool", "pool"]  # the last on 2 threads per dense rank (run.sh)
    p1 = np.load(os.path.join(run_dir, "pred1.npy"))
    if p1.dtype != np.float32 or p1.shape != ref.shape:
        fail(f"predictions {p1.dtype} {p1.shape}, reference {ref.dtype} {ref.shape}")
    for i in range(2, len(want_transports) + 1):
        p = np.load(os.path.join(run_dir, f"pred{i}.npy"))
        if p.shape != p1.shape or not np.array_equal(p1.view(np.uint32), p.view(np.uint32)):
            fail(f"the {want_transports[0]} run and run {i} ({want_transports[i - 1]}) differ: "
                 f"max |diff| {np.abs(p1 - p).max()}")
    diff = float(np.abs(p1.astype(np.float64) - ref).max())
    if not diff <= TOLERANCE:
        worst = int(np.abs(p1 - ref).argmax())
        fail(f"max |cluster - reference| = {diff:.3g} at sample {worst} > {TOLERANCE}")

    report = json.load(open(os.path.join(run_dir, "report1.json")))
    transports = [json.load(open(os.path.join(run_dir, f"report{i}.json"))).get("exchange_transport")
                  for i in range(1, len(want_transports) + 1)]
    if transports != want_transports:
        fail(f"the runs report transports {transports}, want {want_transports}")
    for key in ["pairs", "seconds", "pairs_per_s", "auc", "reference_max_abs_diff", "latency_ms",
                "stage_seconds", "exchange_bytes_per_pair", "ranks"]:
        if key not in report:
            fail(f"report lacks '{key}'")
    if report["pairs"] != len(ref):
        fail(f"report pairs {report['pairs']} != {len(ref)}")
    if not report["seconds"] > 0 or not report["pairs_per_s"] > 0:
        fail("report has no time")
    if abs(report["reference_max_abs_diff"] - diff) > 1e-12:
        fail(f"report reference_max_abs_diff {report['reference_max_abs_diff']} != {diff}")
    labels = np.load(os.path.join(os.path.dirname(ref_path), "labels.npy")).reshape(-1)
    want_auc = auc(p1.astype(np.float64), labels)
    if abs(report["auc"] - want_auc) > 1e-9:
        fail(f"report auc {report['auc']} != recomputed {want_auc}")
    if not report["auc"] > 0.6:
        fail(f"AUC {report['auc']} on data planted from the model itself should be well above 0.5")
    lat = report["latency_ms"]
    if not 0 < lat["p50"] <= lat["p95"] <= lat["p99"]:
        fail(f"latency percentiles out of order: {lat}")
    if report["exchange_bytes_per_pair"] < report["minimum_bytes_per_pair"]:
        fail("exchanged fewer bytes than the indices out and one row back per table")
    # The minimum: every lookup's int32 index out (the data has the model's
    # hotness), one fp32 row per table back.
    arch = manifest["arch"]
    lookups = sum(arch.get("hotness", [1] * len(arch["table_rows"])))
    want_minimum = 4 * lookups + len(arch["table_rows"]) * arch["dim"] * 4
    if report["minimum_bytes_per_pair"] != want_minimum:
        fail(f"minimum bytes per pair {report['minimum_bytes_per_pair']}, want {want_minimum}")

    if len(report["ranks"]) != ranks:
        fail(f"{len(report['ranks'])} rank entries for {ranks} ranks")
    for entry in report["ranks"]:
        for key in ["rank", "role", "host", "peak_rss_bytes", "embedding_bytes"]:
            if key not in entry:
                fail(f"rank entry lacks '{key}'")
        r = entry["rank"]
        if r < shards:
            want = manifest["shards"][r]["embedding_bytes"]
            if entry["role"] != "shard" or entry["embedding_bytes"] != want:
                fail(f"rank {r}: {entry['role']} holding {entry['embedding_bytes']} bytes, want shard with {want}")
            if entry["embedding_resident_bytes"] < want:
                fail(f"rank {r}: only {entry['embedding_resident_bytes']} of {want} embedding bytes resident")
        else:
            if entry["role"] != "dense" or entry["embedding_bytes"] != 0 or entry["embedding_resident_bytes"] != 0:
                fail(f"rank {r}: dense rank entry {entry}")
            if entry["samples"] <= 0:
                fail(f"dense rank {r} predicted no samples")
    last = json.load(open(os.path.join(run_dir, f"report{len(want_transports)}.json")))
    threads = sorted({e.get("threads") for e in last["ranks"] if e["role"] == "dense"})
    if threads != [2]:
        fail(f"the last run's dense ranks ran {threads} threads, want [2]")
    print(f"ok: {ranks} ranks ({shards} shards), max |diff| {diff:.3g}, AUC {report['auc']:.4f}, "
          f"{report['pairs_per_s']:.0f} pairs/s")


def check_agreement(work):
    runs = sorted(glob.glob(os.path.join(work, "run-*", "pred1.npy")))
    if len(runs) < 2:
        fail(f"only {len(runs)} runs found in {work}")
    base = np.load(runs[0]).astype(np.float64)
    worst = 0.0
    for path in runs[1:]:
        diff = float(np.abs(np.load(path) - base).max())
        worst = max(worst, diff)
        if not diff <= TOLERANCE:
            fail(f"{path} and {runs[0]} differ by {diff:.3g}")
    print(f"ok: {len(runs)} configurations agree within {worst:.3g}")


if __name__ == "__main__":
    if sys.argv[1] == "run":
        check_run(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]))
    elif sys.argv[1] == "agreement":
        check_agreement(sys.argv[2])
    else:
        fail("usage: check_run.py run|agreement ...")
