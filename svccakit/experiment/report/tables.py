"""Tables of an experiment: training curves and final similarities, summarised over seeds.

Everything here works on two tidy tables:

- ``results``: the output of :func:`svccakit.timeline` (columns
  :data:`svccakit.timeline.COLUMNS`);
- ``curves``: training metrics read from run files by :func:`training_curves`
  (columns :data:`CURVE_COLUMNS`).

:func:`final_similarity` and :func:`final_training` summarise them over seeds;
:mod:`svccakit.experiment.report.markdown` writes ``report.md`` and
:mod:`svccakit.experiment.report.figures` the figures.

A *configuration* is one (init, activation, noise) triple; its runs differ only in
the seed. Only matching layer pairs (``layer == ref_layer``) enter the figures and
tables, except :func:`plot_pairs`, which shows every pair.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable

import numpy as np

from svccakit.experiment.report._results import (
    _CONFIG,
    _layer_order,
    _matching,
)

CURVE_COLUMNS: tuple[str, ...] = (
    "run", "init", "activation", "noise", "seed", "step", "metric", "value",
)
"""Columns of the training-curve table returned by :func:`training_curves`."""

__all__ = ["CURVE_COLUMNS", "THRESHOLDS", "final_similarity", "final_training", "training_curves"]

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

    from svccakit.experiment.timeline import run_info
    from svccakit.record.store import open_run

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
