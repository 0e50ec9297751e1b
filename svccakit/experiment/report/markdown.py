"""The Markdown report of an experiment (``report.md``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from svccakit._version import __version__
from svccakit.experiment.report._results import (
    _CONFIG,
    _check_results,
    _metric_name,
    _ordered,
)
from svccakit.experiment.report.tables import THRESHOLDS, final_similarity, final_training

__all__ = ["write_report"]


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
