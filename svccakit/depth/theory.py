"""Trainable depth of critically initialised noisy ReLU networks: theory and measurement.

The theory (Pretorius et al. 2018; Schoenholz et al. 2017): a critically initialised noisy
ReLU network (``sigma_w^2 = 2 / mu2``, ``sigma_b = 0``) drives the correlation between two
inputs to a fixed point ``c* < 1`` at the rate ``xi_c = -1 / ln chi(c*)``, and is trainable
down to about ``6 xi_c`` hidden layers (:func:`theory_depth`).

The measurement: a network the theory calls untrainable has forgotten which input it saw,
so the best it can do is the *trivial predictor*, the mean training image
(:func:`trivial_loss`). A trained network is *trainable* when its relative validation loss
``val_loss / trivial_loss`` is below a threshold (default :data:`DEFAULT_THRESHOLD`).
:class:`DepthGrid` holds the final losses of a depth x noise grid next to the theory and
the agreement of the two.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from svccakit._validate import check_real

__all__ = [
    "DEFAULT_THRESHOLD",
    "GRID_COLUMNS",
    "DepthGrid",
    "check_threshold",
    "multiplicative_noise",
    "noise_axis",
    "noise_spec",
    "theory_depth",
    "trivial_loss",
]

DEFAULT_THRESHOLD = 0.9
"""Relative validation loss below which a network counts as trained."""


# ------------------------------------------------------------------------ theory


def multiplicative_noise(spec, name: str = "noise"):
    """Parse a noise spec and check it has a critical point (multiplicative or none)."""
    from svccakit.meanfield.specs import parse_noise

    noise = parse_noise(spec)
    if noise.kind not in ("none", "dropout", "gauss"):
        raise ValueError(
            f"{name}: expected 'none', 'dropout:P' or 'gauss:SIGMA' (multiplicative noise, "
            f"which has a critical point), got {spec!r}"
        )
    return noise


def theory_depth(noise) -> tuple[float, float, float]:
    """``(sigma_w, xi_c, 6 xi_c)`` of a critically initialised noisy ReLU network.

    Parameters
    ----------
    noise : str or svccakit.meanfield.Noise
        ``"none"``, ``"dropout:P"`` (keep rate P) or ``"gauss:SIGMA"``.

    Returns
    -------
    sigma_w, xi_c, six_xi_c : float
        ``sigma_w = sqrt(2 / mu2)``; ``xi_c = -1 / ln chi(c*)`` (``inf`` without noise) from
        :func:`svccakit.meanfield.critical_point`.
    """
    from svccakit.meanfield.theory import critical_point

    cp = critical_point("relu", multiplicative_noise(noise))
    return cp.sigma_w, cp.xi_c, cp.trainable_depth


def noise_axis(noises: Sequence[str]) -> tuple[str, list[float]]:
    """The family ("dropout" / "gauss") of a list of noise specs and their parameters.

    ``"none"`` joins either family as keep rate 1 or sigma 0.
    """
    parsed = [multiplicative_noise(n) for n in noises]
    kinds = {n.kind for n in parsed} - {"none"}
    if len(kinds) > 1:
        raise ValueError(f"noises: expected one family (dropout or gauss), got {sorted(kinds)}")
    kind = kinds.pop() if kinds else "dropout"
    if kind == "dropout":
        return kind, [1.0 if n.kind == "none" else n.p for n in parsed]
    return kind, [0.0 if n.kind == "none" else n.sigma for n in parsed]


def noise_spec(kind: str, value: float) -> str:
    if (kind == "dropout" and value == 1.0) or (kind == "gauss" and value == 0.0):
        return "none"
    return f"{kind}:{value:g}"



# -------------------------------------------------------------------- measurement


def trivial_loss(train: np.ndarray, val: np.ndarray) -> float:
    """Validation MSE of the trivial predictor, the mean training image.

    Parameters
    ----------
    train : array of shape (n_train, n_features)
    val : array of shape (n_val, n_features)

    Returns
    -------
    float
        ``mean((val - train.mean(0))^2)`` over samples and features.
    """
    train, val = np.asarray(train, dtype=np.float64), np.asarray(val, dtype=np.float64)
    return float(np.mean((val - train.mean(axis=0)) ** 2))


GRID_COLUMNS = (
    "noise", "noise_kind", "noise_value", "depth", "seed", "width", "steps", "sigma_w", "mu2",
    "xi_c", "six_xi_c", "train_loss", "val_loss", "trivial_loss", "trivial_train_loss",
    "rel_train_loss", "rel_val_loss", "trainable_theory", "trainable", "agrees",
)


@dataclass(frozen=True)
class DepthGrid:
    """Final losses of the depth x noise grid next to the theory, at one or more training
    budgets.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per trained network and budget, columns :data:`GRID_COLUMNS`: ``noise``
        (spec), ``noise_kind`` ("dropout"/"gauss"; ``"none"`` is listed as keep rate 1 of
        the dropout family), ``noise_value`` (keep rate or sigma), ``depth`` (hidden
        layers), ``seed``, ``width``, ``steps`` (the training budget: losses after this
        many optimiser steps), ``sigma_w`` (critical, ``sqrt(2 / mu2)``), ``mu2``, ``xi_c``
        (``inf`` without noise), ``six_xi_c``, ``train_loss`` (whole training set),
        ``val_loss`` (validation set; both in eval mode, noise off; ``nan`` if training
        diverged), ``trivial_loss`` / ``trivial_train_loss`` (validation / training MSE of
        the mean training image), ``rel_val_loss`` / ``rel_train_loss`` (divided by them),
        ``trainable_theory`` (``depth <= six_xi_c``), ``trainable`` (``rel_val_loss <
        threshold``), ``agrees``.
    threshold : float
        Relative validation loss below which a network counts as trained.
    """

    table: object
    threshold: float

    @classmethod
    def from_csv(cls, path: str | os.PathLike, threshold: float = DEFAULT_THRESHOLD) -> DepthGrid:
        """Read a ``grid.csv`` written by :func:`svccakit.depth.run_depth`;
        ``trainable``/``agrees`` are recomputed at ``threshold``."""
        import pandas as pd

        threshold = check_threshold(threshold)
        table = pd.read_csv(path, keep_default_na=False, na_values=["", "nan", "NaN"])
        missing = [c for c in GRID_COLUMNS if c not in table.columns]
        if missing:
            raise ValueError(f"grid table {str(path)!r}: missing columns {missing}")
        table["trainable"] = table["rel_val_loss"] < threshold
        table["agrees"] = table["trainable"] == table["trainable_theory"]
        return cls(table=table[list(GRID_COLUMNS)], threshold=threshold)

    def with_threshold(self, threshold: float) -> DepthGrid:
        """The same grid with ``trainable``/``agrees`` recomputed at another threshold."""
        threshold = check_threshold(threshold)
        table = self.table.copy()
        table["trainable"] = table["rel_val_loss"] < threshold
        table["agrees"] = table["trainable"] == table["trainable_theory"]
        return DepthGrid(table=table, threshold=threshold)

    @property
    def budgets(self) -> tuple[int, ...]:
        """The training budgets (step counts) in the table, ascending."""
        return tuple(int(s) for s in sorted(self.table["steps"].unique()))

    def check_steps(self, steps) -> int:
        """``steps`` if it is one of :attr:`budgets`, the largest budget if None."""
        if steps is None:
            return self.budgets[-1]
        if isinstance(steps, (bool, np.bool_)) or not isinstance(steps, (int, np.integer)):
            raise TypeError(f"steps: expected an integer (a training budget), got "
                            f"{type(steps).__name__} {steps!r}")
        if int(steps) not in self.budgets:
            raise ValueError(f"steps: expected one of the grid's budgets {list(self.budgets)}, "
                             f"got {steps!r}")
        return int(steps)

    def at(self, steps: int | None = None) -> DepthGrid:
        """The grid at one training budget (default the largest)."""
        steps = self.check_steps(steps)
        table = self.table[self.table["steps"] == steps].reset_index(drop=True)
        return DepthGrid(table=table, threshold=self.threshold)

    def cells(self, steps: int | None = None):
        """Seed-averaged table at one budget (default the largest): one row per (noise,
        depth), losses averaged over seeds, ``trainable``/``agrees`` recomputed from the
        averages, ``n_seeds``, and ``near_boundary`` (the deepest grid depth <= 6 xi_c or
        the shallowest above it, for that noise). Returns a DataFrame."""
        return _cells(self.at(steps).table, self.threshold)

    def agreement(self, threshold: float | None = None, steps: int | None = None) -> float:
        """Fraction of (noise, depth) cells where ``rel_val_loss < threshold`` (seed
        average) agrees with ``depth <= 6 xi_c``, at one budget (default the largest)."""
        t = self.threshold if threshold is None else check_threshold(threshold)
        return float(_cells(self.at(steps).table, t)["agrees"].mean())


def check_threshold(threshold) -> float:
    """``threshold`` (a relative loss, > 0) as a float, or a clear error."""
    return check_real(threshold, "threshold", low=0.0, low_open=True)


def _mean_or_nan(values):
    """The mean over seeds; ``nan`` if a seed diverged (so the cell is not trainable)."""
    return values.mean(skipna=False)


def _cells(table, threshold: float):
    keys = ["noise_kind", "noise_value", "noise", "depth"]
    first = ["width", "steps", "sigma_w", "mu2", "xi_c", "six_xi_c", "trainable_theory"]
    mean = ["train_loss", "val_loss", "trivial_loss", "trivial_train_loss", "rel_train_loss",
            "rel_val_loss"]
    agg = {c: "first" for c in first} | {c: _mean_or_nan for c in mean} | {"seed": "count"}
    cells = table.groupby(keys, sort=True, as_index=False).agg(agg)
    cells = cells.rename(columns={"seed": "n_seeds"})
    cells["trainable"] = cells["rel_val_loss"] < threshold
    cells["agrees"] = cells["trainable"] == cells["trainable_theory"]
    # next to the curve: the deepest grid depth <= 6 xi_c or the shallowest one above it
    cells["near_boundary"] = False
    for _, sub in cells.groupby(["noise_kind", "noise_value"]):
        six = sub["six_xi_c"].iloc[0]
        below, above = sub[sub["depth"] <= six], sub[sub["depth"] > six]
        for part, pick in ((below, "idxmax"), (above, "idxmin")):
            if len(part):
                cells.loc[getattr(part["depth"], pick)(), "near_boundary"] = True
    return cells
