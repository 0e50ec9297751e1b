"""Which trainable-depth boundary fits: ``depth <= k xi_c`` for k = 1..12, and the floor.

The theory (Schoenholz et al. 2017; Pretorius et al. 2018) says a critically initialised
noisy ReLU network trains to about ``6 xi_c`` hidden layers. "Agrees in 89 % of cells" says
little on its own: on a grid where most cells are deep and noisy, predicting that nothing
trains already scores well, and a boundary at ``3 xi_c`` or ``9 xi_c`` might score as
well as ``6 xi_c``. :func:`boundary_test` therefore scores, at every training budget of a
:class:`~svccakit.depth.theory.DepthGrid`:

* the boundary ``depth <= k xi_c`` for each ``k`` (default 1..12): accuracy on the
  seed-averaged cells, balanced accuracy (the mean of the recall on measured-trainable and
  on measured-untrainable cells, where every constant predictor scores 0.5), accuracy on
  each seed's networks (mean, standard deviation, range), and which ``k`` fit worse than
  the best on every seed;
* the floor: the constant predictors "nothing trains" and "everything trains", and two
  one-parameter boundaries that ignore half of the theory, fitted to the same cells as the
  best ``k``: a fixed depth (``depth <= D``, noise ignored) and a noise cut-off
  (``xi_c >= X``, depth ignored);
* the measured boundary of each noise level: the deepest trainable and the shallowest
  untrainable grid depth, and the interval of ``k`` it allows
  (``deepest / xi_c <= k < shallowest / xi_c``); a single ``k`` fits every noise level only
  if those intervals overlap.

Noise-free cells (``xi_c = inf``: ``c* = 1``, ``chi = 1``) are predicted trainable at every
depth by every ``k``. They are scored with the rest (a deep noise-free network that fails
counts against the theory), but they add the same count to every ``k`` and so cannot move
the best one; ``accuracy_noisy`` leaves them out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from svccakit.depth.theory import DepthGrid

__all__ = ["KS", "THRESHOLDS", "BoundaryTest", "boundary_test", "threshold_scan"]

KS = tuple(range(1, 13))
"""The multiples of ``xi_c`` scored by default."""

THRESHOLDS = (0.5, 0.7, 0.8, 0.9, 0.95)
"""Relative validation losses at which :func:`threshold_scan` repeats the test."""

SCAN_COLUMNS = (
    "steps", "k", "n_cells", "accuracy", "balanced_accuracy", "accuracy_noisy", "accuracy_dropout",
    "accuracy_gauss", "seed_mean", "seed_sd", "seed_min", "seed_max", "best",
    "worse_every_seed",
)
PREDICTOR_COLUMNS = (
    "steps", "predictor", "parameter", "fitted", "accuracy", "balanced_accuracy",
    "accuracy_noisy", "seed_mean", "seed_sd", "seed_min", "seed_max",
)
BOUNDARY_COLUMNS = (
    "steps", "noise", "noise_kind", "noise_value", "mu2", "xi_c", "deepest_trainable",
    "shallowest_untrainable", "monotone", "k_low", "k_high",
)


@dataclass(frozen=True)
class BoundaryTest:
    """The k-scan, the predictors and the measured boundaries of a depth grid.

    Attributes
    ----------
    scan : pandas.DataFrame
        One row per (budget, k), columns ``SCAN_COLUMNS``: ``n_cells`` (noise levels x
        depths), ``accuracy`` (seed-averaged cells), ``balanced_accuracy``, ``accuracy_noisy`` (noise-free cells left out),
        ``accuracy_dropout`` / ``accuracy_gauss`` (one noise family's noisy cells),
        ``seed_mean``/``seed_sd``/``seed_min``/``seed_max`` (accuracy of each seed's
        networks on their own), ``best`` (ties for the highest ``accuracy`` at that
        budget), ``worse_every_seed`` (scores below the best on every seed).
    predictors : pandas.DataFrame
        One row per (budget, predictor), columns ``PREDICTOR_COLUMNS``: "nothing trains",
        "everything trains", "6 xi_c", "best k xi_c", "best fixed depth", "best noise
        cut-off"; ``parameter`` is the fitted k, D or X (``nan`` for the others),
        ``fitted`` whether it was chosen on these cells.
    boundaries : pandas.DataFrame
        One row per (budget, noise level), columns ``BOUNDARY_COLUMNS``:
        ``deepest_trainable`` and ``shallowest_untrainable`` (seed-averaged cells; ``nan``
        if there is none), ``monotone`` (every trainable depth is below every untrainable
        one), and the interval ``[k_low, k_high)`` of ``k`` whose ``k xi_c`` falls between
        them (``k_high = inf`` when every depth trained; ``nan`` without noise).
    threshold : float
    ks : tuple of float
    """

    scan: object
    predictors: object
    boundaries: object
    threshold: float
    ks: tuple[float, ...]

    @property
    def budgets(self) -> tuple[int, ...]:
        return tuple(int(s) for s in sorted(self.scan["steps"].unique()))

    def best_k(self, steps: int | None = None) -> list[float]:
        """The ``k`` tied for the highest accuracy at one budget (default the largest)."""
        scan = self._at(self.scan, steps)
        return [float(k) for k in scan.loc[scan["best"], "k"]]

    def indistinct_k(self, steps: int | None = None) -> list[float]:
        """The ``k`` that are not worse than the best on every seed: those the data cannot
        tell from the best."""
        scan = self._at(self.scan, steps)
        return [float(k) for k in scan.loc[~scan["worse_every_seed"], "k"]]

    def consistent_k(self, steps: int | None = None) -> tuple[float, float] | None:
        """``(low, high)``: the ``k`` allowed by every noisy, monotone noise level's
        measured boundary, or ``None`` if their intervals do not overlap."""
        b = self._at(self.boundaries, steps)
        b = b[b["monotone"] & np.isfinite(b["xi_c"])]
        if not len(b):
            return None
        low, high = float(b["k_low"].max()), float(b["k_high"].min())
        return (low, high) if low < high else None

    def power_law(self, steps: int | None = None) -> dict[str, float] | None:
        """How the measured boundary grows with ``xi_c``.

        Over the noisy, monotone noise levels bracketed on both sides (some depth
        trainable, some not), the measured boundary is taken as the geometric mean of the
        deepest trainable and the shallowest untrainable depth, and ``log boundary = a log
        xi_c + log k1`` is fitted by least squares. The theory's ``k xi_c`` has ``a = 1``.

        Returns
        -------
        dict or None
            ``{"slope": a, "k1": k1, "n_levels": n, "k_min": ..., "k_max": ...,
            "xi_min": ..., "xi_max": ...}`` (``k`` = boundary / ``xi_c`` at the levels with the
            smallest and the largest ``k``), or None with fewer than two distinct ``xi_c``.
        """
        b = self._at(self.boundaries, steps)
        b = b[b["monotone"] & np.isfinite(b["xi_c"]) & np.isfinite(b["deepest_trainable"])
              & np.isfinite(b["shallowest_untrainable"])]
        if b["xi_c"].nunique() < 2:
            return None
        mid = np.sqrt(b["deepest_trainable"] * b["shallowest_untrainable"]).to_numpy(float)
        xi = b["xi_c"].to_numpy(float)
        slope, intercept = np.polyfit(np.log(xi), np.log(mid), 1)
        k = mid / xi
        return {"slope": float(slope), "k1": float(np.exp(intercept)), "n_levels": int(len(b)),
                "k_min": float(k.min()), "k_max": float(k.max()),
                "xi_min": float(xi[np.argmin(k)]), "xi_max": float(xi[np.argmax(k)])}

    def predictor(self, name: str, steps: int | None = None):
        """One row of :attr:`predictors` (a pandas Series)."""
        p = self._at(self.predictors, steps)
        row = p[p["predictor"] == name]
        if not len(row):
            raise ValueError(f"name: expected one of {list(p['predictor'])}, got {name!r}")
        return row.iloc[0]

    def _at(self, table, steps):
        steps = self.budgets[-1] if steps is None else steps
        if steps not in self.budgets:
            raise ValueError(f"steps: expected one of {list(self.budgets)}, got {steps!r}")
        return table[table["steps"] == steps].reset_index(drop=True)


# ----------------------------------------------------------------------- scoring


def _scores(pred: np.ndarray, measured: np.ndarray) -> tuple[float, float]:
    """Accuracy and balanced accuracy (``nan`` if one measured class is empty)."""
    pred, measured = np.asarray(pred, bool), np.asarray(measured, bool)
    accuracy = float(np.mean(pred == measured)) if measured.size else math.nan
    if measured.all() or not measured.any():
        return accuracy, math.nan
    recall_yes = np.mean(pred[measured])
    recall_no = np.mean(~pred[~measured])
    return accuracy, float((recall_yes + recall_no) / 2)


def _seed_scores(nets, predict) -> np.ndarray:
    """Accuracy of each seed's networks on their own, one value per seed."""
    out = []
    for _, sub in nets.groupby("seed", sort=True):
        out.append(np.mean(predict(sub) == sub["trainable"].to_numpy(bool)))
    return np.asarray(out, dtype=float)


def _spread(values: np.ndarray) -> dict[str, float]:
    sd = float(np.std(values, ddof=1)) if values.size > 1 else math.nan
    return {"seed_mean": float(np.mean(values)), "seed_sd": sd,
            "seed_min": float(np.min(values)), "seed_max": float(np.max(values))}


def _k_rule(k: float):
    return lambda t: (t["depth"].to_numpy(float) <= k * t["xi_c"].to_numpy(float))


def _depth_rule(d: float):
    return lambda t: t["depth"].to_numpy(float) <= d


def _noise_rule(x: float):
    return lambda t: t["xi_c"].to_numpy(float) >= x


def _row(rule, cells, nets) -> dict[str, float]:
    measured = cells["trainable"].to_numpy(bool)
    pred = rule(cells)
    accuracy, balanced = _scores(pred, measured)
    noisy = np.isfinite(cells["xi_c"].to_numpy(float))
    row = {"accuracy": accuracy, "balanced_accuracy": balanced,
           "accuracy_noisy": _scores(pred[noisy], measured[noisy])[0] if noisy.any() else math.nan}
    return row | _spread(_seed_scores(nets, rule))


def _fit(rule_of, candidates, cells) -> float:
    """The candidate parameter with the highest accuracy on ``cells`` (first on ties)."""
    measured = cells["trainable"].to_numpy(bool)
    scores = [np.mean(rule_of(c)(cells) == measured) for c in candidates]
    return float(candidates[int(np.argmax(scores))])


def _boundaries(cells, steps: int) -> list[dict]:
    rows = []
    for _, sub in cells.groupby(["noise_kind", "noise_value"], sort=True):
        xi = float(sub["xi_c"].iloc[0])
        ok = sub.loc[sub["trainable"], "depth"]
        bad = sub.loc[~sub["trainable"], "depth"]
        deepest = float(ok.max()) if len(ok) else math.nan
        shallowest = float(bad.min()) if len(bad) else math.nan
        monotone = not (len(ok) and len(bad)) or deepest < shallowest
        if not math.isfinite(xi):
            k_low = k_high = math.nan
        else:
            k_low = deepest / xi if len(ok) else 0.0
            k_high = shallowest / xi if len(bad) else math.inf
        rows.append({
            "steps": steps, "noise": sub["noise"].iloc[0], "noise_kind": sub["noise_kind"].iloc[0],
            "noise_value": float(sub["noise_value"].iloc[0]), "mu2": float(sub["mu2"].iloc[0]),
            "xi_c": xi, "deepest_trainable": deepest, "shallowest_untrainable": shallowest,
            "monotone": bool(monotone), "k_low": k_low, "k_high": k_high,
        })
    return rows


def boundary_test(grid: DepthGrid, ks: Sequence[float] = KS) -> BoundaryTest:
    """Score the boundaries ``depth <= k xi_c`` and the trivial predictors on a grid.

    Parameters
    ----------
    grid : DepthGrid
        With one or more training budgets (``steps``) and any number of seeds.
    ks : sequence of float
        Multiples of ``xi_c`` to score (default 1..12).

    Returns
    -------
    BoundaryTest
    """
    import pandas as pd

    if not isinstance(grid, DepthGrid):
        raise TypeError(f"grid: expected a DepthGrid, got {type(grid).__name__}")
    if isinstance(ks, (str, bytes)) or not isinstance(ks, Sequence) or not len(ks):
        raise ValueError(f"ks: expected a non-empty sequence of numbers > 0, got {ks!r}")
    ks = tuple(float(k) for k in ks)
    if not all(math.isfinite(k) and k > 0 for k in ks):
        raise ValueError(f"ks: expected a non-empty sequence of numbers > 0, got {ks!r}")
    scan_rows, predictor_rows, boundary_rows = [], [], []
    for steps in grid.budgets:
        cells = grid.cells(steps)
        nets = grid.at(steps).table
        noisy = np.isfinite(cells["xi_c"].to_numpy(float))
        rows = []
        for k in ks:
            rule = _k_rule(k)
            row = {"steps": steps, "k": k, "n_cells": len(cells)} | _row(rule, cells, nets)
            for family in ("dropout", "gauss"):
                part = cells[noisy & (cells["noise_kind"] == family).to_numpy()]
                row[f"accuracy_{family}"] = (
                    _scores(rule(part), part["trainable"].to_numpy(bool))[0] if len(part) else math.nan)
            row["_per_seed"] = _seed_scores(nets, rule)
            rows.append(row)
        top = max(r["accuracy"] for r in rows)
        best = [r for r in rows if r["accuracy"] == top]
        best_per_seed = np.max([r["_per_seed"] for r in best], axis=0)
        for r in rows:
            r["best"] = r["accuracy"] == top
            r["worse_every_seed"] = bool(np.all(r.pop("_per_seed") < best_per_seed))
        scan_rows += rows

        k_best = float(best[0]["k"])
        depths = np.concatenate([[0.0], np.sort(cells["depth"].unique()).astype(float)])
        xis = np.concatenate([np.sort(cells["xi_c"].unique()).astype(float), [math.inf]])
        d_best = _fit(_depth_rule, depths, cells)
        x_best = _fit(_noise_rule, xis, cells)
        for name, rule, parameter, fitted in (
            ("nothing trains", lambda t: np.zeros(len(t), bool), math.nan, False),
            ("everything trains", lambda t: np.ones(len(t), bool), math.nan, False),
            ("6 xi_c", _k_rule(6.0), 6.0, False),
            ("best k xi_c", _k_rule(k_best), k_best, True),
            ("best fixed depth", _depth_rule(d_best), d_best, True),
            ("best noise cut-off", _noise_rule(x_best), x_best, True),
        ):
            predictor_rows.append({"steps": steps, "predictor": name, "parameter": parameter,
                                   "fitted": fitted} | _row(rule, cells, nets))
        boundary_rows += _boundaries(cells, steps)
    return BoundaryTest(
        scan=pd.DataFrame(scan_rows, columns=list(SCAN_COLUMNS)),
        predictors=pd.DataFrame(predictor_rows, columns=list(PREDICTOR_COLUMNS)),
        boundaries=pd.DataFrame(boundary_rows, columns=list(BOUNDARY_COLUMNS)),
        threshold=grid.threshold, ks=ks,
    )


THRESHOLD_COLUMNS = ("threshold", "steps", "best_k", "best_accuracy", "six_accuracy",
                     "nothing_trains", "everything_trains")


def threshold_scan(grid: DepthGrid, thresholds: Sequence[float] = THRESHOLDS,
                   ks: Sequence[float] = KS):
    """The best ``k`` and the floor at other trainability thresholds.

    The threshold (relative validation loss below which a network counts as trained) is
    the one choice of the test not fixed by the theory; this repeats
    :func:`boundary_test` at each of ``thresholds``.

    Returns
    -------
    pandas.DataFrame
        One row per (threshold, budget): ``best_k`` (the tied best ``k``, as a list),
        ``best_accuracy``, ``six_accuracy``, ``nothing_trains``, ``everything_trains``.
    """
    import pandas as pd

    if not isinstance(grid, DepthGrid):
        raise TypeError(f"grid: expected a DepthGrid, got {type(grid).__name__}")
    rows = []
    for t in thresholds:
        test = boundary_test(grid.with_threshold(t), ks)
        for steps in test.budgets:
            scan = test.scan[(test.scan["steps"] == steps) & test.scan["best"]]
            rows.append({
                "threshold": float(t), "steps": steps, "best_k": test.best_k(steps),
                "best_accuracy": float(scan["accuracy"].iloc[0]),
                "six_accuracy": float(test.predictor("6 xi_c", steps)["accuracy"]),
                "nothing_trains": float(test.predictor("nothing trains", steps)["accuracy"]),
                "everything_trains": float(test.predictor("everything trains", steps)["accuracy"]),
            })
    return pd.DataFrame(rows, columns=list(THRESHOLD_COLUMNS))
