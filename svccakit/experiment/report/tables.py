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
    _of_metric,
)

CURVE_COLUMNS: tuple[str, ...] = (
    "run", "init", "activation", "noise", "seed", "step", "metric", "value",
)
"""Columns of the training-curve table returned by :func:`training_curves`."""

__all__ = [
    "CURVE_COLUMNS",
    "READOUT_RANK",
    "THRESHOLDS",
    "best_matches",
    "chance_corrected",
    "final_similarity",
    "final_training",
    "reference_layers",
    "training_curves",
]

READOUT_RANK = 2
"""A reference layer of at most this rank on the probe carries a read-out (a bit, a
logit), not an intermediate representation; reports mark it and leave it out of the
headline."""

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


def reference_layers(reference: str | os.PathLike, *, step_index: int = -1):
    """Each layer of a reference run file, with its numerical rank on the probe.

    The rank is that of the centred activations ``(n_probe, d)`` (singular values above
    ``max(n, d) * eps * sigma_1``): how many directions the layer actually uses. A layer
    of rank at most :data:`READOUT_RANK` is *read-out only*: comparing a student layer
    with it asks whether one or two numbers are linearly readable, not whether the
    student computes the optimum's intermediate representation.

    Parameters
    ----------
    reference : path-like
        A run file (the optimal solution's).
    step_index : int
        The snapshot to use (default: the last).

    Returns
    -------
    pandas.DataFrame
        Columns ``layer``, ``n_features``, ``rank``, ``informative`` (rank >
        :data:`READOUT_RANK`), in recorded order.
    """
    import pandas as pd

    from svccakit.record.store import open_run

    rows = []
    with open_run(reference) as run:
        for layer in run.layer_names:
            a = np.asarray(run.activations(layer, step_index), dtype=np.float64)
            a = a.reshape(a.shape[0], -1)
            c = a - a.mean(axis=0)
            s = np.linalg.svd(c, compute_uv=False)
            rank = 0 if s.size == 0 or s[0] <= 0 else int(
                np.count_nonzero(s > max(c.shape) * np.finfo(np.float64).eps * s[0]))
            rows.append((str(layer), int(c.shape[1]), rank, rank > READOUT_RANK))
    return pd.DataFrame(rows, columns=["layer", "n_features", "rank", "informative"])


def chance_corrected(value, baseline):
    """``(value - baseline) / (1 - baseline)``: 0 at the shuffled chance level, 1 for an
    identical representation (negative below chance; NaN where the baseline is unknown or
    1)."""
    value, baseline = np.asarray(value, dtype=float), np.asarray(baseline, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (value - baseline) / (1.0 - baseline)
    return np.where(np.isfinite(out), out, np.nan)


def best_matches(results, *, metric: str = "svcca", layers=None):
    """For each reference layer, the student layer most similar to it, at every step.

    The best match is the student layer with the highest chance-corrected similarity
    (:func:`chance_corrected`: raw values are not comparable across layers of different
    widths, since the chance level of SVCCA grows with the directions compared), or with
    the highest raw value where no baseline was computed.

    Parameters
    ----------
    results : pandas.DataFrame
        Output of :func:`svccakit.timeline` with ``pairs="all"``.
    metric : str
    layers : sequence of str, optional
        The student layers that may match (default: all recorded ones).

    Returns
    -------
    pandas.DataFrame
        One row per (run, step, ref_layer): the configuration columns, ``seed``,
        ``step``, ``ref_layer``, the best ``layer``, its ``value``, the ``baseline`` of
        that pair and ``corrected`` (chance-corrected value).
    """
    data = _of_metric(results, metric)
    if layers is not None:
        data = data[data["layer"].isin(list(layers))]
        if len(data) == 0:
            raise ValueError(f"layers: none of {list(layers)} is in results")
    data = data.assign(corrected=chance_corrected(data["value"], data["baseline"]))
    data = data[data["value"].notna()]  # dead layers (NaN rows) never match
    score = data["corrected"].where(data["corrected"].notna(), data["value"])
    keys = ["run", "step", "ref_layer"]
    index = score.groupby([data[k] for k in keys], sort=False).idxmax()
    best = data.loc[index, ["run", *_CONFIG, "seed", "step", "ref_layer", "layer", "value",
                            "baseline", "corrected"]]
    return best.reset_index(drop=True)
