"""Mean-field signal propagation in noisy (shifted-)ReLU networks: the theory.

numpy/scipy only (no torch). A noisy fully connected layer is

    h^l = W^l (x^{l-1} * eps^{l-1}) + b^l,    x^l = phi(h^l),

with ``W_ij ~ N(0, sigma_w^2 / fan_in)``, ``b_i ~ N(0, sigma_b^2)``, ``E[eps] = 1`` and
``mu2 = E[eps^2]`` (dropout with keep rate p: ``mu2 = 1/p``; multiplicative Gaussian
``eps ~ N(1, sigma^2)``: ``mu2 = 1 + sigma^2``). Additive noise ``x + eps`` with
``E[eps] = 0, Var[eps] = v`` adds ``sigma_w^2 v`` to the variance map instead.

Maps (Poole et al. 2016; Schoenholz et al. 2017; Pretorius et al. 2018, "Critical
initialisation for deep signal propagation in noisy rectifier neural networks"):

* variance map ``q^l = sigma_w^2 (mu2 E_z[phi(sqrt(q^{l-1}) z)^2] + v) + sigma_b^2``,
  first layer ``q^1 = sigma_w^2 (mu2 ||x^0||^2 / D_0 + v) + sigma_b^2``;
  slope at the fixed point ``chi_1 = sigma_w^2 mu2 E[phi'(sqrt(q*) z)^2]``;
* correlation map ``q_ab^l = sigma_w^2 E[phi(u_a) phi(u_b)] + sigma_b^2`` (no ``mu2``: two
  inputs see independent noise), ``c^l = q_ab^l / q^l``, with ``(u_a, u_b)`` centred
  Gaussian of variance ``q^{l-1}`` and correlation ``c^{l-1}``; slope
  ``chi(c) = sigma_w^2 E[phi'(u_a) phi'(u_b)]``; depth scale ``xi_c = -1 / ln chi(c*)``;
  trainable depth about ``6 xi_c`` (Schoenholz et al. 2017).

The Gaussian expectations these maps need (closed forms for the (shifted) ReLU via Owen's T,
Gauss-Hermite quadrature otherwise) live in :mod:`svccakit.meanfield.expectations`, the
activation and noise specifications in :mod:`svccakit.meanfield.specs`; the front door
:mod:`svccakit.meanfield` re-exports all three.

The Jacobian spectrum at criticality follows Pennington, Schoenholz & Ganguli (2017),
"Resurrecting the sigmoid in deep learning through dynamical isometry": for an activation
whose derivative is 0 or 1 with ``p = P(phi'(h) = 1)`` and ``sigma_w^2 p = 1``, the spectrum
of ``J J^T`` has mean 1 and variance ``L / p`` (Gaussian weights) or ``L (1 - p) / p``
(orthogonal weights).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import optimize

from svccakit._validate import check_int, check_real
from svccakit.exceptions import NoCriticalPointError
from svccakit.meanfield.expectations import (
    cross_moment,
    derivative_cross_moment,
    derivative_second_moment,
    second_moment,
)
from svccakit.meanfield.specs import (
    parse_activation,
    parse_noise,
)

__all__ = [
    "CriticalPoint",
    "DEFAULT_Q_STAR",
    "JacobianMoments",
    "chi_1",
    "chi_c",
    "correlation_fixed_point",
    "correlation_iteration",
    "correlation_map",
    "critical_point",
    "depth_scale",
    "float32_depth",
    "jacobian_spectrum_moments",
    "phase",
    "variance_fixed_point",
    "variance_iteration",
    "variance_map",
]

DEFAULT_Q_STAR = 1.0


# -------------------------------------------------------------------------- checks


def _nonnegative(value, name: str) -> float:
    return check_real(value, name, low=0.0)


def _check_q(q, name: str = "q") -> float:
    return check_real(q, name, low=0.0, low_open=True)


def _check_c(c) -> float:
    return check_real(c, "c", low=-1.0, high=1.0)


# -------------------------------------------------------------------------- maps


def _weights(sigma_w, sigma_b):
    return _nonnegative(sigma_w, "sigma_w"), _nonnegative(sigma_b, "sigma_b")


def variance_map(q: float, *, activation="relu", noise=None, sigma_w: float, sigma_b: float = 0.0) -> float:
    """One step of the variance map: ``sigma_w^2 (mu2 E[phi(sqrt(q) z)^2] + v) + sigma_b^2``.

    Pretorius et al. (2018), eq. for noisy layers; ``v`` is the additive-noise variance.
    """
    act, nz = parse_activation(activation), parse_noise(noise)
    sw, sb = _weights(sigma_w, sigma_b)
    return sw**2 * (nz.mu2 * second_moment(act, q) + nz.additive_variance) + sb**2


def _first_layer_q(x0_sq, nz, sw, sb):
    return sw**2 * (nz.mu2 * x0_sq + nz.additive_variance) + sb**2


def variance_iteration(
    x0_sq: float, depth: int, *, activation="relu", noise=None, sigma_w: float, sigma_b: float = 0.0
) -> np.ndarray:
    """Pre-activation variances ``q^1 .. q^depth`` for an input with ``||x^0||^2 / D_0 = x0_sq``.

    Returns
    -------
    q : ndarray of shape (depth,)
        ``q[l - 1]`` is the variance of ``h^l`` (``inf``/0 once float64 over/underflows).
    """
    act, nz = parse_activation(activation), parse_noise(noise)
    sw, sb = _weights(sigma_w, sigma_b)
    x0_sq = _nonnegative(x0_sq, "x0_sq")
    depth = _depth(depth)
    out = np.empty(depth)
    q = _first_layer_q(x0_sq, nz, sw, sb)
    for i in range(depth):
        out[i] = q
        if q <= 0 or not math.isfinite(q):
            out[i:] = q
            break
        q = variance_map(q, activation=act, noise=nz, sigma_w=sw, sigma_b=sb)
    return out


def _depth(depth):
    return check_int(depth, "depth", 1)


def variance_fixed_point(
    *, activation="relu", noise=None, sigma_w: float, sigma_b: float = 0.0, q0: float = 1.0,
    max_iter: int = 10_000, tol: float = 1e-12,
) -> float:
    """The stable fixed point ``q*`` of the variance map, by iteration from ``q0``.

    Returns ``0.0`` if the variance vanishes and ``inf`` if it grows without bound. For ReLU
    at ``sigma_w^2 mu2 / 2 = 1`` with no bias or additive noise every ``q`` is a fixed point
    and ``q0`` is returned.
    """
    act, nz = parse_activation(activation), parse_noise(noise)
    sw, sb = _weights(sigma_w, sigma_b)
    q = _check_q(q0, "q0")
    if act.name == "relu" or (act.name == "shifted-relu" and act.alpha == 0.0):
        slope, const = sw**2 * nz.mu2 / 2.0, sw**2 * nz.additive_variance + sb**2
        if slope < 1.0:
            return const / (1.0 - slope)
        if const == 0.0 and abs(slope - 1.0) <= 1e-12:
            return q
        return math.inf
    for _ in range(max_iter):
        new = variance_map(q, activation=act, noise=nz, sigma_w=sw, sigma_b=sb)
        if new > 1e150:
            return math.inf
        if new < 1e-150:
            return 0.0
        if abs(new - q) <= tol * q:
            return new
        q = new
    return q


def chi_1(q: float, *, activation="relu", noise=None, sigma_w: float) -> float:
    """Slope of the variance map: ``chi_1 = sigma_w^2 mu2 E[phi'(sqrt(q) z)^2]`` (at ``q = q*``)."""
    act, nz = parse_activation(activation), parse_noise(noise)
    sw = _nonnegative(sigma_w, "sigma_w")
    return sw**2 * nz.mu2 * derivative_second_moment(act, q)


def phase(
    *, activation="relu", noise=None, sigma_w: float, sigma_b: float = 0.0, rtol: float = 1e-6
) -> str:
    """Place an initialisation: ``"ordered"`` (``chi_1 < 1``, signals shrink), ``"critical"``
    (``|chi_1 - 1| <= rtol``) or ``"chaotic"`` (``chi_1 > 1``, signals grow), with ``chi_1``
    evaluated at the variance fixed point (ReLU: ``chi_1 = sigma_w^2 mu2 / 2`` for any q)."""
    act, nz = parse_activation(activation), parse_noise(noise)
    if act.piecewise_linear and act.alpha == 0.0:
        chi = chi_1(1.0, activation=act, noise=nz, sigma_w=sigma_w)  # the same for every q
        if abs(chi - 1.0) <= rtol:
            return "critical"
        return "ordered" if chi < 1.0 else "chaotic"
    qs = variance_fixed_point(activation=act, noise=nz, sigma_w=sigma_w, sigma_b=sigma_b)
    if math.isinf(qs):
        return "chaotic"
    if qs == 0.0:
        return "ordered"
    chi = chi_1(qs, activation=act, noise=nz, sigma_w=sigma_w)
    if abs(chi - 1.0) <= rtol:
        return "critical"
    return "ordered" if chi < 1.0 else "chaotic"


def correlation_map(c: float, q: float, *, activation="relu", noise=None, sigma_w: float, sigma_b: float = 0.0) -> float:
    """One step of the correlation map at input variance ``q`` (usually ``q*``):
    ``c' = (sigma_w^2 E[phi(u_a) phi(u_b)] + sigma_b^2) / variance_map(q)``."""
    act, nz = parse_activation(activation), parse_noise(noise)
    sw, sb = _weights(sigma_w, sigma_b)
    q_ab = sw**2 * cross_moment(act, q, q, c) + sb**2
    return q_ab / variance_map(q, activation=act, noise=nz, sigma_w=sw, sigma_b=sb)


def correlation_iteration(
    c0: float, depth: int, *, x0_sq: float = 1.0, activation="relu", noise=None,
    sigma_w: float, sigma_b: float = 0.0,
) -> np.ndarray:
    """Correlations ``c^1 .. c^depth`` of the pre-activations of two inputs with equal
    ``||x||^2 / D_0 = x0_sq`` and input correlation ``c0``, each with its own noise.

    First layer ``c^1 = (sigma_w^2 c0 x0_sq + sigma_b^2) / q^1``; then
    ``c^{l+1} = (sigma_w^2 E[phi(u_a) phi(u_b)] + sigma_b^2) / q^{l+1}`` with ``u`` at
    variance ``q^l`` and correlation ``c^l``.

    Returns
    -------
    c : ndarray of shape (depth,)
    """
    act, nz = parse_activation(activation), parse_noise(noise)
    sw, sb = _weights(sigma_w, sigma_b)
    c0 = _check_c(c0)
    depth = _depth(depth)
    x0_sq = _check_q(x0_sq, "x0_sq")
    q = _first_layer_q(x0_sq, nz, sw, sb)
    c = (sw**2 * c0 * x0_sq + sb**2) / q
    out = np.empty(depth)
    for i in range(depth):
        out[i] = c
        q_next = variance_map(q, activation=act, noise=nz, sigma_w=sw, sigma_b=sb)
        c = min(1.0, max(-1.0, (sw**2 * cross_moment(act, q, q, c) + sb**2) / q_next))
        q = q_next
    return out


def correlation_fixed_point(q: float, *, activation="relu", noise=None, sigma_w: float, sigma_b: float = 0.0) -> float:
    """The stable fixed point ``c*`` of :func:`correlation_map` at variance ``q`` (``q*``).

    Without noise ``c = 1`` is a fixed point and is returned unless it is unstable (then the
    root below 1 is returned); with multiplicative noise ``c* < 1`` (Pretorius et al. 2018).
    """
    kw = dict(activation=activation, noise=noise, sigma_w=sigma_w, sigma_b=sigma_b)

    def g(c):
        return correlation_map(c, q, **kw) - c

    g1 = g(1.0)
    if abs(g1) <= 1e-12:
        if g(1.0 - 1e-6) >= 0.0:
            return 1.0
        hi = 1.0 - 1e-6
    else:
        hi = 1.0
    if g(-1.0) <= 0.0:
        return -1.0
    return float(optimize.brentq(g, -1.0, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps))


def chi_c(c: float, q: float, *, activation="relu", sigma_w: float) -> float:
    """Slope of the correlation map: ``chi(c) = sigma_w^2 E[phi'(u_a) phi'(u_b)]``."""
    sw = _nonnegative(sigma_w, "sigma_w")
    return sw**2 * derivative_cross_moment(activation, q, q, c)


def depth_scale(chi: float) -> float:
    """``xi_c = -1 / ln chi`` (``inf`` for ``chi >= 1``) (Schoenholz et al. 2017)."""
    chi = _nonnegative(chi, "chi")
    if chi >= 1.0:
        return math.inf
    if chi == 0.0:
        return 0.0
    return -1.0 / math.log(chi)


def float32_depth(
    *, activation="relu", noise=None, sigma_w: float, sigma_b: float = 0.0, x0_sq: float = 1.0,
    max_depth: int = 100_000,
) -> int | None:
    """First layer ``l`` at which ``q^l`` leaves float32's normal range
    (``> finfo(float32).max`` or ``< finfo(float32).tiny``), or ``None`` within ``max_depth``.

    For ReLU without bias or additive noise ``q^l = (sigma_w^2 mu2 / 2)^{l-1} q^1`` and the
    depth is solved in closed form; otherwise the variance map is iterated.
    """
    act, nz = parse_activation(activation), parse_noise(noise)
    sw, sb = _weights(sigma_w, sigma_b)
    hi, lo = float(np.finfo(np.float32).max), float(np.finfo(np.float32).tiny)
    q1 = _first_layer_q(_nonnegative(x0_sq, "x0_sq"), nz, sw, sb)
    if q1 > hi or q1 < lo:
        return 1
    relu = act.piecewise_linear and act.alpha == 0.0
    if relu and sb == 0.0 and nz.additive_variance == 0.0:
        r = sw**2 * nz.mu2 / 2.0
        if r == 1.0:
            return None
        if r == 0.0:
            return 2
        limit = hi if r > 1.0 else lo
        # smallest l with r^(l-1) q1 beyond limit
        steps = math.floor(math.log(limit / q1) / math.log(r)) + 1
        depth = steps + 1
        return depth if depth <= max_depth else None
    q = q1
    for layer in range(2, max_depth + 1):
        q = variance_map(q, activation=act, noise=nz, sigma_w=sw, sigma_b=sb)
        if q > hi or q < lo:
            return layer
    return None


# ----------------------------------------------------------------- critical point


@dataclass(frozen=True)
class CriticalPoint:
    """A critical initialisation and what the theory says about it.

    Attributes
    ----------
    sigma_w, sigma_b : float
        Weight and bias standard deviations (weights ``N(0, sigma_w^2 / fan_in)``).
    mu2 : float
        Noise second moment ``E[eps^2]``.
    q_star : float
        Fixed point of the variance map.
    c_star : float
        Stable fixed point of the correlation map (1 without noise, < 1 with).
    chi_c : float
        Slope of the correlation map at ``c_star``.
    xi_c : float
        Correlation depth scale ``-1 / ln chi_c`` (``inf`` when ``chi_c = 1``).
    trainable_depth : float
        ``6 xi_c``.
    p : float
        ``E[phi'(h)^2]`` at ``q*``; for the (shifted) ReLU ``p(q*) = P(phi'(h) = 1)``.
    """

    sigma_w: float
    sigma_b: float
    mu2: float
    q_star: float
    c_star: float
    chi_c: float
    xi_c: float
    trainable_depth: float
    p: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def critical_point(activation, noise=None, q_star: float | None = None) -> CriticalPoint:
    """The critical initialisation (``chi_1 = 1`` at the variance fixed point ``q*``).

    * ReLU: ``(sigma_w, sigma_b) = (sqrt(2 / mu2), 0)``; every ``q`` is then a fixed point, and
      ``q_star`` (default 1) only fixes where ``c*`` and the report are evaluated (the ReLU
      correlation map does not depend on ``q``). Dropout: ``(sqrt(2 p), 0)``; Gaussian noise:
      ``(sqrt(2 / (sigma^2 + 1)), 0)`` (Pretorius et al. 2018).
    * Shifted ReLU (alpha > 0) and smooth activations at a chosen ``q*`` (default 1):
      ``sigma_w^2 = 1 / (mu2 E[phi'^2])`` (``= 1 / (mu2 p(q*))``) and
      ``sigma_b^2 = q* - sigma_w^2 mu2 E[phi(sqrt(q*) z)^2]``.

    Raises
    ------
    NoCriticalPointError
        For additive noise (it adds ``sigma_w^2 v`` every layer, so at ``chi_1 = 1`` the
        variance grows without bound), and when ``sigma_b^2`` would be negative (the shifted
        ReLU with alpha < 0).
    """
    act, nz = parse_activation(activation), parse_noise(noise)
    qs = DEFAULT_Q_STAR if q_star is None else _check_q(q_star, "q_star")
    if nz.additive:
        raise NoCriticalPointError(
            f"no critical point with additive noise ({nz.spec}): it adds sigma_w^2 * "
            f"{nz.additive_variance:g} to the variance every layer, so at chi_1 = 1 the "
            "variance map has no fixed point and grows without bound"
        )
    p = derivative_second_moment(act, qs)
    if p <= 0.0:
        raise NoCriticalPointError(
            f"no critical point for {act.spec} at q*={qs:g}: E[phi'^2] = 0 (no active units)"
        )
    sw2 = 1.0 / (nz.mu2 * p)
    if act.piecewise_linear and act.alpha == 0.0:
        sb2 = 0.0
    else:
        sb2 = qs - sw2 * nz.mu2 * second_moment(act, qs)
    if sb2 < -1e-12:
        hint = " (a shifted ReLU needs alpha > 0)" if act.name == "shifted-relu" else ""
        raise NoCriticalPointError(
            f"no critical point for {act.spec} with noise {nz.spec} at q*={qs:g}: it needs "
            f"sigma_b^2 = {sb2:.4g} < 0{hint}"
        )
    sw, sb = math.sqrt(sw2), math.sqrt(max(sb2, 0.0))
    cs = correlation_fixed_point(qs, activation=act, noise=nz, sigma_w=sw, sigma_b=sb)
    chi = chi_c(cs, qs, activation=act, sigma_w=sw)
    if cs == 1.0 and nz.mu2 == 1.0:
        chi = 1.0  # exact at criticality without noise; avoids 1 - 1e-16 round-off
    xi = depth_scale(chi)
    return CriticalPoint(
        sigma_w=sw, sigma_b=sb, mu2=nz.mu2, q_star=qs, c_star=cs, chi_c=chi, xi_c=xi,
        trainable_depth=6.0 * xi, p=p,
    )


# ------------------------------------------------------------------------ Jacobian


@dataclass(frozen=True)
class JacobianMoments:
    """Mean and variance of the eigenvalue spectrum of ``J J^T`` (squared singular values)."""

    mean: float
    variance: float


def jacobian_spectrum_moments(depth: int, p: float, weights: str = "gaussian", chi: float = 1.0) -> JacobianMoments:
    """Moments of the spectrum of ``J J^T`` for ``J = D^L W^L ... D^1 W^1`` (large width).

    For an activation with ``phi' in {0, 1}``, ``P(phi' = 1) = p`` and ``chi = sigma_w^2 p``,
    each layer contributes a free factor of mean ``chi`` and normalised variance
    ``(1 - p) / p`` (orthogonal weights) or ``(1 - p) / p + 1 = 1 / p`` (Gaussian weights:
    the Marchenko-Pastur factor adds 1). Normalised variances add under free multiplicative
    convolution, so ``mean = chi^L`` and ``variance = chi^(2L) L s`` — at criticality
    ``L / p`` (Gaussian) and ``L (1 - p) / p`` (orthogonal), as in Pennington, Schoenholz &
    Ganguli (2017). ReLU (p = 1/2): ``2 L`` and ``L``.

    This is the noise-free hidden-layer Jacobian ``d x^L / d x^0``; for a whole
    :func:`svccakit.meanfield.mlp` with its readout and noise masks, and for smooth
    activations, see :func:`svccakit.meanfield.jacobian_moments`.
    """
    depth = _depth(depth)
    p = check_real(p, "p")
    if not 0.0 < p <= 1.0:
        raise ValueError(f"p: expected 0 < p <= 1, got {p!r}")
    if weights not in ("gaussian", "orthogonal"):
        raise ValueError(f"weights: expected 'gaussian' or 'orthogonal', got {weights!r}")
    chi = _nonnegative(chi, "chi")
    s = (1.0 - p) / p + (1.0 if weights == "gaussian" else 0.0)
    return JacobianMoments(mean=chi**depth, variance=chi ** (2 * depth) * depth * s)
