#!/usr/bin/python3
"""An inference request to dlrm-serve and the check of its answer, for the
tests that start dlrm-serve through dlrm-launch (tests/cli/dlrm-launch/serve.sh,
tests/multihost/run.sh). The request is encoded by serve_client.infer_body
(tests/cli/dlrm-serve), the client the dlrm-serve tests use.

    serve_request.py body MODEL DATA N FILE       a JSON request of samples 0..N-1 of DATA (MLPerf binary
                                                   records; MODEL/manifest.json gives their layout) into FILE
    serve_request.py check ANSWER EXPECTED.npy N  ANSWER (the server's JSON) holds N predictions within
                                                   1e-5 of the first N of EXPECTED.npy
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "dlrm-serve"))
from serve_client import infer_body  # noqa: E402

# The expected predictions come from a file-mode dlrm-cluster run (batches of
# 128); the server scores the same samples in the batches its batcher makes,
# and the dense MLPs' oneDNN primitives may sum in another order for another
# batch size. Only that fp32 rounding differs: below 1e-6 on these sigmoid
# outputs in (0, 1); 1e-5 is the project's agreement bound (as serve_client.py).
TOLERANCE = 1e-5


def body(model, data, n, path):
    with open(os.path.join(model, "manifest.json")) as f:
        arch = json.load(f)["dlrm_model"]["arch"]
    features, tables = arch["dense_features"], len(arch["table_rows"])
    rec = np.fromfile(data, dtype="<i4").reshape(-1, 1 + features + tables)
    if n > rec.shape[0]:
        sys.exit(f"FAIL: {data} holds {rec.shape[0]} samples, {n} asked for")
    dense, sparse = rec[:, 1:1 + features], rec[:, 1 + features:]
    with open(path, "w") as f:
        f.write(infer_body(dense, sparse, list(range(n))))


def check(answer_path, expected_path, n):
    with open(answer_path) as f:
        answer = json.load(f)
    got = np.asarray(answer["outputs"][0]["data"], dtype=np.float64)
    want = np.load(expected_path)[:n].astype(np.float64).reshape(-1)
    if got.shape != want.shape:
        sys.exit(f"FAIL: {got.size} predictions in the answer, {want.size} expected")
    diff = float(np.max(np.abs(got - want)))
    print(f"{n} predictions, max |served - expected| = {diff:.3g} (tolerance {TOLERANCE:g})")
    if not diff <= TOLERANCE:
        sys.exit(f"FAIL: the served predictions differ from {expected_path} by {diff:.3g}")


def main():
    if len(sys.argv) == 6 and sys.argv[1] == "body":
        body(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    elif len(sys.argv) == 5 and sys.argv[1] == "check":
        check(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
