"""Figures of the depth x noise experiment (matplotlib Figures, no pyplot state).

* :func:`loss_figure`: the final training and validation loss over noise x depth for one
  noise family, ``6 xi_c`` drawn over them;
* :func:`kscan_figure`: the agreement of ``depth <= k xi_c`` against ``k`` (per budget, with
  the seeds' range and the trivial predictors as the floor) and the measured boundary of
  each noise level as an interval of ``k``;
* :func:`budget_figure`: the validation loss over noise x depth at every training budget,
  with ``6 xi_c`` and the best ``k xi_c`` at that budget.

The variance figure is :func:`svccakit.depth.variance.variance_figure`.
"""

from __future__ import annotations

import math

import numpy as np

from svccakit.depth.scan import BoundaryTest
from svccakit.depth.theory import DepthGrid, theory_depth
from svccakit.depth.variance import cell_edges, new_figure

__all__ = ["budget_figure", "family_cells", "families", "kscan_figure", "loss_figure"]

_AXIS_LABEL = {"dropout": "dropout keep rate $p$",
               "gauss": r"multiplicative Gaussian noise $\sigma_\epsilon$"}


def families(cells) -> list[str]:
    """The noise families of a cells table, in order (noise-free cells alone: dropout)."""
    noisy = cells[np.isfinite(cells["xi_c"].to_numpy(float))]
    kinds = list(dict.fromkeys(noisy["noise_kind"]))
    return kinds or ["dropout"]


def family_cells(cells, kind: str):
    """The cells of one noise family plus the noise-free cells, drawn as keep rate 1
    (dropout) or sigma 0 (Gaussian)."""
    free = ~np.isfinite(cells["xi_c"].to_numpy(float))
    out = cells[(cells["noise_kind"] == kind).to_numpy() & ~free]
    none = cells[free].copy()
    none["noise_kind"] = kind
    none["noise_value"] = 1.0 if kind == "dropout" else 0.0
    import pandas as pd

    return pd.concat([out, none], ignore_index=True)


def _theory_curve(kind: str, lo: float, hi: float, k: float = 6.0,
                  n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """(noise values, k xi_c) on a fine grid between lo and hi (keep rates < 1 / sigmas > 0)."""
    if kind == "dropout":
        xs = np.linspace(max(lo, 0.02), min(hi, 0.999), n)
    else:
        xs = np.linspace(max(lo, 0.01), hi, n)
    xi = np.array([theory_depth(f"{kind}:{x:.6g}")[1] for x in xs])
    return xs, k * xi


def _heatmap(ax, cells, kind, column, *, ks=(6.0,), mark=None, mark_label=None):
    """One pcolormesh of ``column`` over noise x depth with ``k xi_c`` curves; returns the
    mesh."""
    xs = np.sort(cells["noise_value"].unique())
    ds = np.sort(cells["depth"].unique())
    z = np.full((ds.size, xs.size), np.nan)
    for row in cells.itertuples():
        z[np.searchsorted(ds, row.depth), np.searchsorted(xs, row.noise_value)] = getattr(row, column)
    mesh = ax.pcolormesh(cell_edges(xs), cell_edges(ds), z, cmap="viridis", vmin=0.0, vmax=1.1,
                         shading="flat")
    styles = [("red", "-", 2.5), ("white", "--", 1.8), ("orange", ":", 1.8)]
    for k, (color, ls, lw) in zip(ks, styles, strict=False):
        cx, cy = _theory_curve(kind, xs[0], xs[-1], k=k)
        ax.plot(cx, cy, color=color, ls=ls, lw=lw, label=rf"${k:g}\,\xi_c$ (theory)"
                if k == 6.0 else rf"${k:g}\,\xi_c$ (best $k$)")
    if mark is not None and len(mark):
        ax.plot(mark["noise_value"], mark["depth"], "wx", ms=7, mew=1.5, label=mark_label)
    ax.set_ylim(cell_edges(ds)[0], cell_edges(ds)[-1])
    ax.set_xlim(cell_edges(xs)[0], cell_edges(xs)[-1])
    ax.set_xlabel(_AXIS_LABEL[kind])
    ax.legend(loc="upper left" if kind == "dropout" else "upper right", fontsize=7,
              framealpha=0.85)
    return mesh


def loss_figure(grid: DepthGrid, kind: str | None = None, steps: int | None = None):
    """Heatmaps of the training and validation loss (relative to the trivial predictor)
    over noise x depth for one noise family at one budget, with ``6 xi_c`` over them.

    Cells where the measured split disagrees with the theory are marked with a cross;
    noise-free cells are drawn as keep rate 1 (dropout) or sigma 0 (Gaussian).

    Parameters
    ----------
    grid : DepthGrid
    kind : {"dropout", "gauss"}, optional
        Noise family to draw; default the first in the table.
    steps : int, optional
        Training budget; default the largest.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not isinstance(grid, DepthGrid):
        raise TypeError(f"grid: expected a DepthGrid, got {type(grid).__name__}")
    steps = grid.check_steps(steps)
    cells = grid.cells(steps)
    kinds = families(cells)
    if kind is None:
        kind = kinds[0]
    if kind not in kinds:
        raise ValueError(f"kind: expected one of {kinds} (the noise families in the grid), got {kind!r}")
    cells = family_cells(cells, kind)
    fig = new_figure(figsize=(11, 4.6), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, column, title in zip(
        axes, ("rel_train_loss", "rel_val_loss"),
        ("training loss", "validation loss"), strict=True,
    ):
        bad = cells[~cells["agrees"]] if column == "rel_val_loss" else None
        mesh = _heatmap(ax, cells, kind, column, mark=bad, mark_label="disagrees with theory")
        ax.set_title(f"{title} / trivial predictor's", fontsize=10)
    axes[0].set_ylabel("depth (hidden layers)")
    cbar = fig.colorbar(mesh, ax=axes, shrink=0.9)
    cbar.set_label("loss / loss of the mean image (1 = learned nothing)")
    cbar.ax.axhline(grid.threshold, color="w", lw=1.5)
    width = int(cells["width"].iloc[0])
    seeds = int(cells["n_seeds"].max())
    fig.suptitle(
        f"Critically initialised noisy ReLU nets reconstructing digits (width {width}, "
        f"{steps} steps, mean of {seeds} seed{'s' if seeds > 1 else ''})\ntrainable (val. loss < "
        f"{grid.threshold:g} x trivial) agrees with depth <= 6 xi_c in "
        f"{grid.agreement(steps=steps):.0%} of cells",
        fontsize=10,
    )
    return fig


def kscan_figure(test: BoundaryTest):
    """The k-scan and the measured boundaries.

    Left: the accuracy of ``depth <= k xi_c`` on the seed-averaged cells against ``k``, one
    line per training budget, the band spanning the seeds' accuracies; the constant
    predictors and the best fixed depth (largest budget) as horizontal lines. Right: for
    each noise level and budget, the interval of ``k`` that its measured boundary allows
    (deepest trainable depth / ``xi_c`` to shallowest untrainable depth / ``xi_c``; an
    arrow where every depth trained), against ``xi_c``.

    Parameters
    ----------
    test : BoundaryTest

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not isinstance(test, BoundaryTest):
        raise TypeError(f"test: expected a BoundaryTest, got {type(test).__name__}")
    import matplotlib

    colors = matplotlib.colormaps["tab10"].colors
    budgets = test.budgets
    fig = new_figure(figsize=(12, 4.8), layout="constrained")
    ax, bx = fig.subplots(1, 2)
    for i, steps in enumerate(budgets):
        scan = test.scan[test.scan["steps"] == steps]
        c = colors[i % len(colors)]
        ax.fill_between(scan["k"], scan["seed_min"], scan["seed_max"], color=c, alpha=0.18, lw=0)
        ax.plot(scan["k"], scan["accuracy"], "o-", color=c, label=f"{steps} steps: accuracy")
        ax.plot(scan["k"], scan["balanced_accuracy"], ":", color=c, lw=1.2,
                label=f"{steps} steps: balanced accuracy")
        best = scan[scan["best"]]
        ax.plot(best["k"], best["accuracy"], "*", color=c, ms=14, mec="k")
    last = budgets[-1]
    for name, color, ls in (("nothing trains", "0.35", "--"), ("everything trains", "0.35", ":"),
                            ("best fixed depth", "0.35", "-."),
                            ("best noise cut-off", "tab:purple", "-.")):
        row = test.predictor(name, last)
        label = name
        if name == "best fixed depth":
            label = f"best fixed depth (D = {row['parameter']:g})"
        elif name == "best noise cut-off":
            label = f"best noise cut-off (xi_c >= {row['parameter']:.2g})"
        ax.axhline(row["accuracy"], color=color, ls=ls, lw=1.2, label=f"{label}, {last} steps")
    ax.axvline(6, color="red", lw=1, alpha=0.6)
    ax.set_xlabel(r"$k$ in the boundary depth $\leq k\,\xi_c$")
    ax.set_ylabel("fraction of cells predicted right")
    ax.set_ylim(0, 1.02)
    ax.set_xticks(list(test.ks) if len(test.ks) <= 16 else ax.get_xticks())
    ax.set_title("Which multiple of $\\xi_c$ fits? (stars: best; band: range over seeds)",
                 fontsize=10)
    ax.legend(fontsize=7, loc="lower right", framealpha=0.85)

    b = test.boundaries[np.isfinite(test.boundaries["xi_c"].to_numpy(float))]
    top = max(14.0, float(np.nanmax(np.where(np.isfinite(b["k_high"]), b["k_high"], np.nan),
                                    initial=0.0)) * 1.05)
    offsets = np.linspace(-0.03, 0.03, len(budgets)) if len(budgets) > 1 else [0.0]
    for i, steps in enumerate(budgets):
        sub = b[b["steps"] == steps]
        c = colors[i % len(colors)]
        for row in sub.itertuples():
            x = row.xi_c * math.exp(offsets[i])
            lo, hi = row.k_low, min(row.k_high, top)
            style = {"color": c, "alpha": 1.0 if row.monotone else 0.35, "lw": 2.5}
            ax_marker = "o" if row.noise_kind == "dropout" else "s"
            bx.plot([x, x], [lo, hi], **style)
            bx.plot([x], [lo], ax_marker, color=c, ms=4, alpha=style["alpha"])
            if not math.isfinite(row.k_high):
                bx.plot([x], [top], "^", color=c, ms=6, alpha=style["alpha"])
        bx.plot([], [], color=c, lw=2.5, label=f"{steps} steps")
    bx.plot([], [], "o", color="0.3", ms=4, label="dropout")
    bx.plot([], [], "s", color="0.3", ms=4, label="Gaussian noise")
    bx.axhline(6, color="red", lw=1.5, label=r"$k = 6$ (theory)")
    consistent = test.consistent_k()
    if consistent is not None:
        bx.axhspan(consistent[0], min(consistent[1], top), color="0.8", alpha=0.5, zorder=0,
                   label=f"k allowed by every level, {last} steps")
    law = test.power_law(last)
    if law is not None:
        xs = np.geomspace(b["xi_c"].min(), b["xi_c"].max(), 50)
        bx.plot(xs, law["k1"] * xs ** (law["slope"] - 1.0), color="k", lw=1, ls="--",
                label=rf"fit, {last} steps: boundary $\propto \xi_c^{{{law['slope']:.2f}}}$")
    bx.set_xscale("log")
    from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

    ticks = [t for t in (0.2, 0.3, 0.5, 1, 2, 3, 5, 10) if b["xi_c"].min() / 1.2 <= t <= b["xi_c"].max() * 1.2]
    bx.xaxis.set_major_locator(FixedLocator(ticks))
    bx.xaxis.set_major_formatter(ScalarFormatter())
    bx.xaxis.set_minor_locator(NullLocator())
    bx.set_ylim(0, top * 1.04)
    bx.set_xlabel(r"depth scale $\xi_c$ of the noise level")
    bx.set_ylabel(r"$k$ allowed by the measured boundary")
    bx.set_title("Measured boundary of each noise level as a range of $k$\n(faint: not "
                 "monotone in depth; arrow: every depth trained)", fontsize=10)
    bx.legend(fontsize=7, loc="upper left", framealpha=0.85)
    return fig


def budget_figure(grid: DepthGrid, test: BoundaryTest | None = None):
    """The relative validation loss over noise x depth at every training budget (columns)
    for each noise family (rows), with ``6 xi_c`` and the best ``k xi_c`` of that budget.

    Parameters
    ----------
    grid : DepthGrid
    test : BoundaryTest, optional
        Its best ``k`` per budget is drawn; default computed from ``grid``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not isinstance(grid, DepthGrid):
        raise TypeError(f"grid: expected a DepthGrid, got {type(grid).__name__}")
    if test is None:
        from svccakit.depth.scan import boundary_test

        test = boundary_test(grid)
    budgets = grid.budgets
    kinds = families(grid.cells())
    fig = new_figure(figsize=(4.6 * len(budgets) + 1.2, 3.9 * len(kinds)), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(kinds), len(budgets), squeeze=False))
    for r, kind in enumerate(kinds):
        for c, steps in enumerate(budgets):
            cells = family_cells(grid.cells(steps), kind)
            best = test.best_k(steps)
            k_mid = best[len(best) // 2]
            ks = (6.0,) if k_mid == 6.0 else (6.0, k_mid)
            mesh = _heatmap(axes[r, c], cells, kind, "rel_val_loss", ks=ks,
                            mark=cells[~cells["agrees"]], mark_label="disagrees with 6 xi_c")
            label = f"{best[0]:g}" if len(best) == 1 else f"{best[0]:g}-{best[-1]:g}"
            axes[r, c].set_title(
                f"{steps} steps: 6 xi_c agrees in {cells['agrees'].mean():.0%}; best k = {label}",
                fontsize=9)
        axes[r, 0].set_ylabel("depth (hidden layers)")
    cbar = fig.colorbar(mesh, ax=axes, shrink=0.9)
    cbar.set_label("validation loss / mean image's")
    cbar.ax.axhline(grid.threshold, color="w", lw=1.5)
    fig.suptitle("The same networks after each training budget (mean over seeds)", fontsize=10)
    return fig
