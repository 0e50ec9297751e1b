"""What a run file says about the run that made it: the contract between training and analysis.

:func:`svccakit.experiment.train.train_run` and
:func:`~svccakit.experiment.train.record_reference` store a :class:`RunMeta` in every run
file's ``config`` attribute, as ``{"experiment": <config dict>, "run": <RunMeta dict>}``;
:func:`svccakit.timeline` and the report read it back with :meth:`RunMeta.from_config`.
Run files written by your own loop may carry any ``config``: missing fields take the
fallbacks documented on each attribute, so the timeline still labels them.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

__all__ = ["RunMeta"]


@dataclass(frozen=True)
class RunMeta:
    """How one run was made.

    Attributes
    ----------
    name : str
        The run's name (the file stem when absent).
    role : str
        ``"student"`` or ``"reference"`` (``""`` when absent).
    task : str
        The task's name (``""`` when absent).
    init : str
        The initialisation (``"critical"``, a random scheme, ``"optimal"`` or
        ``"trained"`` for a reference; ``""`` when absent).
    activation, noise : str
        Spec strings (``"relu"``, ``"dropout:0.8"``; ``""`` when absent).
    seed : int or None
        The run's seed (the file's ``seed`` attribute when absent).
    depth, width : int or None
        The architecture, when known.
    """

    name: str
    role: str = ""
    task: str = ""
    init: str = ""
    activation: str = ""
    noise: str = ""
    seed: int | None = None
    depth: int | None = None
    width: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields."""
        return dataclasses.asdict(self)

    def to_config(self, experiment: dict | None = None) -> dict[str, Any]:
        """The ``config`` a run file stores: ``{"experiment": ..., "run": ...}``."""
        return {"experiment": experiment, "run": self.to_dict()}

    @classmethod
    def from_config(cls, config: Any, *, name: str, seed: int | None = None) -> RunMeta:
        """Read the ``"run"`` entry of a run file's ``config`` (a dict or JSON text).

        Parameters
        ----------
        config : dict, str or None
            The run file's ``config`` attribute.
        name : str
            Fallback name (the file stem).
        seed : int, optional
            Fallback seed (the file's ``seed`` attribute).
        """
        meta = _as_dict(config).get("run", {})
        if not isinstance(meta, dict):
            meta = {}
        got_seed = meta.get("seed", seed)

        def text(key):
            value = meta.get(key)
            return "" if value is None else str(value)

        def integer(key):
            value = meta.get(key)
            return int(value) if isinstance(value, int) and not isinstance(value, bool) else None

        return cls(
            name=str(meta.get("name", name)), role=text("role"), task=text("task"),
            init=text("init"), activation=text("activation"), noise=text("noise"),
            seed=None if got_seed is None else int(got_seed),
            depth=integer("depth"), width=integer("width"),
        )


def _as_dict(config: Any) -> dict:
    if isinstance(config, dict):
        return config
    if isinstance(config, (str, bytes)):
        try:
            loaded = json.loads(config)
        except ValueError:
            return {}
        return loaded if isinstance(loaded, dict) else {}
    return {}
