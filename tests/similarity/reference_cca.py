"""Independent float64 reference implementations, used only by the tests.

Written straight from the definitions, without sharing code with svccakit:
two-pass centring, a thin SVD of each centred side (numpy.linalg.svd) for the
numerical rank and an orthonormal basis, then the canonical correlations as the
singular values of ``U_x.T @ U_y`` (Björck & Golub 1973). CKA uses explicit
n x n kernel matrices and the centring matrix; the debiased estimator is the
unbiased HSIC of Song et al. (2012) written out term by term.
"""

from __future__ import annotations

import numpy as np


def centre(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    c = a - a.mean(axis=0)
    return c - c.mean(axis=0)  # second pass removes the rounding residue


def basis(a: np.ndarray, keep: float | int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Orthonormal basis of the centred columns (optionally SVD-truncated) and the sigmas."""
    c = centre(a)
    u, s, _ = np.linalg.svd(c, full_matrices=False)
    tol = max(c.shape) * np.finfo(np.float64).eps * (s[0] if s.size else 0.0)
    rank = int(np.sum(s > tol))
    k = rank
    if isinstance(keep, int):
        k = keep
    elif keep is not None and keep < 1.0:
        var = s[:rank] ** 2
        frac = np.cumsum(var) / var.sum()
        k = int(np.argmax(frac >= keep * (1 - 1e-12))) + 1
    return u[:, :k], s[:rank]


def cca_rho(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ux, _ = basis(x)
    uy, _ = basis(y)
    rho = np.linalg.svd(ux.T @ uy, compute_uv=False)
    return np.clip(np.sort(rho)[::-1], 0.0, 1.0)


def svcca_value(x: np.ndarray, y: np.ndarray, keep: float | int = 0.99) -> tuple[float, tuple]:
    ux, _ = basis(x, keep)
    uy, _ = basis(y, keep)
    rho = np.clip(np.linalg.svd(ux.T @ uy, compute_uv=False), 0.0, 1.0)
    return float(rho.mean()), (ux.shape[1], uy.shape[1])


def pwcca_value(x: np.ndarray, y: np.ndarray) -> float:
    """Morcos et al. (2018) with canonical variates h_i = U_x a_i of x."""
    ux, _ = basis(x)
    uy, _ = basis(y)
    a, rho, _ = np.linalg.svd(ux.T @ uy, full_matrices=False)
    p = min(ux.shape[1], uy.shape[1])
    h = ux @ a[:, :p]  # (n, p) unit-norm canonical variates of x
    alpha = np.abs(h.T @ centre(x)).sum(axis=1)
    alpha = alpha / alpha.sum()
    return float(alpha @ np.clip(rho[:p], 0.0, 1.0))


def _hsic_biased(k: np.ndarray, l_: np.ndarray) -> float:
    n = k.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    return float(np.trace(k @ h @ l_ @ h))


def _hsic_unbiased(k: np.ndarray, l_: np.ndarray) -> float:
    n = k.shape[0]
    kt = k - np.diag(np.diag(k))
    lt = l_ - np.diag(np.diag(l_))
    one = np.ones(n)
    term1 = np.trace(kt @ lt)
    term2 = (one @ kt @ one) * (one @ lt @ one) / ((n - 1) * (n - 2))
    term3 = 2.0 / (n - 2) * (one @ kt @ lt @ one)
    return float((term1 + term2 - term3) / (n * (n - 3)))


def linear_cka_value(x: np.ndarray, y: np.ndarray, debiased: bool = False) -> float:
    # centred first (two passes): the centring matrix on uncentred kernels would cancel
    # catastrophically for neurons with a large offset
    x, y = centre(x), centre(y)
    hsic = _hsic_unbiased if debiased else _hsic_biased
    k, l_ = x @ x.T, y @ y.T
    return hsic(k, l_) / np.sqrt(hsic(k, k) * hsic(l_, l_))
