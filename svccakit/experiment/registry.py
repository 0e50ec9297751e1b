"""The one table of tasks: name -> what it is, how its data are made, its optimum.

Torch-free: configs, the command line and ``hooks/`` read task names and summaries
from :data:`TASKS` without loading torch; :func:`svccakit.experiment.tasks.make_task`
and :func:`svccakit.experiment.train.optimal_network` look the builders up here.
To add a task, add one entry (and its builders in :mod:`svccakit.experiment.tasks`).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

__all__ = ["TASKS", "TASK_NAMES", "TaskKind", "get_task"]


@dataclass(frozen=True)
class TaskKind:
    """One task.

    Attributes
    ----------
    name : str
        The ``task.name`` of a config.
    summary : str
        One line: the data, the loss and the optimal solution.
    make : str
        ``"module:function"``; the function takes an experiment config and returns a
        :class:`~svccakit.experiment.tasks.Task`.
    optimum : str or None
        ``"module:function"`` building the hand-coded optimal network from
        ``(config, activation)``, or ``None`` when the reference is trained.
    defaults : dict
        ``[task]`` keys that suit this task (e.g. parity's whole truth table:
        ``n_train = 0, n_val = 0``), applied by :meth:`config_changes` when a config
        switches to it.
    """

    name: str
    summary: str
    make: str
    optimum: str | None
    defaults: tuple[tuple[str, object], ...] = ()

    def config_changes(self) -> dict:
        """``{"task.name": name, "task.<key>": value, ...}`` for
        :meth:`~svccakit.experiment.config.ExperimentConfig.updated`."""
        return {"task.name": self.name, **{f"task.{k}": v for k, v in self.defaults}}

    @property
    def has_optimum(self) -> bool:
        """Whether the optimal solution is known exactly (not trained)."""
        return self.optimum is not None

    def builder(self):
        """The function named by :attr:`make` (imports torch)."""
        return _resolve(self.make)

    def optimum_builder(self):
        """The function named by :attr:`optimum` (imports torch), or ``None``."""
        return None if self.optimum is None else _resolve(self.optimum)


def _resolve(path: str):
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


_T = "svccakit.experiment.tasks"

TASKS: dict[str, TaskKind] = {
    t.name: t for t in (
        TaskKind("parity", "n-bit parity, cross-entropy; optimum: the hand-coded XOR tree",
                 f"{_T}:_parity_from_config", f"{_T}:_parity_optimum",
                 (("n_train", 0), ("n_val", 0), ("n_probe", 256))),
        TaskKind("teacher", "regression on a critical random ReLU teacher, MSE; optimum: "
                 "the teacher", f"{_T}:_teacher_from_config", f"{_T}:_teacher_optimum",
                 (("n_train", 2048), ("n_val", 512), ("n_probe", 512))),
        TaskKind("digits", "scikit-learn's 8x8 digits, cross-entropy; reference: a trained "
                 "network (no exact optimum)", f"{_T}:_digits_from_config", None,
                 (("n_train", 0), ("n_val", 300), ("n_probe", 256))),
    )
}
"""Every task, by name."""

TASK_NAMES: tuple[str, ...] = tuple(TASKS)


def get_task(name: str, what: str = "task.name") -> TaskKind:
    """The :class:`TaskKind` called ``name``; a ``ValueError`` listing the known names."""
    try:
        return TASKS[name]
    except (KeyError, TypeError):
        raise ValueError(f"{what}: expected one of {', '.join(map(repr, TASKS))}, "
                         f"got {name!r}") from None
