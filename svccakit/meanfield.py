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

Expectations for ReLU and the shifted ReLU ``phi(x) = max(0, x + alpha) - alpha`` use exact
closed forms: univariate truncated-normal moments, and for the bivariate moments the
truncated bivariate normal moments of Rosenbaum (1961) with the bivariate normal orthant
probability written through Owen's T function (``scipy.special.owens_t``). Smooth functions
(``tanh``, ``erf``, ``linear``) use Gauss-Hermite quadrature (101 nodes per dimension).

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
from scipy import optimize, special

__all__ = [
    "Activation",
    "Noise",
    "CriticalPoint",
    "JacobianMoments",
    "NoCriticalPointError",
    "parse_activation",
    "parse_noise",
    "second_moment",
    "derivative_second_moment",
    "cross_moment",
    "derivative_cross_moment",
    "p_active",
    "variance_map",
    "variance_iteration",
    "variance_fixed_point",
    "chi_1",
    "phase",
    "correlation_map",
    "correlation_iteration",
    "correlation_fixed_point",
    "chi_c",
    "depth_scale",
    "float32_depth",
    "critical_point",
    "jacobian_spectrum_moments",
]

ACTIVATIONS = ("relu", "shifted-relu", "tanh", "erf", "linear")
NOISE_KINDS = ("none", "dropout", "gauss", "mu2", "additive-gauss", "additive-laplace")
DEFAULT_Q_STAR = 1.0

_SQRT2 = math.sqrt(2.0)
_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(101)
_GH_W = _GH_W / math.sqrt(2.0 * math.pi)


class NoCriticalPointError(ValueError):
    """Raised when an activation/noise pair has no critical initialisation."""


# ----------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class Activation:
    """An elementwise activation function.

    Attributes
    ----------
    name : {"relu", "shifted-relu", "tanh", "erf", "linear"}
    alpha : float
        Shift of the shifted ReLU ``phi(x) = max(0, x + alpha) - alpha``; 0 otherwise.
    """

    name: str
    alpha: float = 0.0

    def __post_init__(self):
        if self.name not in ACTIVATIONS:
            raise ValueError(
                f"activation: expected one of {', '.join(ACTIVATIONS)}, got {self.name!r}"
            )
        if not math.isfinite(self.alpha):
            raise ValueError(f"activation alpha: expected a finite number, got {self.alpha!r}")
        if self.name != "shifted-relu" and self.alpha != 0.0:
            raise ValueError(f"activation alpha: only shifted-relu takes alpha, got {self!r}")

    @property
    def piecewise_linear(self) -> bool:
        """True for ReLU and the shifted ReLU (derivative 0 or 1)."""
        return self.name in ("relu", "shifted-relu")

    @property
    def spec(self) -> str:
        """The string form accepted by :func:`parse_activation`."""
        return f"shifted-relu:{self.alpha!r}" if self.name == "shifted-relu" else self.name


@dataclass(frozen=True)
class Noise:
    """Noise injected before every linear layer.

    Attributes
    ----------
    kind : {"none", "dropout", "gauss", "mu2", "additive-gauss", "additive-laplace"}
    p : float or None
        Dropout keep rate in (0, 1] (``kind == "dropout"``).
    sigma : float or None
        Standard deviation of multiplicative Gaussian noise ``eps ~ N(1, sigma^2)``
        (``"gauss"``), of additive Gaussian noise (``"additive-gauss"``), or the scale ``b``
        of additive Laplace noise (``"additive-laplace"``, variance ``2 b^2``).
    mu2 : float
        Second moment ``E[eps^2]`` of multiplicative noise (1 for none/additive).
    additive_variance : float
        Variance of additive noise (0 for none/multiplicative).
    """

    kind: str = "none"
    p: float | None = None
    sigma: float | None = None
    mu2: float = 1.0
    additive_variance: float = 0.0

    def __post_init__(self):
        if self.kind not in NOISE_KINDS:
            raise ValueError(f"noise: expected one of {', '.join(NOISE_KINDS)}, got {self.kind!r}")
        if not (math.isfinite(self.mu2) and self.mu2 >= 1.0):
            raise ValueError(f"noise mu2: expected a finite number >= 1, got {self.mu2!r}")
        if not (math.isfinite(self.additive_variance) and self.additive_variance >= 0.0):
            raise ValueError(
                f"noise additive_variance: expected a finite number >= 0, "
                f"got {self.additive_variance!r}"
            )

    @classmethod
    def none(cls) -> Noise:
        return cls("none")

    @classmethod
    def dropout(cls, p: float) -> Noise:
        """Dropout with keep rate ``p`` in (0, 1]: ``mu2 = 1 / p``."""
        p = _number(p, "dropout keep rate p")
        if not 0.0 < p <= 1.0:
            raise ValueError(f"dropout keep rate p: expected 0 < p <= 1, got {p!r}")
        return cls("dropout", p=p, mu2=1.0 / p)

    @classmethod
    def gauss(cls, sigma: float) -> Noise:
        """Multiplicative Gaussian noise ``eps ~ N(1, sigma^2)``: ``mu2 = 1 + sigma^2``."""
        sigma = _nonnegative(sigma, "gauss noise sigma")
        return cls("gauss", sigma=sigma, mu2=1.0 + sigma**2)

    @classmethod
    def from_mu2(cls, mu2: float) -> Noise:
        """Any multiplicative noise with ``E[eps] = 1`` and ``E[eps^2] = mu2 >= 1``."""
        return cls("mu2", mu2=_number(mu2, "noise mu2"))

    @classmethod
    def additive_gauss(cls, sigma: float) -> Noise:
        sigma = _nonnegative(sigma, "additive-gauss noise sigma")
        return cls("additive-gauss", sigma=sigma, additive_variance=sigma**2)

    @classmethod
    def additive_laplace(cls, b: float) -> Noise:
        b = _nonnegative(b, "additive-laplace noise scale b")
        return cls("additive-laplace", sigma=b, additive_variance=2.0 * b**2)

    @property
    def additive(self) -> bool:
        return self.kind.startswith("additive")

    @property
    def spec(self) -> str:
        """The string form accepted by :func:`parse_noise`."""
        if self.kind == "none":
            return "none"
        if self.kind == "dropout":
            return f"dropout:{self.p!r}"
        if self.kind == "mu2":
            return f"mu2:{self.mu2!r}"
        return f"{self.kind}:{self.sigma!r}"


def _number(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    return value


def _nonnegative(value, name: str) -> float:
    value = _number(value, name)
    if value < 0:
        raise ValueError(f"{name}: expected a number >= 0, got {value!r}")
    return value


def _spec_number(text: str, spec: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{what} {spec!r}: expected a number after ':', got {text!r}") from None


def parse_activation(spec: str | Activation) -> Activation:
    """Parse ``"relu"``, ``"shifted-relu:ALPHA"``, ``"tanh"``, ``"erf"`` or ``"linear"``."""
    if isinstance(spec, Activation):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"activation: expected a string or Activation, got {type(spec).__name__}")
    name, sep, arg = spec.strip().lower().partition(":")
    if name == "shifted-relu":
        if not sep:
            raise ValueError(f"activation {spec!r}: shifted-relu needs a shift, e.g. 'shifted-relu:0.5'")
        return Activation("shifted-relu", _spec_number(arg, spec, "activation"))
    if sep or name not in ACTIVATIONS:
        raise ValueError(
            f"activation: expected relu, shifted-relu:ALPHA, tanh, erf or linear, got {spec!r}"
        )
    return Activation(name)


def parse_noise(spec: str | Noise | None) -> Noise:
    """Parse ``None``/``"none"``, ``"dropout:P"`` (keep rate), ``"gauss:SIGMA"``, ``"mu2:M"``,
    ``"additive-gauss:SIGMA"`` or ``"additive-laplace:B"``."""
    if spec is None:
        return Noise.none()
    if isinstance(spec, Noise):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"noise: expected a string, Noise or None, got {type(spec).__name__}")
    kind, sep, arg = spec.strip().lower().partition(":")
    if kind == "none" and not sep:
        return Noise.none()
    makers = {
        "dropout": Noise.dropout,
        "gauss": Noise.gauss,
        "mu2": Noise.from_mu2,
        "additive-gauss": Noise.additive_gauss,
        "additive-laplace": Noise.additive_laplace,
    }
    if kind not in makers:
        raise ValueError(
            "noise: expected none, dropout:P, gauss:SIGMA, mu2:M, additive-gauss:SIGMA or "
            f"additive-laplace:B, got {spec!r}"
        )
    if not sep:
        raise ValueError(f"noise {spec!r}: {kind} needs a parameter, e.g. '{kind}:0.5'")
    return makers[kind](_spec_number(arg, spec, "noise"))


# ------------------------------------------------------------------ expectations


def _pdf(x):
    return math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def _cdf(x):
    return 0.5 * math.erfc(-x / _SQRT2)


def _sf(x):
    return 0.5 * math.erfc(x / _SQRT2)


def _owen_t(h, a):
    if math.isinf(a):
        return math.copysign(0.5 * _sf(abs(h)), a)
    return float(special.owens_t(h, a))


def _bvn_cdf(x, y, rho):
    """P(X < x, Y < y) for standard normals with correlation rho (Owen 1956)."""
    if rho >= 1.0:
        return _cdf(min(x, y))
    if rho <= -1.0:
        return max(0.0, _cdf(x) + _cdf(y) - 1.0)
    if x == 0.0 and y == 0.0:
        return 0.25 + math.asin(rho) / (2.0 * math.pi)
    r = math.sqrt((1.0 - rho) * (1.0 + rho))
    ax = (y - rho * x) / (x * r) if x != 0.0 else math.copysign(math.inf, y)
    ay = (x - rho * y) / (y * r) if y != 0.0 else math.copysign(math.inf, x)
    beta = 0.0 if (x * y > 0 or (x * y == 0 and x + y >= 0)) else 0.5
    return 0.5 * (_cdf(x) + _cdf(y)) - _owen_t(x, ax) - _owen_t(y, ay) - beta


def _check_q(q, name="q"):
    q = _number(q, name)
    if q <= 0:
        raise ValueError(f"{name}: expected a variance > 0, got {q!r}")
    return q


def _phi_np(act: Activation, x):
    if act.name == "tanh":
        return np.tanh(x)
    if act.name == "erf":
        return special.erf(x)
    if act.name == "linear":
        return x
    return np.maximum(x + act.alpha, 0.0) - act.alpha


def _dphi_np(act: Activation, x):
    if act.name == "tanh":
        return 1.0 - np.tanh(x) ** 2
    if act.name == "erf":
        return 2.0 / math.sqrt(math.pi) * np.exp(-(x**2))
    if act.name == "linear":
        return np.ones_like(x)
    return (x > -act.alpha).astype(float)


def p_active(alpha: float, q: float) -> float:
    """``p(q) = P(h > -alpha) = 1/2 erfc(-alpha / sqrt(2 q))`` for ``h ~ N(0, q)``.

    The fraction of shifted-ReLU units in their linear regime (Pennington et al. 2017).
    """
    q = _check_q(q)
    return 0.5 * math.erfc(-_number(alpha, "alpha") / math.sqrt(2.0 * q))


def second_moment(activation, q: float) -> float:
    """``E_z[phi(sqrt(q) z)^2]``, ``z ~ N(0, 1)``.

    Shifted ReLU (closed form), with ``a = alpha / sqrt(q)``:
    ``alpha^2 Phi(-a) + q (Phi(a) - a phi_N(a))`` (``q / 2`` for ReLU).
    """
    act = parse_activation(activation)
    q = _check_q(q)
    if act.piecewise_linear:
        a = act.alpha / math.sqrt(q)
        return act.alpha**2 * _cdf(-a) + q * (_cdf(a) - a * _pdf(a))
    return float(np.sum(_GH_W * _phi_np(act, math.sqrt(q) * _GH_X) ** 2))


def derivative_second_moment(activation, q: float) -> float:
    """``E_z[phi'(sqrt(q) z)^2]``; for the (shifted) ReLU this is :func:`p_active`."""
    act = parse_activation(activation)
    q = _check_q(q)
    if act.piecewise_linear:
        return p_active(act.alpha, q)
    return float(np.sum(_GH_W * _dphi_np(act, math.sqrt(q) * _GH_X) ** 2))


def _check_c(c):
    c = _number(c, "c")
    if not -1.0 <= c <= 1.0:
        raise ValueError(f"c: expected a correlation in [-1, 1], got {c!r}")
    return c


def _relu_pair(s1, s2, rho, alpha):
    """E[relu(s1 X + alpha) relu(s2 Y + alpha)], corr(X, Y) = rho (Rosenbaum 1961)."""
    h, k = -alpha / s1, -alpha / s2
    if rho >= 1.0:
        t = max(h, k)
        return s1 * s2 * (t * _pdf(t) + _sf(t)) + alpha * (s1 + s2) * _pdf(t) + alpha**2 * _sf(t)
    if rho <= -1.0:  # Y = -X: integrate over h < X < -k
        lo, hi = h, -k
        if hi <= lo:
            return 0.0
        i0 = _cdf(hi) - _cdf(lo)
        i1 = _pdf(lo) - _pdf(hi)
        i2 = i0 + lo * _pdf(lo) - hi * _pdf(hi)
        # (s1 x + alpha)(alpha - s2 x)
        return -s1 * s2 * i2 + alpha * (s1 - s2) * i1 + alpha**2 * i0
    r = math.sqrt((1.0 - rho) * (1.0 + rho))
    orth = _bvn_cdf(-h, -k, rho)  # P(X > h, Y > k)
    qk = _sf((k - rho * h) / r)
    qh = _sf((h - rho * k) / r)
    ex = _pdf(h) * qk + rho * _pdf(k) * qh
    ey = _pdf(k) * qh + rho * _pdf(h) * qk
    exy = rho * orth + rho * h * _pdf(h) * qk + rho * k * _pdf(k) * qh
    exy += r * _pdf(h) * _pdf((k - rho * h) / r)
    return s1 * s2 * (exy - k * ex - h * ey + h * k * orth)


def cross_moment(activation, q1: float, q2: float, c: float) -> float:
    """``E[phi(u_1) phi(u_2)]`` for centred Gaussians of variances ``q1, q2`` and correlation ``c``.

    Closed form for the (shifted) ReLU: ``phi(u) = relu(u + alpha) - alpha`` reduces it to
    ``E[relu(u_1+alpha) relu(u_2+alpha)] - alpha (m_1 + m_2) + alpha^2`` with
    ``m_i = alpha Phi(a_i) + sqrt(q_i) phi_N(a_i)``, ``a_i = alpha / sqrt(q_i)``, and the first
    term is a truncated bivariate normal moment (Rosenbaum 1961) whose orthant probability is
    written with Owen's T. For ReLU this is the arc-cosine kernel (Cho & Saul 2009)
    ``sqrt(q1 q2) (sqrt(1 - c^2) + (pi - arccos c) c) / (2 pi)``. Other activations: 2-D
    Gauss-Hermite quadrature.
    """
    act = parse_activation(activation)
    q1, q2, c = _check_q(q1, "q1"), _check_q(q2, "q2"), _check_c(c)
    s1, s2 = math.sqrt(q1), math.sqrt(q2)
    if act.piecewise_linear:
        a = act.alpha
        m1 = a * _cdf(a / s1) + s1 * _pdf(a / s1)
        m2 = a * _cdf(a / s2) + s2 * _pdf(a / s2)
        return _relu_pair(s1, s2, c, a) - a * (m1 + m2) + a * a
    z1, z2 = _GH_X[:, None], _GH_X[None, :]
    u1 = s1 * z1
    u2 = s2 * (c * z1 + math.sqrt(max(0.0, 1.0 - c * c)) * z2)
    w = _GH_W[:, None] * _GH_W[None, :]
    return float(np.sum(w * _phi_np(act, u1) * _phi_np(act, u2)))


def derivative_cross_moment(activation, q1: float, q2: float, c: float) -> float:
    """``E[phi'(u_1) phi'(u_2)]``; for the (shifted) ReLU the orthant probability
    ``Phi_2(alpha/sqrt(q1), alpha/sqrt(q2); c)`` (ReLU: ``1/4 + arcsin(c) / (2 pi)``)."""
    act = parse_activation(activation)
    q1, q2, c = _check_q(q1, "q1"), _check_q(q2, "q2"), _check_c(c)
    if act.piecewise_linear:
        return _bvn_cdf(act.alpha / math.sqrt(q1), act.alpha / math.sqrt(q2), c)
    z1, z2 = _GH_X[:, None], _GH_X[None, :]
    u1 = math.sqrt(q1) * z1
    u2 = math.sqrt(q2) * (c * z1 + math.sqrt(max(0.0, 1.0 - c * c)) * z2)
    w = _GH_W[:, None] * _GH_W[None, :]
    return float(np.sum(w * _dphi_np(act, u1) * _dphi_np(act, u2)))


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
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 1:
        raise ValueError(f"depth: expected an integer >= 1, got {depth!r}")
    return int(depth)


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
    """
    depth = _depth(depth)
    p = _number(p, "p")
    if not 0.0 < p <= 1.0:
        raise ValueError(f"p: expected 0 < p <= 1, got {p!r}")
    if weights not in ("gaussian", "orthogonal"):
        raise ValueError(f"weights: expected 'gaussian' or 'orthogonal', got {weights!r}")
    chi = _nonnegative(chi, "chi")
    s = (1.0 - p) / p + (1.0 if weights == "gaussian" else 0.0)
    return JacobianMoments(mean=chi**depth, variance=chi ** (2 * depth) * depth * s)
