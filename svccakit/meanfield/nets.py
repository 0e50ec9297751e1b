"""Torch building blocks for noisy (shifted-)ReLU networks and the MLP builder.

Activation and noise specifications are parsed by :func:`svccakit.meanfield.parse_activation`
and :func:`svccakit.meanfield.parse_noise`, so the network and its theory read the same
strings. :func:`describe_activation` / :func:`describe_noise` go the other way, from a module
to its specification (used by :func:`svccakit.init.critical_`).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from svccakit._validate import check_choice, check_int, check_real
from svccakit.meanfield.specs import (
    ACTIVATION_TABLE,
    Activation,
    Noise,
    parse_activation,
    parse_noise,
)

__all__ = [
    "ShiftedReLU",
    "Erf",
    "GaussianNoise",
    "AdditiveNoise",
    "mlp",
    "activation_module",
    "noise_module",
    "describe_activation",
    "describe_noise",
]


class ShiftedReLU(nn.Module):
    """Generalised shifted ReLU ``phi(x) = max(0, x + alpha) - alpha`` (elementwise).

    Input and output of any shape.
    """

    def __init__(self, alpha: float):
        super().__init__()
        self.alpha = check_real(alpha, "ShiftedReLU alpha")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.alpha) - self.alpha

    def extra_repr(self) -> str:
        return f"alpha={self.alpha:g}"


class Erf(nn.Module):
    """``phi(x) = erf(x)`` (elementwise)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.erf(x)


def _check_sigma(sigma, name):
    return check_real(sigma, name, low=0.0)


class GaussianNoise(nn.Module):
    """Multiplicative Gaussian noise ``x * eps``, ``eps ~ N(1, sigma^2)`` i.i.d. per element.

    Active in train mode only (identity in eval mode), like :class:`torch.nn.Dropout`.
    ``E[eps] = 1``, ``mu2 = E[eps^2] = 1 + sigma^2``.
    """

    def __init__(self, sigma: float):
        super().__init__()
        self.sigma = _check_sigma(sigma, "GaussianNoise sigma")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.sigma == 0.0:
            return x
        return x * (1.0 + self.sigma * torch.randn_like(x))

    def extra_repr(self) -> str:
        return f"sigma={self.sigma:g}"


class AdditiveNoise(nn.Module):
    """Additive noise ``x + eps`` in train mode (identity in eval mode).

    ``distribution="gauss"``: ``eps ~ N(0, sigma^2)``; ``"laplace"``: ``eps ~ Laplace(0, b)``
    with scale ``b = sigma`` (variance ``2 sigma^2``).
    """

    def __init__(self, sigma: float, distribution: str = "gauss"):
        super().__init__()
        check_choice(distribution, "AdditiveNoise distribution", ("gauss", "laplace"))
        self.sigma = _check_sigma(sigma, "AdditiveNoise sigma")
        self.distribution = distribution

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.sigma == 0.0:
            return x
        if self.distribution == "gauss":
            return x + self.sigma * torch.randn_like(x)
        u = torch.rand_like(x) - 0.5  # inverse-CDF Laplace sample
        return x - self.sigma * torch.sign(u) * torch.log1p(-2.0 * u.abs())

    def extra_repr(self) -> str:
        return f"sigma={self.sigma:g}, distribution={self.distribution!r}"


def activation_module(spec: str | Activation | nn.Module) -> nn.Module:
    """A fresh activation module for a spec of
    :data:`~svccakit.meanfield.specs.ACTIVATION_TABLE` (``"relu"``, ``"shifted-relu:ALPHA"``,
    ``"tanh"``, ``"erf"``); a module instance is deep-copied."""
    if isinstance(spec, nn.Module):
        return copy.deepcopy(spec)
    act = parse_activation(spec)
    cls = act.kind.module_class()
    if cls is None:
        with_module = ", ".join(k.form for k in ACTIVATION_TABLE.values() if k.module)
        raise ValueError(f"activation: no torch module for {act.spec!r} (expected one of "
                         f"{with_module})")
    return cls(act.alpha) if act.kind.takes_alpha else cls()


def noise_module(spec: str | Noise | nn.Module | None) -> nn.Module | None:
    """A fresh noise module, or ``None`` for no noise. ``"dropout:P"`` takes the keep rate
    (``nn.Dropout(1 - P)``); ``"gauss:SIGMA"``, ``"additive-gauss:SIGMA"``,
    ``"additive-laplace:B"``. A module instance is deep-copied."""
    if isinstance(spec, nn.Module):
        return copy.deepcopy(spec)
    noise = parse_noise(spec)
    if noise.kind == "none" or (noise.kind == "dropout" and noise.p == 1.0):
        return None
    if noise.kind == "dropout":
        return nn.Dropout(1.0 - noise.p)
    if noise.kind == "gauss":
        return GaussianNoise(noise.sigma)
    if noise.kind == "additive-gauss":
        return AdditiveNoise(noise.sigma, "gauss")
    if noise.kind == "additive-laplace":
        return AdditiveNoise(noise.sigma, "laplace")
    raise ValueError(f"noise: no torch module for {noise.spec!r} (a bare mu2 has no distribution)")


def mlp(
    in_features: int,
    width: int,
    depth: int,
    out_features: int,
    activation: str | Activation | nn.Module = "relu",
    noise: str | Noise | nn.Module | None = None,
    bias: bool = True,
) -> nn.Sequential:
    """A fully connected network with noise before every linear layer.

    ``h^l = W^l (x^{l-1} * eps^{l-1}) + b^l``, ``x^l = phi(h^l)``; the input is noised too.
    Children, in order: ``noise0`` (only with noise), ``fc1``, ``act1``, ``noise1``, ...,
    ``fc{depth}``, ``act{depth}``, ``noise{depth}``, ``out``. Weights keep PyTorch's default
    initialisation; use :func:`svccakit.init.critical_` or :func:`svccakit.init.random_`.

    Parameters
    ----------
    in_features, width, out_features : int
    depth : int
        Number of hidden layers (>= 0).
    activation : str or nn.Module
        ``"relu"``, ``"shifted-relu:ALPHA"``, ``"tanh"``, ``"erf"``, or a module (copied per layer).
    noise : str, nn.Module or None
        ``None``/``"none"``, ``"dropout:P"`` (keep rate P), ``"gauss:SIGMA"``,
        ``"additive-gauss:SIGMA"``, ``"additive-laplace:B"``, or a module (copied per layer).
    bias : bool

    Returns
    -------
    nn.Sequential
        Maps ``(n_samples, in_features)`` to ``(n_samples, out_features)``.
    """
    check_int(in_features, "in_features", 1)
    check_int(width, "width", 1)
    check_int(out_features, "out_features", 1)
    check_int(depth, "depth", 0)
    activation_module(activation)  # validate once, before building
    has_noise = noise_module(noise) is not None
    model = nn.Sequential()
    fan_in = in_features
    for layer in range(depth + 1):
        if has_noise:
            model.add_module(f"noise{layer}", noise_module(noise))
        if layer == depth:
            break
        model.add_module(f"fc{layer + 1}", nn.Linear(fan_in, width, bias=bias))
        model.add_module(f"act{layer + 1}", activation_module(activation))
        fan_in = width
    model.add_module("out", nn.Linear(fan_in, out_features, bias=bias))
    return model


def describe_activation(module: nn.Module) -> Activation | None:
    """The :class:`Activation` a module computes, or ``None`` if it is not a known activation
    (one whose class is in :data:`~svccakit.meanfield.specs.ACTIVATION_TABLE`)."""
    for kind in ACTIVATION_TABLE.values():
        cls = kind.module_class()
        if cls is None or type(module) is not cls:
            continue
        if kind.takes_alpha:
            alpha = float(module.alpha)
            return Activation(kind.name, alpha) if alpha != 0.0 else Activation("relu")
        return Activation(kind.name)
    return None


def describe_noise(module: nn.Module) -> Noise | None:
    """The :class:`Noise` a module injects, or ``None`` if it is not a known noise module."""
    if isinstance(module, nn.Dropout):
        return Noise.dropout(1.0 - module.p)
    if isinstance(module, GaussianNoise):
        return Noise.gauss(module.sigma)
    if isinstance(module, AdditiveNoise):
        if module.distribution == "gauss":
            return Noise.additive_gauss(module.sigma)
        return Noise.additive_laplace(module.sigma)
    return None
