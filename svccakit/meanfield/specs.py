"""Activation and noise specifications shared by the mean-field theory and the networks.

numpy only (torch is imported only to build a module). :data:`ACTIVATION_TABLE` is the one
table of activations: each entry holds the numpy ``phi`` and ``phi'`` the theory
integrates and the torch module the networks use, so the two cannot disagree. :class:`Activation` names an elementwise activation (ReLU, the shifted
ReLU ``phi(x) = max(0, x + alpha) - alpha``, ``tanh``, ``erf``, ``linear``); :class:`Noise`
describes the noise injected before every linear layer by its second moment
``mu2 = E[eps^2]`` (multiplicative, ``E[eps] = 1``) or its variance (additive, ``E[eps] = 0``).
:func:`parse_activation` and :func:`parse_noise` read the string forms used by the
configuration files and the command line, so a network (:mod:`svccakit.nets`) and its theory
(:mod:`svccakit.meanfield`) read the same specification. All names are re-exported by
:mod:`svccakit.meanfield`.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import special

from svccakit._validate import check_real

__all__ = [
    "ACTIVATIONS",
    "ACTIVATION_TABLE",
    "ActivationKind",
    "NOISE_KINDS",
    "Activation",
    "Noise",
    "parse_activation",
    "parse_noise",
]



@dataclass(frozen=True)
class ActivationKind:
    """One entry of :data:`ACTIVATION_TABLE`.

    Attributes
    ----------
    name : str
        The spec name (``"shifted-relu"``).
    form : str
        How a spec is written (``"shifted-relu:ALPHA"``).
    takes_alpha : bool
        Whether the spec carries a shift ``alpha``.
    piecewise_linear : bool
        ``phi'`` is 0 or 1 (closed-form expectations apply).
    phi, dphi : callable
        ``phi(x, alpha)`` and ``phi'(x, alpha)`` on numpy arrays.
    module : str or None
        ``"package.module:Class"`` of the torch module computing ``phi`` (constructed
        with ``alpha`` when ``takes_alpha``), or ``None`` when there is none.
    """

    name: str
    form: str
    takes_alpha: bool
    piecewise_linear: bool
    phi: Callable[[np.ndarray, float], np.ndarray]
    dphi: Callable[[np.ndarray, float], np.ndarray]
    module: str | None

    def module_class(self):
        """The torch module class (imports torch), or ``None``."""
        if self.module is None:
            return None
        path, _, name = self.module.partition(":")
        return getattr(importlib.import_module(path), name)


def _shifted_relu(x, alpha):
    return np.maximum(x + alpha, 0.0) - alpha


def _shifted_relu_grad(x, alpha):
    return (x > -alpha).astype(float)


ACTIVATION_TABLE: dict[str, ActivationKind] = {
    kind.name: kind for kind in (
        ActivationKind("relu", "relu", False, True, _shifted_relu, _shifted_relu_grad,
                       "torch.nn:ReLU"),
        ActivationKind("shifted-relu", "shifted-relu:ALPHA", True, True, _shifted_relu,
                       _shifted_relu_grad, "svccakit.meanfield.nets:ShiftedReLU"),
        ActivationKind("tanh", "tanh", False, False, lambda x, a: np.tanh(x),
                       lambda x, a: 1.0 - np.tanh(x) ** 2, "torch.nn:Tanh"),
        ActivationKind("erf", "erf", False, False, lambda x, a: special.erf(x),
                       lambda x, a: 2.0 / math.sqrt(math.pi) * np.exp(-(x**2)),
                       "svccakit.meanfield.nets:Erf"),
        ActivationKind("linear", "linear", False, False, lambda x, a: x,
                       lambda x, a: np.ones_like(x), None),
    )
}
"""Every activation, by spec name: numpy ``phi``/``phi'`` and the torch module."""

ACTIVATIONS = tuple(ACTIVATION_TABLE)
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
        if self.name not in ACTIVATION_TABLE:
            raise ValueError(
                f"activation: expected one of {', '.join(ACTIVATIONS)}, got {self.name!r}"
            )
        if not math.isfinite(self.alpha):
            raise ValueError(f"activation alpha: expected a finite number, got {self.alpha!r}")
        if not ACTIVATION_TABLE[self.name].takes_alpha and self.alpha != 0.0:
            raise ValueError(f"activation alpha: only shifted-relu takes alpha, got {self!r}")

    @property
    def kind(self) -> ActivationKind:
        """Its entry of :data:`ACTIVATION_TABLE`."""
        return ACTIVATION_TABLE[self.name]

    @property
    def piecewise_linear(self) -> bool:
        """True for ReLU and the shifted ReLU (derivative 0 or 1)."""
        return self.kind.piecewise_linear

    def phi(self, x):
        """``phi(x)`` on a numpy array."""
        return self.kind.phi(x, self.alpha)

    def dphi(self, x):
        """``phi'(x)`` on a numpy array."""
        return self.kind.dphi(x, self.alpha)

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
    return check_real(value, name)


def _nonnegative(value, name: str) -> float:
    return check_real(value, name, low=0.0)


def _spec_number(text: str, spec: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{what} {spec!r}: expected a number after ':', got {text!r}") from None


def parse_activation(spec: str | Activation) -> Activation:
    """Parse an activation spec: ``"relu"``, ``"shifted-relu:ALPHA"``, ``"tanh"``, ``"erf"``
    or ``"linear"`` (see :data:`ACTIVATION_TABLE`); case and surrounding spaces are ignored."""
    if isinstance(spec, Activation):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"activation: expected a string or Activation, got {type(spec).__name__}")
    name, sep, arg = spec.strip().lower().partition(":")
    kind = ACTIVATION_TABLE.get(name.strip())
    if kind is None or (sep and not kind.takes_alpha):
        forms = ", ".join(k.form for k in ACTIVATION_TABLE.values())
        raise ValueError(f"activation: expected one of {forms}, got {spec!r}")
    if kind.takes_alpha:
        if not sep:
            raise ValueError(f"activation {spec!r}: {kind.name} needs a shift, e.g. "
                             f"'{kind.name}:0.5'")
        return Activation(kind.name, _spec_number(arg, spec, "activation"))
    return Activation(kind.name)


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
