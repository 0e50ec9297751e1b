"""The similarity measures: CCA, SVCCA, PWCCA and linear CKA.

Every function takes activations ``(n_samples, n_features)`` (numpy arrays, torch
tensors on any device, or array-likes read in row blocks: h5py datasets, memmaps,
:class:`~svccakit.similarity.Streamed`) or a
:class:`~svccakit.similarity.Decomposition`, computes in float64 after centring each
neuron, and validates its input at this boundary. Two arrays are compared from one
pass over each (:mod:`~svccakit.similarity._moments`); the numerics are described in
:mod:`svccakit.similarity`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from svccakit._validate import check_bool, check_choice, check_same_samples
from svccakit.similarity import _engine as en
from svccakit.similarity import _linalg as la
from svccakit.similarity._moments import centred_copy, cross_gram, moments, project, row_norms
from svccakit.similarity._source import as_source
from svccakit.similarity.decomposition import (
    Decomposition,
    _cca_side,
    _check_keep_features,
    _check_pair,
    _side_of,
    _svcca_keeps,
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
    if _no_decomposition(X, Y):
        pair = _cca_pair(X, Y, method)
        _warn_small_sample(pair.x.dims, pair.y.dims, pair.mom.n, "cca")
        rho = la.canonical_values(pair.cross, min(pair.x.dims, pair.y.dims))
        return CCAResult(rho=rho, ranks=(pair.x.dims, pair.y.dims),
                         routes=(pair.x.route, pair.y.route))
    sx = _cca_side(X, method, "X")
    sy = _cca_side(Y, method, "Y")
    n = _check_pair(sx, sy)
    _warn_small_sample(sx.dims, sy.dims, n, "cca")
    rho = la.singular_values(en.cross(sx, sy))
    return CCAResult(rho=rho, ranks=(sx.dims, sy.dims), routes=(sx.route, sy.route))


def _no_decomposition(X, Y) -> bool:
    return not (isinstance(X, Decomposition) or isinstance(Y, Decomposition))


def _sources(X, Y):
    sx, sy = as_source(X, "X"), as_source(Y, "Y")
    check_same_samples(sx.n, sy.n)
    return [sx, sy]


def _cca_pair(X, Y, method: str) -> en.Pair:
    return en.reduce_pair(
        _sources(X, Y), ("X", "Y"),
        lambda mom, i: en.gram_cca(mom, i, method),
        en.r_cca,
        accurate=method == "accurate",
    )


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
    if _no_decomposition(X, Y):
        kx, _ = _svcca_keeps(X, Y, keep)
        sources = _sources(X, Y)
        for src, name in zip(sources, ("X", "Y"), strict=True):
            _check_keep_features(kx, src, name)
        pair = en.reduce_pair(
            sources, ("X", "Y"),
            lambda mom, i: en.gram_svcca(mom, i, kx),
            lambda r, mom, i, name, shape: en.r_svcca(r, mom, i, kx, name, shape),
        )
        _warn_small_sample(pair.x.dims, pair.y.dims, pair.mom.n, "svcca")
        rho = la.canonical_values(pair.cross, min(pair.x.dims, pair.y.dims))
        return SVCCAResult(similarity=float(rho.mean()), rho=rho,
                           dims=(pair.x.dims, pair.y.dims))
    dx, dy = _svcca_sides(X, Y, keep)
    sx, sy = _side_of(dx), _side_of(dy)
    n = _check_pair(sx, sy)
    _warn_small_sample(dx.dims, dy.dims, n, "svcca")
    rho = la.singular_values(en.cross(sx, sy))
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
    cross = _stacked_cross(_side_of(dx), [_side_of(dy) for dy in refs])
    out = []
    for dy, block in zip(refs, cross, strict=True):
        rho = la.singular_values(block)
        out.append(SVCCAResult(similarity=float(rho.mean()), rho=rho, dims=(dx.dims, dy.dims)))
    return out


_STACKED: list = []  # [(reference sides, stacked bases)]: the last stack, reused by identity


def _stacked_cross(sx: en.Side, refs: list[en.Side]) -> list[np.ndarray]:
    """``basis_x.T @ basis_i`` for every reference: one product against the stacked bases.

    With every input in memory, the references' bases side by side ``B`` (n, sum k_i)
    are built once (and reused while the same reference objects come back) and
    ``X`` meets all of them in one product: ``T_x.T (C_x.T B)`` on the Gram route
    (``n d_x sum k_i``, no basis of ``X`` formed) or ``basis_x.T B``. Streamed
    inputs are compared pair by pair.
    """
    if not (sx.src.in_memory and all(r.src.in_memory for r in refs)):
        return [en.cross(sx, r) for r in refs]
    if _STACKED and len(_STACKED[0][0]) == len(refs) and all(
            a is b for a, b in zip(_STACKED[0][0], refs, strict=True)):
        stacked = _STACKED[0][1]
    else:
        stacked = np.hstack([r.get_basis() for r in refs])
        _STACKED[:] = [(list(refs), stacked)]
    if sx.route == "gram":
        cross = sx.transform.T @ project(sx.src, sx.mean, sx.exp, sx.live, stacked)
    else:
        cross = sx.get_basis().T @ stacked
    bounds = np.concatenate([[0], np.cumsum([r.dims for r in refs])])
    return [cross[:, lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]


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
    if _no_decomposition(X, Y):
        pair = _cca_pair(X, Y, method)
        _warn_small_sample(pair.x.dims, pair.y.dims, pair.mom.n, "pwcca")
        proj = pair.x.proj
        if proj is None:  # Gram route: basis.T @ C_x = A.T @ G_xx
            proj = pair.x.left(pair.mom.block(0, 0))
        return _pwcca_value(pair.cross, proj)
    sx = _cca_side(X, method, "X")
    sy = _cca_side(Y, method, "Y")
    n = _check_pair(sx, sy)
    _warn_small_sample(sx.dims, sy.dims, n, "pwcca")
    return _pwcca_value(en.cross(sx, sy), en.side_proj(sx))


def _pwcca_value(m: np.ndarray, proj: np.ndarray) -> float:
    u, rho = la.svd_left(m)
    p = rho.size
    weights = np.abs(u[:, :p].T @ proj).sum(axis=1)
    return float(np.clip(weights @ rho / weights.sum(), 0.0, 1.0))


def linear_cka(X, Y, debiased: bool = False) -> float:
    """Linear centred kernel alignment (Kornblith et al. 2019).

    ``CKA = ||Yc.T Xc||_F^2 / (||Xc.T Xc||_F ||Yc.T Yc||_F)`` with centred
    ``Xc``, ``Yc``; computed from the feature-space Gram matrices of one pass
    over each input, or from the sample-space kernels when there are more
    features than samples. ``debiased=True`` replaces each HSIC by its unbiased
    estimator (Song et al. 2012); the result can then be slightly negative.

    Parameters
    ----------
    X, Y : array-like, torch.Tensor, h5py dataset, memmap, Streamed or Decomposition
        Shapes (n_samples, n_features_x) and (n_samples, n_features_y).
    debiased : bool, default False
        Needs n_samples >= 4.

    Returns
    -------
    float
    """
    debiased = check_bool(debiased, "debiased")
    sides = []
    for data, name in ((X, "X"), (Y, "Y")):
        sides.append(data._side if isinstance(data, Decomposition) else as_source(data, name))
    srcs = [s.src if isinstance(s, en.Side) else s for s in sides]
    n = srcs[0].n
    check_same_samples(n, srcs[1].n)
    if debiased and n < 4:
        raise ValueError(f"debiased linear CKA needs n_samples >= 4, got {n}")
    dx, dy = srcs[0].d, srcs[1].d
    if dx * dy + (dx * dx + dy * dy) / 2 > n * (dx + dy):  # kernels (n x n) are cheaper
        cx, cy = (_centred_data(s, name) for s, name in zip(sides, "XY", strict=True))
        stats = _cka_stats(cx, cy, debiased)
        return stats.value(stats.xty(cx, cy))
    terms = _cka_gram_terms(sides, debiased)
    return _cka_value(n, debiased, *terms)


def _centred_data(side, name: str) -> np.ndarray:
    """Centred float64 data in memory of a Source or Side."""
    if isinstance(side, en.Side):
        return centred_copy(side.src, side.mean, side.exp, side.live)
    mom = moments([side])
    if not mom.side_live(0).any():
        raise en.no_variance(name, (side.n, side.d))
    return centred_copy(side, mom.side_mean(0), mom.exps[0], mom.side_live(0))


def _cka_gram_terms(sides, debiased: bool):
    """``(G_xx, G_yy, G_xy, row norms x, row norms y)`` (row norms only when debiased)."""
    if not any(isinstance(s, en.Side) for s in sides):
        mom = moments(sides)
        parts = [(s, mom.side_mean(i), mom.exps[i], mom.side_live(i), mom.block(i, i))
                 for i, s in enumerate(sides)]
        gxy = mom.block(0, 1)
    else:
        parts = []
        for s in sides:
            if isinstance(s, en.Side):
                parts.append((s.src, s.mean, s.exp, s.live, s.gram))
            else:
                mom = moments([s])
                parts.append((s, mom.side_mean(0), mom.exps[0], mom.side_live(0),
                              mom.block(0, 0)))
        (sx, mx, ex, lx, _), (sy, my, ey, ly, _) = parts
        gxy = cross_gram(sx, mx, ex, lx, sy, my, ey, ly)
    for (src, _, _, live, _), name in zip(parts, "XY", strict=True):
        if not live.any():
            raise en.no_variance(name, (src.n, src.d))
    rows = [row_norms(*p[:4]) if debiased else None for p in parts]
    return parts[0][4], parts[1][4], gxy, rows[0], rows[1]


def _cka_value(n: int, debiased: bool, gxx, gyy, gxy, rx, ry) -> float:
    xx, yy, xy = (float(np.sum(g * g)) for g in (gxx, gyy, gxy))
    hxx, hyy = xx, yy
    if debiased:
        sx, sy = float(np.trace(gxx)), float(np.trace(gyy))
        hxx = _unbias(n, xx, rx, rx, sx * sx)
        hyy = _unbias(n, yy, ry, ry, sy * sy)
    _check_cka_denominators(debiased, ((xx, hxx), (yy, hyy)), (gxx.shape, gyy.shape), n)
    if not debiased:
        return float(min(max(xy / (math.sqrt(hxx) * math.sqrt(hyy)), 0.0), 1.0))
    hxy = _unbias(n, xy, rx, ry, float(np.trace(gxx)) * float(np.trace(gyy)))
    return float(hxy / (math.sqrt(hxx) * math.sqrt(hyy)))


def _check_cka_denominators(debiased: bool, pairs, shapes, n: int) -> None:
    for name, (raw, unbiased), shape in zip("XY", pairs, shapes, strict=True):
        if raw <= 0.0:
            raise en.no_variance(name, (n, shape[1]))
        if debiased and unbiased <= 1e-10 * raw:  # zero up to rounding: spike-like data
            raise ValueError(
                f"debiased linear CKA is undefined: the unbiased HSIC of {name} with itself "
                f"is {unbiased:.3g} (zero up to rounding or negative); too few or degenerate "
                f"samples"
            )


@dataclass(frozen=True)
class CKAStats:
    """Per-side terms of (debiased) linear CKA from centred data in memory, reusable
    across row permutations of Y.

    ``xx``/``yy`` are ``||C.T C||_F^2``; ``hxx``/``hyy`` the (unbiased, when
    ``debiased``) self-HSICs used in the denominator; callers check they are > 0.
    """

    n: int
    debiased: bool
    xx: float
    yy: float
    hxx: float
    hyy: float
    rows_x: np.ndarray  # squared row norms (n,)
    rows_y: np.ndarray
    sum_xy: float  # product of the total squared norms
    use_features: bool

    @classmethod
    def of(cls, cx: np.ndarray, cy: np.ndarray, debiased: bool) -> CKAStats:
        n, dx = cx.shape
        dy = cy.shape[1]
        use_features = dx * dy + (dx * dx + dy * dy) / 2 <= n * (dx + dy)
        if use_features:
            xx, yy = float(np.sum((cx.T @ cx) ** 2)), float(np.sum((cy.T @ cy) ** 2))
        else:
            xx, yy = float(np.sum((cx @ cx.T) ** 2)), float(np.sum((cy @ cy.T) ** 2))
        rx, ry = np.einsum("ij,ij->i", cx, cx), np.einsum("ij,ij->i", cy, cy)
        sx, sy = float(rx.sum()), float(ry.sum())
        hxx, hyy = xx, yy
        if debiased:
            hxx = _unbias(n, xx, rx, rx, sx * sx)
            hyy = _unbias(n, yy, ry, ry, sy * sy)
        return cls(n, debiased, xx, yy, hxx, hyy, rx, ry, sx * sy, use_features)

    def xty(self, cx: np.ndarray, cy: np.ndarray) -> float:
        """``||cx.T cy||_F^2`` (= tr(K L) for linear kernels)."""
        if self.use_features:
            return float(np.sum((cx.T @ cy) ** 2))
        return float(np.sum((cx @ cx.T) * (cy @ cy.T)))

    def value(self, xty: float, rows_y: np.ndarray | None = None) -> float:
        """CKA from the cross term; ``rows_y``: Y's squared row norms if Y was permuted."""
        if not self.debiased:
            return float(min(max(xty / (math.sqrt(self.hxx) * math.sqrt(self.hyy)), 0.0), 1.0))
        ry = self.rows_y if rows_y is None else rows_y
        hxy = _unbias(self.n, xty, self.rows_x, ry, self.sum_xy)
        return float(hxy / (math.sqrt(self.hxx) * math.sqrt(self.hyy)))


def _unbias(n: int, tr: float, ra: np.ndarray, rb: np.ndarray, prod: float) -> float:
    """Unbiased HSIC (Song et al. 2012) of linear kernels of centred data, times n(n-3).

    With ``K = X X.T``, ``k = diag K`` (and likewise L, l), centred data give
    ``K 1 = 0``, so the estimator reduces to
    ``tr(KL) - n/(n-2) k.l + (sum k)(sum l)/((n-1)(n-2))``.
    """
    return tr - n / (n - 2) * float(ra @ rb) + prod / ((n - 1) * (n - 2))


def _cka_stats(cx: np.ndarray, cy: np.ndarray, debiased: bool) -> CKAStats:
    stats = CKAStats.of(cx, cy, debiased)
    _check_cka_denominators(debiased, ((stats.xx, stats.hxx), (stats.yy, stats.hyy)),
                            (cx.shape, cy.shape), cx.shape[0])
    return stats


# ---------------------------------------------------------------------------
# chance levels: each metric with Y's rows permuted (used by ``baseline``)


def _svcca_shuffled(X, Y, keep, perms) -> list[float]:
    dx, dy = _svcca_sides(X, Y, keep)
    sx, sy = _side_of(dx), _side_of(dy)
    rows = _check_pair(sx, sy)
    _warn_small_sample(sx.dims, sy.dims, rows, "baseline(svcca)")
    bx, by = dx.basis, dy.basis
    return [float(la.singular_values(bx.T @ by[p]).mean()) for p in perms(rows)]


def _pwcca_shuffled(X, Y, keep, perms) -> list[float]:
    sx, sy = _cca_side(X, "auto", "X"), _cca_side(Y, "auto", "Y")
    rows = _check_pair(sx, sy)
    _warn_small_sample(sx.dims, sy.dims, rows, "baseline(pwcca)")
    bx, by = sx.get_basis(), sy.get_basis()
    proj = en.side_proj(sx)
    return [_pwcca_value(bx.T @ by[p], proj) for p in perms(rows)]


def _cka_shuffled(X, Y, keep, perms) -> list[float]:
    sides = [data._side if isinstance(data, Decomposition) else as_source(data, name)
             for data, name in ((X, "X"), (Y, "Y"))]
    srcs = [s.src if isinstance(s, en.Side) else s for s in sides]
    check_same_samples(srcs[0].n, srcs[1].n)
    cx, cy = (_centred_data(s, name) for s, name in zip(sides, "XY", strict=True))
    stats = _cka_stats(cx, cy, debiased=False)
    return [stats.value(stats.xty(cx, cy[p])) for p in perms(cx.shape[0])]
