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


def svd_rank(s: np.ndarray, shape: tuple[int, int], floor: float = 0.0) -> int:
    """Numerical rank from singular values: ``s_i > max(n, d) * eps * max(s_1, floor)``.

    ``floor`` is the size of the data's rounding that the singular values cannot
    resolve beyond: the norm of the mean part (``sqrt(n) * ||mean||``, in the
    same units), whose rounding (``eps * |mean|`` per entry) is inherited by the
    centred data. With it, a constant offset cannot turn rounding noise into
    extra rank (issue: ``cca(X + 1000, Y)`` found ranks (4, 4) for a rank-1 X).
    """
    if s.size == 0 or s[0] <= 0:
        return 0
    return int(np.count_nonzero(s > max(shape) * EPS * max(float(s[0]), floor)))


def singular_values(m: np.ndarray) -> np.ndarray:
    """Singular values of a small matrix, descending, clipped to [0, 1]."""
    if m.size == 0:
        return np.zeros(0)
    s = thin_svd(m, compute_uv=False)
    return np.clip(s, 0.0, 1.0)


SMALL_RHO = 1e-5  # below this, canonical correlations come from an SVD, not from rho**2


def canonical_values(m: np.ndarray, p: int | None = None) -> np.ndarray:
    """The ``p`` largest singular values of a cross matrix (default ``min(m.shape)``),
    descending, clipped to [0, 1].

    They are the square roots of the eigenvalues of the smaller of ``m m.T`` and
    ``m.T m`` (a symmetric rank-k update and a tridiagonal eigenvalue solve: about
    3x faster than an SVD at 500 x 500). Those eigenvalues carry an absolute error
    of a few ``eps``, so a correlation ``rho`` is accurate to about
    ``eps / rho``; when the smallest falls below ``SMALL_RHO`` (1e-5) the values
    are taken from an SVD of ``m`` instead (accurate to ``eps``).
    """
    p = min(m.shape) if p is None else p
    if p == 0:
        return np.zeros(0)
    w = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
    with blas_threads():
        lam = sla.eigh(w, eigvals_only=True, driver="evd", overwrite_a=True,
                       check_finite=False)[::-1]
    rho = np.sqrt(np.clip(lam[:p], 0.0, 1.0))
    if rho[-1] < SMALL_RHO:
        return singular_values(m)[:p]
    return rho


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
