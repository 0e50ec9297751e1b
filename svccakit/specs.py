"""Activation and noise specifications shared by the mean-field theory and the networks.

numpy only (no torch). :class:`Activation` names an elementwise activation (ReLU, the shifted
ReLU ``phi(x) = max(0, x + alpha) - alpha``, ``tanh``, ``erf``, ``linear``); :class:`Noise`
describes the noise injected before every linear layer by its second moment
``mu2 = E[eps^2]`` (multiplicative, ``E[eps] = 1``) or its variance (additive, ``E[eps] = 0``).
:func:`parse_activation` and :func:`parse_noise` read the string forms used by the
configuration files and the command line, so a network (:mod:`svccakit.nets`) and its theory
(:mod:`svccakit.meanfield`) read the same specification. All names are re-exported by
:mod:`svccakit.meanfield`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "ACTIVATIONS",
    "NOISE_KINDS",
    "Activation",
    "Noise",
    "parse_activation",
    "parse_noise",
]

ACTIVATIONS = ("relu", "shifted-relu", "tanh", "erf", "linear")
NOISE_KINDS = ("none", "dropout", "gauss", "mu2", "additive-gauss", "additive-laplace")


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
