"""Tables and the Markdown report of an experiment.

Everything here works on two tidy tables:

- ``results``: the output of :func:`svccakit.timeline` (columns
  :data:`svccakit.timeline.COLUMNS`);
- ``curves``: training metrics read from run files by :func:`training_curves`
  (columns :data:`CURVE_COLUMNS`).

:func:`final_similarity` and :func:`final_training` summarise them over seeds and
:func:`write_report` writes ``report.md``. The figures (:func:`plot_similarity`,
:func:`plot_heatmaps`, :func:`plot_final`, :func:`plot_pairs`, :func:`plot_training`,
:func:`write_figures`, :class:`ReportFiles`) live in :mod:`svccakit.figures` and are
re-exported here.

A *configuration* is one (init, activation, noise) triple; its runs differ only in
the seed. Only matching layer pairs (``layer == ref_layer``) enter the figures and
tables, except :func:`plot_pairs`, which shows every pair.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from svccakit._results import (
    _CONFIG,
    _check_results,
    _layer_order,
    _matching,
    _metric_name,
    _ordered,
)
from svccakit.figures import (  # noqa: F401 (re-exported)
    DPI,
    ReportFiles,
    plot_final,
    plot_heatmaps,
    plot_pairs,
    plot_similarity,
    plot_training,
    write_figures,
)

CURVE_COLUMNS: tuple[str, ...] = (
    "run", "init", "activation", "noise", "seed", "step", "metric", "value",
)
"""Columns of the training-curve table returned by :func:`training_curves`."""

THRESHOLDS: tuple[float, ...] = (0.5, 0.9)
"""Similarity levels whose first crossing step the report gives."""


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
