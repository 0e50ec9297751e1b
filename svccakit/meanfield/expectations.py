"""Gaussian expectations of an activation and of its derivative, for the mean-field maps.

numpy/scipy only (no torch). With ``z ~ N(0, 1)`` and ``(u_1, u_2)`` centred Gaussian of
variances ``q1, q2`` and correlation ``c``: :func:`second_moment` ``E[phi(sqrt(q) z)^2]``,
:func:`derivative_second_moment` ``E[phi'(sqrt(q) z)^2]``,
:func:`derivative_fourth_moment` ``E[phi'(sqrt(q) z)^4]``, :func:`cross_moment`
``E[phi(u_1) phi(u_2)]``, :func:`derivative_cross_moment` ``E[phi'(u_1) phi'(u_2)]`` and
:func:`p_active` (the fraction of shifted-ReLU units in their linear regime).
Each activation's ``phi`` and ``phi'`` come from :data:`svccakit.meanfield.specs.ACTIVATION_TABLE`.

Expectations for ReLU and the shifted ReLU ``phi(x) = max(0, x + alpha) - alpha`` use exact
closed forms: univariate truncated-normal moments, and for the bivariate moments the
truncated bivariate normal moments of Rosenbaum (1961) with the bivariate normal orthant
probability written through Owen's T function (``scipy.special.owens_t``). Smooth functions
(``tanh``, ``erf``, ``linear``) use Gauss-Hermite quadrature (101 nodes per dimension).
All names are re-exported by :mod:`svccakit.meanfield`.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from svccakit._validate import check_real
from svccakit.meanfield.specs import parse_activation

__all__ = [
    "second_moment",
    "derivative_second_moment",
    "derivative_fourth_moment",
    "cross_moment",
    "derivative_cross_moment",
    "p_active",
]

_SQRT2 = math.sqrt(2.0)
_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(101)
_GH_W = _GH_W / math.sqrt(2.0 * math.pi)


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
    return check_real(q, name, low=0.0, low_open=True)


def p_active(alpha: float, q: float) -> float:
    """``p(q) = P(h > -alpha) = 1/2 erfc(-alpha / sqrt(2 q))`` for ``h ~ N(0, q)``.

    The fraction of shifted-ReLU units in their linear regime (Pennington et al. 2017).
    """
    q = _check_q(q)
    return 0.5 * math.erfc(-check_real(alpha, "alpha") / math.sqrt(2.0 * q))


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
    return float(np.sum(_GH_W * act.phi(math.sqrt(q) * _GH_X) ** 2))


def derivative_second_moment(activation, q: float) -> float:
    """``E_z[phi'(sqrt(q) z)^2]``; for the (shifted) ReLU this is :func:`p_active`."""
    act = parse_activation(activation)
    q = _check_q(q)
    if act.piecewise_linear:
        return p_active(act.alpha, q)
    return float(np.sum(_GH_W * act.dphi(math.sqrt(q) * _GH_X) ** 2))


def derivative_fourth_moment(activation, q: float) -> float:
    """``E_z[phi'(sqrt(q) z)^4]``; for the (shifted) ReLU (``phi'`` is 0 or 1) this is
    :func:`p_active`, as for the second moment. It sets the spread of a layer's factor in the
    Jacobian spectrum (:mod:`svccakit.meanfield.jacobian`)."""
    act = parse_activation(activation)
    q = _check_q(q)
    if act.piecewise_linear:
        return p_active(act.alpha, q)
    return float(np.sum(_GH_W * act.dphi(math.sqrt(q) * _GH_X) ** 4))


def _check_c(c):
    return check_real(c, "c", low=-1.0, high=1.0)


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
    return float(np.sum(w * act.phi(u1) * act.phi(u2)))


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
    return float(np.sum(w * act.dphi(u1) * act.dphi(u2)))
