"""Private float64 linear algebra behind :mod:`svccakit.similarity`.

Helpers here trust their input (validated at the public boundary).

Two routes to an orthonormal basis of the column space of centred data
``C`` (n_samples, n_features):

- *Gram route* (fast, matrix-multiply cost): ``G = C.T @ C`` and a symmetric
  eigendecomposition ``G = V diag(lam) V.T``; the whitened directions are
  ``C @ V_k / sqrt(lam_k)``, never formed unless asked for. Forming ``G`` squares
  the condition number, so a direction with ``sigma_k / sigma_1 = 1/kappa`` is
  only accurate to about ``eps * kappa**2``; the route is used only when every
  kept direction has ``kappa <= GRAM_MAX_COND`` (1e3, i.e. ~1e-10 accuracy).
- *Accurate route*: thin SVD of ``C`` (for SVCCA) or QR with column pivoting of
  the column-equilibrated ``C`` (for plain CCA, Björck & Golub 1973); accuracy
  about ``eps * kappa``.

Threads: the LAPACK factorisations (``eigh``, ``svd``, ``qr``) run with one
BLAS thread (``BLAS_THREADS``), the matrix products with whatever the BLAS is
set to. Multi-threaded OpenBLAS LAPACK on these small-to-medium matrices measured
2-40x slower on a 2-core machine whose other core was busy, while on an idle
machine the big Gram products run 1.7x faster on two threads than on one
(benchmarks/similarity.py prints both). On a busy shared machine, limit the
products too (``threadpoolctl.threadpool_limits(1)`` or
``OPENBLAS_NUM_THREADS=1``); ``svccakit.timeline`` and the grid runners give
each worker process one thread anyway.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla

EPS = np.finfo(np.float64).eps
GRAM_MAX_COND = 1e3  # largest sigma_1 / sigma_k the Gram route is trusted with
GRAM_MIN_RATIO = 1.0 / GRAM_MAX_COND**2  # the same, on eigenvalues of the Gram matrix
FAST_RANK_RATIO = 1e-10  # method="fast": eigenvalues below this * lam_1 count as zero


@functools.lru_cache(maxsize=1)
def _controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


BLAS_THREADS: int | None = 1  # threads of the LAPACK calls; None: leave BLAS threads alone


@contextlib.contextmanager
def blas_threads():
    """Run the enclosed LAPACK call with ``BLAS_THREADS`` threads (~50 us)."""
    if BLAS_THREADS is None:
        yield
        return
    with _controller().limit(limits=BLAS_THREADS, user_api="blas"):
        yield


_SIEVE_ROWS = 64  # rows looked at before a column is checked for being constant on all
_SAFE_EXP = 400  # |entries| within 2**+-400: squares and Gram sums cannot over/underflow


def centre(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """``((a - mean) * scale, mean, scale)``; exactly constant columns become exactly zero.

    ``scale`` is 1.0 unless the centred entries are beyond ``2**+-400`` in
    magnitude, where it is the exact power of two that brings the largest to 1,
    so that ``C.T @ C`` neither overflows nor underflows. Every similarity here
    is invariant to it. ``a`` (n, d) float64 is not modified.
    """
    mean = a.mean(axis=0)
    c = a - mean
    n = c.shape[0]
    # a constant column's centred entries may be a rounding residue, not zero.
    # Sieve on a few rows spread over the data (a cheap contiguous read), then
    # confirm the survivors on every row.
    rows = c[np.unique(np.linspace(0, n - 1, num=min(n, _SIEVE_ROWS)).astype(np.intp))]
    cand = np.flatnonzero((rows == rows[0]).all(axis=0))
    if cand.size:
        sub = c[:, cand]
        c[:, cand[(sub == sub[0]).all(axis=0)]] = 0.0
    peak = max(float(c.max()), -float(c.min()))
    scale = 1.0
    if peak > 0.0:
        exp = math.frexp(peak)[1]
        if abs(exp) > _SAFE_EXP:
            scale = math.ldexp(1.0, -exp)
            c *= scale
    return c, mean, scale


def gram_eigh(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (descending, clipped at 0) and vectors of ``c.T @ c``."""
    return eigh_desc(c.T @ c)


def eigh_desc(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (descending, clipped at 0) and vectors of symmetric ``g`` (overwritten)."""
    with blas_threads():
        lam, v = sla.eigh(g, driver="evd", check_finite=False, overwrite_a=True)
    return np.maximum(lam[::-1], 0.0), v[:, ::-1]


def thin_svd(a: np.ndarray, compute_uv: bool = True):
    """SVD with a fallback from the divide-and-conquer driver to the QR driver."""
    with blas_threads():
        try:
            return sla.svd(a, full_matrices=False, compute_uv=compute_uv, check_finite=False,
                           lapack_driver="gesdd")
        except np.linalg.LinAlgError:  # pragma: no cover - gesdd rarely fails to converge
            return sla.svd(a, full_matrices=False, compute_uv=compute_uv, check_finite=False,
                           lapack_driver="gesvd")


def svd_rank(s: np.ndarray, shape: tuple[int, int]) -> int:
    """Numerical rank from singular values: ``s_i > max(n, d) * eps * s_1``."""
    if s.size == 0 or s[0] <= 0:
        return 0
    return int(np.count_nonzero(s > max(shape) * EPS * s[0]))


def pivoted_qr_basis(e: np.ndarray) -> np.ndarray:
    """Orthonormal basis (n, r) of the columns of ``e`` by QR with column pivoting.

    The rank ``r`` counts ``|R_ii| > max(n, d) * eps * |R_11|``.
    """
    with blas_threads():
        q, r, _ = sla.qr(e, mode="economic", pivoting=True, check_finite=False)
    diag = np.abs(np.diag(r))
    rank = svd_rank(diag, e.shape)
    return q[:, :rank]


def singular_values(m: np.ndarray) -> np.ndarray:
    """Singular values of a small matrix, descending, clipped to [0, 1]."""
    if m.size == 0:
        return np.zeros(0)
    s = thin_svd(m, compute_uv=False)
    return np.clip(s, 0.0, 1.0)


def svd_left(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(U[:, :p], s)`` of a small matrix with ``p = min(m.shape)``; s clipped to [0, 1]."""
    u, s, _ = thin_svd(m)
    return u, np.clip(s, 0.0, 1.0)


def n_to_keep(var: np.ndarray, keep: float | int) -> int:
    """Directions to keep from per-direction variances ``var`` (descending, >= 0).

    Float ``keep``: the fewest leading directions whose variance fraction is at
    least ``keep`` (``1.0``: all of ``var``). Int ``keep``: ``keep`` itself.
    """
    if isinstance(keep, int):
        return keep
    if keep >= 1.0:
        return int(var.size)
    frac = np.cumsum(var) / var.sum()
    k = int(np.searchsorted(frac, keep * (1.0 - 1e-12), side="left")) + 1
    return min(k, int(var.size))


# ---------------------------------------------------------------------------
# one side of a comparison, and the cross product of two sides


@dataclass(frozen=True, eq=False)
class Side:
    """Centred data ``(n, d)`` and an orthonormal basis ``(n, k)`` of (part of) its columns."""

    centred: np.ndarray
    dims: int
    route: str  # "gram", "svd" or "qr"
    transform: np.ndarray | None  # (d, k) with basis = centred @ transform, or None
    get_basis: Callable[[], np.ndarray]  # (n, k), computed once

    @property
    def exact(self) -> bool:
        """True when the basis came from an SVD/QR (more accurate than ``centred @ transform``)."""
        return self.route != "gram"


def full_basis(c: np.ndarray, method: str) -> Side | None:
    """Basis of all columns of centred ``c`` up to the numerical rank; None if ``c == 0``.

    Each neuron is first scaled to unit norm (CCA is invariant to it; it undoes
    scale spreads). ``method``: ``"fast"`` Gram + eigh (eigenvalues below
    ``FAST_RANK_RATIO * lam_1`` count as zero); ``"accurate"`` pivoted QR;
    ``"auto"`` Gram when the scaled Gram matrix has ``lam_min >= GRAM_MIN_RATIO
    * lam_max``, else QR. ``n <= d`` always uses QR.
    """
    n, d = c.shape
    if method != "accurate" and n > d:
        g = c.T @ c
        norms = np.sqrt(np.diag(g))
        live = np.flatnonzero(norms > 0)
        if live.size == 0:
            return None
        inv = 1.0 / norms[live]
        lam, v = eigh_desc(g[np.ix_(live, live)] * inv[:, None] * inv[None, :])
        if method == "fast":
            rank = int(np.count_nonzero(lam > lam[0] * FAST_RANK_RATIO))
        else:
            rank = live.size if lam[-1] >= lam[0] * GRAM_MIN_RATIO else 0
        if rank:
            transform = np.zeros((d, rank))
            transform[live] = v[:, :rank] / np.sqrt(lam[:rank]) * inv[:, None]
            return Side(c, rank, "gram", transform, functools.cache(lambda: c @ transform))
    norms = np.sqrt(np.einsum("ij,ij->j", c, c))
    live = np.flatnonzero(norms > 0)
    if live.size == 0:
        return None
    q = pivoted_qr_basis(c[:, live] / norms[live])
    return Side(c, q.shape[1], "qr", None, lambda: q)


def cross(sx: Side, sy: Side) -> np.ndarray:
    """``basis_x.T @ basis_y`` (kx, ky), by the cheaper of two equivalent routes.

    Route A, ``T_x.T (C_x.T C_y) T_y``, costs ``n dx dy``; route B, the product
    of the bases, costs ``n (dx kx + dy ky + kx ky)`` (less once a basis is
    cached). The choice depends only on the shapes and routes, so the same
    inputs always give the same bits.
    """
    dx, dy = sx.centred.shape[1], sy.centred.shape[1]
    kx, ky = sx.dims, sy.dims
    if (sx.transform is not None and sy.transform is not None and not (sx.exact or sy.exact)
            and dx * dy <= dx * kx + dy * ky + kx * ky):
        return (sx.transform.T @ (sx.centred.T @ sy.centred)) @ sy.transform
    return sx.get_basis().T @ sy.get_basis()


# ---------------------------------------------------------------------------
# linear CKA


@dataclass(frozen=True)
class CKAStats:
    """Per-side terms of (debiased) linear CKA, reusable across row permutations of Y.

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
            return float(min(max(xty / math.sqrt(self.hxx * self.hyy), 0.0), 1.0))
        ry = self.rows_y if rows_y is None else rows_y
        hxy = _unbias(self.n, xty, self.rows_x, ry, self.sum_xy)
        return float(hxy / math.sqrt(self.hxx * self.hyy))


def _unbias(n: int, tr: float, ra: np.ndarray, rb: np.ndarray, prod: float) -> float:
    """Unbiased HSIC (Song et al. 2012) of linear kernels of centred data, times n(n-3).

    With ``K = X X.T``, ``k = diag K`` (and likewise L, l), centred data give
    ``K 1 = 0``, so the estimator reduces to
    ``tr(KL) - n/(n-2) k.l + (sum k)(sum l)/((n-1)(n-2))``.
    """
    return tr - n / (n - 2) * float(ra @ rb) + prod / ((n - 1) * (n - 2))
