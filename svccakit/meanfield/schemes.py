"""The usual random initialisation schemes, as the mean-field theory sees them.

numpy only (no torch). :data:`SCHEMES` is the one table of scheme names: each
:class:`Scheme` gives its weight and bias standard deviations in the theory's units
(``Var[W_ij] = sigma_w^2 / fan_in``), and :func:`random_phase` places a network so
initialised in the ordered, critical or chaotic phase. :func:`svccakit.meanfield.init.random_`
draws the weights.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from svccakit.meanfield.theory import phase

__all__ = ["SCHEMES", "Scheme", "get_scheme", "random_phase", "scheme_sigma_b", "scheme_sigma_w"]


@dataclass(frozen=True)
class Scheme:
    """One random initialisation scheme.

    Attributes
    ----------
    name : str
    summary : str
        One line on where it comes from.
    law : {"uniform", "normal"}
        The distribution of the weights (biases: the same law, or zero).
    sigma_w : callable
        ``sigma_w(fan_in, fan_out)`` with ``Var[W_ij] = sigma_w^2 / fan_in``.
    sigma_b : callable
        ``sigma_b(fan_in)``, the bias standard deviation.
    """

    name: str
    summary: str
    law: str
    sigma_w: Callable[[int, int], float]
    sigma_b: Callable[[int], float]


SCHEMES: dict[str, Scheme] = {
    s.name: s for s in (
        Scheme("default", "PyTorch nn.Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), "
               "sigma_w^2 = 1/3", "uniform",
               lambda fan_in, fan_out: math.sqrt(1.0 / 3.0),
               lambda fan_in: 1.0 / math.sqrt(3.0 * fan_in)),
        Scheme("xavier", "Glorot normal: Var = 2 / (fan_in + fan_out)", "normal",
               lambda fan_in, fan_out: math.sqrt(2.0 * fan_in / (fan_in + fan_out)),
               lambda fan_in: 0.0),
        Scheme("he", "He/Kaiming normal for ReLU: Var = 2 / fan_in, sigma_w^2 = 2 "
               "(ignores noise)", "normal",
               lambda fan_in, fan_out: math.sqrt(2.0),
               lambda fan_in: 0.0),
    )
}
"""Every random scheme, by name."""


def get_scheme(name: str) -> Scheme:
    """The :class:`Scheme` called ``name``; a ``ValueError`` listing the known names."""
    try:
        return SCHEMES[name]
    except (KeyError, TypeError):
        raise ValueError(f"scheme: expected one of {', '.join(SCHEMES)}, got {name!r}") from None


def scheme_sigma_w(scheme: str, fan_in: int, fan_out: int) -> float:
    """The ``sigma_w`` (``Var[W_ij] = sigma_w^2 / fan_in``) of a random scheme.

    * ``"default"`` (PyTorch ``nn.Linear``: ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``):
      ``sigma_w^2 = 1/3``;
    * ``"xavier"`` (Glorot normal, ``Var = 2 / (fan_in + fan_out)``):
      ``sigma_w^2 = 2 fan_in / (fan_in + fan_out)`` (1 for square layers);
    * ``"he"`` (He/Kaiming normal for ReLU, ``Var = 2 / fan_in``): ``sigma_w^2 = 2``, which
      ignores any noise (chaotic under dropout: ``sigma_w^2 mu2 / 2 = 1/p > 1``).
    """
    return get_scheme(scheme).sigma_w(fan_in, fan_out)


def scheme_sigma_b(scheme: str, fan_in: int) -> float:
    """The bias standard deviation: ``1 / sqrt(3 fan_in)`` for ``"default"``, 0 otherwise."""
    return get_scheme(scheme).sigma_b(fan_in)


def random_phase(scheme: str, activation, noise=None, width: int = 1000) -> str:
    """Where a random scheme puts a network with square hidden layers of ``width`` units:
    ``"ordered"``, ``"critical"`` or ``"chaotic"`` (:func:`svccakit.meanfield.theory.phase`)."""
    sw, sb = scheme_sigma_w(scheme, width, width), scheme_sigma_b(scheme, width)
    return phase(activation=activation, noise=noise, sigma_w=sw, sigma_b=sb)
