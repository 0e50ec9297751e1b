"""The one table of similarity measures: name -> how to decompose, compare, and its chance level.

:data:`METRICS` maps each name that :func:`~svccakit.similarity.baseline`, the
timeline, configs and reports accept to a :class:`Metric`. Everything that dispatches
on a metric name looks it up here with :func:`get_metric`; an unknown name is a
``ValueError`` listing the known ones. To add a metric, add one entry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from svccakit.similarity import metrics as _m
from svccakit.similarity.decomposition import Decomposition, decompose

__all__ = ["METRICS", "METRIC_NAMES", "Metric", "get_metric"]


@dataclass(frozen=True)
class Metric:
    """One similarity measure.

    Attributes
    ----------
    name : str
        The name configs and functions take (``"svcca"``).
    label : str
        How reports and figures print it (``"SVCCA"``).
    symmetric : bool
        Whether ``compare(X, Y) == compare(Y, X)``.
    side_keep : callable
        ``side_keep(keep) -> keep or None``: the ``keep`` a side is decomposed with
        for this metric, given SVCCA's ``keep`` (``None``: any decomposition will
        do, only the centred data are used).
    compare : callable
        ``compare(X, Y) -> float`` on arrays or Decompositions made with
        ``side_keep``.
    shuffled : callable
        ``shuffled(X, Y, keep, perms) -> list of float``: the metric with ``Y``'s
        rows permuted by each of ``perms(n_samples)`` (the chance level).
    """

    name: str
    label: str
    symmetric: bool
    side_keep: Callable[[float | int], float | int | None]
    compare: Callable[[object, object], float]
    shuffled: Callable[..., list[float]]
    compare_many: Callable[[Decomposition, Sequence[Decomposition]], list[float]] | None = None

    def decompose(self, X, keep: float | int = 0.99, made: dict | None = None) -> Decomposition:
        """``X`` decomposed as this metric needs; ``made`` (``{keep: Decomposition}``) is
        reused and extended, so metrics that share a decomposition compute it once."""
        k = self.side_keep(keep)
        made = {} if made is None else made
        if k is None:
            if made:
                return next(iter(made.values()))
            k = 1.0
        if k not in made:
            made[k] = decompose(X, k)
        return made[k]

    def many(self, X: Decomposition, references: Sequence[Decomposition]) -> list[float]:
        """``[compare(X, Y) for Y in references]``, sharing work where the metric can."""
        if self.compare_many is not None:
            return self.compare_many(X, references)
        return [self.compare(X, Y) for Y in references]


def _svcca_many(X, references) -> list[float]:
    return [r.similarity for r in _m.svcca_many(X, references)]


METRICS: dict[str, Metric] = {
    "svcca": Metric(
        name="svcca", label="SVCCA", symmetric=True, side_keep=lambda keep: keep,
        compare=lambda X, Y: _m.svcca(X, Y).similarity, shuffled=_m._svcca_shuffled,
        compare_many=_svcca_many,
    ),
    "pwcca": Metric(
        name="pwcca", label="PWCCA", symmetric=False, side_keep=lambda keep: 1.0,
        compare=lambda X, Y: float(_m.pwcca(X, Y)), shuffled=_m._pwcca_shuffled,
    ),
    "cka": Metric(
        name="cka", label="linear CKA", symmetric=True, side_keep=lambda keep: None,
        compare=lambda X, Y: float(_m.linear_cka(X, Y)), shuffled=_m._cka_shuffled,
    ),
}
"""Every similarity measure, by name."""

METRIC_NAMES: tuple[str, ...] = tuple(METRICS)
"""The metric names, in the table's order."""


def get_metric(name: str, what: str = "metric") -> Metric:
    """The :class:`Metric` called ``name``; a ``ValueError`` listing the known names."""
    try:
        return METRICS[name]
    except (KeyError, TypeError):
        raise ValueError(f"{what}: expected one of {', '.join(map(repr, METRICS))}, "
                         f"got {name!r}") from None
