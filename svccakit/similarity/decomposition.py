"""One representation, centred and SVD-reduced once: :class:`Decomposition`.

A :class:`Decomposition` (from :func:`decompose`) is accepted in place of an array by
every metric of :mod:`svccakit.similarity`, with the same numbers (up to rounding), so
a reference layer can be decomposed once and compared with many snapshots. The
private helpers below turn either form into the *sides* the metrics work on.
"""

from __future__ import annotations

import functools
import numbers
import warnings
from dataclasses import dataclass, field

import numpy as np

from svccakit._validate import check_same_samples
from svccakit.exceptions import SmallSampleWarning
from svccakit.similarity import _engine as en
from svccakit.similarity._moments import centred_copy
from svccakit.similarity._source import Source, as_source

__all__ = ["DEFAULT_KEEP", "Decomposition", "decompose"]

DEFAULT_KEEP = 0.99
"""SVCCA's default ``keep``: the directions holding 99 % of the variance (Raghu et al.)."""


@dataclass(frozen=True, eq=False)
class Decomposition:
    """One representation, centred and SVD-reduced once, reusable in many comparisons.

    Made by :func:`decompose`; accepted in place of an array by :func:`svcca`,
    :func:`cca`, :func:`pwcca`, :func:`linear_cka` and :func:`baseline`, giving
    the same numbers as passing the array itself (up to rounding, about 1e-15).

    It holds a reference to the data it was made from (not a copy): do not
    modify that array in place while the decomposition is in use. A streamed
    input (h5py dataset, memmap, :class:`~svccakit.similarity.Streamed`) stays on
    disk and is read again, block by block, when compared.

    Attributes
    ----------
    mean : ndarray of shape (n_features,)
        Per-neuron mean that was subtracted.
    singular_values : ndarray of shape (rank,)
        Non-negligible singular values of the centred data (times ``scale``),
        descending.
    keep : float or int
        The ``keep`` it was made with.
    dims : int
        Directions kept.
    transform : ndarray of shape (n_features, dims)
        ``centred @ transform`` are the kept whitened directions (:attr:`basis`).
    method : str
        ``"gram"`` (eigendecomposition of ``centred.T @ centred``) or ``"svd"``
        (SVD of the centred data, or of its triangular factor when streamed).
    scale : float
        1.0, or the exact power of two applied to data whose second moments
        would over- or underflow (beyond about ``2**+-450``), bringing the
        largest ``|value|`` into [0.5, 1); every similarity is invariant to it.
    centred : ndarray of shape (n_samples, n_features)
        ``(X - mean) * scale``, exactly constant neurons exactly zero; computed
        (and kept) on first access.
    basis : ndarray of shape (n_samples, dims)
        The kept whitened directions (orthonormal columns), computed on first access.
    """

    mean: np.ndarray
    singular_values: np.ndarray = field(repr=False)
    keep: float | int
    dims: int
    transform: np.ndarray = field(repr=False)
    method: str
    scale: float = 1.0
    _side: en.Side = field(default=None, repr=False)

    @property
    def n_samples(self) -> int:
        return int(self._side.src.n)

    @property
    def n_features(self) -> int:
        return int(self._side.src.d)

    @property
    def variance_kept(self) -> float:
        """Fraction of the total variance held by the kept directions."""
        var = self.singular_values**2
        return float(var[: self.dims].sum() / var.sum())

    @functools.cached_property
    def centred(self) -> np.ndarray:
        s = self._side
        return centred_copy(s.src, s.mean, s.exp, s.live)

    @functools.cached_property
    def basis(self) -> np.ndarray:
        """Kept whitened directions, shape (n_samples, dims), orthonormal columns."""
        return self._side.get_basis()


def _side_of(dec: Decomposition) -> en.Side:
    return dec._side


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


def _check_keep_features(keep, src: Source, name: str) -> None:
    if isinstance(keep, int) and keep > src.d:
        raise ValueError(f"keep={keep} directions requested for {name}, but it has only "
                         f"{src.d} features (n_samples={src.n})")


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
    X : array-like, torch.Tensor, h5py dataset, memmap or Streamed, of shape (n_samples, n_features)
        Activations. Arrays in memory are used without a copy; other array-likes
        are read in row blocks (see :class:`~svccakit.similarity.Streamed`).
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
    return _decompose_source(as_source(X, "X"), keep, "X")


def _decompose_source(src: Source, keep, name: str) -> Decomposition:
    _check_keep_features(keep, src, name)
    side = en.single_side(src, name, "svcca", keep)
    return _from_side(side, keep)


def _from_side(side: en.Side, keep) -> Decomposition:
    return Decomposition(mean=np.ldexp(side.mean, -side.exp), singular_values=side.sv, keep=keep,
                         dims=side.dims, transform=side.transform, method=side.route,
                         scale=float(np.ldexp(1.0, side.exp)), _side=side)


def _svcca_side(X, keep, name: str, default=DEFAULT_KEEP) -> Decomposition:
    """``X`` (array or Decomposition) as a Decomposition for ``keep`` (None: own/default)."""
    if isinstance(X, Decomposition):
        if keep is not None and (keep != X.keep or type(keep) is not type(X.keep)):
            raise ValueError(f"keep={keep!r} conflicts with keep={X.keep!r} that the "
                             f"decomposition {name} was made with; pass keep=None to use it, "
                             f"or decompose again")
        return X
    src = as_source(X, name)
    return _decompose_source(src, default if keep is None else keep, name)


def _svcca_keeps(X, Y, keep):
    """The keep of each side: ``keep=None``: each Decomposition's own keep; an array
    takes the keep of the other side's Decomposition, else DEFAULT_KEEP."""
    if keep is not None:
        keep = _check_keep(keep)
        return keep, keep
    dec = X if isinstance(X, Decomposition) else Y if isinstance(Y, Decomposition) else None
    default = DEFAULT_KEEP if dec is None else dec.keep
    return (None if isinstance(X, Decomposition) else default,
            None if isinstance(Y, Decomposition) else default)


def _svcca_sides(X, Y, keep) -> tuple[Decomposition, Decomposition]:
    """Both sides of SVCCA as Decompositions."""
    kx, ky = _svcca_keeps(X, Y, keep)
    if keep is None:
        return _svcca_side(X, None, "X", kx), _svcca_side(Y, None, "Y", ky)
    return _svcca_side(X, kx, "X"), _svcca_side(Y, ky, "Y")


def _cca_side(X, method: str, name: str) -> en.Side:
    """An orthonormal basis of all of ``X`` (up to its numerical rank)."""
    if isinstance(X, Decomposition):
        return _side_of(X)
    return en.single_side(as_source(X, name), name, "cca", method)


def _check_pair(sx, sy) -> int:
    nx, ny = sx.src.n, sy.src.n
    check_same_samples(nx, ny)
    return nx
