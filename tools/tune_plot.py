#!/usr/bin/env python3
"""dlrm-tune's plots from OUT/results.csv (and OUT/results.json's settings).

  tune_plot.py OUT
writes OUT/pairs_by_batch.png (pairs/s by batch, one line per layout and
precision) and, when the tune had a latency bound, OUT/p99_vs_throughput.png
(each trial's p99 against its pairs/s, the bound as a line). Each file is
written under a temporary name and renamed, so it is complete or absent.
"""
import csv
import json
import os
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read(out):
    with open(os.path.join(out, "results.csv"), newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["ok"] == "1"]
    with open(os.path.join(out, "results.json")) as f:
        settings = json.load(f)["dlrm_tune_results"]["settings"]
    return rows, settings


def save(fig, path):
    tmp = f"{path}.partial-{os.getpid()}.png"
    fig.savefig(tmp, dpi=80)
    plt.close(fig)
    os.replace(tmp, path)


def series_name(r):
    extra = [v for v, default in ((r["exchange_dtype"], "fp32"), (r["exchange_transport"], "auto"), (r["mlp"], "fp32"))
             if v != default]
    return r["layout"] + (" [" + ", ".join(extra) + "]" if extra else "")


def pairs_by_batch(rows, settings, out):
    runs = defaultdict(list)  # (series, batch) -> pairs/s of each run
    for r in rows:
        if float(r["pairs_per_s"]) > 0:
            runs[(series_name(r), int(r["batch"]))].append(float(r["pairs_per_s"]))
    fig, ax = plt.subplots(figsize=(8, 4.5))
    best = max(runs.items(), key=lambda kv: sum(kv[1]) / len(kv[1]), default=None)
    for name in sorted({s for s, _ in runs}):
        points = sorted((b, sum(v) / len(v)) for (s, b), v in runs.items() if s == name)
        ax.plot([b for b, _ in points], [p / 1e3 for _, p in points], marker="o", label=name)
    if best:
        (_, batch), values = best
        ax.plot([batch], [sum(values) / len(values) / 1e3], marker="*", markersize=16, color="black",
                linestyle="none", label="chosen")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch (pairs per dense rank)")
    ax.set_ylabel("thousand pairs/s" + (" at the peak VALID QPS" if settings.get("latency_bound_ms") else ""))
    ax.set_title(f"dlrm-tune: {os.path.basename(settings['model'].rstrip('/'))}, pairs/s by batch and layout")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    save(fig, os.path.join(out, "pairs_by_batch.png"))


def p99_vs_throughput(rows, settings, out):
    bound = settings["latency_bound_ms"]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for valid, marker in (("1", "o"), ("0", "x")):
        points = [(float(r["pairs_per_s"]), float(r["p99_ms"])) for r in rows if r["valid"] == valid]
        ax.scatter([x / 1e3 for x, _ in points], [y for _, y in points], marker=marker,
                   label="peak VALID QPS" if valid == "1" else "no VALID QPS (lowest p99)")
    ax.axhline(bound, color="red", linestyle="--", label=f"bound {bound} ms")
    ax.set_xlabel("thousand pairs/s")
    ax.set_ylabel("p99 latency per query (ms)")
    ax.set_title("dlrm-tune: p99 against throughput, one point per trial")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save(fig, os.path.join(out, "p99_vs_throughput.png"))


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: tune_plot.py OUT")
    out = sys.argv[1]
    rows, settings = read(out)
    pairs_by_batch(rows, settings, out)
    if settings.get("latency_bound_ms"):
        p99_vs_throughput(rows, settings, out)


if __name__ == "__main__":
    main()
