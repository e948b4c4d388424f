"""Rank figures shared by the calibration scripts: mean ranks with ties, AUROC (Mann-Whitney), ECE over 10 bins,
as src/HyperpixelFlow.Evaluation's Metrics defines them."""
import numpy as np

def ranks(v):
    v = np.asarray(v, dtype=float); order = np.argsort(v, kind='stable'); r = np.empty(len(v)); r[order] = np.arange(1, len(v) + 1)
    for u in np.unique(v):   # ties share their mean rank
        m = v == u; r[m] = r[m].mean()
    return r

def auroc(score, positive):
    """Probability that a positive scores above a negative (ties count half)."""
    positive = np.asarray(positive, dtype=bool); r = ranks(score); n1 = positive.sum(); n0 = len(positive) - n1
    return (r[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)

def ece(probability, right, bins=10):
    p = np.asarray(probability, dtype=float); y = np.asarray(right, dtype=float); b = np.minimum((p * bins).astype(int), bins - 1)
    return sum((b == i).mean() * abs(p[b == i].mean() - y[b == i].mean()) for i in range(bins) if (b == i).any())
