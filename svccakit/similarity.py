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
  products with the BLAS's own setting (see :mod:`svccakit._linalg`); for many
  comparisons, parallelise over comparisons (``svccakit.timeline`` does).
"""

from __future__ import annotations

import functools
import numbers
import warnings
from dataclasses import dataclass, field

import numpy as np

from svccakit import _linalg as la
from svccakit._validate import as_2d_float64, check_same_samples, to_float64

__all__ = [
    "BaselineResult",
    "CCAResult",
    "Decomposition",
    "SVCCAResult",
    "SmallSampleWarning",
    "baseline",
    "cca",
    "decompose",
    "flatten_conv",
    "linear_cka",
    "pwcca",
    "svcca",
]

DEFAULT_KEEP = 0.99
_METHODS = ("auto", "fast", "accurate")
METRICS = ("svcca", "pwcca", "cka")
"""Names of the similarity measures, as :func:`baseline`, the timeline and configs take them."""
_FLATTEN_MODES = ("positions", "pool")


class SmallSampleWarning(UserWarning):
    """Too few samples for the dimensions compared: some correlations are 1 by construction.

    Centred data of ``n`` samples live in an ``n - 1`` dimensional space, so two
    subspaces of dimensions ``k_x + k_y > n - 1`` share at least
    ``k_x + k_y - (n - 1)`` directions. With fewer samples than features CCA is
    trivially 1.
    """


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


@dataclass(frozen=True, eq=False)
class Decomposition:
    """One representation, centred and SVD-reduced once, reusable in many comparisons.

    Made by :func:`decompose`; accepted in place of an array by :func:`svcca`,
    :func:`cca`, :func:`pwcca`, :func:`linear_cka` and :func:`baseline`, giving
    identical numbers to passing the array itself.

    Attributes
    ----------
    mean : ndarray of shape (n_features,)
        Per-neuron mean that was subtracted.
    centred : ndarray of shape (n_samples, n_features)
        Centred activations ``(X - mean) * scale`` (exactly constant neurons
        exactly zero).
    singular_values : ndarray of shape (rank,)
        Non-negligible singular values of ``centred``, descending.
    keep : float or int
        The ``keep`` it was made with.
    dims : int
        Directions kept.
    transform : ndarray of shape (n_features, dims)
        ``centred @ transform`` are the kept whitened directions (:attr:`basis`).
    method : str
        ``"gram"`` (eigendecomposition of ``centred.T @ centred``) or ``"svd"``.
    scale : float
        1.0, or for data beyond ``2**+-400`` in magnitude the exact power of two
        applied so that second moments cannot over- or underflow (every
        similarity is invariant to it).
    """

    mean: np.ndarray
    centred: np.ndarray = field(repr=False)
    singular_values: np.ndarray = field(repr=False)
    keep: float | int
    dims: int
    transform: np.ndarray = field(repr=False)
    method: str
    scale: float = 1.0
    _svd_basis: np.ndarray | None = field(default=None, repr=False)

    @property
    def n_samples(self) -> int:
        return int(self.centred.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.centred.shape[1])

    @property
    def variance_kept(self) -> float:
        """Fraction of the total variance held by the kept directions."""
        var = self.singular_values**2
        return float(var[: self.dims].sum() / var.sum())

    @functools.cached_property
    def basis(self) -> np.ndarray:
        """Kept whitened directions, shape (n_samples, dims), orthonormal columns."""
        if self._svd_basis is not None:
            return self._svd_basis
        return self.centred @ self.transform


def _side_of(dec: Decomposition) -> la.Side:
    return la.Side(dec.centred, dec.dims, dec.method, dec.transform, lambda: dec.basis)


# ---------------------------------------------------------------------------
# validation


def _check_keep(keep, name: str = "keep") -> float | int:
    if isinstance(keep, (bool, np.bool_)):
        raise TypeError(f"{name} must be a float in (0, 1] or an int >= 1, got bool {keep!r}")
    if isinstance(keep, numbers.Integral):
        if keep < 1:
            raise ValueError(f"{name} as an int is a number of directions and must be >= 1, "
                             f"got {keep!r}")
        return int(keep)
    if isinstance(keep, numbers.Real):
        keep = float(keep)
        if not 0.0 < keep <= 1.0:  # also rejects NaN
            raise ValueError(f"{name} as a float is a fraction of variance and must be in "
                             f"(0, 1], got {keep!r}")
        return keep
    raise TypeError(f"{name} must be a float in (0, 1] or an int >= 1, got "
                    f"{type(keep).__name__} {keep!r}")


def _check_choice(value, choices: tuple[str, ...], name: str) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def _no_variance(name: str, shape: tuple[int, int]) -> ValueError:
    return ValueError(
        f"{name} has no variance: all {shape[1]} of its neurons are constant over the "
        f"{shape[0]} samples, so the similarity is undefined"
    )


def _warn_small_sample(kx: int, ky: int, n: int, what: str) -> None:
    excess = kx + ky - (n - 1)
    if excess > 0:
        warnings.warn(
            f"{what}: {kx} + {ky} directions compared with only {n} samples (n - 1 = {n - 1} "
            f"dimensions after centring), so at least {min(excess, kx, ky)} canonical "
            f"correlation(s) are 1 by construction; with fewer samples than features CCA is "
            f"trivially 1. Use more samples or keep fewer directions.",
            SmallSampleWarning,
            stacklevel=3,  # _warn_small_sample -> public function -> caller
        )


# ---------------------------------------------------------------------------
# decompositions


def decompose(X, keep: float | int = DEFAULT_KEEP) -> Decomposition:
    """Centre ``X`` and compute its SVD reduction once, for reuse against many others.

    Parameters
    ----------
    X : array-like or torch.Tensor of shape (n_samples, n_features)
        Activations.
    keep : float in (0, 1] or int >= 1, default 0.99
        Float: keep the fewest leading SVD directions holding at least this
        fraction of the variance (``1.0``: all, up to the numerical rank).
        Int: keep exactly that many directions (``keep=1`` is one direction,
        ``keep=1.0`` is everything).

    Returns
    -------
    Decomposition

    Raises
    ------
    ValueError
        If ``keep`` asks for more directions than ``X``'s numerical rank, or ``X``
        has no variance; see also the input checks of :func:`svcca`.
    """
    keep = _check_keep(keep)
    a = as_2d_float64(X, "X")
    c, mean, scale = la.centre(a)
    return _decompose_centred(c, mean, scale, keep, "X")


def _decompose_centred(c: np.ndarray, mean: np.ndarray, scale: float, keep,
                       name: str) -> Decomposition:
    n, d = c.shape
    if isinstance(keep, int) and keep > d:
        raise ValueError(f"keep={keep} directions requested for {name}, but it has only {d} "
                         f"features (n_samples={n})")
    if n > d:
        lam, v = la.gram_eigh(c)
        if lam[0] <= 0.0:
            raise _no_variance(name, c.shape)
        floor = lam[0] * la.GRAM_MIN_RATIO
        noise = lam[0] * max(n, d) * la.EPS
        k = la.n_to_keep(lam, keep)  # keep=1.0: all d, trusted only at full rank
        trusted = lam[k - 1] >= floor
        if trusted:
            transform = v[:, :k] / np.sqrt(lam[:k])
            return Decomposition(mean=mean, centred=c, singular_values=np.sqrt(lam[lam > noise]),
                                 keep=keep, dims=k, transform=transform, method="gram",
                                 scale=scale)
    u, s, vt = la.thin_svd(c)
    rank = la.svd_rank(s, c.shape)
    if rank == 0:
        raise _no_variance(name, c.shape)
    s = s[:rank]
    k = la.n_to_keep(s**2, keep)
    if k > rank:
        raise ValueError(f"keep={keep} directions requested for {name}, but its numerical rank "
                         f"is only {rank} ({d} features, {n} samples)")
    return Decomposition(mean=mean, centred=c, singular_values=s, keep=keep, dims=k,
                         transform=vt[:k].T / s[:k], method="svd", scale=scale,
                         _svd_basis=u[:, :k])


def _svcca_side(X, keep, name: str, default=DEFAULT_KEEP) -> Decomposition:
    """``X`` (array or Decomposition) as a Decomposition for ``keep`` (None: own/default)."""
    if isinstance(X, Decomposition):
        if keep is not None and (keep != X.keep or type(keep) is not type(X.keep)):
            raise ValueError(f"keep={keep!r} conflicts with keep={X.keep!r} that the "
                             f"decomposition {name} was made with; pass keep=None to use it, "
                             f"or decompose again")
        return X
    a = as_2d_float64(X, name)
    c, mean, scale = la.centre(a)
    return _decompose_centred(c, mean, scale, default if keep is None else keep, name)


def _svcca_sides(X, Y, keep) -> tuple[Decomposition, Decomposition]:
    """Both sides of SVCCA. ``keep=None``: each Decomposition's own keep; an array
    takes the keep of the other side's Decomposition, else DEFAULT_KEEP."""
    if keep is not None:
        keep = _check_keep(keep)
        return _svcca_side(X, keep, "X"), _svcca_side(Y, keep, "Y")
    dec = X if isinstance(X, Decomposition) else Y if isinstance(Y, Decomposition) else None
    default = DEFAULT_KEEP if dec is None else dec.keep
    return _svcca_side(X, None, "X", default), _svcca_side(Y, None, "Y", default)


def _cca_side(X, method: str, name: str) -> la.Side:
    """An orthonormal basis of all of ``X`` (up to its numerical rank)."""
    if isinstance(X, Decomposition):
        return _side_of(X)
    c = la.centre(as_2d_float64(X, name))[0]
    side = la.full_basis(c, method)
    if side is None:
        raise _no_variance(name, c.shape)
    return side


def _check_pair(sx, sy) -> int:
    nx, ny = sx.centred.shape[0], sy.centred.shape[0]
    check_same_samples(nx, ny)
    return nx


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
    method = _check_choice(method, _METHODS, "method")
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
    method = _check_choice(method, _METHODS, "method")
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
    if not isinstance(debiased, (bool, np.bool_)):
        raise TypeError(f"debiased must be a bool, got {type(debiased).__name__} {debiased!r}")
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


def _centred(X, name: str) -> np.ndarray:
    if isinstance(X, Decomposition):
        return X.centred
    return la.centre(as_2d_float64(X, name))[0]


# ---------------------------------------------------------------------------
# chance level


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
    metric = _check_choice(metric, METRICS, "metric")
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n (number of permutations) must be an int >= 1, got {n!r}")
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    if keep is not None:
        keep = _check_keep(keep)
    rng = np.random.default_rng(int(seed))
    if metric == "cka":
        cx, cy = _centred(X, "X"), _centred(Y, "Y")
        check_same_samples(cx.shape[0], cy.shape[0])
        rows = cx.shape[0]
        stats = _cka_stats(cx, cy, debiased=False)
        perms = [rng.permutation(rows) for _ in range(int(n))]
        values = [stats.value(stats.xty(cx, cy[p])) for p in perms]
    else:
        if metric == "svcca":
            dx, dy = _svcca_sides(X, Y, keep)
            sx, sy = _side_of(dx), _side_of(dy)
        else:
            sx, sy = _cca_side(X, "auto", "X"), _cca_side(Y, "auto", "Y")
        rows = _check_pair(sx, sy)
        _warn_small_sample(sx.dims, sy.dims, rows, f"baseline({metric})")
        bx, by = sx.get_basis(), sy.get_basis()
        proj = bx.T @ sx.centred if metric == "pwcca" else None
        values = []
        for _ in range(int(n)):
            m = bx.T @ by[rng.permutation(rows)]
            if metric == "svcca":
                values.append(float(la.singular_values(m).mean()))
            else:
                values.append(_pwcca_value(m, proj))
    arr = np.asarray(values, dtype=np.float64)
    return BaselineResult(metric=metric, values=arr, mean=float(arr.mean()), std=float(arr.std()))


# ---------------------------------------------------------------------------
# conv activations


def flatten_conv(A, mode: str = "positions") -> np.ndarray:
    """Turn conv activations ``(n, c, h, w)`` into 2-D ``(samples, channels)``: THE rule.

    Channels are the neurons. ``mode="positions"`` (default) folds every spatial
    position into the samples, giving ``(n * h * w, c)`` with rows ordered by
    image, then row, then column; ``mode="pool"`` averages over positions,
    giving ``(n, c)``. Compare two layers only when both were flattened the same
    way (with ``"positions"`` they also need the same ``h, w``).

    Parameters
    ----------
    A : array-like or torch.Tensor of shape (n, c, h, w)
    mode : {"positions", "pool"}

    Returns
    -------
    ndarray of float64, shape (n * h * w, c) or (n, c)
    """
    mode = _check_choice(mode, _FLATTEN_MODES, "mode")
    a = to_float64(A, "A")
    if a.ndim != 4:
        raise ValueError(f"A must be 4-D conv activations (n, c, h, w), got a {a.ndim}-D array "
                         f"of shape {a.shape}")
    n, c, h, w = a.shape
    if mode == "pool":
        return a.mean(axis=(2, 3))
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1)).reshape(n * h * w, c)
