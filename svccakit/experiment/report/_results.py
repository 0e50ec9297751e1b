"""Reading the tidy results table of :func:`svccakit.timeline`, for tables and figures.

Private helpers shared by the modules of :mod:`svccakit.experiment.report`: validate a ``results`` table, select one metric's rows or its
matching layer pairs (``layer == ref_layer``), keep first-seen order, name metrics.
"""

from __future__ import annotations

from svccakit.experiment.timeline import COLUMNS
from svccakit.similarity.registry import METRICS

_CONFIG = ["init", "activation", "noise"]


def _check_results(results) -> None:
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


def _layer_order(data) -> list[str]:
    return _ordered(data["layer"])


def _metric_name(metric: str) -> str:
    """The metric's label from the registry (a name not in it is shown as given: the
    table may come from a newer version)."""
    entry = METRICS.get(metric)
    return metric if entry is None else entry.label
