#!/usr/bin/python3
"""Checks one oracle run against PyTorch.

  check.py PRED.npy REPORT.json TORCH_DIR

Predictions: max |cluster - PyTorch| <= 1e-5. Both compute the same fp32
model from the same fp32 weights and the same float32 inputs (log1p in float64
rounded to float32 on both sides); embedding bags of one index copy rows
exactly, so differences come only from summation order: oneDNN's blocked GEMMs
and the vectorised interaction against PyTorch's BLAS. Reordering a dot product
of K fp32 terms moves it by at most about K * 2^-24 * sum|x_i w_i|, typically
sqrt(K) * 2^-24 * sum|x_i w_i|; with K <= 367 and sum|x_i w_i| of order 1..10
per layer the logit moves by a few 1e-6 at the very worst after five top
layers, and the sigmoid (slope <= 1/4) shrinks that. 1e-5 is several times the
worst case, while a wrong row, pair order or layer moves predictions by >1e-3.

AUC: |AUC(cluster) - AUC(PyTorch)| <= 1e-6. AUC only changes when a positive
and a negative sample swap order, and each swap moves it by 1/(P*N) (about
1e-7 for the 8192-sample oracle data). Only pairs whose PyTorch scores lie
within 2*d of each other (d = the observed max |diff|) can swap; the script
prints that bound next to the measured difference.
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from dlrm_testlib import auc, mlperf_labels  # noqa: E402

PRED_TOLERANCE = 1e-5
AUC_TOLERANCE = 1e-6


def swappable_pairs(scores, labels, d):
    """Positive-negative pairs whose scores are within d (they could swap)."""
    neg = np.sort(scores[labels == 0].astype(np.float64))
    pos = scores[labels != 0].astype(np.float64)
    return int((np.searchsorted(neg, pos + d, side="right") - np.searchsorted(neg, pos - d, side="left")).sum())


def main():
    pred_path, report_path, torch_dir = sys.argv[1:4]
    pred = np.load(pred_path)
    ref = np.load(os.path.join(torch_dir, "torch_pred.npy"))
    oracle = json.load(open(os.path.join(torch_dir, "oracle.json")))
    labels_npy = os.path.join(torch_dir, "labels.npy")  # oracle_dcn.py's (its data is dlrm-v2 files)
    labels = np.load(labels_npy) if os.path.exists(labels_npy) else mlperf_labels(os.path.join(torch_dir, "data.bin"))
    report = json.load(open(report_path))
    if pred.dtype != np.float32 or pred.shape != ref.shape:
        sys.exit(f"FAIL: predictions {pred.dtype} {pred.shape}, PyTorch's {ref.dtype} {ref.shape}")
    diff = float(np.abs(pred.astype(np.float64) - ref.astype(np.float64)).max())
    torch_auc = oracle["auc"]
    run_auc = report.get("auc")
    own_auc = auc(pred, labels)
    p, n = int((labels != 0).sum()), int((labels == 0).sum())
    bound = swappable_pairs(ref, labels, 2 * diff) / (p * n)
    print(f"max |diff| {diff:.3g} (tolerance {PRED_TOLERANCE}); AUC cluster {run_auc} (recomputed {own_auc:.9f}) vs "
          f"PyTorch {torch_auc:.9f}: |diff| {abs(own_auc - torch_auc):.3g} (tolerance {AUC_TOLERANCE}; at most "
          f"{bound:.3g} from pairs within 2*max|diff|); report reference_max_abs_diff "
          f"{report.get('reference_max_abs_diff')}")
    failures = []
    if not diff <= PRED_TOLERANCE:
        worst = int(np.abs(pred - ref).argmax())
        failures.append(f"sample {worst}: cluster {pred[worst]} vs PyTorch {ref[worst]}")
    if run_auc is None or abs(run_auc - torch_auc) > AUC_TOLERANCE:
        failures.append(f"report AUC {run_auc} vs PyTorch {torch_auc}")
    if run_auc is None or abs(own_auc - run_auc) > 1e-9:  # the report prints 9 decimals
        failures.append(f"report AUC {run_auc} but the predictions give {own_auc}")
    ref_diff = report.get("reference_max_abs_diff")
    if ref_diff is None or abs(ref_diff - diff) > 1e-12:
        failures.append(f"report reference_max_abs_diff {ref_diff}, recomputed {diff}")
    if report.get("pairs") != len(ref):
        failures.append(f"report pairs {report.get('pairs')}, expected {len(ref)}")
    if failures:
        sys.exit("FAIL: " + "; ".join(failures))
    print("ok")


if __name__ == "__main__":
    main()
