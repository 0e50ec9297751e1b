"""Figures and the Markdown report of an experiment.

Everything here works on two tidy tables:

- ``results``: the output of :func:`svccakit.timeline` (columns
  :data:`svccakit.timeline.COLUMNS`);
- ``curves``: training metrics read from run files by :func:`training_curves`
  (columns :data:`CURVE_COLUMNS`).

The plot functions return :class:`matplotlib.figure.Figure` objects built without
``pyplot`` (no global state); :func:`write_figures` saves them as PNG and
:func:`write_report` writes ``report.md``.

A *configuration* is one (init, activation, noise) triple; its runs differ only in
the seed. Only matching layer pairs (``layer == ref_layer``) enter the figures and
tables, except :func:`plot_pairs`, which shows every pair.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CURVE_COLUMNS: tuple[str, ...] = (
    "run", "init", "activation", "noise", "seed", "step", "metric", "value",
)
"""Columns of the training-curve table returned by :func:`training_curves`."""

THRESHOLDS: tuple[float, ...] = (0.5, 0.9)
"""Similarity levels whose first crossing step the report gives."""

DPI = 150

_INIT_COLOURS = {"critical": "#1f77b4", "random": "#d62728", "optimal": "#2ca02c",
                 "trained": "#9467bd"}
_EXTRA_COLOURS = ("#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")
_LINESTYLES = ("-", "--", ":", "-.")
_METRIC_NAMES = {"svcca": "SVCCA", "pwcca": "PWCCA", "cka": "linear CKA"}
_CONFIG = ["init", "activation", "noise"]


@dataclass(frozen=True)
class ReportFiles:
    """Paths written by :func:`write_figures` and :func:`write_report`.

    Attributes
    ----------
    figures : tuple of pathlib.Path
        The PNG figures, in the order they appear in the report.
    report : pathlib.Path or None
        ``report.md`` (None when only figures were written).
    """

    figures: tuple[Path, ...]
    report: Path | None = None


# ---------------------------------------------------------------------------
# tables


def training_curves(runs: Iterable[str | os.PathLike]):
    """Read the training metrics (loss, accuracy, ...) of run files.

    Parameters
    ----------
    runs : iterable of path-like
        Run files written by :class:`svccakit.Recorder`.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`CURVE_COLUMNS`, one row per (run, step, metric) for every
        scalar metric recorded with the snapshots.
    """
    import pandas as pd

    from svccakit.store import open_run
    from svccakit.timeline import run_info

    rows = []
    for path in runs:
        info = run_info(path)
        with open_run(info.path) as run:
            metrics = {name: np.asarray(values, dtype=float)
                       for name, values in dict(run.metrics).items()}
        for name, values in metrics.items():
            if values.ndim != 1 or len(values) != len(info.steps):
                continue
            for step, value in zip(info.steps, values.tolist(), strict=True):
                rows.append((info.name, info.init, info.activation, info.noise,
                             info.seed, int(step), name, float(value)))
    frame = pd.DataFrame(rows, columns=list(CURVE_COLUMNS))
    frame["seed"] = frame["seed"].astype("Int64")
    return frame


def final_similarity(results, *, metric: str = "svcca"):
    """Similarity at each run's last step, summarised over seeds.

    Parameters
    ----------
    results : pandas.DataFrame
        Output of :func:`svccakit.timeline`.
    metric : str
        Which metric's rows to use.

    Returns
    -------
    pandas.DataFrame
        One row per (init, activation, noise, layer) with ``mean``, ``std``
        (over seeds; 0 for one seed), ``n_seeds``, ``baseline`` (mean over seeds of
        the shuffled chance level at the last step) and, for each threshold
        ``t`` in :data:`THRESHOLDS`, ``step_t`` (mean over the seeds that reached
        ``t`` of the first recorded step with similarity >= ``t``; NaN if none)
        and ``reached_t`` (how many seeds reached it).
    """
    import pandas as pd

    data = _matching(results, metric)
    last = data.groupby("run")["step"].transform("max")
    final = data[data["step"] == last]
    layers = _layer_order(data)
    out = []
    for (init, activation, noise, layer), group in final.groupby(_CONFIG + ["layer"], sort=False):
        runs = data[(data["init"] == init) & (data["activation"] == activation)
                    & (data["noise"] == noise) & (data["layer"] == layer)]
        row = {"init": init, "activation": activation, "noise": noise, "layer": layer,
               "mean": group["value"].mean(),
               "std": group["value"].std(ddof=0) if len(group) > 1 else 0.0,
               "n_seeds": group["run"].nunique(),
               "baseline": group["baseline"].mean()}
        for threshold in THRESHOLDS:
            firsts = []
            for _, run in runs.groupby("run"):
                hit = run[run["value"] >= threshold]
                if len(hit):
                    firsts.append(hit["step"].min())
            row[f"step_{threshold:g}"] = float(np.mean(firsts)) if firsts else math.nan
            row[f"reached_{threshold:g}"] = len(firsts)
        out.append(row)
    table = pd.DataFrame(out)
    if len(table):
        table["_l"] = table["layer"].map({name: i for i, name in enumerate(layers)})
        table = table.sort_values(_CONFIG + ["_l"], kind="stable").drop(columns="_l")
    return table.reset_index(drop=True)


def final_training(curves):
    """Final training metrics per configuration, summarised over seeds.

    Parameters
    ----------
    curves : pandas.DataFrame
        Output of :func:`training_curves`.

    Returns
    -------
    pandas.DataFrame
        One row per (init, activation, noise, metric) with ``mean``, ``std``
        (over seeds) and ``n_seeds`` of the value at each run's last step.
    """
    import pandas as pd

    if len(curves) == 0:
        return pd.DataFrame(columns=_CONFIG + ["metric", "mean", "std", "n_seeds"])
    last = curves.groupby("run")["step"].transform("max")
    final = curves[curves["step"] == last]
    table = (final.groupby(_CONFIG + ["metric"], sort=True)["value"]
             .agg(mean="mean", std=lambda v: v.std(ddof=0), n_seeds="count")
             .reset_index())
    return table


# ---------------------------------------------------------------------------
# figures


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
    if isinstance(max_columns, bool) or not isinstance(max_columns, int) or max_columns < 1:
        raise ValueError(f"max_columns must be an integer >= 1, got {max_columns!r}")
    data = _matching(results, metric)
    layers = _layer_order(data)
    rows = _unique(data, ["activation", "noise"])
    inits = _unique_values(data["init"])
    colours = _colours(inits)
    ncols = min(len(layers), max_columns)
    wraps = math.ceil(len(layers) / ncols)  # panel rows per (activation, noise)
    nrows = len(rows) * wraps
    fig = _figure(figsize=(1.0 + 2.3 * ncols, 1.0 + 2.1 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=True)
    log_x = _use_log(data["step"])
    for r, (activation, noise) in enumerate(rows):
        for i, layer in enumerate(layers):
            row, c = r * wraps + i // ncols, i % ncols
            ax = axes[row][c]
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
        for i in range(len(layers), wraps * ncols):  # unused panels of the last wrap
            axes[r * wraps + i // ncols][i % ncols].set_axis_off()
    for row in range(nrows):  # tick labels under every panel with no panel below it
        for c in range(ncols):
            below = axes[row + 1][c] if row + 1 < nrows else None
            if axes[row][c].axison and (below is None or not below.axison):
                axes[row][c].xaxis.set_tick_params(labelbottom=True)
    fig.supxlabel("training step")
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
        Output of :func:`training_curves`.

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


def write_figures(results, curves, directory: str | os.PathLike) -> ReportFiles:
    """Save every figure of the report as PNG (dpi 150) in ``directory``.

    Writes ``similarity_<metric>.png``, ``heatmap_<metric>.png`` and
    ``final_<metric>.png`` for each metric in ``results``, ``pairs_<metric>.png``
    when ``results`` holds non-matching layer pairs, and ``training.png`` when
    ``curves`` is not empty.

    Parameters
    ----------
    results : pandas.DataFrame
        Output of :func:`svccakit.timeline`.
    curves : pandas.DataFrame or None
        Output of :func:`training_curves`.
    directory : path-like
        Created if missing; existing files of the same names are replaced.

    Returns
    -------
    ReportFiles
    """
    _check_results(results)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    all_pairs = bool((results["layer"] != results["ref_layer"]).any())
    for metric in _ordered(results["metric"]):
        plots = [("similarity", plot_similarity), ("heatmap", plot_heatmaps),
                 ("final", plot_final)]
        if all_pairs:
            plots.append(("pairs", plot_pairs))
        for stem, plot in plots:
            written.append(_save(plot(results, metric=metric), directory / f"{stem}_{metric}.png"))
    if curves is not None and len(curves):
        written.append(_save(plot_training(curves), directory / "training.png"))
    return ReportFiles(figures=tuple(written))


def write_report(
    results,
    curves,
    path: str | os.PathLike,
    *,
    figures: Sequence[str | os.PathLike] = (),
    config_toml: str | None = None,
    title: str = "svccakit experiment report",
    notes: Sequence[str] = (),
) -> Path:
    """Write the Markdown report.

    Parameters
    ----------
    results : pandas.DataFrame
        Output of :func:`svccakit.timeline`.
    curves : pandas.DataFrame or None
        Output of :func:`training_curves`.
    path : path-like
        The ``report.md`` to write (its directory must exist).
    figures : sequence of path-like
        PNG files to show, linked relative to the report's directory.
    config_toml : str, optional
        The exact experiment configuration, shown verbatim.
    title : str
        First heading.
    notes : sequence of str
        Extra bullet points for the overview (e.g. which file is the reference).

    Returns
    -------
    pathlib.Path
    """
    from svccakit import __version__

    _check_results(results)
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"path: directory {str(path.parent)!r} does not exist")
    metrics = _ordered(results["metric"])
    main = metrics[0]
    lines = [f"# {title}", ""]
    runs = results["run"].nunique()
    lines += [
        f"- svccakit {__version__}; {runs} run(s) compared with the reference "
        f"`{', '.join(_ordered(results['reference']))}`; metrics: "
        f"{', '.join(_metric_name(m) for m in metrics)}.",
        "- Every value is the similarity of a run layer at a recorded step with the "
        "matching layer of the optimal solution (1 = same representation up to the "
        "invariances of the metric). *Baseline* is the shuffled chance level: the "
        "mean similarity after randomly permuting the probe rows of the reference's "
        "snapshot, computed at each run's last step. A value below its baseline is "
        "possible: it means the run's representation is less aligned with the "
        "optimal one than unrelated data would be (e.g. on the full parity "
        "hypercube, features of different orders are exactly orthogonal).",
    ]
    lines += [f"- {note}" for note in notes]
    lines.append("")
    figures = [Path(f) for f in figures]
    main_figs = [f for f in figures if f.stem == f"similarity_{main}"]
    if main_figs:
        lines += ["## Similarity to the optimal solution during training", "",
                  _image(main_figs[0], path.parent), ""]

    for metric in metrics:
        table = final_similarity(results, metric=metric)
        name = _metric_name(metric)
        lines += [f"## Final {name} similarity per configuration and layer", "",
                  f"Mean ± std over seeds at each run's last step; baseline: shuffled "
                  f"chance level. *Steps to t*: mean over the seeds that reached "
                  f"{name} ≥ t of the first recorded step where they did (k/n: only k "
                  f"of n seeds reached it; —: none did).", ""]
        header = ["init", "activation", "noise", "layer", f"final {name}", "baseline",
                  *[f"steps to {t:g}" for t in THRESHOLDS]]
        rows = []
        for row in table.to_dict("records"):
            rows.append([row["init"], row["activation"], row["noise"], row["layer"],
                         f"{row['mean']:.3f} ± {row['std']:.3f}",
                         _fmt(row["baseline"]),
                         *[_steps_cell(row[f"step_{t:g}"], row[f"reached_{t:g}"],
                                       row["n_seeds"]) for t in THRESHOLDS]])
        lines += [_markdown_table(header, rows), ""]

    if curves is not None and len(curves):
        train = final_training(curves)
        wanted = [m for m in ("loss", "accuracy", "val_loss", "val_accuracy")
                  if m in set(train["metric"])]
        lines += ["## Final training loss and accuracy", "",
                  "Mean ± std over seeds at each run's last recorded step.", ""]
        header = ["init", "activation", "noise", "seeds", *[m.replace("_", " ") for m in wanted]]
        rows = []
        for config, group in train.groupby(_CONFIG, sort=True):
            cells = []
            for m in wanted:
                hit = group[group["metric"] == m]
                cells.append(f"{hit['mean'].iloc[0]:.4g} ± {hit['std'].iloc[0]:.2g}"
                             if len(hit) else "—")
            rows.append([*config, str(int(group["n_seeds"].max())), *cells])
        lines += [_markdown_table(header, rows), ""]

    others = [f for f in figures if f not in main_figs]
    if others:
        lines += ["## Figures", ""]
        for figure in others:
            lines += [f"### {_figure_title(figure.stem)}", "", _image(figure, path.parent), ""]
    if config_toml is not None:
        lines += ["## Configuration", "", "The exact configuration of this experiment "
                  "(`svccakit run --config` accepts it):", "", "```toml",
                  config_toml.rstrip("\n"), "```", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------
# private helpers


def _check_results(results) -> None:
    from svccakit.timeline import COLUMNS

    columns = getattr(results, "columns", None)
    if columns is None:
        raise TypeError(f"results must be a pandas DataFrame, got {type(results).__name__}")
    missing = [c for c in COLUMNS if c not in columns]
    if missing:
        raise ValueError(f"results is missing the timeline column(s) {missing}")
    if len(results) == 0:
        raise ValueError("results must hold at least one row, got an empty table")


def _of_metric(results, metric: str):
    _check_results(results)
    data = results[results["metric"] == metric]
    if len(data) == 0:
        raise ValueError(
            f"metric {metric!r} not in results (metrics: {_ordered(results['metric'])})"
        )
    return data


def _matching(results, metric: str):
    data = _of_metric(results, metric)
    data = data[data["layer"] == data["ref_layer"]]
    if len(data) == 0:
        raise ValueError("results hold no matching layer pairs (layer == ref_layer)")
    return data


def _ordered(series) -> list:
    return list(dict.fromkeys(series.tolist()))


def _unique_values(series) -> list:
    return sorted(_ordered(series), key=lambda v: (str(type(v)), v))


def _unique(frame, columns) -> list[tuple]:
    return sorted(dict.fromkeys(map(tuple, frame[columns].astype(object).to_numpy())),
                  key=lambda t: tuple(str(v) for v in t))


def _seed_key(seed):
    return (seed is None or seed is np.nan, seed if isinstance(seed, (int, np.integer)) else 0)


def _layer_order(data) -> list[str]:
    return _ordered(data["layer"])


def _colours(inits) -> dict:
    extra = iter(_EXTRA_COLOURS * 4)
    return {init: _INIT_COLOURS.get(init) or next(extra) for init in inits}


def _use_log(steps) -> bool:
    positive = steps[steps > 0]
    return len(positive) > 1 and positive.max() / positive.min() >= 50


def _min_positive(steps) -> float:
    positive = steps[steps > 0]
    return float(positive.min()) if len(positive) else 1.0


def _metric_name(metric: str) -> str:
    return _METRIC_NAMES.get(metric, metric)


def _row_label(activation, noise) -> str:
    return f"{activation}" if noise in ("none", "", None) else f"{activation}, {noise}"


def _config_label(config) -> str:
    init, activation, noise = config
    return f"{init} · {_row_label(activation, noise)}"


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
    if handles:
        fig.legend([handles[label] for label in labels], labels, loc="outside right upper",
                   fontsize=10, frameon=False)


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=DPI)
    return path


def _image(figure: Path, base: Path) -> str:
    try:
        rel = os.path.relpath(figure, base)
    except ValueError:  # pragma: no cover - different drives on Windows
        rel = str(figure)
    return f"![{_figure_title(figure.stem)}]({Path(rel).as_posix()})"


def _figure_title(stem: str) -> str:
    kind, _, metric = stem.partition("_")
    name = _metric_name(metric)
    return {
        "similarity": f"{name} similarity against training step",
        "heatmap": f"{name} similarity, layer x step, per run",
        "final": f"Final {name} similarity per layer",
        "pairs": f"Final {name} similarity, all layer pairs",
        "training": "Training loss and accuracy",
    }.get(kind, stem)


def _fmt(value) -> str:
    return "—" if value is None or not np.isfinite(value) else f"{value:.3f}"


def _steps_cell(step, reached: int, n: int) -> str:
    if reached == 0 or not np.isfinite(step):
        return "—"
    text = f"{step:.0f}"
    return text if reached == n else f"{text} ({reached}/{n})"


def _markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    def clean(cell) -> str:
        return str(cell).replace("|", "\\|")

    lines = ["| " + " | ".join(clean(h) for h in header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(clean(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
