"""Representation similarity: CCA, SVCCA, PWCCA, linear CKA and their chance level.

All functions take activations ``(n_samples, n_features)`` (numpy arrays or torch
tensors on any device), compute in float64 after centring each neuron
explicitly, and accept a :class:`Decomposition` (from :func:`decompose`) in
place of an array, so a reference can be decomposed once and compared with many
snapshots. Conv activations ``(n, c, h, w)`` become 2-D by :func:`flatten_conv`.

Numerics
--------
- *Fast route* (SVCCA, and CCA on well-conditioned data): the second-moment
  matrix ``C.T @ C`` of the centred data and a symmetric eigendecomposition give
  the SVD reduction; the canonical correlations are the singular values of
  ``T_x.T (C_x.T C_y) T_y`` (or of the product of the whitened directions when
  that is cheaper). No projected copies of the data beyond that. Forming
  ``C.T @ C`` squares the condition number, so the route is used only when
  every kept direction has ``sigma_k / sigma_1 >= 1e-3``; otherwise a thin SVD
  of the centred data is used instead.
- *Accurate route* for :func:`cca` (Björck & Golub 1973): QR with column
  pivoting of each side's centred, column-equilibrated data, then
  ``rho = svd(Q_x.T @ Q_y)``. ``method="auto"`` takes it when, after scaling
  every neuron to unit norm, the Gram matrix has condition number above 1e6
  (``sigma_max / sigma_min > 1e3``), is singular (rank deficiency, duplicated
  neurons), or there are no more samples than features.
- Exactly constant (dead) neurons are dropped; ranks are numerical ranks
  (singular values above ``max(n, d) * eps * sigma_1``); correlations are
  clipped to [0, 1] and sorted descending. Never NaN.
- When the kept directions of both sides add up to more than ``n_samples - 1``,
  some canonical correlations equal 1 by construction:
  :class:`SmallSampleWarning`.
- Threads: the LAPACK factorisations run with one BLAS thread, the matrix
  products with the BLAS's own setting (see :mod:`svccakit.similarity._linalg`); for
  many comparisons, parallelise over comparisons (:func:`svccakit.timeline` does).

Modules
-------
:mod:`~svccakit.similarity.decomposition` (:class:`Decomposition`),
:mod:`~svccakit.similarity.metrics` (the measures), :mod:`~svccakit.similarity.baseline`
(chance levels), :mod:`~svccakit.similarity.registry` (the table of metric names),
:mod:`~svccakit.similarity.conv` (conv layers as matrices). numpy and scipy only.
"""

from svccakit.exceptions import SmallSampleWarning
from svccakit.similarity._source import Streamed
from svccakit.similarity.baseline import BaselineResult, baseline
from svccakit.similarity.conv import flatten_conv
from svccakit.similarity.decomposition import DEFAULT_KEEP, Decomposition, decompose
from svccakit.similarity.metrics import (
    CCAResult,
    SVCCAResult,
    cca,
    linear_cka,
    pwcca,
    svcca,
    svcca_many,
)
from svccakit.similarity.registry import METRIC_NAMES, METRICS, Metric, get_metric

__all__ = [
    "DEFAULT_KEEP",
    "METRICS",
    "METRIC_NAMES",
    "BaselineResult",
    "CCAResult",
    "Decomposition",
    "Metric",
    "SVCCAResult",
    "SmallSampleWarning",
    "Streamed",
    "baseline",
    "cca",
    "decompose",
    "flatten_conv",
    "get_metric",
    "linear_cka",
    "pwcca",
    "svcca",
    "svcca_many",
]
