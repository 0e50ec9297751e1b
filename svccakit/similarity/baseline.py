"""The chance level of a similarity: the metric with one side's samples shuffled."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from svccakit._validate import check_int
from svccakit.similarity.decomposition import _check_keep
from svccakit.similarity.registry import get_metric

__all__ = ["BaselineResult", "baseline"]


@dataclass(frozen=True, eq=False)
class BaselineResult:
    """Chance level of a similarity: the metric with one side's samples shuffled.

    Attributes
    ----------
    metric : str
        ``"svcca"``, ``"pwcca"`` or ``"cka"``.
    values : ndarray of shape (n,)
        The metric for each random permutation of Y's rows.
    mean, std : float
        Their mean and standard deviation (ddof=0). ``float(result)`` is the mean.
    """

    metric: str
    values: np.ndarray
    mean: float
    std: float

    def __float__(self) -> float:
        return float(self.mean)


def baseline(X, Y, metric: str = "svcca", n: int = 20, seed: int = 0,
             keep: float | int | None = None) -> BaselineResult:
    """Chance level of a similarity: the metric after randomly permuting Y's rows.

    Shuffling the samples of one side destroys the pairing while keeping each
    side's own statistics, so the values show how large the metric is for
    unrelated data of the same shapes (CCA is biased upward as features approach
    samples). Each side is decomposed once and reused across permutations.

    Parameters
    ----------
    X, Y : array-like, torch.Tensor or Decomposition
        Shapes (n_samples, n_features_x) and (n_samples, n_features_y).
    metric : {"svcca", "pwcca", "cka"}
    n : int >= 1, default 20
        Number of permutations.
    seed : int >= 0, default 0
        Seed of the permutations (``numpy.random.default_rng(seed)``).
    keep : float, int or None
        SVCCA's ``keep`` (ignored by the other metrics), as in :func:`svcca`.

    Returns
    -------
    BaselineResult
    """
    spec = get_metric(metric)
    n = check_int(n, "n", 1)
    seed = check_int(seed, "seed", 0)
    if keep is not None:
        keep = _check_keep(keep)
    rng = np.random.default_rng(seed)

    def perms(rows: int):
        return (rng.permutation(rows) for _ in range(n))

    arr = np.asarray(spec.shuffled(X, Y, keep, perms), dtype=np.float64)
    return BaselineResult(metric=spec.name, values=arr, mean=float(arr.mean()),
                          std=float(arr.std()))
