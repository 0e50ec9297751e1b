"""The input-output Jacobian of a critical noisy network: its spectrum from free probability.

numpy/scipy only (no torch). The network is :func:`svccakit.meanfield.mlp`
``(N, N, L, N, activation, noise)`` at its critical initialisation
(:func:`svccakit.meanfield.critical_point`), in training mode with the noise of one forward
pass held fixed, at an input on the fixed point (``h^1`` of variance ``q*``). Its Jacobian
``J = d output / d input`` is

    J = W^out E^L D^L W^L E^{L-1} D^{L-1} ... D^1 W^1 E^0,

with ``E^l = diag(eps^l)`` the noise of the layer ``noise{l}`` (dropout: ``eps`` is 0 or
``1/p``; Gaussian: ``eps ~ N(1, sigma^2)``), ``D^l = diag(phi'(h^l))`` and ``W`` the weights
(readout ``out`` included: it has the same law as the hidden weights). Without the readout
(``readout=False``), ``J^L = d x^L / d x^0 = D^L W^L E^{L-1} ... D^1 W^1 E^0`` (no ``E^L``).

Derivation (Pennington, Schoenholz & Ganguli 2017, "Resurrecting the sigmoid in deep learning
through dynamical isometry"; 2018, "The emergence of spectral universality in deep networks";
noise as in Pretorius et al. 2018). In the wide limit the diagonal matrices and the weight
matrices are asymptotically free, and cycling the factors of ``J J^T`` shows its spectrum is
the free multiplicative convolution of the laws of

* ``(E^0)^2``: ``eps^2`` (input noise, once);
* ``(D^l E^l)^2``, ``l = 1..L``: ``x = phi'(h)^2 eps^2`` with ``h ~ N(0, q*)`` and ``eps``
  independent (``eps^l`` is drawn after ``h^l``), so ``E[x] = mu2 E[phi'^2]`` and
  ``E[x^2] = mu4 E[phi'^4]``, ``mu4 = E[eps^4]`` (dropout with keep rate ``k``: ``1/k^3``;
  Gaussian: ``1 + 6 sigma^2 + 3 sigma^4``); for the (shifted) ReLU ``phi'^4 = phi'^2``, and
  with dropout ``x`` is ``1/k^2`` with probability ``p_eff = p(q*) k`` and 0 otherwise;
* ``W^T W`` for the ``L + 1`` weight matrices: the constant ``sigma_w^2`` (orthogonal) or a
  Marchenko-Pastur law of ratio 1, mean ``sigma_w^2`` and variance ``sigma_w^4`` (Gaussian).

Under free multiplicative convolution S-transforms multiply, ``S_{JJ^T} = prod_f S_f``, so
means multiply and the normalised variances ``s_f = E[x^2] / E[x]^2 - 1`` add (exactly, for
the first two moments). At criticality (``sigma_w^2 mu2 E[phi'^2] = 1``) this gives, with
``d2 = E[phi'(h)^2]``, ``d4 = E[phi'(h)^4]`` at ``q*``:

    mean  = sigma_w^2 mu2 = 1 / d2              (readout; 1 without it)
    var / mean^2 = L (mu4 d4 / (mu2^2 d2^2) - 1) + (mu4 / mu2^2 - 1) + n_w [Gaussian]

with ``n_w = L + 1`` Gaussian weight matrices (``L`` without the readout); without the
readout one of the ``L`` layer factors loses its noise (``d4 / d2^2 - 1`` in place of
``mu4 d4 / (mu2^2 d2^2) - 1``). Without noise this is ``L (1 - p) / p`` (orthogonal) for the
ReLU family, the formula of :func:`svccakit.meanfield.jacobian_spectrum_moments`. With
dropout and ReLU the layer term is ``L (1 - p_eff) / p_eff``, ``p_eff = p(q*) k``, and the
input noise adds ``(1 - k) / k``: critical ReLU at keep rate 0.8 (orthogonal weights) has
``var / mean^2 = 1.5 L + 0.25``, mean 2; without the readout ``1.5 L - 0.25``, mean 1.

The density: with ``psi(z) = sum_k m_k z^k`` (the moment generating function of a law),
``chi = psi^{-1}`` and ``S(psi) = chi(psi) (1 + psi) / psi``, the law of ``J J^T`` solves
``psi S_{JJ^T}(psi) / (1 + psi) = z``. A factor with atoms ``a_k`` of mass ``pi_k`` has
``S(psi) = w (1 + psi) / psi`` where ``psi = sum_k pi_k a_k w / (1 - a_k w)``; a constant
``c`` has ``S = 1 / c``; Marchenko-Pastur ``S = 1 / (sigma_w^2 (1 + psi))``. For each
eigenvalue ``lambda`` the system (``psi`` and one ``w`` per factor law) is solved by Newton's
method at ``z = 1 / (lambda + i eta)``, followed from ``eta`` far above the spectrum (where
``psi ~ mean * z``) down to ``eta = 10^-3 lambda``; then ``G = (1 + psi) / (lambda + i eta)``
and the density is ``-Im G / pi``, less the atom at 0 (its mass is the largest factor's mass
at 0, Belinschi 2003). Continuous laws (``phi'(h)^2`` of a smooth activation, ``eps^2`` of
Gaussian noise) are represented by equal-mass quantile atoms (``n_atoms`` of them).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from svccakit._validate import check_choice, check_int
from svccakit.meanfield.expectations import derivative_fourth_moment, derivative_second_moment
from svccakit.meanfield.specs import Noise, parse_activation, parse_noise
from svccakit.meanfield.theory import JacobianMoments, critical_point

__all__ = [
    "JacobianDensity",
    "jacobian_density",
    "jacobian_moments",
]

_WEIGHT_LAWS = ("gaussian", "orthogonal")


@dataclass(frozen=True)
class _Factor:
    """One free factor of ``J J^T``, appearing ``count`` times."""

    label: str
    count: int
    kind: str  # "constant", "wishart" or "atoms"
    mean: float
    second: float  # E[x^2]
    values: np.ndarray | None = None
    weights: np.ndarray | None = None
    exact: bool = True  # the atoms are the law's own (not a quantised continuous law)

    @property
    def spread(self) -> float:
        """Normalised variance ``E[x^2] / E[x]^2 - 1``."""
        return self.second / self.mean**2 - 1.0

    @property
    def zero_mass(self) -> float:
        if self.kind != "atoms":
            return 0.0
        return float(self.weights[self.values == 0.0].sum())

    def positive_atoms(self) -> list[tuple[float, float]] | None:
        """``[(location, mass)]`` of the law's atoms at positive locations; ``None`` for a
        law without any (Marchenko-Pastur; a quantised continuous law, whose atoms are not
        its own)."""
        if self.kind == "constant":
            return [(self.mean, 1.0)]
        if self.kind == "wishart" or not self.exact:
            return None
        return [(float(v), float(w)) for v, w in zip(self.values, self.weights, strict=True)
                if v > 0.0 and w > 0.0]


def _normal_quantiles(n: int) -> np.ndarray:
    return special.ndtri((np.arange(n) + 0.5) / n)


def _noise_law(nz: Noise, n_fine: int) -> tuple[float, float, np.ndarray, np.ndarray]:
    """``(mu2, mu4, values, weights)`` of ``eps^2`` (values are atoms of its law)."""
    if nz.kind == "none":
        return 1.0, 1.0, np.ones(1), np.ones(1)
    if nz.kind == "dropout":
        k = nz.p
        if k == 1.0:
            return 1.0, 1.0, np.ones(1), np.ones(1)
        return 1.0 / k, 1.0 / k**3, np.array([0.0, 1.0 / k**2]), np.array([1.0 - k, k])
    if nz.kind == "gauss":
        s2 = nz.sigma**2
        eps = 1.0 + nz.sigma * _normal_quantiles(n_fine)
        return 1.0 + s2, 1.0 + 6.0 * s2 + 3.0 * s2**2, eps**2, np.full(n_fine, 1.0 / n_fine)
    raise ValueError(
        f"noise: the Jacobian spectrum needs the law of the noise (its fourth moment); "
        f"expected none, dropout:P or gauss:SIGMA, got {nz.spec!r}"
    )


def _derivative_law(act, q: float, n_fine: int) -> tuple[np.ndarray, np.ndarray]:
    """Atoms of the law of ``phi'(h)^2``, ``h ~ N(0, q)``."""
    if act.piecewise_linear:
        p = derivative_second_moment(act, q)
        return np.array([0.0, 1.0]), np.array([1.0 - p, p])
    d = act.dphi(math.sqrt(q) * _normal_quantiles(n_fine)) ** 2
    return d, np.full(n_fine, 1.0 / n_fine)


def _quantize(values: np.ndarray, weights: np.ndarray, n_atoms: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``n_atoms + 1`` atoms: the exact zeros, and equal-mass bins of the rest (each
    the mean of its bin, so the mean of the law is kept)."""
    keep = weights > 0.0
    values, weights = values[keep], weights[keep]
    zero = values == 0.0
    z_mass = float(weights[zero].sum())
    v, w = values[~zero], weights[~zero]
    if v.size > n_atoms:
        order = np.argsort(v)
        v, w = v[order], w[order]
        total = w.sum()
        mid = np.cumsum(w) - 0.5 * w
        b = np.minimum((mid / total * n_atoms).astype(int), n_atoms - 1)
        mass = np.bincount(b, weights=w, minlength=n_atoms)
        first = np.bincount(b, weights=w * v, minlength=n_atoms)
        filled = mass > 0
        v, w = first[filled] / mass[filled], mass[filled]
    if z_mass > 0.0:
        v, w = np.concatenate([[0.0], v]), np.concatenate([[z_mass], w])
    v, inverse = np.unique(v, return_inverse=True)  # equal values: one atom
    w = np.bincount(inverse, weights=w)
    return v, w / w.sum()


def _factors(activation, noise, depth, weights, q_star, readout, n_atoms=None, n_fine=512):
    """The free factors of ``J J^T`` for the critical network, and its critical point.

    Without ``n_atoms`` the factors carry their moments only (no atoms).
    """
    act, nz = parse_activation(activation), parse_noise(noise)
    cp = critical_point(act, nz, q_star=q_star)
    mu2, mu4, ev, ew = _noise_law(nz, n_fine)
    q = cp.q_star
    d2, d4 = derivative_second_moment(act, q), derivative_fourth_moment(act, q)
    dv, dw = _derivative_law(act, q, n_fine) if n_atoms is not None else (None, None)
    sw2 = cp.sigma_w**2

    def quantize(values, weights):
        return (None, None) if n_atoms is None else _quantize(values, weights, n_atoms)

    exact_noise = nz.kind != "gauss"  # dropout's eps^2 is two atoms; Gaussian's is continuous
    exact_act = act.piecewise_linear or act.name == "linear"  # phi'^2 is 0 or 1
    out = []
    if mu4 != 1.0:
        v, w = quantize(ev, ew)
        out.append(_Factor("input noise eps^2", 1, "atoms", mu2, mu4, v, w, exact_noise))
    n_w = depth + (1 if readout else 0)
    if weights == "orthogonal":
        out.append(_Factor("W^T W", n_w, "constant", sw2, sw2**2))
    else:
        out.append(_Factor("W^T W", n_w, "wishart", sw2, 2.0 * sw2**2))
    n_noisy = depth if readout else depth - 1
    if n_noisy > 0:
        v = w = None
        if n_atoms is not None:  # the law of phi'(h)^2 eps^2, h and eps independent
            v, w = _quantize(np.multiply.outer(dv, ev).ravel(),
                             np.multiply.outer(dw, ew).ravel(), n_atoms)
        out.append(_Factor("(phi' eps)^2", n_noisy, "atoms", d2 * mu2, d4 * mu4, v, w,
                           exact_noise and exact_act))
    if not readout:
        v, w = quantize(dv, dw)
        out.append(_Factor("phi'^2", 1, "atoms", d2, d4, v, w, exact_act))
    return out, cp


def _product_atoms(factors) -> list[tuple[float, float]]:
    """The atoms of the free product at positive locations.

    Belinschi (2003): ``mu ⊠ nu({ab}) = mu({a}) + nu({b}) - 1`` when positive, and no atom
    at ``ab != 0`` otherwise; over all factors, an atom at ``prod a_f^{n_f}`` of mass
    ``1 - sum_f n_f (1 - m_f)`` for every choice of atoms ``(a_f, m_f)`` that makes it
    positive. E.g. critical shifted ReLU without noise, orthogonal weights:
    ``1 - L (1 - p)`` of the singular values sit exactly at ``sigma_w^{L+1}`` when
    ``p > (L - 1) / L``: the directions that every layer passes unchanged.
    """
    options = []
    for f in factors:
        atoms = f.positive_atoms()
        if atoms is None:
            return []
        options.append([(a**f.count, f.count * (1.0 - m)) for a, m in atoms
                        if f.count * (1.0 - m) < 1.0])
    out = []
    for combo in itertools.product(*options):
        mass = 1.0 - sum(d for _, d in combo)
        if mass > 1e-12:
            out.append((math.prod(a for a, _ in combo), mass))
    return out


def _check(depth, weights):
    depth = check_int(depth, "depth", 1)
    check_choice(weights, "weights", _WEIGHT_LAWS)
    return depth


def jacobian_moments(
    activation="relu", noise=None, *, depth: int, weights: str = "gaussian",
    q_star: float | None = None, readout: bool = True,
) -> JacobianMoments:
    """Mean and variance of the eigenvalues of ``J J^T`` for the critical noisy network.

    ``J = d output / d input`` of ``mlp(N, N, depth, N, activation, noise)`` in the wide
    limit, noise masks of one forward pass held fixed, input on the fixed point ``q*``
    (see the module docstring for the derivation):
    ``mean = 1 / E[phi'^2]`` and ``var / mean^2 = depth (mu4 E[phi'^4] / (mu2 E[phi'^2])^2
    - 1) + (mu4 / mu2^2 - 1) + (depth + 1) [Gaussian weights]``.

    Parameters
    ----------
    activation, noise : str or spec
        As for :func:`svccakit.meanfield.critical_point`; the noise must have a law
        (``none``, ``dropout:P`` or ``gauss:SIGMA``).
    depth : int
        Number of hidden layers ``L`` (>= 1).
    weights : {"gaussian", "orthogonal"}
    q_star : float, optional
        Variance fixed point (default 1).
    readout : bool
        Include the readout layer ``out`` (and the noise before it) in ``J``; without it
        ``J = d x^L / d x^0``.

    Returns
    -------
    JacobianMoments
        ``mean`` and ``variance`` of the spectrum.
    """
    depth = _check(depth, weights)
    factors, _ = _factors(activation, noise, depth, weights, q_star, bool(readout))
    mean = math.prod(f.mean**f.count for f in factors)
    spread = sum(f.count * f.spread for f in factors)
    return JacobianMoments(mean=mean, variance=mean**2 * spread)


@dataclass(frozen=True)
class JacobianDensity:
    """The spectral density of ``J J^T`` from free multiplicative convolution.

    Attributes
    ----------
    eigenvalues : ndarray of shape (n_points,)
        Where the density is evaluated (``lambda > 0``, ascending).
    density : ndarray of shape (n_points,)
        Density of the continuous part at each eigenvalue (per unit ``lambda``).
    zero_mass : float
        Mass of the atom at ``lambda = 0`` (singular values exactly 0), not in ``density``.
    moments : JacobianMoments
        The exact mean and variance (:func:`jacobian_moments`).
    atoms : tuple of (float, float)
        ``(eigenvalue, mass)`` of atoms at positive eigenvalues, not in ``density``: the
        directions every layer passes unchanged, when there are enough of them
        (Belinschi 2003; see ``_product_atoms``); empty for Gaussian weights and continuous noise.
    """

    eigenvalues: np.ndarray
    density: np.ndarray
    zero_mass: float
    moments: JacobianMoments
    atoms: tuple[tuple[float, float], ...] = ()

    @property
    def log10_singular_values(self) -> np.ndarray:
        """``y = log10 s = log10(lambda) / 2`` at each point, shape (n_points,)."""
        return 0.5 * np.log10(self.eigenvalues)

    @property
    def log10_singular_value_density(self) -> np.ndarray:
        """Density of ``y = log10 s`` (per unit ``y``): ``rho(lambda) * 2 ln(10) lambda``."""
        return self.density * self.eigenvalues * 2.0 * math.log(10.0)


def jacobian_density(
    activation="relu", noise=None, *, depth: int, weights: str = "orthogonal",
    q_star: float | None = None, readout: bool = True, eigenvalues=None, n_atoms: int = 128,
) -> JacobianDensity:
    """Spectral density of ``J J^T`` (the squared singular values of ``J``) in the wide limit.

    Same network and parameters as :func:`jacobian_moments`; the density is the free
    multiplicative convolution of the factors' laws, solved numerically through their
    S-transforms (module docstring).

    Parameters
    ----------
    eigenvalues : array-like of shape (n_points,), optional
        Positive eigenvalues at which to evaluate the density; default 400 points, log-spaced
        over 16 decades below and 3 above the mean.
    n_atoms : int
        Atoms representing each continuous factor law (smooth activations, Gaussian noise).

    Returns
    -------
    JacobianDensity
    """
    depth = _check(depth, weights)
    n_atoms = check_int(n_atoms, "n_atoms", 8)
    factors, _ = _factors(activation, noise, depth, weights, q_star, bool(readout), n_atoms=n_atoms)
    mean = math.prod(f.mean**f.count for f in factors)
    spread = sum(f.count * f.spread for f in factors)
    if eigenvalues is None:
        lam = mean * np.logspace(-16.0, 3.0, 400)
    else:
        lam = np.asarray(eigenvalues, dtype=float)
        if lam.ndim != 1 or lam.size == 0 or not np.all(np.isfinite(lam)) or np.any(lam <= 0):
            raise ValueError(
                f"eigenvalues: expected a non-empty 1-D array of positive finite numbers, "
                f"got shape {lam.shape} with min {lam.min() if lam.size else None!r}"
            )
    top = mean * (1.0 + spread) * 10.0
    atoms = [(0.0, max(f.zero_mass for f in factors)), *_product_atoms(factors)]
    rho = [_smoothed_density(psi, lam, eta, atoms)
           for psi, eta in _solve_psi(factors, lam, top)]
    # Poisson smoothing at height eta adds a term linear in eta (the far mass's tail,
    # ~ eta / lambda^2): extrapolate eta -> 0 from eta and eta / 2 (Richardson)
    rho = 2.0 * rho[1] - rho[0]
    return JacobianDensity(lam, np.maximum(rho, 0.0), atoms[0][1],
                           JacobianMoments(mean=mean, variance=mean**2 * spread),
                           tuple(atoms[1:]))


def _smoothed_density(psi, lam, eta, atoms):
    """``-Im G(lambda + i eta) / pi`` less the atoms' Lorentzians, ``G = (1 + psi) / zeta``."""
    zeta = lam + 1j * eta
    g = (1.0 + psi) / zeta
    rho = -g.imag
    for loc, mass in atoms:
        rho = rho - mass * eta / ((lam - loc) ** 2 + eta**2)
    return rho / math.pi


def _psi_atoms(values, weights, w):
    """``psi(w) = sum_k pi_k a_k w / (1 - a_k w)`` and its derivative, for ``w`` of shape (M,)."""
    r = 1.0 / (1.0 - np.multiply.outer(w, values))  # (M, K)
    # elementwise sums, not BLAS: a threaded matrix-vector product on these small
    # complex arrays is ~100x slower on a busy machine
    psi = (r * weights).sum(axis=1) - 1.0  # sum pi (1/(1 - a w) - 1); weights sum to 1
    dpsi = (r * r * (weights * values)).sum(axis=1)
    return psi, dpsi


def _residual(u, log_z, atoms, n_f, n_mp, log_c):
    """Residuals and Jacobian of the S-transform system at ``z``, for ``u = (psi, w_1, ...)``.

    ``r_0 = log(psi S(psi) / (1 + psi)) - log z`` (imaginary part wrapped to (-pi, pi]) and
    ``r_j = psi_j(w_j) - psi``.
    """
    m, n_u = u.shape
    psi = u[:, 0]
    res = np.empty((m, n_u), dtype=complex)
    jac = np.zeros((m, n_u, n_u), dtype=complex)
    lp, l1p = np.log(psi), np.log1p(psi)
    r0 = lp - l1p + log_c - n_mp * l1p - log_z
    d0 = 1.0 / psi - (1.0 + n_mp) / (1.0 + psi) + n_f.sum() * (1.0 / (1.0 + psi) - 1.0 / psi)
    for j, f in enumerate(atoms):
        w = u[:, 1 + j]
        r0 = r0 + n_f[j] * (np.log(w) + l1p - lp)
        jac[:, 0, 1 + j] = n_f[j] / w
        pw, dpw = _psi_atoms(f.values, f.weights, w)
        res[:, 1 + j] = pw - psi
        jac[:, 1 + j, 0] = -1.0
        jac[:, 1 + j, 1 + j] = dpw
    res[:, 0] = r0.real + 1j * (np.mod(r0.imag + math.pi, 2 * math.pi) - math.pi)
    jac[:, 0, 0] = d0
    return res, jac


def _solve_psi(factors, lam, top, rel_eta=1e-3, per_decade=6, max_newton=30):
    """``psi_{JJ^T}(1 / (lam + i eta))`` by Newton continuation in ``eta`` (module docstring).

    Yields ``(psi, eta)`` (each of shape (M,)) at ``eta = rel_eta * lam`` and at half that.
    """
    atoms = [f for f in factors if f.kind == "atoms"]
    log_const = -sum(f.count * math.log(f.mean) for f in factors if f.kind == "constant")
    wish = [f for f in factors if f.kind == "wishart"]
    n_mp = sum(f.count for f in wish)
    log_mp = -sum(f.count * math.log(f.mean) for f in wish)
    n_f = np.array([f.count for f in atoms], dtype=float)
    mean = math.prod(f.mean**f.count for f in factors)
    m = lam.size
    n_u = 1 + len(atoms)
    eta_end = 0.5 * rel_eta * lam  # the last step halves eta (for the extrapolation)
    eta_start = 1e3 * max(top, float(lam.max()))
    n_steps = int(math.ceil(per_decade * math.log10(eta_start / eta_end.min()))) + 1
    tau = np.linspace(0.0, 1.0, n_steps - 1)
    log_eta = np.log(eta_start) * (1 - tau[:, None]) + np.log(2.0 * eta_end)[None, :] * tau[:, None]
    log_eta = np.vstack([log_eta, np.log(eta_end)])
    zeta = lam + 1j * np.exp(log_eta[0])
    psi = mean / zeta  # psi(z) ~ mean * z for small z
    u = np.empty((m, n_u), dtype=complex)
    u[:, 0] = psi
    for j, f in enumerate(atoms):
        u[:, 1 + j] = psi / f.mean
    for step in range(n_steps):
        zeta = lam + 1j * np.exp(log_eta[step])
        active = np.arange(m)
        for _ in range(max_newton):
            ua = u[active]
            res, jac = _residual(ua, -np.log(zeta[active]), atoms, n_f, n_mp, log_const + log_mp)
            delta = np.linalg.solve(jac, -res[..., None])[..., 0]
            # damp steps that would move a variable by more than half its size
            ratio = (np.abs(delta) / np.maximum(np.abs(ua), 1e-300)).max(axis=1)
            scale = np.minimum(1.0, 0.5 / np.maximum(ratio, 1e-300))
            u[active] = ua + scale[:, None] * delta
            done = (ratio <= 1e-10) | (np.abs(res).max(axis=1) <= 1e-13)
            active = active[~done]
            if active.size == 0:
                break
        if step >= n_steps - 2:
            yield u[:, 0].copy(), np.exp(log_eta[step])
