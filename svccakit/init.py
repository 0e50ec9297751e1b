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

from svccakit.meanfield import Activation, CriticalPoint, Noise, critical_point, phase
from svccakit.nets import describe_activation, describe_noise

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
]

SCHEMES = ("default", "xavier", "he")


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
    for value, name in ((sigma_w, "sigma_w"), (sigma_b, "sigma_b")):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ValueError(f"{name}: expected a finite number >= 0, got {value!r}")
    if weights not in ("gaussian", "orthogonal"):
        raise ValueError(f"weights: expected 'gaussian' or 'orthogonal', got {weights!r}")
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


def scheme_sigma_w(scheme: str, fan_in: int, fan_out: int) -> float:
    """The ``sigma_w`` (``Var[W_ij] = sigma_w^2 / fan_in``) of a random scheme.

    * ``"default"`` (PyTorch ``nn.Linear``: ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``):
      ``sigma_w^2 = 1/3``;
    * ``"xavier"`` (Glorot normal, ``Var = 2 / (fan_in + fan_out)``):
      ``sigma_w^2 = 2 fan_in / (fan_in + fan_out)`` (1 for square layers);
    * ``"he"`` (He/Kaiming normal for ReLU, ``Var = 2 / fan_in``): ``sigma_w^2 = 2``, which
      ignores any noise (chaotic under dropout: ``sigma_w^2 mu2 / 2 = 1/p > 1``).
    """
    _check_scheme(scheme)
    if scheme == "default":
        return math.sqrt(1.0 / 3.0)
    if scheme == "xavier":
        return math.sqrt(2.0 * fan_in / (fan_in + fan_out))
    return math.sqrt(2.0)


def scheme_sigma_b(scheme: str, fan_in: int) -> float:
    """The bias standard deviation: ``1 / sqrt(3 fan_in)`` for ``"default"``, 0 otherwise."""
    _check_scheme(scheme)
    return 1.0 / math.sqrt(3.0 * fan_in) if scheme == "default" else 0.0


def _check_scheme(scheme):
    if scheme not in SCHEMES:
        raise ValueError(f"scheme: expected one of {', '.join(SCHEMES)}, got {scheme!r}")


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
    _check_scheme(scheme)
    linears = _linears(model)
    gen = _generator(generator)
    sws, sbs = [], []
    with torch.no_grad():
        for _, lin in linears:
            fan_out, fan_in = lin.weight.shape
            sw, sb = scheme_sigma_w(scheme, fan_in, fan_out), scheme_sigma_b(scheme, fan_in)
            if scheme == "default":
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


def random_phase(scheme: str, activation, noise=None, width: int = 1000) -> str:
    """Where a random scheme puts a network with square hidden layers of ``width`` units:
    ``"ordered"``, ``"critical"`` or ``"chaotic"`` (:func:`svccakit.meanfield.phase`)."""
    sw, sb = scheme_sigma_w(scheme, width, width), scheme_sigma_b(scheme, width)
    return phase(activation=activation, noise=noise, sigma_w=sw, sigma_b=sb)
