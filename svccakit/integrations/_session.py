"""What both callbacks share: one Recorder, created on the global-zero process
when training starts, fed at the schedule's global steps, closed once."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from typing import Any

from svccakit._validate import check_int
from svccakit.record.probe import as_probe
from svccakit.record.recorder import Recorder

LOSS = "loss"


class RecordingSession:
    """The recorder behind a callback (private).

    ``start(model, global_step)`` creates the Recorder (global zero only) and
    records step ``global_step`` if the schedule asks; ``step(global_step, loss)``
    records once per new global step; ``close()`` is idempotent.
    """

    def __init__(
        self,
        probe: Any,
        path: str | os.PathLike,
        every: int | None,
        steps: Iterable[int] | None,
        recorder_kwargs: dict[str, Any],
    ):
        if every is None and steps is None:
            raise ValueError("every, steps: pass a schedule (every=N or steps=[...]), got neither")
        if every is not None and steps is not None:
            raise ValueError("every, steps: pass one schedule, not both")
        self.every = None if every is None else check_int(every, "every", 1)
        self.steps = None if steps is None else sorted({check_int(s, "steps", 0) for s in steps})
        if not isinstance(path, str | os.PathLike):
            raise TypeError(f"path: expected a str or path-like, got {type(path).__name__}")
        self.path = os.fspath(path)
        overwrite = bool(recorder_kwargs.get("overwrite", False))
        if not overwrite and os.path.exists(self.path):
            raise FileExistsError(f"{self.path} already exists; pass overwrite=True to replace it")
        for key in ("every", "steps", "model", "probe", "path"):
            if key in recorder_kwargs:
                raise TypeError(f"{key}: set by the callback, not a Recorder keyword here")
        self.probe = as_probe(probe)  # validated now, copied once
        metrics = list(recorder_kwargs.pop("metrics", ()))
        self.recorder_kwargs = {**recorder_kwargs, "metrics": [LOSS, *metrics]}
        self.recorder: Recorder | None = None
        self.last_step: int | None = None
        self.closed = False

    def start(self, model: Any, global_step: int) -> None:
        if self.recorder is not None or self.closed:
            return
        kwargs = dict(self.recorder_kwargs)
        if self.every is not None:
            kwargs["every"] = self.every
        else:
            kwargs["steps"] = self.steps
        self.recorder = Recorder(model, self.probe, self.path, **kwargs)
        self.step(global_step, math.nan)

    def step(self, global_step: int, loss: Any) -> bool:
        """Record at ``global_step`` if scheduled and not yet recorded."""
        rec = self.recorder
        if rec is None or self.closed or global_step == self.last_step:
            return False
        self.last_step = global_step
        if not rec.should_record(global_step):
            return False
        rec.record(global_step, **{LOSS: _float(loss)})
        return True

    def close(self, error: BaseException | None = None) -> None:
        """Write what is queued and close the file. With ``error`` (training
        failed), a writer failure is not raised over it."""
        if self.closed:
            return
        self.closed = True
        if self.recorder is None:
            return
        if error is None:
            self.recorder.close()
        else:
            self.recorder.__exit__(type(error), error, error.__traceback__)


class SessionAccess:
    """The public face both callbacks give their :class:`RecordingSession` (``_session``)."""

    _session: RecordingSession

    @property
    def recorder(self) -> Recorder | None:
        """The :class:`svccakit.Recorder`, once training has started on global zero."""
        return self._session.recorder

    @property
    def path(self) -> str:
        """The run file."""
        return self._session.path


def _float(loss: Any) -> float:
    if loss is None:
        return math.nan
    if hasattr(loss, "detach"):
        if loss.numel() != 1:
            return math.nan
        return float(loss.detach().float().cpu().item())
    try:
        return float(loss)
    except (TypeError, ValueError):
        return math.nan
