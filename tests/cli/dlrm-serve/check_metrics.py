#!/usr/bin/python3
"""Checks a /metrics scrape of dlrm-serve after the protocol case's clients:
the text format (every sample line is `name{labels} value`, every family has
# HELP and # TYPE), requests counted by protocol and outcome, histograms
cumulative with +Inf equal to _count, pairs scored, the queue gauges.
    check_metrics.py METRICS.txt
"""
import re
import sys

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (-?[0-9.e+-]+|\+Inf|NaN)$')


def fail(message):
    print("FAIL metrics:", message, file=sys.stderr)
    sys.exit(1)


def main(path):
    samples, typed = {}, {}
    for line in open(path):
        line = line.rstrip("\n")
        if not line:
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            typed[name] = kind
            continue
        if line.startswith("#"):
            continue
        m = LINE.match(line)
        if not m:
            fail(f"not a sample line: {line!r}")
        samples[m.group(1) + (m.group(2) or "")] = float(m.group(3))

    def value(key):
        if key not in samples:
            fail(f"{key} is missing")
        return samples[key]

    for family, kind in [("dlrm_requests_total", "counter"), ("dlrm_request_duration_seconds", "histogram"),
                         ("dlrm_batch_pairs", "histogram"), ("dlrm_queue_pairs", "gauge"),
                         ("dlrm_requests_in_flight", "gauge"), ("dlrm_pairs_scored_total", "counter")]:
        if typed.get(family) != kind:
            fail(f"# TYPE {family} {kind} missing (have {typed.get(family)})")
    for protocol in ["http", "grpc"]:
        for outcome in ["ok", "bad_request"]:
            if value(f'dlrm_requests_total{{protocol="{protocol}",outcome="{outcome}"}}') < 1:
                fail(f"no {protocol} {outcome} request counted")
    # The protocol case answered at least: curl 1 + REST 5 + gRPC 4 + 96 concurrent, and 3 + 1 after bad ones.
    ok = sum(v for k, v in samples.items() if k.startswith("dlrm_requests_total") and 'outcome="ok"' in k)
    if ok < 100:
        fail(f"{ok:.0f} requests counted ok; the clients were answered at least 100 times")
    for name, labels in [("dlrm_request_duration_seconds", 'protocol="http",'),
                         ("dlrm_request_duration_seconds", 'protocol="grpc",'), ("dlrm_batch_pairs", "")]:
        buckets = sorted(((float("inf") if m.group(1) == "+Inf" else float(m.group(1)), v) for k, v in samples.items()
                          for m in [re.match(re.escape(name) + r'_bucket\{' + re.escape(labels) + r'le="([^"]+)"\}$', k)]
                          if m), key=lambda b: b[0])
        if len(buckets) < 2 or buckets[-1][0] != float("inf"):
            fail(f"{name}{{{labels}}}: buckets {buckets}")
        counts = [v for _, v in buckets]
        if counts != sorted(counts):
            fail(f"{name}{{{labels}}}: buckets not cumulative: {counts}")
        count = value(f"{name}_count" + (f"{{{labels.rstrip(',')}}}" if labels else ""))
        if counts[-1] != count or count < 1:
            fail(f"{name}{{{labels}}}: +Inf bucket {counts[-1]} and _count {count}")
    if value("dlrm_pairs_scored_total") < 1000:
        fail(f"pairs scored {value('dlrm_pairs_scored_total')}")
    print(f"metrics: {len(samples)} samples, {ok:.0f} requests ok, {value('dlrm_pairs_scored_total'):.0f} pairs scored, "
          f"{value('dlrm_batch_pairs_count'):.0f} batches")


if __name__ == "__main__":
    main(sys.argv[1])
