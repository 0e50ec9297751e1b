"""A recorder callback for the Hugging Face ``Trainer`` (``pip install svccakit[hf]``).

::

    from svccakit.integrations.hf import RecorderCallback
    from svccakit.record import transformer_blocks

    probe = {"input_ids": ids, "attention_mask": mask}
    with RecorderCallback(probe, "run.h5", every=100, reduce="pool",
                          layers=transformer_blocks(model)) as callback:
        trainer = Trainer(model=model, args=args, train_dataset=data, callbacks=[callback])
        trainer.train()

Snapshots are taken at ``state.global_step`` (optimizer steps): step 0 when
training begins, then at the end of each step the schedule names. The metric
``loss`` is the loss of the last training forward pass before the snapshot,
read from the model's output (``output.loss``, as every Hugging Face model with
labels returns it); when the model returns no loss (a custom
``compute_loss``), the latest loss the Trainer logged is used (NaN before the
first log). The file is closed when training ends. The ``Trainer`` has no
callback event for a failed run: use the callback as a context manager (as
above) or call ``close()`` to close the file when ``train()`` raises; every
snapshot already taken is readable either way (see :mod:`svccakit.record.store`).
Under DDP only the world-process-zero records and writes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

try:
    from transformers import TrainerCallback
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "svccakit.integrations.hf needs transformers and accelerate: pip install 'svccakit[hf]'"
    ) from exc

from svccakit.integrations._session import RecordingSession, SessionAccess
from svccakit.record.recorder import unwrap_model

__all__ = ["RecorderCallback"]


class RecorderCallback(SessionAccess, TrainerCallback):
    """Record a probe batch's layer activations while a Hugging Face Trainer trains.

    Parameters
    ----------
    probe : dict, Tensor, tuple (inputs, targets) or svccakit.record.Probe
        The fixed probe batch; for a language model typically
        ``{"input_ids": ..., "attention_mask": ...}`` (no labels: the probe pass
        computes no loss). Moved to the model's device at every snapshot.
    path : str or path-like
        The run file to create (FileExistsError now if it exists and
        ``overwrite`` is not set).
    every : int, optional
        Record when ``global_step % every == 0``.
    steps : iterable of int, optional
        Record at exactly these global steps (e.g. :func:`svccakit.log_schedule`).
    **recorder_kwargs
        Passed to :class:`svccakit.Recorder`: ``layers`` (e.g.
        :func:`svccakit.record.transformer_blocks`), ``reduce``, ``output``,
        ``forward``, ``budget_mb``, ``config``, ``seed``, ``metrics`` (besides
        ``loss``), ``overwrite``, ...

    Attributes
    ----------
    recorder : svccakit.Recorder or None
        Created when training begins on world process zero; None elsewhere.
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
        self._session = RecordingSession(probe, path, every, steps, recorder_kwargs)
        self._loss_hook = None
        self._model_loss: Any = None
        self._logged_loss: float | None = None

    # ------------------------------------------------------------------ events
    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs):
        if not state.is_world_process_zero or model is None:
            return
        if self._loss_hook is None:
            self._loss_hook = unwrap_model(model).register_forward_hook(self._keep_loss)
        self._session.start(model, int(state.global_step))

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs):
        if self._session.recorder is None:
            return
        loss = self._model_loss if self._model_loss is not None else self._logged_loss
        self._session.step(int(state.global_step), loss)

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs):
        if isinstance(logs, Mapping) and "loss" in logs:
            self._logged_loss = logs["loss"]

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs):
        self.close()

    # ------------------------------------------------------------------ lifetime
    def _keep_loss(self, module: Any, _inputs: Any, output: Any) -> None:
        """Forward hook on the model: keep the loss of training passes (a reference
        to a detached tensor; read only at a snapshot)."""
        if not module.training:
            return
        loss = output.get("loss") if isinstance(output, Mapping) else getattr(output, "loss", None)
        if loss is not None and hasattr(loss, "detach"):
            self._model_loss = loss.detach()

    def close(self, error: BaseException | None = None) -> None:
        """Remove the loss hook and close the run file (idempotent)."""
        if self._loss_hook is not None:
            self._loss_hook.remove()
            self._loss_hook = None
        self._session.close(error=error)

    def __enter__(self) -> RecorderCallback:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(error=exc)

    def __repr__(self) -> str:
        return f"<svccakit RecorderCallback (Hugging Face) {self.path!r}>"
