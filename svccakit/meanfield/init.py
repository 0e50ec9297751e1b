"""Initialisers: critical (from the mean-field theory) and the usual random schemes.

Every ``nn.Linear`` in a model is initialised; the *readout* is the last ``nn.Linear`` in
module order (``out`` in :func:`svccakit.nets.mlp`). Randomness comes from a
``torch.Generator``: pass one, or an int seed; ``None`` means seed 0, so results are
deterministic by default and the global torch RNG is never touched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from svccakit._validate import check_choice, check_real
from svccakit.meanfield.nets import describe_activation, describe_noise
from svccakit.meanfield.schemes import (
    SCHEMES,
    get_scheme,
    random_phase,
    scheme_sigma_b,
    scheme_sigma_w,
)
from svccakit.meanfield.specs import Activation, Noise
from svccakit.meanfield.theory import CriticalPoint, critical_point

WEIGHTS = ("gaussian", "orthogonal")
"""The weight laws of :func:`set_weights_` and :func:`critical_`."""

__all__ = [
    "critical_",
    "random_",
    "set_weights_",
    "scheme_sigma_w",
    "scheme_sigma_b",
    "random_phase",
    "infer_activation_noise",
    "RandomInit",
    "SCHEMES",
    "WEIGHTS",
]



def _generator(generator) -> torch.Generator:
    if generator is None:
        return torch.Generator().manual_seed(0)
    if isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, int) and not isinstance(generator, bool):
        return torch.Generator().manual_seed(generator)
    raise TypeError(
        f"generator: expected None, an int seed or a torch.Generator, got {type(generator).__name__}"
    )


def _linears(model: nn.Module) -> list[tuple[str, nn.Linear]]:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    found = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not found:
        raise ValueError(f"model: expected at least one nn.Linear, found none in {type(model).__name__}")
    return found


def infer_activation_noise(model: nn.Module) -> tuple[Activation, Noise]:
    """The single activation and noise used in ``model``.

    Raises
    ------
    ValueError
        If activations or noises are mixed, no activation is found, or a module is neither a
        ``Linear``, a known activation (ReLU, ShiftedReLU, Tanh, Erf), a known noise (Dropout,
        GaussianNoise, AdditiveNoise) nor a container/Identity/Flatten; the message lists what
        was found.
    """
    _linears(model)
    acts: dict[Activation, list[str]] = {}
    noises: dict[Noise, list[str]] = {}
    unknown = []
    for name, m in model.named_modules():
        if len(list(m.children())) > 0 or isinstance(m, (nn.Linear, nn.Identity, nn.Flatten)):
            continue  # containers (the model itself included) and layers without a role
        a = describe_activation(m)
        if a is not None:
            acts.setdefault(a, []).append(name)
            continue
        nz = describe_noise(m)
        if nz is not None:
            noises.setdefault(nz, []).append(name)
            continue
        unknown.append(f"{name} ({type(m).__name__})")

    def listing(d):
        return "; ".join(f"{k.spec} at {', '.join(v)}" for k, v in d.items())

    if unknown:
        raise ValueError(
            f"model: cannot infer the mean-field setting; unknown module(s) {', '.join(unknown)} "
            "(known: Linear, ReLU, ShiftedReLU, Tanh, Erf, Dropout, GaussianNoise, AdditiveNoise)"
        )
    if not acts:
        raise ValueError("model: expected one kind of activation module, found none")
    if len(acts) > 1:
        raise ValueError(f"model: expected one kind of activation, found mixed: {listing(acts)}")
    if len(noises) > 1:
        raise ValueError(f"model: expected one kind of noise, found mixed: {listing(noises)}")
    noise = next(iter(noises)) if noises else Noise.none()
    return next(iter(acts)), noise


def set_weights_(
    model: nn.Module, *, sigma_w: float, sigma_b: float = 0.0, weights: str = "gaussian",
    generator=None, readout_bias: bool = False,
) -> nn.Module:
    """Initialise every ``nn.Linear`` of ``model`` in place and return ``model``.

    ``weights="gaussian"``: ``W_ij ~ N(0, sigma_w^2 / fan_in)``; ``"orthogonal"``: ``W = g Q``
    with ``Q`` (semi-)orthogonal and ``g = sigma_w sqrt(max(1, fan_out / fan_in))``, so the
    mean squared row norm is ``sigma_w^2`` as in the Gaussian case (every row's, when
    ``fan_out <= fan_in``). Biases ``N(0, sigma_b^2)``,
    except the readout's, which is zero unless ``readout_bias`` is true.
    """
    linears = _linears(model)
    sigma_w = check_real(sigma_w, "sigma_w", low=0.0)
    sigma_b = check_real(sigma_b, "sigma_b", low=0.0)
    check_choice(weights, "weights", WEIGHTS)
    gen = _generator(generator)
    with torch.no_grad():
        for i, (_, lin) in enumerate(linears):
            fan_out, fan_in = lin.weight.shape
            if weights == "gaussian":
                nn.init.normal_(lin.weight, 0.0, sigma_w / math.sqrt(fan_in), generator=gen)
            else:
                gain = sigma_w * math.sqrt(max(1.0, fan_out / fan_in))
                nn.init.orthogonal_(lin.weight, gain=gain, generator=gen)
            if lin.bias is not None:
                if i == len(linears) - 1 and not readout_bias:
                    nn.init.zeros_(lin.bias)
                else:
                    nn.init.normal_(lin.bias, 0.0, sigma_b, generator=gen)
    return model


def critical_(model: nn.Module, *, q_star: float | None = None, weights: str = "gaussian", generator=None) -> CriticalPoint:
    """Critically initialise ``model`` in place from the mean-field theory.

    The activation and noise are inferred from the model's modules (see
    :func:`infer_activation_noise`); the critical point is
    :func:`svccakit.meanfield.critical_point` (``q_star`` default 1). Hidden layers get
    ``N(0, sigma_w^2 / fan_in)`` (or scaled-orthogonal) weights and ``N(0, sigma_b^2)``
    biases; the readout (last ``Linear``) gets the same weight law and a zero bias. The input
    should have ``||x||^2 / D_0`` near ``q*`` for the first layer to start on the fixed point.

    Returns
    -------
    CriticalPoint
        The parameters used.

    Raises
    ------
    NoCriticalPointError
        If the model's activation/noise pair has no critical point (e.g. additive noise).
    """
    act, noise = infer_activation_noise(model)
    cp = critical_point(act, noise, q_star=q_star)
    set_weights_(model, sigma_w=cp.sigma_w, sigma_b=cp.sigma_b, weights=weights, generator=generator)
    return cp


@dataclass(frozen=True)
class RandomInit:
    """What :func:`random_` did: per ``nn.Linear`` (in module order) its ``sigma_w``/``sigma_b``."""

    scheme: str
    layers: tuple[str, ...]
    sigma_w: tuple[float, ...]
    sigma_b: tuple[float, ...]


def random_(model: nn.Module, scheme: str = "default", generator=None) -> RandomInit:
    """Initialise every ``nn.Linear`` with a standard random scheme (see :func:`scheme_sigma_w`).

    ``"default"`` draws weights and biases from ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``
    (PyTorch's ``nn.Linear`` law, but from ``generator``); ``"xavier"`` and ``"he"`` draw
    normal weights and zero biases.
    """
    law = get_scheme(scheme).law
    linears = _linears(model)
    gen = _generator(generator)
    sws, sbs = [], []
    with torch.no_grad():
        for _, lin in linears:
            fan_out, fan_in = lin.weight.shape
            sw, sb = scheme_sigma_w(scheme, fan_in, fan_out), scheme_sigma_b(scheme, fan_in)
            if law == "uniform":
                bound = 1.0 / math.sqrt(fan_in)
                nn.init.uniform_(lin.weight, -bound, bound, generator=gen)
                if lin.bias is not None:
                    nn.init.uniform_(lin.bias, -bound, bound, generator=gen)
            else:
                nn.init.normal_(lin.weight, 0.0, sw / math.sqrt(fan_in), generator=gen)
                if lin.bias is not None:
                    nn.init.zeros_(lin.bias)
            sws.append(sw)
            sbs.append(sb if lin.bias is not None else 0.0)
    return RandomInit(scheme, tuple(n for n, _ in linears), tuple(sws), tuple(sbs))
