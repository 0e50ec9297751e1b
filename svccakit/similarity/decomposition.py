"""One representation, centred and SVD-reduced once: :class:`Decomposition`.

A :class:`Decomposition` (from :func:`decompose`) is accepted in place of an array by
every metric of :mod:`svccakit.similarity`, with identical numbers, so a reference
layer can be decomposed once and compared with many snapshots. The private helpers
below turn either form into the *sides* the metrics work on.
"""

from __future__ import annotations

import functools
import numbers
import warnings
from dataclasses import dataclass, field

import numpy as np

from svccakit._validate import as_2d_float64, check_same_samples
from svccakit.exceptions import SmallSampleWarning
from svccakit.similarity import _linalg as la

__all__ = ["DEFAULT_KEEP", "Decomposition", "decompose"]

DEFAULT_KEEP = 0.99
"""SVCCA's default ``keep``: the directions holding 99 % of the variance (Raghu et al.)."""


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
# decomposition


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


def _centred(X, name: str) -> np.ndarray:
    if isinstance(X, Decomposition):
        return X.centred
    return la.centre(as_2d_float64(X, name))[0]
