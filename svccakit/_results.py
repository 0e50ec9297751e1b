"""Reading the tidy results table of :func:`svccakit.timeline`, for tables and figures.

Private helpers shared by :mod:`svccakit.report` (tables, ``report.md``) and
:mod:`svccakit.figures`: validate a ``results`` table, select one metric's rows or its
matching layer pairs (``layer == ref_layer``), keep first-seen order, name metrics.
"""

from __future__ import annotations

_METRIC_NAMES = {"svcca": "SVCCA", "pwcca": "PWCCA", "cka": "linear CKA"}
_CONFIG = ["init", "activation", "noise"]


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


def _layer_order(data) -> list[str]:
    return _ordered(data["layer"])


def _metric_name(metric: str) -> str:
    return _METRIC_NAMES.get(metric, metric)
