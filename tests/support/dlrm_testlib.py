"""What the project's Python test scripts share (imported by path)."""
import numpy as np


def auc(scores, labels):
    """Exact ROC AUC with ties at their average rank (Mann-Whitney U),
    independent of the C++ implementation it checks."""
    order = np.argsort(scores, kind="mergesort")
    s = scores[order]
    ranks = np.empty(len(s), dtype=np.float64)
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[i:j + 1] = (i + j) / 2.0 + 1.0
        i = j + 1
    pos = labels[order] != 0
    p, q = int(pos.sum()), int((~pos).sum())
    return float((ranks[pos].sum() - p * (p + 1) / 2.0) / (p * q))


def mlperf_labels(path):
    """The labels of a file in the MLPerf binary layout (int32 records: label, 13 dense, 26 sparse)."""
    return np.fromfile(path, dtype=np.int32).reshape(-1, 40)[:, 0]


def relative_auc_loss(value, baseline):
    """The relative AUC loss that dlrm-cluster's --auc-budget bounds: 1 - AUC / baseline AUC."""
    return 1.0 - value / baseline


def budget_exceeded_problem(code, log, value, reference_auc):
    """What is wrong with a dlrm-cluster run whose AUC (value) fell outside its
    --auc-budget against reference_auc, or None: it must exit 3 and log an
    error naming both AUCs as it prints them (6 decimals)."""
    lines = [line for line in log.splitlines() if "accuracy budget exceeded: AUC" in line]
    if code != 3:
        return f"exit {code}, expected 3"
    if not lines:
        return "no 'accuracy budget exceeded' error in the log"
    want = [f"AUC {value:.6f}", f"the reference's AUC {reference_auc:.6f}"]
    missing = [w for w in want if w not in lines[0]]
    if missing:
        return f"the error does not name {' and '.join(missing)}: {lines[0].strip()}"
    return None
