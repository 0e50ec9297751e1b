"""Figures of an experiment, from the tidy tables of :mod:`svccakit.report`.

``results`` is the output of :func:`svccakit.timeline`; ``curves`` the training metrics
read by :func:`svccakit.report.training_curves`. The plot functions return
:class:`matplotlib.figure.Figure` objects built without ``pyplot`` (no global state);
:func:`write_figures` saves them as PNG. All names are re-exported by
:mod:`svccakit.report`.

A *configuration* is one (init, activation, noise) triple; its runs differ only in
the seed. Only matching layer pairs (``layer == ref_layer``) enter the figures, except
:func:`plot_pairs`, which shows every pair.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from svccakit._validate import check_int
from svccakit.experiment.report._results import (
    _CONFIG,
    _check_results,
    _layer_order,
    _matching,
    _metric_name,
    _of_metric,
    _ordered,
)
from svccakit.experiment.report.tables import best_matches, final_similarity

__all__ = [
    "DPI",
    "ReportFiles",
    "plot_best_matches",
    "plot_final",
    "plot_headline",
    "plot_heatmaps",
    "plot_layer_pairs",
    "plot_pairs",
    "plot_similarity",
    "plot_training",
    "write_figures",
]

DPI = 150

_INIT_COLOURS = {"critical": "#1f77b4", "he": "#d62728", "pytorch-default": "#7f7f7f",
                 "xavier": "#ff7f0e", "lecun": "#8c564b", "optimal": "#2ca02c",
                 "trained": "#9467bd"}
_EXTRA_COLOURS = ("#e377c2", "#17becf", "#bcbd22", "#9edae5", "#c49c94", "#dbdb8d")
_LINESTYLES = ("-", "--", ":", "-.")


@dataclass(frozen=True)
class ReportFiles:
    """Paths written by :func:`write_figures` and :func:`svccakit.report.write_report`.

    Attributes
    ----------
    figures : tuple of pathlib.Path
        The PNG figures, in the order they appear in the report.
    report : pathlib.Path or None
        ``report.md`` (None when only figures were written).
    """

    figures: tuple[Path, ...]
    report: Path | None = None


def plot_similarity(results, *, metric: str = "svcca", max_columns: int = 7):
    """Similarity to the reference against training step, one panel per layer.

    A grid with one block of rows per (activation, noise) and one panel per layer
    (wrapped after ``max_columns`` panels): each panel holds one curve per
    initialisation (mean over seeds, the band spans the seeds' minimum to
    maximum) and the shuffled chance level as a dotted line. Separate panels per
    layer keep every curve readable even for deep networks, and put critical and
    random side by side where the question is asked.

    Parameters
    ----------
    results : pandas.DataFrame
        Output of :func:`svccakit.timeline`.
    metric : str
        Which metric to plot.
    max_columns : int
        Panels per row before wrapping.

    Returns
    -------
    matplotlib.figure.Figure
    """
    check_int(max_columns, "max_columns", 1)
    data = _matching(results, metric)
    layers = _layer_order(data)
    rows = _unique(data, ["activation", "noise"])
    inits = _unique_values(data["init"])
    colours = _colours(inits)
    fig, grid = _panel_grid(len(rows), len(layers), max_columns)
    axes, nrows, ncols = grid.axes, *grid.axes.shape
    log_x = _use_log(data["step"])
    for r, (activation, noise) in enumerate(rows):
        for i, layer in enumerate(layers):
            ax, c = grid.at(r, i), i % ncols
            panel = data[(data["activation"] == activation) & (data["noise"] == noise)
                         & (data["layer"] == layer)]
            for init in inits:
                sub = panel[panel["init"] == init]
                if len(sub) == 0:
                    continue
                stats = sub.groupby("step")["value"].agg(["mean", "min", "max"])
                ax.plot(stats.index, stats["mean"], color=colours[init], lw=1.6, label=init)
                ax.fill_between(stats.index, stats["min"], stats["max"],
                                color=colours[init], alpha=0.22, lw=0)
            base = panel["baseline"].mean()
            if np.isfinite(base):
                ax.axhline(base, color="0.45", ls=":", lw=1.2, label="chance (shuffled)")
            if log_x:
                ax.set_xscale("symlog", linthresh=max(1, _min_positive(data["step"])))
            ax.set_ylim(-0.02, 1.02)
            ax.grid(alpha=0.3)
            ax.set_title(f"{_row_label(activation, noise)} · {layer}", fontsize=10)
            if c == 0:
                ax.set_ylabel(_metric_name(metric))
    grid.hide_unused()
    for row in range(nrows):  # tick labels under every panel with no panel below it
        for c in range(ncols):
            below = axes[row + 1][c] if row + 1 < nrows else None
            if axes[row][c].axison and (below is None or not below.axison):
                axes[row][c].xaxis.set_tick_params(labelbottom=True)
    for ax in np.ravel(axes)[-axes.shape[1]:]:
        ax.set_xlabel("training step")
    _figure_legend(fig, axes, title=f"{_metric_name(metric)} similarity to the optimal "
                   "solution during training (mean over seeds, band: min–max)")
    return fig


def plot_heatmaps(results, *, metric: str = "svcca"):
    """Layer x step heatmap of the similarity, one panel per run.

    Rows of panels are configurations, columns are seeds. Steps are shown in
    recording order (the x axis is the snapshot index, labelled with the step).

    Parameters
    ----------
    results : pandas.DataFrame
        Output of :func:`svccakit.timeline`.
    metric : str
        Which metric to plot.

    Returns
    -------
    matplotlib.figure.Figure
    """
    data = _matching(results, metric)
    layers = _layer_order(data)
    configs = _unique(data, _CONFIG)
    seeds = sorted(_unique_values(data["seed"]), key=_seed_key)
    fig = _figure(figsize=(1.5 + 3.2 * len(seeds), 0.9 + 0.25 * len(layers) * len(configs)
                           + 0.5 * len(configs)))
    axes = fig.subplots(len(configs), len(seeds), squeeze=False)
    image = None
    for r, config in enumerate(configs):
        for c, seed in enumerate(seeds):
            ax = axes[r][c]
            sub = data[(data["init"] == config[0]) & (data["activation"] == config[1])
                       & (data["noise"] == config[2]) & (data["seed"].astype(object) == seed)]
            if len(sub) == 0:
                ax.set_axis_off()
                continue
            grid = sub.pivot_table(index="layer", columns="step", values="value")
            grid = grid.reindex([name for name in layers if name in grid.index])
            image = ax.imshow(grid.to_numpy(), aspect="auto", origin="upper",
                              cmap="viridis", vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_yticks(range(len(grid.index)), list(grid.index), fontsize=8)
            steps = list(grid.columns)
            ticks = np.unique(np.linspace(0, len(steps) - 1, min(6, len(steps))).round()
                              .astype(int))
            ax.set_xticks(ticks, [str(steps[i]) for i in ticks], fontsize=8)
            ax.set_title(f"{_config_label(config)}, seed {seed}", fontsize=9)
            if r == len(configs) - 1:
                ax.set_xlabel("training step")
            if c == 0:
                ax.set_ylabel("layer")
    if image is not None:
        cbar = fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, pad=0.02)
        cbar.set_label(f"{_metric_name(metric)} similarity")
    fig.suptitle(f"{_metric_name(metric)} similarity to the optimal solution, layer x step",
                 fontsize=12)
    return fig


def plot_final(results, *, metric: str = "svcca"):
    """Similarity at the last step against layer, one line per configuration.

    One panel per noise setting; colour gives the initialisation, line style the
    activation; error bars are the standard deviation over seeds, dotted lines
    the shuffled chance level.

    Parameters
    ----------
    results : pandas.DataFrame
        Output of :func:`svccakit.timeline`.
    metric : str
        Which metric to plot.

    Returns
    -------
    matplotlib.figure.Figure
    """

    table = final_similarity(results, metric=metric)
    layers = _layer_order(_matching(results, metric))
    noises = _unique_values(table["noise"])
    inits = _unique_values(table["init"])
    activations = _unique_values(table["activation"])
    colours = _colours(inits)
    fig = _figure(figsize=(1.2 + max(4.5, 0.55 * len(layers)) * len(noises), 4.2))
    axes = fig.subplots(1, len(noises), squeeze=False, sharey=True)[0]
    x_of = {name: i for i, name in enumerate(layers)}
    for ax, noise in zip(axes, noises, strict=True):
        for init in inits:
            for k, activation in enumerate(activations):
                sub = table[(table["noise"] == noise) & (table["init"] == init)
                            & (table["activation"] == activation)]
                if len(sub) == 0:
                    continue
                x = sub["layer"].map(x_of).to_numpy()
                ax.errorbar(x, sub["mean"], yerr=sub["std"], color=colours[init],
                            ls=_LINESTYLES[k % len(_LINESTYLES)], marker="o", ms=4,
                            capsize=3, lw=1.6, label=f"{init}, {activation}")
                ax.plot(x, sub["baseline"], color=colours[init], alpha=0.5, ls=":", lw=1)
        ax.set_xticks(range(len(layers)), layers, rotation=45)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("layer")
        ax.set_title(f"noise: {noise}", fontsize=11)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"final {_metric_name(metric)} similarity")
    handles, labels = axes[0].get_legend_handles_labels()
    handles.append(_line(color="0.4", ls=":"))
    labels.append("chance (shuffled)")
    axes[-1].legend(handles, labels, fontsize=8, loc="best")
    fig.suptitle(f"Final {_metric_name(metric)} similarity to the optimal solution per layer\n"
                 "(mean ± std over seeds; dotted: shuffled chance level)", fontsize=12)
    return fig


def plot_training(curves):
    """Training loss and accuracy against step, one line per configuration.

    One panel per recorded metric (``loss``, ``accuracy`` and, when present,
    ``val_loss``, ``val_accuracy``); colour gives the initialisation, line style
    the activation (and noise); the band spans the seeds.

    Parameters
    ----------
    curves : pandas.DataFrame
        Output of :func:`svccakit.report.training_curves`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    preferred = ["loss", "accuracy", "val_loss", "val_accuracy"]
    names = _unique_values(curves["metric"])
    names = [n for n in preferred if n in names] + [n for n in names if n not in preferred]
    if not names:
        raise ValueError("curves must contain at least one training metric, got none")
    inits = _unique_values(curves["init"])
    styles = _unique(curves, ["activation", "noise"])
    colours = _colours(inits)
    ncols = min(2, len(names))
    nrows = math.ceil(len(names) / ncols)
    fig = _figure(figsize=(0.8 + 5.0 * ncols, 0.9 + 3.4 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True)
    log_x = _use_log(curves["step"])
    for ax, name in zip(axes.ravel(), names, strict=False):
        sub = curves[curves["metric"] == name]
        for init in inits:
            for k, (activation, noise) in enumerate(styles):
                part = sub[(sub["init"] == init) & (sub["activation"] == activation)
                           & (sub["noise"] == noise)]
                if len(part) == 0:
                    continue
                stats = part.groupby("step")["value"].agg(["mean", "min", "max"])
                ax.plot(stats.index, stats["mean"], color=colours[init],
                        ls=_LINESTYLES[k % len(_LINESTYLES)], lw=1.6,
                        label=f"{init}, {_row_label(activation, noise)}")
                ax.fill_between(stats.index, stats["min"], stats["max"],
                                color=colours[init], alpha=0.15, lw=0)
        if log_x:
            ax.set_xscale("symlog", linthresh=max(1, _min_positive(curves["step"])))
        if "loss" in name and (sub["value"] > 0).all():
            ax.set_yscale("log")
        if "accuracy" in name:
            ax.set_ylim(-0.02, 1.02)
        ax.set_title(name.replace("_", " "), fontsize=11)
        ax.set_ylabel(name.replace("_", " "))
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(names):]:
        ax.set_axis_off()
    for ax in axes[-1]:
        ax.set_xlabel("training step")
    axes[0][0].legend(fontsize=8, loc="best")
    fig.suptitle("Training curves (mean over seeds, band: min–max)", fontsize=12)
    return fig


def plot_pairs(results, *, metric: str = "svcca"):
    """Final similarity of every run layer with every reference layer.

    One panel per configuration (mean over seeds at each run's last step); rows
    are run layers, columns reference layers. Needs a ``pairs="all"`` timeline.

    Parameters
    ----------
    results : pandas.DataFrame
        Output of :func:`svccakit.timeline` with ``pairs="all"``.
    metric : str
        Which metric to plot.

    Returns
    -------
    matplotlib.figure.Figure
    """
    data = _of_metric(results, metric)
    last = data.groupby("run")["step"].transform("max")
    final = data[data["step"] == last]
    layers = _layer_order(final)
    ref_layers = [n for n in _ordered(final["ref_layer"]) if n in set(final["ref_layer"])]
    configs = _unique(final, _CONFIG)
    ncols = min(4, len(configs))
    nrows = math.ceil(len(configs) / ncols)
    fig = _figure(figsize=(1.2 + 3.4 * ncols, 0.8 + 3.2 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    image = None
    for ax, config in zip(axes.ravel(), configs, strict=False):
        sub = final[(final["init"] == config[0]) & (final["activation"] == config[1])
                    & (final["noise"] == config[2])]
        grid = (sub.pivot_table(index="layer", columns="ref_layer", values="value")
                .reindex(index=layers, columns=ref_layers))
        image = ax.imshow(grid.to_numpy(), cmap="viridis", vmin=0, vmax=1, origin="upper")
        ax.set_xticks(range(len(ref_layers)), ref_layers, rotation=90, fontsize=7)
        ax.set_yticks(range(len(layers)), layers, fontsize=7)
        ax.set_xlabel("reference layer")
        ax.set_ylabel("run layer")
        ax.set_title(_config_label(config), fontsize=9)
    for ax in axes.ravel()[len(configs):]:
        ax.set_axis_off()
    if image is not None:
        fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8).set_label(
            f"final {_metric_name(metric)}")
    fig.suptitle(f"Final {_metric_name(metric)} similarity, all layer pairs", fontsize=12)
    return fig


def _informative_order(data, informative):
    refs = [n for n in _ordered(data["ref_layer"])]
    if informative is not None:
        keep = [n for n in refs if n in set(informative)]
        refs = keep or refs
    return refs


def plot_best_matches(results, *, metric: str = "svcca", informative=None, students=None,
                      max_columns: int = 7):
    """For each reference layer, its best-matching run layer's similarity during training.

    At every recorded step, each reference (optimal-solution) layer is paired with the run
    layer most similar to it (:func:`~svccakit.experiment.report.tables.best_matches`);
    panels show that pair's chance-corrected similarity against the step (0: the shuffled
    chance level, dotted), one panel per reference layer (columns) and (activation,
    noise) setting (rows), one curve per initialisation (mean over seeds, band: mean ±
    one standard deviation). Needs a ``pairs="all"`` timeline.

    Parameters
    ----------
    results : pandas.DataFrame
        Output of :func:`svccakit.timeline` with ``pairs="all"``.
    metric : str
    informative : sequence of str, optional
        The reference layers to show (e.g. those of rank > 2,
        :func:`~svccakit.experiment.report.tables.reference_layers`); default all.
    students : sequence of str, optional
        The student layers that may match (default all).
    max_columns : int
        Panels per row before wrapping.

    Returns
    -------
    matplotlib.figure.Figure
    """
    check_int(max_columns, "max_columns", 1)
    best = best_matches(results, metric=metric, layers=students)
    best = best.assign(plotted=best["corrected"].where(best["corrected"].notna(), best["value"]))
    refs = _informative_order(best, informative)
    best = best[best["ref_layer"].isin(refs)]
    rows = _unique(best, ["activation", "noise"])
    inits = _unique_values(best["init"])
    colours = _colours(inits)
    fig, grid = _panel_grid(len(rows), len(refs), max_columns)
    axes, ncols = grid.axes, grid.axes.shape[1]
    log_x = _use_log(best["step"])
    for r, (activation, noise) in enumerate(rows):
        for i, ref in enumerate(refs):
            ax = grid.at(r, i)
            panel = best[(best["activation"] == activation) & (best["noise"] == noise)
                         & (best["ref_layer"] == ref)]
            for init in inits:
                _mean_band(ax, panel[panel["init"] == init], "plotted", colours[init], init)
            _closeness_axes(ax, log_x, best["step"])
            ax.set_title(f"optimum {ref}", fontsize=9)
            if i % ncols == 0:
                ax.set_ylabel(f"{_row_label(activation, noise)}\n{_metric_name(metric)} "
                              "closeness", fontsize=9)
    grid.hide_unused()
    for ax in np.ravel(axes)[-axes.shape[1]:]:
        ax.set_xlabel("training step")
    _figure_legend(fig, axes, title=f"{_metric_name(metric)}: each optimum layer against its "
                   "best-matching student layer, chance-corrected (mean over seeds, band: "
                   "± 1 sd)")
    return fig


def plot_headline(results, *, informative=None, students=None, metrics=None):
    """The main figure: how close the students' layers come to the optimum's, over training.

    For each metric (rows) and (activation, noise) setting (columns): the closeness of
    :func:`~svccakit.experiment.report.conclusions.closeness` (each informative reference
    layer's best-matching student layer, chance-corrected, averaged over those layers;
    0 is the shuffled chance level, dotted) against the step; one curve per
    initialisation (mean over seeds, band: ± 1 sd over seeds).

    Parameters
    ----------
    results : pandas.DataFrame
        Output of :func:`svccakit.timeline` with ``pairs="all"``.
    informative : sequence of str, optional
        The reference layers averaged (default all).
    students : sequence of str, optional
        The student layers that may match (default all).
    metrics : sequence of str, optional
        Default: every metric in ``results``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from svccakit.experiment.report.conclusions import closeness

    _check_results(results)
    metrics = list(metrics) if metrics is not None else _ordered(results["metric"])
    close = closeness(results, informative=informative, layers=students)
    close = close[close["metric"].isin(metrics)]
    settings = _unique(close, ["activation", "noise"])
    inits = _unique_values(close["init"])
    colours = _colours(inits)
    fig = _figure(figsize=(1.6 + 3.4 * max(len(settings), 2), 1.4 + 2.4 * len(metrics)))
    axes = fig.subplots(len(metrics), len(settings), squeeze=False, sharex=True, sharey=True)
    log_x = _use_log(close["step"])
    for m, metric in enumerate(metrics):
        for c, (activation, noise) in enumerate(settings):
            ax = axes[m][c]
            panel = close[(close["metric"] == metric) & (close["activation"] == activation)
                          & (close["noise"] == noise)]
            for init in inits:
                sub = panel[panel["init"] == init]
                if not _mean_band(ax, sub, "closeness", colours[init], init, lw=1.8):
                    continue
                ends = sub[sub["step"] == sub.groupby("run")["step"].transform("max")]
                stopped = ends[ends["step"] < close["step"].max()]
                if len(stopped):  # runs that diverged end early: mark where
                    ax.plot(stopped["step"], stopped["closeness"], ls="none", marker="x",
                            color=colours[init], ms=7, mew=2, label=f"{init}: diverged")
            _closeness_axes(ax, log_x, close["step"])
            if m == 0:
                ax.set_title(_row_label(activation, noise), fontsize=10)
            if c == 0:
                ax.set_ylabel(f"{_metric_name(metric)} closeness")
    for ax in axes[-1]:
        ax.set_xlabel("training step")
    _figure_legend(fig, axes, title="Closeness to the optimum (best-matching student layer, "
                   "chance-corrected,\nmean over informative layers; 0: chance, 1: the "
                   "optimum's representation)")
    return fig


def plot_layer_pairs(results, *, metric: str = "svcca", steps: str = "first-middle-last"):
    """Layer x layer similarity (student rows, optimum columns) at three steps.

    As in Raghu et al. (2017): for each configuration (rows) the matrix of similarities
    between every student layer and every optimum layer, mean over seeds, at the first,
    a middle and the last recorded step (columns). Needs a ``pairs="all"`` timeline.

    Parameters
    ----------
    results : pandas.DataFrame
    metric : str
    steps : {"first-middle-last"}
        Which steps are shown (the recorded step nearest the geometric middle of the
        run is the middle one).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from svccakit._validate import check_choice

    check_choice(steps, "steps", ("first-middle-last",))
    data = _of_metric(results, metric)
    configs = _unique(data, _CONFIG)
    recorded = np.array(sorted(set(data["step"])))
    positive = recorded[recorded > 0]
    middle = (int(positive[np.argmin(np.abs(np.log(positive) - np.log(positive).mean()))])
              if len(positive) else int(recorded[0]))
    chosen = list(dict.fromkeys([int(recorded[0]), middle, int(recorded[-1])]))
    layers = _layer_order(data)
    refs = _ordered(data["ref_layer"])
    fig = _figure(figsize=(1.4 + 2.6 * len(chosen), 0.8 + 2.5 * len(configs)))
    axes = fig.subplots(len(configs), len(chosen), squeeze=False)
    image = None
    for r, config in enumerate(configs):
        sub = data[(data["init"] == config[0]) & (data["activation"] == config[1])
                   & (data["noise"] == config[2])]
        for c, step in enumerate(chosen):
            ax = axes[r][c]
            at = sub[sub["step"] == step]
            grid = (at.pivot_table(index="layer", columns="ref_layer", values="value")
                    .reindex(index=layers, columns=refs))
            image = ax.imshow(grid.to_numpy(), cmap="viridis", vmin=0, vmax=1, origin="upper",
                              aspect="auto")
            ax.set_xticks(range(len(refs)), refs, rotation=90, fontsize=6)
            ax.set_yticks(range(len(layers)), layers, fontsize=6)
            if r == 0:
                ax.set_title(f"step {step}", fontsize=10)
            if c == 0:
                ax.set_ylabel(f"{_config_label(config)}\nstudent layer", fontsize=8)
            if r == len(configs) - 1:
                ax.set_xlabel("optimum layer", fontsize=8)
    if image is not None:
        fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.6).set_label(_metric_name(metric))
    fig.suptitle(f"{_metric_name(metric)} between every student layer and every optimum "
                 "layer (mean over seeds)", fontsize=12)
    return fig


def write_figures(results, curves, directory: str | os.PathLike, *,
                  informative=None, students=None) -> ReportFiles:
    """Save every figure of the report as PNG (dpi 150) in ``directory``.

    With every layer pair (a ``pairs="all"`` timeline): ``headline.png``
    (:func:`plot_headline`), and for each metric ``best_<metric>.png``
    (:func:`plot_best_matches`) and ``layers_<metric>.png`` (:func:`plot_layer_pairs`).
    With matching pairs only: ``similarity_<metric>.png``, ``heatmap_<metric>.png`` and
    ``final_<metric>.png``. And ``training.png`` when ``curves`` is not empty.

    Parameters
    ----------
    results : pandas.DataFrame
        Output of :func:`svccakit.timeline`.
    curves : pandas.DataFrame or None
        Output of :func:`svccakit.experiment.report.training_curves`.
    directory : path-like
        Created if missing; existing files of the same names are replaced.
    informative : sequence of str, optional
        The reference layers the headline and best-match figures show.
    students : sequence of str, optional
        The student layers that may match them (default all).

    Returns
    -------
    ReportFiles
    """
    _check_results(results)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    all_pairs = bool((results["layer"] != results["ref_layer"]).any())
    if all_pairs:
        written.append(_save(plot_headline(results, informative=informative, students=students),
                             directory / "headline.png"))
    for metric in _ordered(results["metric"]):
        if all_pairs:
            plots = [("best", lambda r, metric: plot_best_matches(
                        r, metric=metric, informative=informative, students=students)),
                     ("layers", plot_layer_pairs)]
        else:
            plots = [("similarity", plot_similarity), ("heatmap", plot_heatmaps),
                     ("final", plot_final)]
        for stem, plot in plots:
            written.append(_save(plot(results, metric=metric), directory / f"{stem}_{metric}.png"))
    if curves is not None and len(curves):
        written.append(_save(plot_training(curves), directory / "training.png"))
    return ReportFiles(figures=tuple(written))


# ---------------------------------------------------------------------------
# private helpers


def _mean_band(ax, runs, column: str, colour, label: str, lw: float = 1.6) -> bool:
    """The mean over runs of ``column`` against step, with a ± 1 sd band; False if empty."""
    if len(runs) == 0:
        return False
    stats = runs.groupby("step")[column].agg(["mean", "std"]).fillna(0.0)
    ax.plot(stats.index, stats["mean"], color=colour, lw=lw, label=label)
    ax.fill_between(stats.index, stats["mean"] - stats["std"], stats["mean"] + stats["std"],
                    color=colour, alpha=0.22, lw=0)
    return True


def _closeness_axes(ax, log_x: bool, steps) -> None:
    """Chance level (0) dotted, the step axis, and the closeness range."""
    ax.axhline(0.0, color="0.45", ls=":", lw=1.2, label="chance (shuffled)")
    if log_x:
        ax.set_xscale("symlog", linthresh=max(1, _min_positive(steps)))
    ax.set_ylim(-0.12, 1.02)
    ax.grid(alpha=0.3)


def _unique_values(series) -> list:
    return sorted(_ordered(series), key=lambda v: (str(type(v)), v))


def _unique(frame, columns) -> list[tuple]:
    return sorted(dict.fromkeys(map(tuple, frame[columns].astype(object).to_numpy())),
                  key=lambda t: tuple(str(v) for v in t))


def _seed_key(seed):
    return (seed is None or seed is np.nan, seed if isinstance(seed, (int, np.integer)) else 0)


def _colours(inits) -> dict:
    extra = iter(_EXTRA_COLOURS * 4)
    return {init: _INIT_COLOURS.get(init) or next(extra) for init in inits}


def _use_log(steps) -> bool:
    positive = steps[steps > 0]
    return len(positive) > 1 and positive.max() / positive.min() >= 50


def _min_positive(steps) -> float:
    positive = steps[steps > 0]
    return float(positive.min()) if len(positive) else 1.0


def _row_label(activation, noise) -> str:
    return f"{activation}" if noise in ("none", "", None) else f"{activation}, {noise}"


def _config_label(config) -> str:
    init, activation, noise = config
    return f"{init} · {_row_label(activation, noise)}"


@dataclass(frozen=True)
class _Grid:
    """Panels for ``groups`` rows of settings x ``panels`` panels each, wrapped after
    ``ncols`` columns: each setting takes ``wraps`` consecutive rows of ``axes``."""

    axes: np.ndarray
    groups: int
    panels: int
    wraps: int

    def at(self, group: int, i: int):
        ncols = self.axes.shape[1]
        return self.axes[group * self.wraps + i // ncols][i % ncols]

    def hide_unused(self) -> None:
        """Turn off the unused panels of each setting's last row."""
        for group in range(self.groups):
            for i in range(self.panels, self.wraps * self.axes.shape[1]):
                self.at(group, i).set_axis_off()


def _panel_grid(groups: int, panels: int, max_columns: int):
    """A figure of shared-axis panels, ``panels`` per setting, at most ``max_columns`` a row."""
    ncols = min(panels, max_columns)
    wraps = math.ceil(panels / ncols)
    nrows = groups * wraps
    fig = _figure(figsize=(1.0 + 2.3 * ncols, 1.0 + 2.1 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=True)
    return fig, _Grid(axes, groups, panels, wraps)


def _figure(figsize):
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


def _line(**kwargs):
    from matplotlib.lines import Line2D

    return Line2D([], [], **kwargs)


def _figure_legend(fig, axes, title: str) -> None:
    handles, labels = {}, []
    for ax in np.ravel(axes):
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in handles:
                handles[label] = handle
                labels.append(label)
    fig.suptitle(title, fontsize=12)
    if handles:  # below the panels, so it never runs into the title
        fig.legend([handles[label] for label in labels], labels, loc="outside lower center",
                   ncols=min(len(labels), 5), fontsize=10, frameon=False)


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=DPI)
    return path
