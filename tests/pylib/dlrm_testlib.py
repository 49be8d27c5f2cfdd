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
