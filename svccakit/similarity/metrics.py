"""The similarity measures: CCA, SVCCA, PWCCA and linear CKA.

Every function takes activations ``(n_samples, n_features)`` (numpy arrays or torch
tensors on any device) or a :class:`~svccakit.similarity.Decomposition`, computes in
float64 after centring each neuron, and validates its input at this boundary. The
numerics are described in :mod:`svccakit.similarity`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from svccakit._validate import check_bool, check_choice, check_same_samples
from svccakit.similarity import _linalg as la
from svccakit.similarity.decomposition import (
    _cca_side,
    _centred,
    _check_pair,
    _no_variance,
    _side_of,
    _svcca_sides,
    _warn_small_sample,
)

__all__ = ["CCAResult", "SVCCAResult", "cca", "linear_cka", "pwcca", "svcca", "svcca_many"]

METHODS = ("auto", "fast", "accurate")
"""The routes :func:`cca` and :func:`pwcca` take (``method=``)."""


# ---------------------------------------------------------------------------
# results


@dataclass(frozen=True, eq=False)
class CCAResult:
    """Canonical correlations of two representations.

    Attributes
    ----------
    rho : ndarray of shape (min(rank_x, rank_y),)
        Every canonical correlation, float64, sorted descending, in [0, 1].
    ranks : tuple of int
        Directions used on each side (numerical ranks, or the decompositions' kept dims).
    routes : tuple of str
        How each side's basis was computed: ``"gram"``, ``"qr"`` or ``"svd"``.
    """

    rho: np.ndarray
    ranks: tuple[int, int]
    routes: tuple[str, str]

    @property
    def mean(self) -> float:
        """Mean canonical correlation."""
        return float(self.rho.mean())


@dataclass(frozen=True, eq=False)
class SVCCAResult:
    """SVCCA of two representations (Raghu et al. 2017); ``float(result)`` is the similarity.

    Attributes
    ----------
    similarity : float
        Mean canonical correlation of the SVD-reduced representations, in [0, 1].
    rho : ndarray of shape (min(dims),)
        The canonical correlations, sorted descending.
    dims : tuple of int
        SVD directions kept on each side.
    """

    similarity: float
    rho: np.ndarray
    dims: tuple[int, int]

    def __float__(self) -> float:
        return float(self.similarity)


# ---------------------------------------------------------------------------
# metrics


def cca(X, Y, method: str = "auto") -> CCAResult:
    """Canonical correlations between two representations.

    Parameters
    ----------
    X, Y : array-like, torch.Tensor or Decomposition
        Activations of shape (n_samples, n_features_x) and (n_samples, n_features_y);
        the feature counts may differ. A :class:`Decomposition` contributes its
        kept directions (the CCA step of SVCCA).
    method : {"auto", "fast", "accurate"}
        ``"fast"``: Gram matrix + eigh on column-equilibrated data (directions
        with ``sigma < 1e-5 sigma_1`` count as absent; accuracy about
        ``eps * cond**2``). ``"accurate"``: QR with column pivoting
        (Björck-Golub; accuracy about ``eps * cond``). ``"auto"``: fast unless,
        after scaling each neuron to unit norm, a side's condition number
        exceeds 1e3 or it is rank deficient. A side with
        ``n_samples <= n_features`` always takes the QR route. The side's route
        is reported in ``CCAResult.routes``.

    Returns
    -------
    CCAResult
        ``.rho`` holds ``min(rank_x, rank_y)`` correlations, descending, in [0, 1].

    Raises
    ------
    ValueError, TypeError
        Bad shapes, dtypes, NaN/Inf, different sample counts, a side with no variance.

    Warns
    -----
    SmallSampleWarning
        When ``rank_x + rank_y > n_samples - 1`` (some correlations are trivially 1).
    """
    method = check_choice(method, "method", METHODS)
    sx = _cca_side(X, method, "X")
    sy = _cca_side(Y, method, "Y")
    n = _check_pair(sx, sy)
    _warn_small_sample(sx.dims, sy.dims, n, "cca")
    rho = la.singular_values(la.cross(sx, sy))
    return CCAResult(rho=rho, ranks=(sx.dims, sy.dims), routes=(sx.route, sy.route))


def svcca(X, Y, keep: float | int | None = None) -> SVCCAResult:
    """SVCCA similarity (Raghu et al. 2017): SVD-reduce each side, then CCA.

    Parameters
    ----------
    X, Y : array-like, torch.Tensor or Decomposition
        Activations of shape (n_samples, n_features_x) and (n_samples, n_features_y).
    keep : float in (0, 1], int >= 1, or None
        Directions kept by the SVD step (see :func:`decompose`). ``None`` (the
        default): a :class:`Decomposition` uses the ``keep`` it was made with,
        an array the ``keep`` of the other side's Decomposition, or 0.99 when
        both are arrays. An explicit value must match any Decomposition's.

    Returns
    -------
    SVCCAResult
        ``.similarity`` (mean canonical correlation, also ``float(result)``),
        ``.rho`` and ``.dims``.

    Raises
    ------
    ValueError
        Bad ``keep``, more directions asked than available, a side with no
        variance, different sample counts, non-2-D, empty or non-finite input.
    TypeError
        Non-numeric input, or ``keep`` neither float nor int.

    Warns
    -----
    SmallSampleWarning
        When ``dims[0] + dims[1] > n_samples - 1``.
    """
    dx, dy = _svcca_sides(X, Y, keep)
    sx, sy = _side_of(dx), _side_of(dy)
    n = _check_pair(sx, sy)
    _warn_small_sample(dx.dims, dy.dims, n, "svcca")
    rho = la.singular_values(la.cross(sx, sy))
    return SVCCAResult(similarity=float(rho.mean()), rho=rho, dims=(dx.dims, dy.dims))


def svcca_many(X, references: Sequence, keep: float | int | None = None) -> list[SVCCAResult]:
    """SVCCA of one representation with each of several others, sharing the work.

    ``X`` is decomposed once; its kept directions meet the kept directions of every
    reference in one matrix product (the references' bases side by side), and each
    reference's block of that product gives its canonical correlations. The numbers
    equal ``[svcca(X, Y, keep) for Y in references]`` up to rounding (about 1e-15).
    Decompose the references once with :func:`decompose` and pass them here for
    every snapshot of a training run.

    Parameters
    ----------
    X : array-like, torch.Tensor or Decomposition of shape (n_samples, n_features_x)
    references : sequence of array-like, torch.Tensor or Decomposition
        Each of shape (n_samples, n_features_i); the feature counts may differ.
    keep : float in (0, 1], int >= 1, or None
        As in :func:`svcca`; it applies to every pair.

    Returns
    -------
    list of SVCCAResult
        One per reference, in order.
    """
    if isinstance(references, (str, bytes)) or not isinstance(references, Sequence):
        raise TypeError(f"references: expected a sequence of arrays or Decompositions, got "
                        f"{type(references).__name__}")
    if len(references) == 0:
        return []
    sides = [_svcca_sides(X, Y, keep) for Y in references[:1]]
    dx = sides[0][0]
    refs = [sides[0][1]] + [_svcca_sides(dx, Y, dx.keep)[1] for Y in references[1:]]
    for dy in refs:
        n = _check_pair(_side_of(dx), _side_of(dy))
        _warn_small_sample(dx.dims, dy.dims, n, "svcca")
    bases = [dy.basis for dy in refs]
    bounds = np.concatenate([[0], np.cumsum([b.shape[1] for b in bases])])
    cross = dx.basis.T @ np.hstack(bases)  # (k_x, sum k_i): every cross matrix at once
    out = []
    for dy, lo, hi in zip(refs, bounds[:-1], bounds[1:], strict=True):
        rho = la.singular_values(cross[:, lo:hi])
        out.append(SVCCAResult(similarity=float(rho.mean()), rho=rho, dims=(dx.dims, dy.dims)))
    return out


def pwcca(X, Y, method: str = "auto") -> float:
    """Projection-weighted CCA (Morcos, Raghu & Bengio 2018); not symmetric.

    With canonical correlations ``rho_i`` and unit-norm canonical variates
    ``h_i`` (n_samples vectors) of ``X``, the weights are
    ``alpha_i = sum_j |<h_i, x_j>|`` over ``X``'s centred neurons ``x_j``,
    normalised to sum to 1, and ``pwcca = sum_i alpha_i rho_i``: directions that
    account for much of ``X`` count more. The two sides may have different
    neuron counts.

    Parameters
    ----------
    X : array-like, torch.Tensor or Decomposition of shape (n_samples, n_features_x)
        The side whose activations define the weights.
    Y : array-like, torch.Tensor or Decomposition of shape (n_samples, n_features_y)
    method : {"auto", "fast", "accurate"}
        As in :func:`cca` (for array inputs).

    Returns
    -------
    float in [0, 1]
    """
    method = check_choice(method, "method", METHODS)
    sx = _cca_side(X, method, "X")
    sy = _cca_side(Y, method, "Y")
    n = _check_pair(sx, sy)
    _warn_small_sample(sx.dims, sy.dims, n, "pwcca")
    proj = sx.get_basis().T @ sx.centred  # (kx, d): <basis_i, x_j>
    return _pwcca_value(la.cross(sx, sy), proj)


def _pwcca_value(m: np.ndarray, proj: np.ndarray) -> float:
    u, rho = la.svd_left(m)
    p = rho.size
    weights = np.abs(u[:, :p].T @ proj).sum(axis=1)
    return float(np.clip(weights @ rho / weights.sum(), 0.0, 1.0))


def linear_cka(X, Y, debiased: bool = False) -> float:
    """Linear centred kernel alignment (Kornblith et al. 2019).

    ``CKA = ||Yc.T Xc||_F^2 / (||Xc.T Xc||_F ||Yc.T Yc||_F)`` with centred
    ``Xc``, ``Yc``; computed in feature or sample space, whichever is cheaper.
    ``debiased=True`` replaces each HSIC by its unbiased estimator (Song et al.
    2012); the result can then be slightly negative.

    Parameters
    ----------
    X, Y : array-like, torch.Tensor or Decomposition
        Shapes (n_samples, n_features_x) and (n_samples, n_features_y).
    debiased : bool, default False
        Needs n_samples >= 4.

    Returns
    -------
    float
    """
    debiased = check_bool(debiased, "debiased")
    cx, cy = _centred(X, "X"), _centred(Y, "Y")
    n = cx.shape[0]
    check_same_samples(n, cy.shape[0])
    if debiased and n < 4:
        raise ValueError(f"debiased linear CKA needs n_samples >= 4, got {n}")
    stats = _cka_stats(cx, cy, debiased)
    return stats.value(stats.xty(cx, cy))


def _cka_stats(cx: np.ndarray, cy: np.ndarray, debiased: bool) -> la.CKAStats:
    stats = la.CKAStats.of(cx, cy, debiased)
    for name, c, raw, unbiased in (("X", cx, stats.xx, stats.hxx), ("Y", cy, stats.yy, stats.hyy)):
        if raw <= 0.0:
            raise _no_variance(name, c.shape)
        if debiased and unbiased <= 1e-10 * raw:  # zero up to rounding: spike-like data
            raise ValueError(
                f"debiased linear CKA is undefined: the unbiased HSIC of {name} with itself "
                f"is {unbiased:.3g} (zero up to rounding or negative); too few or degenerate "
                f"samples"
            )
    return stats


# ---------------------------------------------------------------------------
# chance levels: each metric with Y's rows permuted (used by ``baseline``)


def _svcca_shuffled(X, Y, keep, perms) -> list[float]:
    dx, dy = _svcca_sides(X, Y, keep)
    sx, sy = _side_of(dx), _side_of(dy)
    rows = _check_pair(sx, sy)
    _warn_small_sample(sx.dims, sy.dims, rows, "baseline(svcca)")
    bx, by = sx.get_basis(), sy.get_basis()
    return [float(la.singular_values(bx.T @ by[p]).mean()) for p in perms(rows)]


def _pwcca_shuffled(X, Y, keep, perms) -> list[float]:
    sx, sy = _cca_side(X, "auto", "X"), _cca_side(Y, "auto", "Y")
    rows = _check_pair(sx, sy)
    _warn_small_sample(sx.dims, sy.dims, rows, "baseline(pwcca)")
    bx, by = sx.get_basis(), sy.get_basis()
    proj = bx.T @ sx.centred
    return [_pwcca_value(bx.T @ by[p], proj) for p in perms(rows)]


def _cka_shuffled(X, Y, keep, perms) -> list[float]:
    cx, cy = _centred(X, "X"), _centred(Y, "Y")
    check_same_samples(cx.shape[0], cy.shape[0])
    stats = _cka_stats(cx, cy, debiased=False)
    return [stats.value(stats.xty(cx, cy[p])) for p in perms(cx.shape[0])]
