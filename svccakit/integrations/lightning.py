"""A recorder callback for PyTorch Lightning (``pip install svccakit[lightning]``).

::

    from svccakit.integrations.lightning import RecorderCallback

    callback = RecorderCallback(probe, "run.h5", every=100, reduce="pool")
    trainer = lightning.Trainer(max_steps=1000, callbacks=[callback])
    trainer.fit(module, datamodule)

Snapshots are taken at ``trainer.global_step`` (optimizer steps): step 0 when
training starts, then after each optimizer step the schedule names. The loss
returned by ``training_step`` (a tensor, or the ``"loss"`` entry of a dict) is
stored as the metric ``loss`` (NaN at step 0). The file is closed when training
ends, and also when it fails (``on_exception``): every snapshot taken is then
readable. Under DDP only the global-zero process records and writes; the probe
pass runs on the LightningModule itself (no collective operations).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

try:
    from lightning.pytorch.callbacks import Callback
except ImportError:  # pragma: no cover - the older package name
    try:
        from pytorch_lightning.callbacks import Callback
    except ImportError as exc:
        raise ImportError(
            "svccakit.integrations.lightning needs PyTorch Lightning: "
            "pip install 'svccakit[lightning]'"
        ) from exc

from svccakit.integrations._session import RecordingSession, SessionAccess

__all__ = ["RecorderCallback"]


class RecorderCallback(SessionAccess, Callback):
    """Record a probe batch's layer activations while a Lightning Trainer fits.

    Parameters
    ----------
    probe : Tensor, ndarray, dict, tuple (inputs, targets) or svccakit.record.Probe
        The fixed probe batch (see :class:`svccakit.Recorder`); moved to the
        module's device at every snapshot.
    path : str or path-like
        The run file to create (FileExistsError now if it exists and
        ``overwrite`` is not set).
    every : int, optional
        Record when ``global_step % every == 0``.
    steps : iterable of int, optional
        Record at exactly these global steps (e.g. :func:`svccakit.log_schedule`).
    **recorder_kwargs
        Passed to :class:`svccakit.Recorder`: ``layers``, ``reduce``, ``output``,
        ``forward``, ``budget_mb``, ``config``, ``seed``, ``compression``,
        ``metrics`` (besides ``loss``), ``overwrite``, ...

    Attributes
    ----------
    recorder : svccakit.Recorder or None
        Created when training starts on the global-zero process; None elsewhere.
    """

    def __init__(
        self,
        probe: Any,
        path: str | os.PathLike,
        *,
        every: int | None = None,
        steps: Iterable[int] | None = None,
        **recorder_kwargs: Any,
    ):
        super().__init__()
        self._session = RecordingSession(probe, path, every, steps, recorder_kwargs)

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        if trainer.is_global_zero:
            self._session.start(pl_module, int(trainer.global_step))

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        self._session.step(int(trainer.global_step), loss)

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        self._session.close()

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        self._session.close(error=exception)

    def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if stage == "fit":
            self._session.close()

    def __repr__(self) -> str:
        return f"<svccakit RecorderCallback (Lightning) {self.path!r}>"
