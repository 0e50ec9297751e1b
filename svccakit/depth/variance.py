"""The variance ``q^l`` through noisy ReLU networks over depth x ``sigma_w^2``, in float32.

Off criticality the variance of a noisy ReLU network's signal grows or shrinks
geometrically with depth, ``q^l = (sigma_w^2 mu2 / 2)^(l-1) q^1`` (Pretorius et al. 2018),
and leaves float32's range (overflow/underflow) at a depth the theory predicts
(:func:`svccakit.meanfield.float32_depth`). :func:`variance_heatmap` measures ``q^l`` with
real float32 forward passes and returns :class:`VarianceMap`; :func:`variance_figure` draws
it with the theory's boundary (matplotlib Figure, Agg).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from svccakit._validate import check_int
from svccakit.depth.theory import multiplicative_noise

__all__ = ["VarianceMap", "variance_figure", "variance_heatmap"]

_F32_MAX = float(np.finfo(np.float32).max)
_F32_TINY = float(np.finfo(np.float32).tiny)


@dataclass(frozen=True)
class VarianceMap:
    """``log10 q^l`` of real float32 forward passes over depth x ``sigma_w^2``.

    Attributes
    ----------
    noise : str
        Noise spec of every layer (fixed).
    sigma_w2 : ndarray of shape (n_sigma,)
        Weight variances ``sigma_w^2`` (weights ``N(0, sigma_w^2 / fan_in)``, no bias).
    depths : ndarray of shape (max_depth,)
        ``1 .. max_depth``.
    log10_q : ndarray of shape (n_sigma, max_depth)
        ``log10`` of the pre-activation variance ``q^l``: the mean of ``h^2`` over inputs and
        units, accumulated in float64 from the network's float32 ``h`` (so it can be read
        beyond float32's range); ``+inf`` once ``h`` itself overflowed (inf or nan),
        ``-inf`` once it underflowed to 0.
    theory_log10_q : ndarray of shape (n_sigma, max_depth)
        The variance map's prediction ``log10(q^1 r^(l-1))``, ``r = sigma_w^2 mu2 / 2``.
    theory_boundary : ndarray of shape (n_sigma,)
        First depth at which the theory's ``q^l`` leaves float32's normal range
        (:func:`svccakit.meanfield.float32_depth`); ``nan`` if not within ``max_depth``.
    measured_boundary : ndarray of shape (n_sigma,)
        First depth at which the measured ``q^l`` leaves ``[tiny, max]`` of float32; ``nan``
        if it stays inside.
    critical_sigma_w2 : float
        ``2 / mu2``.
    width, n_inputs, seed : int
    """

    noise: str
    sigma_w2: np.ndarray
    depths: np.ndarray
    log10_q: np.ndarray
    theory_log10_q: np.ndarray
    theory_boundary: np.ndarray
    measured_boundary: np.ndarray
    critical_sigma_w2: float
    width: int
    n_inputs: int
    seed: int

    @property
    def agreement(self) -> float:
        """Fraction of (sigma_w^2, depth) cells where measured and theory agree on whether
        ``q^l`` is still inside float32's normal range."""
        inside_measured = np.isfinite(self.log10_q) & (self.log10_q >= math.log10(_F32_TINY))
        inside_measured &= self.log10_q <= math.log10(_F32_MAX)
        bound = np.where(np.isnan(self.theory_boundary), np.inf, self.theory_boundary)
        inside_theory = self.depths[None, :] < bound[:, None]
        return float(np.mean(inside_measured == inside_theory))



def _unit_inputs(n_inputs: int, seed: int) -> np.ndarray:
    """``n_inputs`` digits images rescaled to ``||x||^2 / D_0 = 1``: shape (n_inputs, 64)."""
    from sklearn.datasets import load_digits

    x = load_digits().data.astype(np.float64)
    rng = np.random.default_rng(seed)
    x = x[rng.choice(len(x), size=min(n_inputs, len(x)), replace=False)]
    return (x / np.sqrt(np.mean(x**2, axis=1, keepdims=True))).astype(np.float32)


def variance_heatmap(
    noise="dropout:0.6",
    sigma_w2: Sequence[float] | None = None,
    *,
    max_depth: int = 200,
    width: int = 256,
    n_inputs: int = 64,
    seed: int = 0,
) -> VarianceMap:
    """Measure ``q^l`` through noisy ReLU networks off (and at) criticality, in float32.

    For each ``sigma_w^2`` one network :func:`svccakit.nets.mlp` of ``max_depth`` hidden
    layers (``sigma_b = 0``) is run forward once in training mode (noise on) on digits
    images rescaled to ``||x||^2 / D_0 = 1``; ``q^l`` is the mean square of the
    pre-activations of layer ``l``. The theory (Pretorius et al. 2018) gives
    ``q^l = (sigma_w^2 mu2 / 2)^(l-1) q^1``, ``q^1 = sigma_w^2 mu2``: it overflows float32
    for ``sigma_w^2 > 2 / mu2`` and underflows below, at depth
    :func:`svccakit.meanfield.float32_depth`.

    Parameters
    ----------
    noise : str
        ``"dropout:P"``, ``"gauss:SIGMA"`` or ``"none"``.
    sigma_w2 : sequence of float, optional
        Weight variances; default 41 values from ``0.1`` to ``2 * 2 / mu2``.
    max_depth, width, n_inputs, seed : int

    Returns
    -------
    VarianceMap
    """
    import torch

    from svccakit.meanfield.init import set_weights_
    from svccakit.meanfield.nets import mlp
    from svccakit.meanfield.theory import float32_depth

    nz = multiplicative_noise(noise)
    max_depth = check_int(max_depth, "max_depth", 1)
    width = check_int(width, "width", 1)
    n_inputs = check_int(n_inputs, "n_inputs", 1)
    seed = check_int(seed, "seed", 0)
    critical = 2.0 / nz.mu2
    if sigma_w2 is None:
        sigma_w2 = np.linspace(0.1, 2.0 * critical, 41)
    s2 = np.asarray(sigma_w2, dtype=float)
    if s2.ndim != 1 or s2.size == 0 or not np.all(np.isfinite(s2)) or np.any(s2 <= 0):
        raise ValueError(f"sigma_w2: expected a non-empty 1-D sequence of numbers > 0, got {sigma_w2!r}")
    x = torch.from_numpy(_unit_inputs(n_inputs, seed))
    log_q = np.full((s2.size, max_depth), np.nan)
    theory_bound = np.full(s2.size, np.nan)
    measured_bound = np.full(s2.size, np.nan)
    depths = np.arange(1, max_depth + 1)
    r = s2 * nz.mu2 / 2.0
    theory = np.log10(s2 * nz.mu2)[:, None] + (depths[None, :] - 1) * np.log10(r)[:, None]
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        for i, sw2 in enumerate(s2):
            model = mlp(x.shape[1], width, max_depth, 1, noise=nz.spec if nz.kind != "none" else None)
            set_weights_(model, sigma_w=math.sqrt(sw2), sigma_b=0.0, generator=seed + i)
            model.train()
            log_q[i] = _forward_log_q(model, x, max_depth)
            bound = float32_depth(noise=nz, sigma_w=math.sqrt(sw2), max_depth=max_depth)
            theory_bound[i] = np.nan if bound is None else bound
            outside = ~np.isfinite(log_q[i]) | (log_q[i] < math.log10(_F32_TINY))
            outside |= log_q[i] > math.log10(_F32_MAX)
            if outside.any():
                measured_bound[i] = depths[np.argmax(outside)]
    return VarianceMap(
        noise=nz.spec, sigma_w2=s2, depths=depths, log10_q=log_q, theory_log10_q=theory,
        theory_boundary=theory_bound, measured_boundary=measured_bound,
        critical_sigma_w2=critical, width=width, n_inputs=int(x.shape[0]), seed=seed,
    )


def _forward_log_q(model, x, max_depth: int) -> np.ndarray:
    """log10 of the mean square of every ``fc`` output (float32 activations), +inf once the
    activations overflowed (inf/nan), -inf once they are all 0."""
    import torch

    out = np.full(max_depth, np.nan)
    h = x
    layer = 0
    for name, module in model.named_children():
        if name == "out":
            break
        h = module(h)
        if name.startswith("fc"):
            q = float(torch.mean(h.double() ** 2))  # h is float32; its mean square exactly
            if not math.isfinite(q):
                out[layer:] = np.inf
                break
            if q == 0.0:
                out[layer:] = -np.inf
                break
            out[layer] = math.log10(q)
            layer += 1
    return out


def new_figure(**kwargs):
    """A matplotlib Figure outside pyplot's global state (no backend, no registry)."""
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def cell_edges(values: np.ndarray) -> np.ndarray:
    """Cell edges for pcolormesh: midpoints between sorted centres, extrapolated at the ends."""
    v = np.asarray(values, dtype=float)
    if v.size == 1:
        return np.array([v[0] - 0.5, v[0] + 0.5])
    mid = (v[1:] + v[:-1]) / 2.0
    return np.concatenate([[v[0] - (mid[0] - v[0])], mid, [v[-1] + (v[-1] - mid[-1])]])


def variance_figure(vmap: VarianceMap):
    """Heatmap of the measured ``log10 q^l`` over depth x ``sigma_w^2`` with the theory's
    float32 overflow/underflow boundary drawn over it.

    Parameters
    ----------
    vmap : VarianceMap

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not isinstance(vmap, VarianceMap):
        raise TypeError(f"vmap: expected a VarianceMap, got {type(vmap).__name__}")
    import matplotlib
    from matplotlib.colors import TwoSlopeNorm

    fig = new_figure(figsize=(7.5, 4.8), layout="constrained")
    ax = fig.subplots()
    data = np.ma.masked_invalid(np.where(np.isinf(vmap.log10_q), np.nan, vmap.log10_q))
    lim = max(float(np.nanmax(np.abs(data))) if data.count() else 1.0, 40.0)
    cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad="0.25")
    mesh = ax.pcolormesh(
        cell_edges(vmap.depths), cell_edges(vmap.sigma_w2), data, cmap=cmap,
        norm=TwoSlopeNorm(vcenter=0.0, vmin=-lim, vmax=lim), shading="flat", rasterized=True,
    )
    cbar = fig.colorbar(mesh, ax=ax)
    cbar.set_label(r"measured $\log_{10} q^l$ (dark grey: activations over/underflowed)")
    for level in (math.log10(_F32_MAX), math.log10(_F32_TINY)):
        cbar.ax.axhline(level, color="k", lw=1)
    finite = np.where(np.isfinite(vmap.log10_q), vmap.log10_q, np.sign(vmap.log10_q) * 1e3)
    finite = np.nan_to_num(finite, nan=1e3)
    ax.contour(vmap.depths, vmap.sigma_w2, finite,
               levels=[math.log10(_F32_TINY), math.log10(_F32_MAX)], colors="lime", linewidths=2)
    ax.plot([], [], color="lime", lw=2, label="measured: $q^l$ leaves float32 range")
    for side in (vmap.sigma_w2 < vmap.critical_sigma_w2, vmap.sigma_w2 > vmap.critical_sigma_w2):
        ok = side & np.isfinite(vmap.theory_boundary)
        ax.plot(vmap.theory_boundary[ok], vmap.sigma_w2[ok], "k--", lw=1.5)
    ax.plot([], [], "k--", lw=1.5, label="theory: float32 overflow / underflow depth")
    ax.axhline(vmap.critical_sigma_w2, color="k", ls="--", lw=1,
               label=rf"critical $\sigma_w^2 = 2/\mu_2 = {vmap.critical_sigma_w2:.3g}$")
    ax.set_xlabel("depth $l$ (layer)")
    ax.set_ylabel(r"$\sigma_w^2$")
    ax.set_xlim(0.5, vmap.depths[-1] + 0.5)
    ax.set_title(
        f"Variance through noisy ReLU networks ({vmap.noise}, width {vmap.width}, float32)\n"
        f"measured vs theory in/out of float32 range agree in {vmap.agreement:.1%} of cells",
        fontsize=10,
    )
    ax.legend(loc="upper left", fontsize=8, framealpha=0.9)
    return fig
