"""Figures and Markdown report of the depth x noise experiment (``svccakit depth``).

:func:`loss_figure` draws the final losses of a :class:`svccakit.trainability.DepthGrid`
over noise x depth with ``6 xi_c`` over them; :func:`depth_report` writes the run's
``report.md`` (the variance figure is :func:`svccakit.variance.variance_figure`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from svccakit.depth.theory import DepthGrid, theory_depth
from svccakit.depth.variance import cell_edges, new_figure

__all__ = ["depth_report", "loss_figure"]

if TYPE_CHECKING:
    from svccakit.depth.experiment import DepthConfig
    from svccakit.depth.variance import VarianceMap


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
    fig = new_figure(figsize=(11, 4.6), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    cx, cy = _theory_curve(kind, xs[0], xs[-1])
    label = "dropout keep rate $p$" if kind == "dropout" else r"multiplicative Gaussian noise $\sigma_\epsilon$"
    for ax, column, title in zip(
        axes, ("rel_train_loss", "rel_val_loss"),
        ("final training loss", "final validation loss"), strict=True,
    ):
        z = np.full((ds.size, xs.size), np.nan)
        for row in cells.itertuples():
            z[np.searchsorted(ds, row.depth), np.searchsorted(xs, row.noise_value)] = getattr(row, column)
        mesh = ax.pcolormesh(cell_edges(xs), cell_edges(ds), z, cmap="viridis", vmin=0.0, vmax=1.1,
                             shading="flat")
        ax.plot(cx, cy, color="red", lw=2.5, label=r"$6\,\xi_c$ (theory)")
        ax.set_ylim(cell_edges(ds)[0], cell_edges(ds)[-1])
        ax.set_xlim(cell_edges(xs)[0], cell_edges(xs)[-1])
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
