#!/usr/bin/env python3
"""Checks the outputs of dlrm-cluster's scenario runs (scenario.sh).

  check_scenario.py accuracy PRED REPORT REF FILE_MODE_PRED SCENARIO
  check_scenario.py server DIR VALID|INVALID BOUND_MS
  check_scenario.py single_stream SUMMARY LATENCY_CSV
  check_scenario.py find_peak REPORT SUMMARY BOUND_MS

Predictions: within 1e-5 of the _ref reference, the tolerance check_run.py
derives for file mode (accumulation order differs between oneDNN and the
plain loops), and within the same of file mode on the same ranks.
Latencies: the summary's percentiles are recomputed from the latency log by
DESIGN.md's rule (sorted[floor(n p)]) and must match to the nanosecond.
"""
import csv
import json
import math
import re
import sys

import numpy as np

TOLERANCE = 1e-5
HEADER = ["query_id", "pairs", "scheduled_ns", "issued_ns", "completed_ns"]
PERCENTILES = [("50.00", 0.5), ("90.00", 0.9), ("95.00", 0.95), ("97.00", 0.97), ("99.00", 0.99), ("99.90", 0.999)]


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def percentile(sorted_ns, p):
    return sorted_ns[min(len(sorted_ns) - 1, int(math.floor(len(sorted_ns) * p)))]


def summary_value(text, label):
    m = re.search(re.escape(label) + r"\s*:\s*([0-9.]+)", text)
    if not m:
        fail(f"the summary has no '{label}' line:\n{text}")
    return float(m.group(1))


def read_log(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if rows[0] != HEADER:
        fail(f"{path}: header {rows[0]}, want {HEADER}")
    recs = [[int(x) for x in r] for r in rows[1:]]
    if not recs:
        fail(f"{path}: no queries")
    for i, (qid, pairs, sch, iss, done) in enumerate(recs):
        if qid != i or pairs <= 0 or not (0 <= sch <= iss <= done):
            fail(f"{path} line {i + 2}: {recs[i]} (want query_id {i}, pairs > 0, scheduled <= issued <= completed)")
    return recs


def check_percentiles(text, recs):
    lat = sorted(done - sch for _, _, sch, _, done in recs)
    for label, p in PERCENTILES:
        got = summary_value(text, f"{label} percentile latency (ns)")
        if int(got) != percentile(lat, p):
            fail(f"{label} percentile: summary {got:.0f}, from the latency log {percentile(lat, p)}")
    if int(summary_value(text, "Queries")) != len(recs):
        fail(f"the summary counts {summary_value(text, 'Queries')} queries, the log {len(recs)}")
    return lat


def check_accuracy(pred_path, report_path, ref_path, file_path, scenario):
    pred, ref, file_pred = np.load(pred_path), np.load(ref_path), np.load(file_path)
    if pred.shape != ref.shape or pred.dtype != np.float32:
        fail(f"{pred_path}: {pred.dtype} {pred.shape}, want float32 {ref.shape}")
    diff_ref = float(np.abs(pred.astype(np.float64) - ref).max())
    diff_file = float(np.abs(pred.astype(np.float64) - file_pred).max())
    if not diff_ref <= TOLERANCE or not diff_file <= TOLERANCE:
        fail(f"{scenario}: max |diff| {diff_ref:.3g} to the reference, {diff_file:.3g} to file mode (tolerance {TOLERANCE})")
    report = json.load(open(report_path))
    s = report["scenario"]
    if s["name"] != scenario or s["mode"] != "accuracy" or s["valid"] is not None:
        fail(f"{report_path}: scenario section {s['name']} {s['mode']} valid={s['valid']}")
    if report["pairs"] != len(ref) or s["pairs"] != len(ref):
        fail(f"{report_path}: {report['pairs']} pairs scored, the data holds {len(ref)}: not every sample exactly once")
    if abs(report["reference_max_abs_diff"] - diff_ref) > 1e-12:
        fail(f"{report_path}: reference_max_abs_diff {report['reference_max_abs_diff']}, computed {diff_ref}")
    if report["auc"] is None:
        fail(f"{report_path}: no AUC in accuracy mode")
    print(f"ok {scenario} accuracy: {s['queries']} queries, max |diff| {diff_ref:.3g} to the reference, "
          f"{diff_file:.3g} to file mode, AUC {report['auc']:.4f}")


def check_server(out, want, bound_ms):
    text = open(f"{out}/summary.txt").read()
    for line in ["SUT name : dlrm-cluster", "Scenario : Server", "Mode     : PerformanceOnly",
                 "Completed samples per second", f"Result is : {want}", "Performance constraints satisfied : ",
                 "Min duration satisfied : Yes", "Min queries satisfied : Yes", "Early stopping satisfied: ",
                 "Scheduled samples per second", "Min latency (ns)", "Max latency (ns)", "Mean latency (ns)",
                 "Test Parameters Used", "target_qps : ", f"target_latency (ns): {int(bound_ms * 1e6)}"]:
        if line not in text:
            fail(f"'{line}' missing from the summary:\n{text}")
    recs = read_log(f"{out}/latency.csv")
    lat = check_percentiles(text, recs)
    p99 = percentile(lat, 0.99)
    bound_ns = bound_ms * 1e6
    if (want == "VALID") != (p99 <= bound_ns):
        fail(f"{want} with p99 {p99 / 1e6:.2f} ms against a {bound_ms} ms bound")
    # Poisson arrivals: gaps of mean 1/qps (n gaps: the mean is within 5
    # standard errors, 5/sqrt(n), of it) and a coefficient of variation near 1.
    qps = summary_value(text, "target_qps")
    gaps = np.diff([r[2] for r in recs]) * 1e-9
    mean, cv = gaps.mean(), gaps.std() / gaps.mean()
    if abs(mean * qps - 1) > 5 / math.sqrt(len(gaps)) or abs(cv - 1) > 0.25:
        fail(f"arrival gaps: mean {mean * 1e3:.3f} ms (want {1e3 / qps:.3f}), CV {cv:.2f} (want ~1)")
    report = json.load(open(f"{out}/report.json"))
    s = report["scenario"]
    if s["valid"] != (want == "VALID") or s["queries"] != len(recs) or s["latency_ns"]["p99"] != p99:
        fail(f"report.json scenario section disagrees: valid {s['valid']}, {s['queries']} queries, "
             f"p99 {s['latency_ns']['p99']} (log: {len(recs)}, {p99})")
    if report["ranks"][0]["role"] != "front":
        fail("rank 0 of the report is not the front")
    print(f"ok server {want}: {len(recs)} queries at {qps} qps, p99 {p99 / 1e6:.2f} ms (bound {bound_ms} ms), "
          f"gaps mean {mean * 1e3:.3f} ms CV {cv:.2f}")


def check_single_stream(summary_path, log_path):
    text = open(summary_path).read()
    for line in ["Scenario : SingleStream", "90.0th percentile latency (ns) : ", "Result is : VALID",
                 "Early stopping 90.0th percentile estimate"]:
        if line not in text:
            fail(f"'{line}' missing from the summary:\n{text}")
    recs = read_log(log_path)
    lat = check_percentiles(text, recs)
    if int(summary_value(text, "90.0th percentile latency (ns)")) != percentile(lat, 0.9):
        fail("the metric line is not the 90th percentile of the log")
    for a, b in zip(recs, recs[1:]):
        if b[3] < a[4]:
            fail(f"query {b[0]} was issued at {b[3]}, before query {a[0]} completed at {a[4]}")
    print(f"ok single-stream: {len(recs)} queries one at a time, p90 {percentile(lat, 0.9) / 1e6:.3f} ms")


def check_find_peak(report_path, summary_path, bound_ms, min_duration_s):
    s = json.load(open(report_path))["scenario"]
    trials = s["trials"]
    # The offline rate the search starts from is an offline trial of its own,
    # held to the minimum duration like any other (not sized by the server's
    # --target-qps, which once made it a burst of 1,100 queries).
    if not s["offline_seconds"] >= min_duration_s:
        fail(f"find-peak's offline trial ran {s['offline_seconds']} s, under the {min_duration_s} s minimum")
    # One trial is enough only when the offline rate itself is VALID.
    if not trials or (len(trials) == 1 and not trials[0]["valid"]) or not s["offline_samples_per_s"] > 0:
        fail(f"find-peak: {len(trials)} trials, offline rate {s['offline_samples_per_s']}")
    if abs(trials[0]["target_qps"] - s["offline_samples_per_s"]) > 1e-6 * s["offline_samples_per_s"]:
        fail("the bisection must start at the offline rate")
    valid = [t for t in trials if t["valid"]]
    for t in valid:
        if t["p99_ms"] > bound_ms:
            fail(f"trial at {t['target_qps']} qps VALID with p99 {t['p99_ms']} ms over {bound_ms} ms")
    if valid and s["peak_qps"] != max(t["target_qps"] for t in valid):
        fail(f"peak {s['peak_qps']} is not the highest VALID trial")
    text = open(summary_path).read()
    if "Peak VALID target_qps" not in text or text.count("target_qps ") < len(trials):
        fail(f"the summary does not list the trials:\n{text}")
    print(f"ok find-peak: {len(trials)} trials, offline {s['offline_samples_per_s']:.0f}/s, peak {s['peak_qps']}")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "accuracy":
        check_accuracy(*sys.argv[2:7])
    elif cmd == "server":
        check_server(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    elif cmd == "single_stream":
        check_single_stream(sys.argv[2], sys.argv[3])
    elif cmd == "find_peak":
        check_find_peak(sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5]))
    else:
        fail("usage: see the docstring")
