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

from svccakit.meanfield.specs import parse_activation, parse_noise
from svccakit.meanfield.theory import (
    chi_1,
    chi_c,
    correlation_fixed_point,
    critical_point,
    depth_scale,
    phase,
    variance_fixed_point,
    variance_map,
)

__all__ = [
    "ALIASES",
    "INIT_NAMES",
    "SCHEMES",
    "InitPhase",
    "Scheme",
    "get_scheme",
    "init_phase",
    "random_phase",
    "scheme_sigma_b",
    "scheme_sigma_w",
]


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
        Scheme("pytorch-default", "PyTorch nn.Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), "
               "sigma_w^2 = 1/3 (ordered for ReLU)", "uniform",
               lambda fan_in, fan_out: math.sqrt(1.0 / 3.0),
               lambda fan_in: 1.0 / math.sqrt(3.0 * fan_in)),
        Scheme("xavier", "Glorot normal: Var = 2 / (fan_in + fan_out), sigma_w^2 = 1 for "
               "square layers", "normal",
               lambda fan_in, fan_out: math.sqrt(2.0 * fan_in / (fan_in + fan_out)),
               lambda fan_in: 0.0),
        Scheme("lecun", "LeCun normal: Var = 1 / fan_in, sigma_w^2 = 1", "normal",
               lambda fan_in, fan_out: 1.0,
               lambda fan_in: 0.0),
        Scheme("he", "He/Kaiming normal for ReLU: Var = 2 / fan_in, sigma_w^2 = 2 "
               "(critical for ReLU without noise; ignores noise)", "normal",
               lambda fan_in, fan_out: math.sqrt(2.0),
               lambda fan_in: 0.0),
    )
}
"""Every random scheme, by name."""

ALIASES: dict[str, str] = {"default": "pytorch-default"}
"""Other names accepted for a scheme (``"default"`` was its name before 0.2)."""


def get_scheme(name: str) -> Scheme:
    """The :class:`Scheme` called ``name`` (or one of its :data:`ALIASES`); a ``ValueError``
    listing the known names otherwise."""
    try:
        return SCHEMES[ALIASES.get(name, name)]
    except (KeyError, TypeError):
        raise ValueError(f"scheme: expected one of {', '.join(SCHEMES)}, got {name!r}") from None


def scheme_sigma_w(scheme: str, fan_in: int, fan_out: int) -> float:
    """The ``sigma_w`` (``Var[W_ij] = sigma_w^2 / fan_in``) of a random scheme.

    * ``"pytorch-default"`` (PyTorch ``nn.Linear``: ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``):
      ``sigma_w^2 = 1/3``;
    * ``"xavier"`` (Glorot normal, ``Var = 2 / (fan_in + fan_out)``):
      ``sigma_w^2 = 2 fan_in / (fan_in + fan_out)`` (1 for square layers);
    * ``"lecun"`` (LeCun normal, ``Var = 1 / fan_in``): ``sigma_w^2 = 1``;
    * ``"he"`` (He/Kaiming normal for ReLU, ``Var = 2 / fan_in``): ``sigma_w^2 = 2``, which
      ignores any noise (chaotic under dropout: ``sigma_w^2 mu2 / 2 = 1/p > 1``).
    """
    return get_scheme(scheme).sigma_w(fan_in, fan_out)


def scheme_sigma_b(scheme: str, fan_in: int) -> float:
    """The bias standard deviation: ``1 / sqrt(3 fan_in)`` for ``"pytorch-default"``, 0
    otherwise."""
    return get_scheme(scheme).sigma_b(fan_in)


def random_phase(scheme: str, activation, noise=None, width: int = 1000) -> str:
    """Where a random scheme puts a network with square hidden layers of ``width`` units:
    ``"ordered"``, ``"critical"`` or ``"chaotic"`` (:func:`svccakit.meanfield.theory.phase`)."""
    sw, sb = scheme_sigma_w(scheme, width, width), scheme_sigma_b(scheme, width)
    return phase(activation=activation, noise=noise, sigma_w=sw, sigma_b=sb)


INIT_NAMES: tuple[str, ...] = ("critical", *SCHEMES)
"""Every initialisation an experiment can name: the mean-field critical one and the schemes."""


@dataclass(frozen=True)
class InitPhase:
    """Where an initialisation puts a network, by the mean-field theory.

    Attributes
    ----------
    init : str
        ``"critical"`` or a scheme name.
    sigma_w, sigma_b : float
        Weight and bias standard deviations (square hidden layers).
    phase : {"ordered", "critical", "chaotic"}
        ``chi_1 < 1``: the signal's variance shrinks layer by layer; ``= 1``: it is kept;
        ``> 1``: it grows (with noise: in training mode, where the noise acts).
    chi_1 : float
        Slope of the variance map at the fixed point (ReLU: ``sigma_w^2 mu2 / 2`` at any
        ``q``); ``nan`` where the variance has no finite non-zero fixed point.
    q_star : float
        The variance fixed point used (``inf``/``0`` if the variance explodes/vanishes;
        ReLU without bias: every ``q`` is mapped by the same factor, 1 is used).
    variance_depth : float
        Layers over which the variance changes by a factor ``e``: ``1 / |ln chi_1|``
        (``inf`` at criticality).
    c_star, chi_c, xi_c : float
        Stable fixed point of the correlation map, its slope and the correlation depth
        scale ``-1 / ln chi_c`` (``nan`` where ``q*`` is not finite and positive).
    """

    init: str
    sigma_w: float
    sigma_b: float
    phase: str
    chi_1: float
    q_star: float
    variance_depth: float
    c_star: float
    chi_c: float
    xi_c: float

    def as_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


def init_phase(init: str, activation, noise=None, *, width: int = 1000,
               q_star: float | None = None) -> InitPhase:
    """The mean-field phase of an initialisation for an activation and noise.

    ``init`` is ``"critical"`` (:func:`~svccakit.meanfield.theory.critical_point`, at
    ``q_star``) or a scheme of :data:`SCHEMES` (for square hidden layers of ``width``
    units). The slope ``chi_1`` and the correlation map's ``c*`` and ``chi_c`` are
    evaluated at the variance fixed point; for the ReLU without bias the correlation map
    does not depend on the variance, so ``c*`` and ``xi_c`` are the same for every
    ``sigma_w`` and only ``chi_1`` separates the schemes.

    Raises
    ------
    ValueError
        For an unknown ``init`` (the message lists the known ones).
    NoCriticalPointError
        For ``"critical"`` where no critical point exists.
    """
    act, nz = parse_activation(activation), parse_noise(noise)
    if init == "critical":
        cp = critical_point(act, nz, q_star=q_star)
        chi = chi_1(cp.q_star, activation=act, noise=nz, sigma_w=cp.sigma_w)
        return InitPhase(init, cp.sigma_w, cp.sigma_b, "critical", chi, cp.q_star, math.inf,
                         cp.c_star, cp.chi_c, cp.xi_c)
    if init not in INIT_NAMES and init not in ALIASES:
        raise ValueError(f"init: expected one of {', '.join(INIT_NAMES)}, got {init!r}")
    sw, sb = scheme_sigma_w(init, width, width), scheme_sigma_b(init, width)
    where = phase(activation=act, noise=nz, sigma_w=sw, sigma_b=sb)
    relu = act.piecewise_linear and act.alpha == 0.0
    if relu and sb == 0.0 and nz.additive_variance == 0.0:
        qs = 1.0
    else:
        qs = variance_fixed_point(activation=act, noise=nz, sigma_w=sw, sigma_b=sb)
    if not (math.isfinite(qs) and qs > 0.0):
        nan = math.nan
        return InitPhase(init, sw, sb, where, nan, qs, nan, nan, nan, nan)
    chi = chi_1(qs, activation=act, noise=nz, sigma_w=sw)
    if abs(chi - 1.0) <= 1e-9:
        var_depth = math.inf
    else:
        var_depth = 1.0 / abs(math.log(chi)) if chi > 0 else 0.0
    cs = correlation_fixed_point(qs, activation=act, noise=nz, sigma_w=sw, sigma_b=sb)
    # the slope of the correlation map itself: sigma_w^2 E[phi' phi'] q / q' (q' = q at a
    # fixed point; for the bias-free ReLU q' = chi_1 q and the slope is sigma_w-free)
    q_next = variance_map(qs, activation=act, noise=nz, sigma_w=sw, sigma_b=sb)
    slope = chi_c(cs, qs, activation=act, sigma_w=sw) * qs / q_next
    if abs(slope - 1.0) <= 1e-9:
        slope = 1.0
    return InitPhase(init, sw, sb, where, chi, qs, var_depth, cs, slope, depth_scale(slope))


