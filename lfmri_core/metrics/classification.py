"""Image-level classification metrics for Net_c: ROC AUC and accuracy.

Used by training (validation) and by ``lfmri evaluate`` (Table 7).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import rankdata

from lfmri_core.errors import InputError

__all__ = ["accuracy", "roc_auc"]


def _labels_and_scores(
    labels: Sequence[bool] | np.ndarray, scores: Sequence[float] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels, dtype=bool).reshape(-1)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if y.shape != s.shape:
        raise InputError(f"labels and scores differ in length: {y.size} labels, {s.size} scores")
    if not np.isfinite(s).all():
        raise InputError("classifier scores contain NaN or Inf")
    return y, s


def roc_auc(labels: Sequence[bool] | np.ndarray, scores: Sequence[float] | np.ndarray) -> float:
    """Area under the ROC curve by the Mann-Whitney formula.

    ``AUC = (R_pos - n_pos (n_pos + 1) / 2) / (n_pos n_neg)``, with ``R_pos`` the sum of the
    ranks of the positives among all scores and tied scores given their average rank. This
    equals the probability that a random positive scores higher than a random negative, ties
    counted one half.

    Parameters
    ----------
    labels
        Image-level labels, shape ``(n,)``, True for positive.
    scores
        Scores (logits or probabilities: any monotone transform gives the same AUC), ``(n,)``.

    Returns
    -------
    float
        In ``[0, 1]``; NaN when there is no positive or no negative.
    """
    y, s = _labels_and_scores(labels, scores)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(s, method="average")
    u = float(ranks[y].sum()) - n_pos * (n_pos + 1) / 2.0
    return u / (n_pos * n_neg)


def accuracy(
    labels: Sequence[bool] | np.ndarray, probabilities: Sequence[float] | np.ndarray, threshold: float = 0.5
) -> float:
    """Fraction of images classified correctly, predicting positive when ``p >= threshold``.

    Returns NaN for an empty input.
    """
    y, p = _labels_and_scores(labels, probabilities)
    if y.size == 0:
        return float("nan")
    return float(np.mean((p >= threshold) == y))
