"""The probe batch: inputs of any structure, moved to the model's device.

A probe is what the recorder feeds the model at every snapshot. It may be

- a tensor or numpy array ``(n_probe, ...)``: ``model(x)``;
- a dict of keyword inputs: ``model(**inputs)`` (every Hugging Face model:
  ``{"input_ids": ..., "attention_mask": ...}``);
- a tuple ``(inputs, targets)``, where ``inputs`` is any of the above or a
  tuple of positional inputs;
- a :class:`Probe`: ``Probe(x1, x2, targets=y, mask=m)`` for ``model(x1, x2, mask=m)``.

Every tensor input shares the first dimension ``n_probe``. Non-tensor keyword
values (``output_hidden_states=True``) are passed as they are. The structure is
stored in the run file (see :mod:`svccakit.record.store`): the first tensor input
in ``/probe/inputs``, every other one in ``/probe/args/<i>`` or
``/probe/kwargs/<name>``, and the call's shape as the JSON attribute
``/probe.attrs["structure"]``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

__all__ = ["Probe"]

_CONSTANTS = (bool, int, float, str, type(None))


def _tensor(x: Any, what: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach().clone()
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.array(x, copy=True, order="C"))
    raise TypeError(
        f"probe: expected {what} as a torch.Tensor or numpy array, got {type(x).__name__}"
    )


class Probe:
    """A probe batch of any structure: positional inputs, keyword inputs, targets.

    Tensors are copied: later changes to the caller's tensors do not reach the
    probe.

    Parameters
    ----------
    *args : Tensor or ndarray of shape (n_probe, ...)
        Positional inputs of the model's forward.
    targets : Tensor or ndarray of shape (n_probe, ...), optional
        Stored in the run file (``/probe/targets``), not passed to the model.
    **kwargs : Tensor, ndarray, or a bool/int/float/str/None constant
        Keyword inputs of the model's forward.
    """

    def __init__(self, *args: Any, targets: Any = None, **kwargs: Any):
        self.args = tuple(self._input(a, f"positional input {i}") for i, a in enumerate(args))
        self.kwargs = {k: self._input(v, f"keyword input {k!r}") for k, v in kwargs.items()}
        self.targets = None if targets is None else _tensor(targets, "targets")
        self.form = "probe"  # how the user gave it (for forward=)
        tensors = self.tensors()
        if not tensors:
            raise ValueError("probe: expected at least one tensor input, got none")
        first_name, first = next(iter(tensors.items()))
        if first.ndim < 1 or first.shape[0] < 1:
            raise ValueError(
                f"probe: expected inputs of shape (n_probe, ...) with n_probe >= 1, got "
                f"{tuple(first.shape)}"
            )
        n = first.shape[0]
        for name, t in tensors.items():
            if t.ndim < 1 or t.shape[0] != n:
                raise ValueError(
                    f"probe: every input must have the same first dimension n_probe; "
                    f"{first_name} has shape {tuple(first.shape)}, {name} {tuple(t.shape)}"
                )
        if self.targets is not None and self.targets.shape[:1] != first.shape[:1]:
            raise ValueError(
                f"probe: inputs and targets must have the same first dimension, got "
                f"{tuple(first.shape)} and {tuple(self.targets.shape)}"
            )

    @staticmethod
    def _input(x: Any, what: str) -> Any:
        if isinstance(x, _CONSTANTS):
            return x
        return _tensor(x, what)

    # ------------------------------------------------------------------ views
    def tensors(self) -> dict[str, torch.Tensor]:
        """The tensor inputs in call order, by storage name (``args/0``, ``kwargs/name``)."""
        out = {f"args/{i}": a for i, a in enumerate(self.args) if isinstance(a, torch.Tensor)}
        out.update(
            {f"kwargs/{k}": v for k, v in self.kwargs.items() if isinstance(v, torch.Tensor)}
        )
        return out

    @property
    def n_probe(self) -> int:
        return int(next(iter(self.tensors().values())).shape[0])

    @property
    def main(self) -> torch.Tensor:
        """The first tensor input (stored as ``/probe/inputs``)."""
        return next(iter(self.tensors().values()))

    def structure(self) -> str:
        """The call's shape as JSON: where each input is stored, and the constants."""
        main = next(iter(self.tensors()))

        def where(key: str, value: Any) -> Any:
            if isinstance(value, torch.Tensor):
                return {"dataset": "inputs" if key == main else key}
            return {"value": value}

        return json.dumps(
            {
                "form": self.form,
                "args": [where(f"args/{i}", a) for i, a in enumerate(self.args)],
                "kwargs": {k: where(f"kwargs/{k}", v) for k, v in self.kwargs.items()},
            }
        )

    def is_plain(self) -> bool:
        """One positional tensor and nothing else (the file keeps the v1 layout)."""
        return len(self.args) == 1 and not self.kwargs and isinstance(self.args[0], torch.Tensor)

    # ------------------------------------------------------------------ device
    def to(self, device: torch.device | None, dtype: torch.dtype | None) -> Probe:
        """A copy on ``device``; floating tensors cast to ``dtype`` (integer ones kept)."""

        def move(x: Any) -> Any:
            if not isinstance(x, torch.Tensor):
                return x
            if dtype is not None and x.is_floating_point() and x.dtype != dtype:
                x = x.to(dtype)
            return x if device is None else x.to(device)

        out = Probe.__new__(Probe)
        out.args = tuple(move(a) for a in self.args)
        out.kwargs = {k: move(v) for k, v in self.kwargs.items()}
        out.targets = None if self.targets is None else move(self.targets)
        out.form = self.form
        return out

    def call(self, module: torch.nn.Module) -> Any:
        """``module(*args, **kwargs)``."""
        return module(*self.args, **self.kwargs)

    def as_given(self) -> Any:
        """The probe in the structure the user passed (what ``forward=`` receives)."""
        if self.form == "tensor":
            return self.args[0]
        if self.form == "mapping":
            return dict(self.kwargs)
        if self.form == "pair":
            inputs: Any
            if self.kwargs:
                inputs = dict(self.kwargs)
            elif len(self.args) == 1:
                inputs = self.args[0]
            else:
                inputs = self.args
            return (inputs, self.targets)
        return self

    def __repr__(self) -> str:
        parts = [f"{tuple(a.shape)}" if isinstance(a, torch.Tensor) else repr(a) for a in self.args]
        parts += [
            f"{k}={tuple(v.shape)}" if isinstance(v, torch.Tensor) else f"{k}={v!r}"
            for k, v in self.kwargs.items()
        ]
        if self.targets is not None:
            parts.append(f"targets={tuple(self.targets.shape)}")
        return f"Probe({', '.join(parts)})"


def as_probe(probe: Any) -> Probe:
    """Any accepted probe structure as a :class:`Probe` (copied, validated)."""
    if isinstance(probe, Probe):
        out = Probe(*probe.args, targets=probe.targets, **probe.kwargs)
        out.form = probe.form  # what forward= receives stays what the user gave
        return out
    if isinstance(probe, torch.Tensor | np.ndarray):
        out = Probe(_tensor(probe, "inputs"))
        out.form = "tensor"
        return out
    if isinstance(probe, Mapping):
        _check_keys(probe)
        out = Probe(**probe)
        out.form = "mapping"
        return out
    if isinstance(probe, tuple):
        if len(probe) != 2:
            raise ValueError(
                f"probe: expected inputs or a tuple (inputs, targets), got a tuple of length "
                f"{len(probe)} (several positional inputs: svccakit.record.Probe(x1, x2, ...))"
            )
        inputs, targets = probe
        if isinstance(inputs, Mapping):
            _check_keys(inputs)
            out = Probe(targets=_tensor(targets, "targets"), **inputs)
        elif isinstance(inputs, tuple | list):
            out = Probe(*inputs, targets=_tensor(targets, "targets"))
        else:
            out = Probe(_tensor(inputs, "inputs"), targets=_tensor(targets, "targets"))
        out.form = "pair"
        return out
    raise TypeError(
        f"probe: expected inputs as a torch.Tensor or numpy array, a dict of keyword inputs, "
        f"a tuple (inputs, targets) or a svccakit.record.Probe, got {type(probe).__name__}"
    )


def _check_keys(mapping: Mapping) -> None:
    bad = [k for k in mapping if not isinstance(k, str) or not k or "/" in k]
    if bad:
        raise ValueError(
            f"probe: keyword input names must be non-empty strings without '/', got {bad}"
        )
    if "targets" in mapping:
        raise ValueError(
            "probe: 'targets' is reserved; pass (inputs, targets) or Probe(..., targets=...)"
        )
