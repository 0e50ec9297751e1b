"""Representation similarity: CCA, SVCCA, PWCCA, linear CKA and their chance level.

All functions take activations ``(n_samples, n_features)``: numpy arrays, torch
tensors on any device, or array-likes read in row blocks (h5py datasets, numpy
memmaps, :class:`Streamed`), and accept a :class:`Decomposition` (from
:func:`decompose`) in place of an array, so a reference can be decomposed once and
compared with many snapshots. Conv activations ``(n, c, h, w)`` become 2-D by
:func:`flatten_conv`.

Numerics
--------
- *One pass.* Two inputs are compared from their joint centred Gram matrix,
  formed in one pass over each (:mod:`~svccakit.similarity._moments`): float64
  arrays in memory by whole-array products (BLAS ``syrk``/``gemm``, no copy),
  anything else (float32, memmaps, h5py datasets, device tensors) block by block
  into a float64 buffer, with the first row as a shift; centring is a rank-one
  correction, repeated about the exact mean in a second pass when it would cancel
  more than 10 bits. Peak memory for streamed inputs is the block (8 MiB) plus
  ``O(d^2)``.
- *Fast route* (the Gram matrix): SVCCA from an eigendecomposition of each side's
  Gram block; CCA whitened by a Cholesky factor of
  the column-equilibrated Gram block; canonical correlations from the
  eigenvalues of the smaller cross Gram (an SVD when one is below 1e-5). Forming
  ``C.T @ C`` squares the condition number and the one-pass centring multiplies
  the rounding by the loss factor ``L``, so a side is trusted there only when
  ``L * kappa**2 <= 1e6`` over its kept directions (accuracy ~2e-10).
- *Accurate route* (Björck & Golub 1973): the triangular factor ``R`` of the
  centred data (one LAPACK QR in memory, a blockwise TSQR for streamed inputs),
  then SVDs of each side's columns of ``R``; accuracy about ``eps * kappa``.
  ``cca(method="auto")`` takes it when a side is ill-conditioned (condition
  number of the column-equilibrated data above 1e3), rank deficient
  (duplicated neurons), or has no more samples than features.
- *Any finite magnitude.* A side whose second moments would leave ``2**+-400``
  (overflowing sums, subnormal data) is computed after scaling by the exact power
  of two that brings its largest ``|x|`` to [0.5, 1): the result is that of the
  input rescaled to unit size.
- *Offsets.* Exactly constant (dead) neurons are found exactly and dropped;
  ranks are numerical ranks with the tolerance ``max(n, d) * eps * max(s_1,
  sqrt(n) |mean|)``: a constant offset, whose rounding every centred entry
  inherits, cannot turn that rounding into rank. Correlations are clipped to
  [0, 1] and sorted descending. Never NaN.
- When the kept directions of both sides add up to more than ``n_samples - 1``,
  some canonical correlations equal 1 by construction: :class:`SmallSampleWarning`.
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
