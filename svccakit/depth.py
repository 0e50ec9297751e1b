"""Noise limits trainable depth: the depth x noise boundary at ``6 xi_c``.

Pretorius, van Biljon, Kroon & Kamper (2018), "Critical initialisation for deep signal
propagation in noisy rectifier neural networks": a critically initialised noisy ReLU
network (``sigma_w^2 = 2 / mu2``, ``sigma_b = 0``) keeps the *variance* of its signal
constant with depth, but the noise drives the *correlation* between two inputs to a fixed
point ``c* < 1`` at the rate ``xi_c = -1 / ln chi(c*)`` (Schoenholz et al. 2017). Deeper than
about ``6 xi_c`` the output no longer depends on which input went in and the network cannot
be trained; the paper shows it with heatmaps of the final loss of input reconstruction (MSE)
over depth x dropout keep rate, with ``6 xi_c`` drawn over them, and with the variance
``q^L`` over depth x ``sigma_w^2``, which leaves float32's range (overflow/underflow) off
criticality at a depth the theory predicts.

This module reproduces both on scikit-learn's digits:

* :func:`depth_grid` trains one critically initialised noisy ReLU network per
  (noise, depth) cell with the pipeline's runner and returns a :class:`DepthGrid`: final
  training and validation loss next to ``xi_c`` and ``6 xi_c``, and whether the measured
  trainable/untrainable split agrees with the theory;
* :func:`variance_map` runs real float32 forward passes over depth x ``sigma_w^2`` at fixed
  noise and returns :class:`VarianceMap` (``log10 q^L``, the theory's float32 boundary);
* :func:`loss_figure` and :func:`variance_figure` draw them (matplotlib Figures, Agg);
* :func:`run_depth` does everything and writes ``grid.csv``, ``variance.csv``,
  ``figures/*.png`` and ``report.md`` (``svccakit depth``).

Trainability criterion. A network the theory calls untrainable has forgotten which input it
saw, so the best it can do is the *trivial predictor*, the mean training image, whose
validation MSE is ``trivial_loss``. A cell is *trainable* when its relative validation loss
``val_loss / trivial_loss`` is below ``threshold`` (default 0.9, i.e. it explains at least
10% of the pixel variance the mean image leaves). Untrainable networks sit at a relative
loss of 1 (within a few per cent, from the finite validation set and the readout's bias),
so 0.9 is clear of that plateau without being tuned to the theory; the report also gives the
agreement at other thresholds. The theory calls a cell trainable when ``depth <= 6 xi_c``,
where ``depth`` is the number of hidden layers (noise sits before each of the
``depth + 1`` linear layers, the input's included).
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "DepthConfig",
    "DepthGrid",
    "DepthResult",
    "GRID_COLUMNS",
    "VarianceMap",
    "depth_grid",
    "depth_report",
    "existing_outputs",
    "full_config",
    "loss_figure",
    "quick_config",
    "reconstruction_task",
    "run_depth",
    "run_file_name",
    "theory_depth",
    "trivial_loss",
    "variance_figure",
    "variance_map",
]

DEFAULT_THRESHOLD = 0.9
_F32_MAX = float(np.finfo(np.float32).max)
_F32_TINY = float(np.finfo(np.float32).tiny)


# ------------------------------------------------------------------------ theory


def _multiplicative_noise(spec, name: str = "noise"):
    """Parse a noise spec and check it has a critical point (multiplicative or none)."""
    from svccakit.meanfield import parse_noise

    noise = parse_noise(spec)
    if noise.kind not in ("none", "dropout", "gauss"):
        raise ValueError(
            f"{name}: expected 'none', 'dropout:P' or 'gauss:SIGMA' (multiplicative noise, "
            f"which has a critical point), got {spec!r}"
        )
    return noise


def theory_depth(noise) -> tuple[float, float, float]:
    """``(sigma_w, xi_c, 6 xi_c)`` of a critically initialised noisy ReLU network.

    Parameters
    ----------
    noise : str or svccakit.meanfield.Noise
        ``"none"``, ``"dropout:P"`` (keep rate P) or ``"gauss:SIGMA"``.

    Returns
    -------
    sigma_w, xi_c, six_xi_c : float
        ``sigma_w = sqrt(2 / mu2)``; ``xi_c = -1 / ln chi(c*)`` (``inf`` without noise) from
        :func:`svccakit.meanfield.critical_point`.
    """
    from svccakit.meanfield import critical_point

    cp = critical_point("relu", _multiplicative_noise(noise))
    return cp.sigma_w, cp.xi_c, cp.trainable_depth


def _noise_axis(noises: Sequence[str]) -> tuple[str, list[float]]:
    """The family ("dropout" / "gauss") of a list of noise specs and their parameters.

    ``"none"`` joins either family as keep rate 1 or sigma 0.
    """
    parsed = [_multiplicative_noise(n) for n in noises]
    kinds = {n.kind for n in parsed} - {"none"}
    if len(kinds) > 1:
        raise ValueError(f"noises: expected one family (dropout or gauss), got {sorted(kinds)}")
    kind = kinds.pop() if kinds else "dropout"
    if kind == "dropout":
        return kind, [1.0 if n.kind == "none" else n.p for n in parsed]
    return kind, [0.0 if n.kind == "none" else n.sigma for n in parsed]


def _noise_spec(kind: str, value: float) -> str:
    if (kind == "dropout" and value == 1.0) or (kind == "gauss" and value == 0.0):
        return "none"
    return f"{kind}:{value:g}"


# ------------------------------------------------------------------ variance map


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


def _check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    return int(value)


def _unit_inputs(n_inputs: int, seed: int) -> np.ndarray:
    """``n_inputs`` digits images rescaled to ``||x||^2 / D_0 = 1``: shape (n_inputs, 64)."""
    from sklearn.datasets import load_digits

    x = load_digits().data.astype(np.float64)
    rng = np.random.default_rng(seed)
    x = x[rng.choice(len(x), size=min(n_inputs, len(x)), replace=False)]
    return (x / np.sqrt(np.mean(x**2, axis=1, keepdims=True))).astype(np.float32)


def variance_map(
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

    from svccakit.init import set_weights_
    from svccakit.meanfield import float32_depth
    from svccakit.nets import mlp

    nz = _multiplicative_noise(noise)
    max_depth = _check_int(max_depth, "max_depth", 1)
    width = _check_int(width, "width", 1)
    n_inputs = _check_int(n_inputs, "n_inputs", 1)
    seed = _check_int(seed, "seed", 0)
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


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _edges(values: np.ndarray) -> np.ndarray:
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
    plt = _pyplot()
    from matplotlib.colors import TwoSlopeNorm

    fig, ax = plt.subplots(figsize=(7.5, 4.8), layout="constrained")
    data = np.ma.masked_invalid(np.where(np.isinf(vmap.log10_q), np.nan, vmap.log10_q))
    lim = max(float(np.nanmax(np.abs(data))) if data.count() else 1.0, 40.0)
    cmap = plt.get_cmap("RdBu_r").with_extremes(bad="0.25")
    mesh = ax.pcolormesh(
        _edges(vmap.depths), _edges(vmap.sigma_w2), data, cmap=cmap,
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


# ------------------------------------------------------------------ training grid


def reconstruction_task(config):
    """The digits of an experiment config as a reconstruction task (targets = inputs).

    Parameters
    ----------
    config : svccakit.config.ExperimentConfig
        With ``task.name = "digits"``: :func:`svccakit.tasks.make_task` gives the
        standardised pixels (training-split mean 0, variance 1 per pixel; constant border
        pixels 0), the validation split and the probe batch.

    Returns
    -------
    svccakit.tasks.Task
        ``kind="regression"``, ``name="digits-reconstruction"``, targets equal to inputs
        (shape (n, 64)), trained with the mean squared error.
    """
    from svccakit.tasks import custom_task, make_task

    t = make_task(config)
    return custom_task(t.x_train, t.x_train, probe=t.probe, x_val=t.x_val, y_val=t.x_val,
                       probe_y=t.probe, kind="regression", name="digits-reconstruction")


def trivial_loss(train: np.ndarray, val: np.ndarray) -> float:
    """Validation MSE of the trivial predictor, the mean training image.

    Parameters
    ----------
    train : array of shape (n_train, n_features)
    val : array of shape (n_val, n_features)

    Returns
    -------
    float
        ``mean((val - train.mean(0))^2)`` over samples and features.
    """
    train, val = np.asarray(train, dtype=np.float64), np.asarray(val, dtype=np.float64)
    return float(np.mean((val - train.mean(axis=0)) ** 2))


GRID_COLUMNS = (
    "noise", "noise_kind", "noise_value", "depth", "seed", "width", "steps", "sigma_w", "mu2",
    "xi_c", "six_xi_c", "train_loss", "val_loss", "trivial_loss", "trivial_train_loss",
    "rel_train_loss", "rel_val_loss", "trainable_theory", "trainable", "agrees", "run",
)


@dataclass(frozen=True)
class DepthGrid:
    """Final losses of the depth x noise grid next to the theory.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per trained network, columns :data:`GRID_COLUMNS`: ``noise`` (spec),
        ``noise_kind`` ("dropout"/"gauss"), ``noise_value`` (keep rate or sigma), ``depth``
        (hidden layers), ``seed``, ``width``, ``steps``, ``sigma_w`` (critical, ``sqrt(2 /
        mu2)``), ``mu2``, ``xi_c``, ``six_xi_c``, ``train_loss`` (final, whole training set),
        ``val_loss`` (final, validation set; both in eval mode, noise off), ``trivial_loss`` /
        ``trivial_train_loss`` (validation / training MSE of the mean training image),
        ``rel_val_loss`` / ``rel_train_loss`` (divided by them), ``trainable_theory``
        (``depth <= six_xi_c``),
        ``trainable`` (``rel_val_loss < threshold``), ``agrees``, ``run`` (run file).
    threshold : float
        Relative validation loss below which a network counts as trained.
    """

    table: object
    threshold: float

    @classmethod
    def from_csv(cls, path: str | os.PathLike, threshold: float = DEFAULT_THRESHOLD) -> DepthGrid:
        """Read a ``grid.csv`` written by :func:`run_depth`; ``trainable``/``agrees`` are
        recomputed at ``threshold``."""
        import pandas as pd

        threshold = _check_threshold(threshold)
        table = pd.read_csv(path, keep_default_na=False, na_values=[""])
        missing = [c for c in GRID_COLUMNS if c not in table.columns]
        if missing:
            raise ValueError(f"grid table {str(path)!r}: missing columns {missing}")
        table["run"] = table["run"].fillna("").astype(str)
        table["trainable"] = table["rel_val_loss"] < threshold
        table["agrees"] = table["trainable"] == table["trainable_theory"]
        return cls(table=table[list(GRID_COLUMNS)], threshold=threshold)

    def cells(self):
        """Seed-averaged table: one row per (noise, depth), losses averaged over seeds,
        ``trainable``/``agrees`` recomputed from the averages, ``n_seeds``, and
        ``near_boundary`` (the deepest grid depth <= 6 xi_c or the shallowest above it, for
        that noise). Returns a DataFrame."""
        return _cells(self.table, self.threshold)

    def agreement(self, threshold: float | None = None) -> float:
        """Fraction of (noise, depth) cells where ``rel_val_loss < threshold`` (seed
        average) agrees with ``depth <= 6 xi_c``."""
        t = self.threshold if threshold is None else _check_threshold(threshold)
        return float(_cells(self.table, t)["agrees"].mean())


def _check_threshold(threshold) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold:
        raise ValueError(f"threshold: expected a number > 0, got {threshold!r}")
    return float(threshold)


def _cells(table, threshold: float):
    keys = ["noise_kind", "noise_value", "noise", "depth"]
    first = ["width", "steps", "sigma_w", "mu2", "xi_c", "six_xi_c", "trainable_theory"]
    mean = ["train_loss", "val_loss", "trivial_loss", "trivial_train_loss", "rel_train_loss",
            "rel_val_loss"]
    agg = {c: "first" for c in first} | {c: "mean" for c in mean} | {"seed": "count"}
    cells = table.groupby(keys, sort=True, as_index=False).agg(agg)
    cells = cells.rename(columns={"seed": "n_seeds"})
    cells["trainable"] = cells["rel_val_loss"] < threshold
    cells["agrees"] = cells["trainable"] == cells["trainable_theory"]
    # next to the curve: the deepest grid depth <= 6 xi_c or the shallowest one above it
    cells["near_boundary"] = False
    for _, sub in cells.groupby(["noise_kind", "noise_value"]):
        six = sub["six_xi_c"].iloc[0]
        below, above = sub[sub["depth"] <= six], sub[sub["depth"] > six]
        for part, pick in ((below, "idxmax"), (above, "idxmin")):
            if len(part):
                cells.loc[getattr(part["depth"], pick)(), "near_boundary"] = True
    return cells


def _theory_curve(kind: str, lo: float, hi: float, n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """(noise values, 6 xi_c) on a fine grid between lo and hi (keep rates < 1 / sigmas > 0)."""
    if kind == "dropout":
        xs = np.linspace(max(lo, 0.02), min(hi, 0.999), n)
    else:
        xs = np.linspace(max(lo, 0.01), hi, n)
    six = np.array([theory_depth(f"{kind}:{x:.6g}")[2] for x in xs])
    return xs, six


def loss_figure(grid: DepthGrid, kind: str | None = None):
    """Heatmaps of the final training and validation loss (relative to the trivial
    predictor) over noise x depth for one noise family, with ``6 xi_c`` drawn over them.

    Cells where the measured split disagrees with the theory are marked with a cross.

    Parameters
    ----------
    grid : DepthGrid
    kind : {"dropout", "gauss"}, optional
        Noise family to draw; default the first in the table.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not isinstance(grid, DepthGrid):
        raise TypeError(f"grid: expected a DepthGrid, got {type(grid).__name__}")
    cells = grid.cells()
    kinds = list(dict.fromkeys(cells["noise_kind"]))
    if kind is None:
        kind = kinds[0]
    if kind not in kinds:
        raise ValueError(f"kind: expected one of {kinds} (the noise families in the grid), got {kind!r}")
    cells = cells[cells["noise_kind"] == kind]
    xs = np.sort(cells["noise_value"].unique())
    ds = np.sort(cells["depth"].unique())
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), layout="constrained", sharey=True)
    cx, cy = _theory_curve(kind, xs[0], xs[-1])
    label = "dropout keep rate $p$" if kind == "dropout" else r"multiplicative Gaussian noise $\sigma_\epsilon$"
    for ax, column, title in zip(
        axes, ("rel_train_loss", "rel_val_loss"),
        ("final training loss", "final validation loss"), strict=True,
    ):
        z = np.full((ds.size, xs.size), np.nan)
        for row in cells.itertuples():
            z[np.searchsorted(ds, row.depth), np.searchsorted(xs, row.noise_value)] = getattr(row, column)
        mesh = ax.pcolormesh(_edges(xs), _edges(ds), z, cmap="viridis", vmin=0.0, vmax=1.1,
                             shading="flat")
        ax.plot(cx, cy, color="red", lw=2.5, label=r"$6\,\xi_c$ (theory)")
        ax.set_ylim(_edges(ds)[0], _edges(ds)[-1])
        ax.set_xlim(_edges(xs)[0], _edges(xs)[-1])
        ax.set_xlabel(label)
        ax.set_title(f"{title} / trivial predictor's", fontsize=10)
        if column == "rel_val_loss":
            bad = cells[~cells["agrees"]]
            ax.plot(bad["noise_value"], bad["depth"], "wx", ms=7, mew=1.5,
                    label="disagrees with theory")
        ax.legend(loc="upper left" if kind == "dropout" else "upper right", fontsize=8,
                  framealpha=0.85)
    axes[0].set_ylabel("depth (hidden layers)")
    cbar = fig.colorbar(mesh, ax=axes, shrink=0.9)
    cbar.set_label("loss / loss of the mean image (1 = learned nothing)")
    cbar.ax.axhline(grid.threshold, color="w", lw=1.5)
    width, steps = int(cells["width"].iloc[0]), int(cells["steps"].iloc[0])
    fig.suptitle(
        f"Critically initialised noisy ReLU nets reconstructing digits (width {width}, "
        f"{steps} steps)\ntrainable (val. loss < {grid.threshold:g} x trivial) agrees with "
        f"depth <= 6 xi_c in {grid.agreement():.0%} of cells",
        fontsize=10,
    )
    return fig


def _train_cell(experiment, noise: str, depth: int, seed: int, path: str, overwrite: bool) -> dict:
    """Train one cell with :func:`svccakit.train.train_run` and read its final losses back
    from the run file. Runs in a worker with one BLAS/torch thread."""
    import torch
    from threadpoolctl import threadpool_limits

    from svccakit.store import open_run
    from svccakit.train import train_run

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1), torch.random.fork_rng(devices=[]):
            config = experiment.updated({"depth": depth})
            task = reconstruction_task(config)
            train_run(config, init="critical", activation="relu", noise=noise, seed=seed,
                      path=path, overwrite=overwrite, task=task)
    finally:
        torch.set_num_threads(threads)
    with open_run(path) as run:
        last = int(run.steps[-1])
        metrics = run.metrics
        train_loss, val_loss = float(metrics["loss"][-1]), float(metrics["val_loss"][-1])
    if last != config.steps:
        raise ValueError(
            f"schedule: the last snapshot of {path!r} is step {last}, not the final step "
            f"{config.steps}; use a schedule that ends at the final step (kind = \"every\")"
        )
    return {"train_loss": train_loss, "val_loss": val_loss,
            "trivial_loss": trivial_loss(task.x_train.numpy(), task.x_val.numpy()),
            "trivial_train_loss": trivial_loss(task.x_train.numpy(), task.x_train.numpy()),
            "run": str(path)}


# ------------------------------------------------------------------------ config

_GRID_KEYS = ("depths", "threshold", "variance_noise", "variance_max_depth", "variance_width",
              "variance_n_sigma")


@dataclass(frozen=True)
class DepthConfig:
    """The depth x noise experiment: an experiment config plus the grid's depths.

    The TOML file is the :class:`svccakit.config.ExperimentConfig` format with one more
    table, ``[depth_grid]`` (the keys below but ``experiment``); keys missing from a file
    take the values of :func:`quick_config`.

    Attributes
    ----------
    experiment : svccakit.config.ExperimentConfig
        Everything but the depths: ``noises`` (``"none"``, ``"dropout:P"``,
        ``"gauss:SIGMA"``; one heatmap per family), ``width``, ``steps``, ``seeds``,
        ``optimiser``, ``schedule`` (snapshots in each run file), ``n_jobs``, and ``task``
        (must be ``"digits"``: its images are reconstructed). ``activations`` must be
        ``["relu"]`` and ``inits`` ``["critical"]``; ``depth`` is replaced by each of
        ``depths``.
    depths : tuple of int
        Numbers of hidden layers.
    threshold : float
        Relative validation loss below which a cell counts as trainable.
    variance_noise : str
        Noise of the variance heatmap.
    variance_max_depth, variance_width, variance_n_sigma : int
        Variance heatmap: depth, width, number of ``sigma_w^2`` values (``0.1 .. 2 x 2/mu2``).
    """

    experiment: object
    depths: tuple[int, ...]
    threshold: float = DEFAULT_THRESHOLD
    variance_noise: str = "dropout:0.6"
    variance_max_depth: int = 200
    variance_width: int = 256
    variance_n_sigma: int = 41

    def __post_init__(self):
        from svccakit.config import ExperimentConfig

        exp = self.experiment
        if not isinstance(exp, ExperimentConfig):
            raise TypeError(f"experiment: expected an ExperimentConfig, got {type(exp).__name__}")
        if exp.task.name != "digits":
            raise ValueError(f"task.name: the depth experiment reconstructs digits, expected "
                             f"'digits', got {exp.task.name!r}")
        if exp.task.n_val < 1:
            raise ValueError(f"task.n_val: the depth experiment needs a validation split, got {exp.task.n_val}")
        if tuple(exp.activations) != ("relu",):
            raise ValueError(f"activations: the depth experiment uses ReLU, expected ['relu'], "
                             f"got {list(exp.activations)}")
        if tuple(exp.inits) != ("critical",):
            raise ValueError(f"inits: the depth experiment uses the critical initialisation, "
                             f"expected ['critical'], got {list(exp.inits)}")
        for n in exp.noises:
            _multiplicative_noise(n, "noises")
        if isinstance(self.depths, (str, bytes)) or not isinstance(self.depths, Sequence) or not self.depths:
            raise ValueError(f"depths: expected a non-empty list of integers >= 1, got {self.depths!r}")
        for d in self.depths:
            _check_int(d, "depths", 1)
        for name in ("variance_max_depth", "variance_width"):
            _check_int(getattr(self, name), name, 1)
        _check_int(self.variance_n_sigma, "variance_n_sigma", 2)
        _check_threshold(self.threshold)
        _multiplicative_noise(self.variance_noise, "variance_noise")

    def cells(self) -> list[tuple[str, int, int]]:
        """``(noise, depth, seed)`` of every network, in grid order."""
        e = self.experiment
        return [(n, d, s) for n in e.noises for d in self.depths for s in e.seeds]

    def grid_dict(self) -> dict:
        """The ``[depth_grid]`` table as a dict (lists for tuples)."""
        return {k: list(getattr(self, k)) if k == "depths" else getattr(self, k) for k in _GRID_KEYS}

    def to_toml(self, path: str | os.PathLike) -> Path:
        """Write the experiment's TOML plus the ``[depth_grid]`` table; returns the path."""
        lines = [self.experiment.to_toml_string().rstrip("\n"), "",
                 "# --- depth x noise grid (`svccakit depth`): depths replace `depth` above",
                 "[depth_grid]"]
        for key, value in self.grid_dict().items():
            lines.append(f"{key} = {_toml_value(tuple(value) if isinstance(value, list) else value)}")
        path = Path(path)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    @classmethod
    def from_toml(cls, path: str | os.PathLike) -> DepthConfig:
        """Read a depth config; missing keys take :func:`quick_config`'s values."""
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - Python 3.10
            import tomli as tomllib

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file {str(path)!r} does not exist")
        try:
            with path.open("rb") as fh:
                data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"config file {str(path)!r} is not valid TOML: {exc}") from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict) -> DepthConfig:
        """Build from the TOML's dict (experiment keys and a ``depth_grid`` table);
        missing keys take :func:`quick_config`'s values."""
        from svccakit.config import ExperimentConfig

        if not isinstance(data, dict):
            raise TypeError(f"config: expected a dict, got {type(data).__name__}")
        data = dict(data)
        grid = data.pop("depth_grid", {})
        if not isinstance(grid, dict):
            raise ValueError(f"depth_grid: expected a table, got {grid!r}")
        unknown = sorted(set(grid) - set(_GRID_KEYS))
        if unknown:
            raise ValueError(f"unknown config key(s) {['depth_grid.' + k for k in unknown]}; "
                             f"[depth_grid] has {', '.join(_GRID_KEYS)}")
        base = quick_config()
        merged = base.experiment.to_dict()
        for key, value in data.items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
        kw = {**base.grid_dict(), **grid}
        kw["depths"] = tuple(kw["depths"]) if isinstance(kw["depths"], list) else kw["depths"]
        return cls(experiment=ExperimentConfig.from_dict(merged), **kw)


def _toml_value(value) -> str:
    if isinstance(value, str):
        return json.dumps(value)  # a valid TOML basic string
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def _experiment(**changes):
    from svccakit.config import ExperimentConfig

    base = {
        "depth": 2, "width": 128, "activations": ["relu"], "inits": ["critical"],
        "steps": 1000, "seeds": [0], "n_jobs": -1,
        "task": {"name": "digits", "n_train": 0, "n_val": 360, "n_probe": 32},
        "optimiser": {"name": "adam", "lr": 1e-3, "batch_size": 128},
    }
    base.update(changes)
    # two snapshots per run file: the start and the final step
    base.setdefault("schedule", {"kind": "every", "every": base["steps"]})
    return ExperimentConfig.from_dict(base)


def quick_config() -> DepthConfig:
    """The quick default (minutes on 2 cores): the noisy end, where ``6 xi_c`` crosses
    depths 2..20 (dropout keep rate 0.1..0.95, Gaussian sigma 0.25..2), width 128, 1000
    Adam steps."""
    noises = [f"dropout:{p:g}" for p in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)]
    noises += [f"gauss:{s:g}" for s in (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)]
    return DepthConfig(experiment=_experiment(noises=noises),
                       depths=(2, 3, 4, 5, 6, 8, 10, 12, 15, 20))


def full_config() -> DepthConfig:
    """Closer to the paper's grid: width 1000, depth 2..40, dropout keep rate 0.1..1 and
    Gaussian sigma 0.1..2, 5000 steps (days on 2 cores: pass a Dask scheduler)."""
    noises = [f"dropout:{p / 20:g}" for p in range(2, 20)] + ["none"]
    noises += [f"gauss:{s / 10:g}" for s in range(1, 21)]
    return DepthConfig(
        experiment=_experiment(noises=noises, width=1000, steps=5000),
        depths=tuple(range(2, 41, 2)), variance_max_depth=1000, variance_width=1000,
        variance_n_sigma=61,
    )


# ---------------------------------------------------------------------- execution


def _execute(calls: list, *, n_jobs, scheduler, progress, desc: str) -> list:
    """Run ``(fn, args)`` calls with joblib (loky processes, or Dask with ``scheduler``);
    results in call order."""
    from joblib import Parallel, delayed, parallel_config
    from tqdm.auto import tqdm

    results: list = [None] * len(calls)
    bar = tqdm(total=len(calls), desc=desc, unit="net", disable=not progress)
    # longest first: better packing of uneven jobs
    order = sorted(range(len(calls)), key=lambda i: -calls[i][2])

    def indexed(i):
        fn, args, _ = calls[i]
        return i, fn(*args)

    try:
        jobs = -1 if n_jobs is None else n_jobs
        if scheduler is None and (jobs == 1 or len(calls) <= 1):
            for i in order:
                results[i] = indexed(i)[1]
                bar.update(1)
        elif scheduler is None:
            with parallel_config(backend="loky", n_jobs=jobs, inner_max_num_threads=1):
                for i, res in Parallel(return_as="generator_unordered")(
                    delayed(indexed)(i) for i in order
                ):
                    results[i] = res
                    bar.update(1)
        else:
            client = _dask_client(scheduler)
            with client, parallel_config(backend="dask", n_jobs=jobs):
                for i, res in Parallel(return_as="generator_unordered")(
                    delayed(indexed)(i) for i in order
                ):
                    results[i] = res
                    bar.update(1)
    finally:
        bar.close()
    return results


def _dask_client(address: str):
    try:
        from distributed import Client
    except ImportError as exc:
        raise ImportError(
            f"scheduler={address!r} needs dask.distributed: pip install 'svccakit[dask]'"
        ) from exc
    try:
        return Client(address, timeout=10)
    except (OSError, TimeoutError) as exc:
        raise ValueError(
            f"scheduler: could not connect to a Dask scheduler at {address!r} ({exc})"
        ) from exc


def run_file_name(noise: str, depth: int, seed: int) -> str:
    """Run file name of one grid cell: ``critical-relu-<noise>-L<depth>-s<seed>.h5``."""
    slug = noise.replace(":", "")
    return f"critical-relu-{slug}-L{depth}-s{seed}.h5"


def depth_grid(
    config: DepthConfig,
    runs_dir: str | os.PathLike,
    *,
    n_jobs: int | None = None,
    scheduler: str | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> DepthGrid:
    """Train every (noise, depth, seed) network of ``config`` and tabulate its final losses.

    Each cell is one :func:`svccakit.train.train_run` of ``config.experiment`` with its
    ``depth`` replaced, ``init="critical"``, ``activation="relu"``, on
    :func:`reconstruction_task`: :func:`svccakit.nets.mlp` (64 -> width x depth -> 64, the
    noise before every linear layer), :func:`svccakit.init.critical_`, the config's
    optimiser on the MSE. Its run file holds the losses at the scheduled snapshots; the last
    snapshot (after the final step) gives ``train_loss`` (whole training set) and
    ``val_loss``, both in eval mode (noise off).

    Parameters
    ----------
    config : DepthConfig
    runs_dir : path-like
        Where the run files go (:func:`run_file_name`).
    n_jobs : int, optional
        Worker processes, one torch/BLAS thread each (default ``experiment.n_jobs``; -1:
        all CPUs; 1: in this process).
    scheduler : str, optional
        Address of a Dask scheduler to train on instead (workers must see ``runs_dir``).
    overwrite : bool
        Replace existing run files; otherwise they raise ``FileExistsError`` before any
        training.
    progress : bool
        A progress bar over finished networks (stderr).

    Returns
    -------
    DepthGrid
    """
    import pandas as pd

    if not isinstance(config, DepthConfig):
        raise TypeError(f"config: expected a DepthConfig, got {type(config).__name__}")
    if not isinstance(runs_dir, (str, os.PathLike)):
        raise TypeError(f"runs_dir: expected a path, got {type(runs_dir).__name__}")
    if n_jobs is None:
        n_jobs = config.experiment.n_jobs
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or not (n_jobs >= 1 or n_jobs == -1):
        raise ValueError(f"n_jobs: expected an integer >= 1 or -1 (all CPUs), got {n_jobs!r}")
    runs_dir = Path(runs_dir)
    cells = config.cells()
    paths = [runs_dir / run_file_name(n, d, s) for n, d, s in cells]
    if not overwrite:
        existing = [str(p) for p in paths if p.exists()]
        if existing:
            raise FileExistsError(
                f"{len(existing)} run file(s) already exist: {', '.join(existing[:3])}"
                f"{' ...' if len(existing) > 3 else ''}; pass overwrite=True (--overwrite)"
            )
    runs_dir.mkdir(parents=True, exist_ok=True)
    calls = [(_train_cell, (config.experiment, n, d, s, str(p), overwrite), d)
             for (n, d, s), p in zip(cells, paths, strict=True)]
    results = _execute(calls, n_jobs=n_jobs, scheduler=scheduler, progress=progress, desc="depth")
    rows = []
    for (noise, depth, seed), res in zip(cells, results, strict=True):
        nz = _multiplicative_noise(noise)
        kind, (value,) = _noise_axis([noise])
        sigma_w, xi, six = theory_depth(nz)
        rows.append({
            "noise": _noise_spec(kind, value), "noise_kind": kind, "noise_value": value,
            "depth": depth, "seed": seed, "width": config.experiment.width,
            "steps": config.experiment.steps, "sigma_w": sigma_w, "mu2": nz.mu2, "xi_c": xi,
            "six_xi_c": six, **res,
        })
    table = pd.DataFrame(rows)
    table["rel_train_loss"] = table["train_loss"] / table["trivial_train_loss"]
    table["rel_val_loss"] = table["val_loss"] / table["trivial_loss"]
    table["trainable_theory"] = table["depth"] <= table["six_xi_c"]
    table["trainable"] = table["rel_val_loss"] < config.threshold
    table["agrees"] = table["trainable"] == table["trainable_theory"]
    return DepthGrid(table=table[list(GRID_COLUMNS)], threshold=config.threshold)


# ------------------------------------------------------------------------ outputs

OUTPUTS = ("config.toml", "grid.csv", "variance.csv", "report.md", "figures", "runs")


@dataclass(frozen=True)
class DepthResult:
    """What :func:`run_depth` wrote.

    Attributes
    ----------
    out_dir, config, grid_csv, variance_csv, report : pathlib.Path
    figures : tuple of pathlib.Path
    grid : DepthGrid
    variance : VarianceMap
    agreement : float
        Fraction of (noise, depth) cells whose measured split agrees with ``6 xi_c``.
    seconds : float
        Wall-clock time of the whole run.
    """

    out_dir: Path
    config: Path
    grid_csv: Path
    variance_csv: Path
    report: Path
    figures: tuple[Path, ...]
    grid: DepthGrid
    variance: VarianceMap
    agreement: float
    seconds: float


def existing_outputs(out_dir: str | os.PathLike) -> list[Path]:
    """The :data:`OUTPUTS` of :func:`run_depth` already present in ``out_dir``."""
    out_dir = Path(out_dir)
    return [out_dir / name for name in OUTPUTS if (out_dir / name).exists()]


def run_depth(
    config: DepthConfig | None = None,
    out_dir: str | os.PathLike = "svccakit-depth",
    *,
    n_jobs: int | None = None,
    scheduler: str | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> DepthResult:
    """Run the depth x noise experiment and write its outputs to ``out_dir``.

    Writes ``config.toml``, ``runs/*.h5`` (one run file per network), ``grid.csv`` (one
    row per network, :data:`GRID_COLUMNS`), ``variance.csv`` (``sigma_w2, depth,
    log10_q, theory_log10_q``), ``figures/loss-<family>.png``, ``figures/variance.png``
    and ``report.md``.

    Parameters
    ----------
    config : DepthConfig, optional
        Default :func:`quick_config`.
    out_dir : path-like
    n_jobs : int, optional
        Worker processes (default ``config.n_jobs``; -1: all CPUs).
    scheduler : str, optional
        Dask scheduler address to train on.
    overwrite : bool
        Replace existing outputs; without it existing outputs raise ``FileExistsError``.
    progress : bool
        Progress bar on stderr.

    Returns
    -------
    DepthResult
    """
    import time

    import pandas as pd

    start = time.perf_counter()
    if config is None:
        config = quick_config()
    if not isinstance(config, DepthConfig):
        raise TypeError(f"config: expected a DepthConfig, got {type(config).__name__}")
    if not isinstance(out_dir, (str, os.PathLike)):
        raise TypeError(f"out_dir: expected a path, got {type(out_dir).__name__}")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(f"out_dir {str(out_dir)!r} exists and is not a directory")
    present = existing_outputs(out_dir)
    if present and not overwrite:
        raise FileExistsError(
            f"out_dir {str(out_dir)!r} already holds depth outputs "
            f"({', '.join(p.name for p in present)}); pass overwrite=True (--overwrite)"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    config_path = out_dir / "config.toml"
    config.to_toml(config_path)

    grid = depth_grid(config, out_dir / "runs", n_jobs=n_jobs, scheduler=scheduler,
                      overwrite=overwrite, progress=progress)
    grid_csv = out_dir / "grid.csv"
    grid.table.to_csv(grid_csv, index=False)

    nz = _multiplicative_noise(config.variance_noise)
    vmap = variance_map(
        nz, np.linspace(0.1, 2.0 * 2.0 / nz.mu2, config.variance_n_sigma),
        max_depth=config.variance_max_depth, width=config.variance_width,
        seed=config.experiment.seeds[0],
    )
    s2, dd = np.meshgrid(vmap.sigma_w2, vmap.depths, indexing="ij")
    variance_csv = out_dir / "variance.csv"
    pd.DataFrame({
        "noise": vmap.noise, "sigma_w2": s2.ravel(), "depth": dd.ravel(),
        "log10_q": vmap.log10_q.ravel(), "theory_log10_q": vmap.theory_log10_q.ravel(),
    }).to_csv(variance_csv, index=False)

    fig_dir = out_dir / "figures"
    fig_dir.mkdir(exist_ok=True)
    plt = _pyplot()
    figures = []
    for kind in dict.fromkeys(grid.table["noise_kind"]):
        fig = loss_figure(grid, kind)
        figures.append(fig_dir / f"loss-{kind}.png")
        fig.savefig(figures[-1], dpi=110)
        plt.close(fig)
    fig = variance_figure(vmap)
    figures.append(fig_dir / "variance.png")
    fig.savefig(figures[-1], dpi=110)
    plt.close(fig)

    seconds = time.perf_counter() - start
    report = out_dir / "report.md"
    report.write_text(depth_report(grid, vmap, config, figures=figures, base=out_dir,
                                   seconds=seconds), encoding="utf-8")
    return DepthResult(
        out_dir=out_dir, config=config_path, grid_csv=grid_csv, variance_csv=variance_csv,
        report=report, figures=tuple(figures), grid=grid, variance=vmap,
        agreement=grid.agreement(), seconds=seconds,
    )


def _boundary_rows(cells) -> list[str]:
    rows = []
    for _, sub in cells.groupby(["noise_kind", "noise_value"], sort=True):
        ok = sub.loc[sub["trainable"], "depth"]
        bad = sub.loc[~sub["trainable"], "depth"]
        above = sub.loc[~sub["trainable_theory"], "rel_val_loss"]
        below = sub.loc[sub["trainable_theory"], "rel_val_loss"]
        rows.append(
            f"| {sub['noise'].iloc[0]} | {sub['xi_c'].iloc[0]:.3g} | {sub['six_xi_c'].iloc[0]:.3g} "
            f"| {ok.max() if len(ok) else '-'} | {bad.min() if len(bad) else '-'} "
            f"| {f'{below.mean():.2f}' if len(below) else '-'} "
            f"| {f'{above.mean():.2f}' if len(above) else '-'} |"
        )
    return rows


def depth_report(
    grid: DepthGrid, vmap: VarianceMap, config: DepthConfig, *, figures=(), base=None,
    seconds: float | None = None,
) -> str:
    """The Markdown report of a depth run.

    Parameters
    ----------
    grid : DepthGrid
    vmap : VarianceMap
    config : DepthConfig
    figures : sequence of path-like
        PNGs to link (relative to ``base`` when given).
    base : path-like, optional
    seconds : float, optional
        Wall-clock time to state.

    Returns
    -------
    str
    """
    e = config.experiment
    cells = grid.cells()
    opt = e.optimiser
    thresholds = (0.5, 0.7, 0.8, 0.9, 0.95)
    lines = [
        "# Noise limits trainable depth",
        "",
        "Critically initialised noisy ReLU networks (`sigma_w^2 = 2/mu2`, `sigma_b = 0`; "
        "Pretorius et al. 2018) reconstructing scikit-learn's 8x8 digits (MSE on "
        "standardised pixels), over depth x noise, against the theory's trainable depth "
        "`6 xi_c` (Schoenholz et al. 2017).",
        "",
        f"- Networks: 64 -> {e.width} x depth -> 64, ReLU, noise before every linear layer "
        f"(the input's too); {opt.name} lr {opt.lr:g}, batch {opt.batch_size}, {e.steps} "
        f"steps; {e.task.n_val} validation images, the rest of the 1797 for training; seeds "
        f"{list(e.seeds)}.",
        f"- Depths (hidden layers): {list(config.depths)}.",
        f"- Noises: {', '.join(e.noises)}.",
        "- Losses: final, in eval mode (noise off): `train_loss` on the whole training set, "
        "`val_loss` on the validation set; `rel_val_loss` (`rel_train_loss`) divides by the "
        "validation (training) MSE of the mean training image, `trivial_loss` "
        "(`trivial_train_loss`).",
    ]
    if seconds is not None:
        lines.append(f"- Wall-clock time: {seconds:.0f} s.")
    lines += [
        "",
        "## Agreement with 6 xi_c",
        "",
        f"**{grid.agreement():.1%}** of the {len(cells)} (noise, depth) cells agree: measured "
        f"trainable (relative validation loss < {grid.threshold:g}) exactly where "
        "`depth <= 6 xi_c`.",
        "",
    ]
    for kind in dict.fromkeys(cells["noise_kind"]):
        sub = cells[cells["noise_kind"] == kind]
        lines.append(f"- {kind}: {sub['agrees'].mean():.1%} of {len(sub)} cells.")
    away = cells[~cells["near_boundary"]]
    if len(away):
        lines.append(
            f"- away from the curve (leaving out, per noise level, the grid depth just below "
            f"and just above 6 xi_c): {away['agrees'].mean():.1%} of {len(away)} cells.")
    noisy = cells[cells["six_xi_c"] <= np.median(config.depths)]
    if len(noisy):
        lines.append(
            f"- noisy end (6 xi_c <= {np.median(config.depths):g}, the median grid depth): "
            f"{noisy['agrees'].mean():.1%} of {len(noisy)} cells.")
    lines += [
        "",
        "**What sets the threshold.** A network deeper than `6 xi_c` has lost the "
        "correlation between inputs (every pair converges to `c*`, whatever the inputs), so "
        "its output cannot depend on the input and the best it can do is the trivial "
        "predictor, the mean training image. We divide the final validation MSE by that "
        "predictor's validation MSE and call a cell *trainable* when the ratio is below "
        f"**{grid.threshold:g}**, i.e. the network explains at least "
        f"{1 - grid.threshold:.0%} of the pixel variance the mean image leaves. Untrainable "
        "networks sit at a ratio of about 1 (last column below), so the threshold is set just "
        "clear of that plateau, not fitted to the theory. Agreement at other thresholds:",
        "",
        "| threshold | " + " | ".join(f"{t:g}" for t in thresholds) + " |",
        "|---|" + "---|" * len(thresholds),
        "| agreement | " + " | ".join(f"{grid.agreement(t):.1%}" for t in thresholds) + " |",
        "",
        "## Per noise level",
        "",
        "| noise | xi_c | 6 xi_c | deepest trainable | shallowest untrainable | mean rel. val. "
        "loss, depth <= 6 xi_c | mean rel. val. loss, depth > 6 xi_c |",
        "|---|---|---|---|---|---|---|",
        *_boundary_rows(cells),
    ]
    bad = cells[~cells["agrees"]]
    if len(bad):
        lines += ["", "Disagreeing cells (noise, depth: 6 xi_c, relative val. loss): "
                  + "; ".join(f"{r.noise}, {r.depth}: {r.six_xi_c:.1f}, {r.rel_val_loss:.2f}"
                              for r in bad.itertuples()) + "."]
    lines += [
        "",
        "## Variance through depth (float32)",
        "",
        f"Real float32 forward passes (width {vmap.width}, {vmap.noise}, {vmap.n_inputs} digits "
        f"rescaled to `|x|^2/D = 1`, noise on) over {vmap.sigma_w2.size} values of "
        f"`sigma_w^2` in [{vmap.sigma_w2[0]:.3g}, {vmap.sigma_w2[-1]:.3g}] and depth "
        f"1..{vmap.depths[-1]}: the measured `q^l` is inside float32's normal range exactly "
        f"where the theory `q^l = (sigma_w^2 mu2/2)^(l-1) q^1` says in **{vmap.agreement:.1%}** "
        f"of the cells; at criticality (`sigma_w^2 = {vmap.critical_sigma_w2:.3g}`) it stays "
        "in range at every depth.",
        "",
        "## Figures",
        "",
    ]
    for path in figures:
        rel = Path(os.path.relpath(path, base)).as_posix() if base is not None else str(path)
        lines.append(f"![{Path(path).stem}]({rel})")
    lines.append("")
    return "\n".join(lines)
