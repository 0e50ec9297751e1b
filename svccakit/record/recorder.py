"""Record layer activations of a fixed probe batch while a model trains.

A snapshot is its own forward pass of the probe through the model, in eval mode,
under ``torch.no_grad`` and inside ``torch.random.fork_rng`` (training's random
stream is untouched). Forward hooks exist only during that pass. Outputs are
detached, copied to CPU and handed to one background writer thread (see
:mod:`svccakit.store` for the file layout and the crash guarantee).
"""

from __future__ import annotations

import fnmatch
import math
import os
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from svccakit._validate import check_int, check_real
from svccakit.record import reducers, store
from svccakit.record.outputs import OutputPlan
from svccakit.record.probe import Probe, as_probe
from svccakit.record.reducers import LayerReducer, ReducePlan

__all__ = ["Recorder", "log_schedule", "unwrap_model"]

_ROOT_NAME = "model"
_DEFAULT_QUEUE = 4
_DEFAULT_BUDGET_MB = 256.0


def log_schedule(total_steps: int, n: int) -> list[int]:
    """``n`` log-spaced training steps in ``[0, total_steps]``, for ``Recorder(steps=...)``.

    Early training changes fastest, so snapshots are dense at the start. The
    result is sorted, unique, starts at 0 and ends at ``total_steps``; it has
    exactly ``n`` entries (``2 <= n <= total_steps + 1``).
    """
    total_steps = check_int(total_steps, "total_steps", 1)
    n = check_int(n, f"n (total_steps + 1 = {total_steps + 1})", 2, total_steps + 1)
    # geomspace over [1, total_steps] plus 0; grow the grid until rounding leaves n unique values
    if n == 2:  # geomspace with one point would give only its start
        return [0, total_steps]
    m = n - 1
    while True:
        values = np.unique(np.rint(np.geomspace(1, total_steps, m)).astype(np.int64))
        if values.size >= n - 1 or m > 64 * n:
            break
        m += 1
    values = values.tolist()
    if len(values) > n - 1:  # keep both ends, thin the middle evenly
        keep = np.unique(np.rint(np.linspace(0, len(values) - 1, n - 1)).astype(int))
        values = [values[i] for i in keep]
    return [0, *values]


def unwrap_model(model: nn.Module) -> nn.Module:
    """The eager module under ``torch.compile`` (``_orig_mod``) and
    DataParallel / DistributedDataParallel (``.module``) wrappers."""
    from torch.nn.parallel import DataParallel, DistributedDataParallel

    while True:
        if isinstance(model, DataParallel | DistributedDataParallel):
            model = model.module
        elif isinstance(getattr(model, "_orig_mod", None), nn.Module):
            model = model._orig_mod
        else:
            return model


def _strip_wrapper_prefix(name: str) -> str:
    for prefix in ("_orig_mod.", "module."):
        while name.startswith(prefix):
            name = name[len(prefix) :]
    return name


def _resolve_layers(module: nn.Module, layers: Any) -> list[str] | None:
    """Module names selected by ``layers`` (None -> decided at the first snapshot)."""
    if layers is None:
        return None
    names = {name or _ROOT_NAME: m for name, m in module.named_modules()}
    if isinstance(layers, str | type):
        layers = [layers]
    if not isinstance(layers, Iterable):
        raise TypeError(
            f"layers: expected None, a name, a glob pattern, a module type or a list of them, "
            f"got {type(layers).__name__}"
        )
    chosen: set[str] = set()
    for item in layers:
        if isinstance(item, type) and issubclass(item, nn.Module):
            hits = {n for n, m in names.items() if isinstance(m, item)}
            if not hits:
                raise ValueError(f"layers: the model has no module of type {item.__name__}")
        elif isinstance(item, str):
            item = _strip_wrapper_prefix(item)
            if any(c in item for c in "*?["):
                hits = set(fnmatch.filter(names, item))
            else:
                hits = {item} if item in names else set()
            if not hits:
                raise ValueError(
                    f"layers: {item!r} matches no module of the model; module names are "
                    f"{list(names)}"
                )
        else:
            raise TypeError(
                f"layers: expected module names, glob patterns or nn.Module types, "
                f"got {item!r} of type {type(item).__name__}"
            )
        chosen |= hits
    bad = [n for n in chosen if "/" in n]
    if bad:
        raise ValueError(f"layers: module names containing '/' cannot be stored: {bad}")
    return [n for n in names if n in chosen]  # model order


def _numpy_dtype(t: torch.Tensor) -> np.dtype:
    if t.dtype in (torch.bfloat16, torch.float8_e4m3fn, torch.float8_e5m2):
        return np.dtype(np.float32)
    return torch.empty(0, dtype=t.dtype).numpy().dtype


def _to_numpy(t: torch.Tensor) -> np.ndarray:
    if t.dtype in (torch.bfloat16, torch.float8_e4m3fn, torch.float8_e5m2):
        t = t.float()
    return t.numpy()


class Recorder:
    """Record activations of a fixed probe batch during training into an HDF5 run file.

    Parameters
    ----------
    model : nn.Module
        The model being trained. ``torch.compile`` and DataParallel/DDP wrappers
        are unwrapped: hooks go on the eager module and the probe pass calls it
        directly (so hooks fire and the whole probe is captured on one device).
    probe : Tensor, ndarray, dict, tuple (inputs, targets) or Probe
        The fixed probe batch (copied, so later changes to the caller's tensors
        do not reach it): a tensor ``(n_probe, ...)`` (``model(x)``), a dict of
        keyword inputs (``model(**inputs)``), a tuple ``(inputs, targets)``
        whose inputs are any of these or a tuple of positional inputs, or a
        :class:`svccakit.record.Probe` (see :mod:`svccakit.record.probe`).
        Tensors are moved to the model's device, float ones cast to the
        parameters' dtype. The original values are stored in ``/probe``.
    path : str or path-like
        The run file to create.
    layers : None, str, type, or a list of them
        None: every leaf module whose output contains a tensor (decided at the
        first snapshot). Otherwise module names, ``fnmatch`` glob patterns, or
        ``nn.Module`` subclasses. Unknown names raise ValueError listing the
        model's module names. A module called k > 1 times per forward pass gives
        layers ``name``, ``name@1``, ..., ``name@{k-1}``.
    every : int, optional
        ``maybe_record`` snapshots when ``step % every == 0``.
    steps : iterable of int, optional
        ``maybe_record`` snapshots exactly at these steps (e.g. :func:`log_schedule`).
    overwrite : bool
        Replace an existing file at ``path``; otherwise FileExistsError.
    config : dict or dataclass, optional
        Experiment configuration, stored as JSON in the root attributes.
    seed : int, optional
        Stored in the root attributes (the recorder draws no random numbers).
    compression : {None, "lzf", "gzip", "blosc"}
        Per-chunk compression of ``/layers``; "blosc" needs hdf5plugin.
    output_selector : callable, optional
        ``output_selector(output) -> Tensor | None`` picks the tensor to record
        from every module's output. Default: the output itself if it is a
        tensor, else the first tensor of a tuple/list/dict/``ModelOutput``
        (searched depth first), else None (the module is skipped when ``layers``
        is None, an error if it was asked for).
    output : int, str, callable, or a mapping from layer glob to one, optional
        Per-layer choice of what to keep from a tuple, dict or ``ModelOutput``:
        an index, a key, or ``fn(output) -> Tensor`` (see
        :mod:`svccakit.record.outputs`). Not together with ``output_selector``.
    reduce : str, callable, or a mapping from layer glob to one, optional
        Shrink activations at record time: ``"none"`` (default), ``"pool"``,
        ``"positions:K"``, ``"project:D"`` or ``fn(tensor) -> tensor`` (see
        :mod:`svccakit.record.reducers`). A mapping gives each layer the spec of
        its first matching glob (others: ``"none"``). Applied on the model's
        device before the copy to CPU; the spec is stored with each layer.
    forward : callable, optional
        ``forward(model, probe) -> output`` runs the probe pass instead of
        ``model(*args, **kwargs)``; ``probe`` is on the model's device, in the
        structure it was given. For models called in any other way.
    budget_mb : float or None
        Largest snapshot (all layers, after reduction) in MB (10^6 bytes),
        default 256. A larger one is refused at the first ``record``, before
        the file exists, with a ValueError naming the layers, their sizes and
        the reducers that would fit. None: no limit.
    metrics : sequence of str, optional
        Metric names to declare up front, besides those passed to the first
        ``record`` call. Datasets are fixed once the file exists, so a metric
        name never declared raises ValueError.
    queue_size : int
        Snapshots that may wait for the writer thread; ``record`` blocks only
        when the queue is full. Memory: up to ``queue_size + 2`` snapshots.

    Notes
    -----
    Activations are stored per layer as ``(T, n_probe, d)`` (conv outputs keep
    ``(T, n_probe, c, h, w)`` unless reduced); see :mod:`svccakit.store` for the
    layout and the crash guarantee. One thread should call ``record``.
    Activations keep their dtype (float16 stays float16), except bfloat16 and
    float8, which numpy lacks: they are stored as float32 (exactly). The probe
    pass runs in whatever ``torch.autocast`` context ``record`` is called from.
    The file is created at the first ``record``. Call ``close()`` (or use
    ``with``) to write all queued snapshots; an interpreter exit also closes
    open recorders. ``flush()`` waits until every queued snapshot is on disk.
    """

    def __init__(
        self,
        model: nn.Module,
        probe: Any,
        path: str | os.PathLike,
        layers: Any = None,
        every: int | None = None,
        steps: Iterable[int] | None = None,
        overwrite: bool = False,
        config: Any = None,
        seed: int | None = None,
        compression: str | None = None,
        output_selector: Callable[[Any], torch.Tensor | None] | None = None,
        metrics: Sequence[str] = (),
        queue_size: int = _DEFAULT_QUEUE,
        *,
        output: Any = None,
        reduce: Any = None,
        forward: Callable[[nn.Module, Any], Any] | None = None,
        budget_mb: float | None = _DEFAULT_BUDGET_MB,
    ):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
        self.model = model
        self._module = unwrap_model(model)
        # a private copy: the probe stays fixed even if the caller's tensors change
        self.probe = as_probe(probe)
        if not isinstance(path, str | os.PathLike):
            raise TypeError(f"path: expected a str or path-like, got {type(path).__name__}")
        self.path = os.fspath(path)
        if not overwrite and os.path.exists(self.path):
            raise FileExistsError(f"{self.path} already exists; pass overwrite=True to replace it")
        self._layer_request = _resolve_layers(self._module, layers)
        if every is not None and steps is not None:
            raise ValueError("every, steps: pass one schedule, not both")
        self.every = None if every is None else check_int(every, "every", 1)
        if steps is not None:
            steps = frozenset(_check_step(s, "steps") for s in list(steps))
        self.steps = steps
        self.overwrite = bool(overwrite)
        self._config_json = store.config_json(config)
        self.seed = None if seed is None else check_int(seed, "seed")
        store.check_compression(compression)
        self.compression = compression
        self._outputs = OutputPlan(output, output_selector)
        self._reduce = ReducePlan(reduce)
        if forward is not None and not callable(forward):
            raise TypeError(
                f"forward: expected a callable (model, probe) -> output, got "
                f"{type(forward).__name__}"
            )
        self.forward = forward
        self.budget_mb = (
            None if budget_mb is None else check_real(budget_mb, "budget_mb", low=0.0, low_open=True)
        )
        self._reducers: dict[str, LayerReducer] = {}
        self._layer_attrs: dict[str, dict[str, Any]] = {}
        if isinstance(metrics, str) or not all(isinstance(m, str) for m in metrics):
            raise TypeError(f"metrics: expected a sequence of metric names (str), got {metrics!r}")
        self._declared_metrics = list(dict.fromkeys(metrics))
        self.queue_size = check_int(queue_size, "queue_size", 1)
        # state set by the first record()
        self._writer: store.WriterThread | None = None
        self._layer_shapes: dict[str, tuple[tuple[int, ...], np.dtype]] | None = None
        self._metric_names: list[str] | None = None
        self._last_step: int | None = None
        self._closed = False
        self._finalizer = None
        self._n_recorded = 0
        self._probe_cache: tuple[Any, Probe] | None = None
        self._pass_info: dict[str, tuple[tuple[int, ...], int, str]] = {}

    # ------------------------------------------------------------------ schedule
    def should_record(self, step: int) -> bool:
        """Whether the schedule (``every`` or ``steps``) asks for a snapshot at ``step``."""
        if self.every is None and self.steps is None:
            raise ValueError("maybe_record: no schedule; pass every= or steps= to Recorder")
        if self.every is not None:
            return step % self.every == 0
        return step in self.steps

    def maybe_record(self, step: int, **metrics: Any) -> bool:
        """Take a snapshot if the schedule says so; returns whether one was taken."""
        _check_step(step)
        if self.should_record(step):
            self.record(step, **metrics)
            return True
        return False

    # ------------------------------------------------------------------ snapshot
    @property
    def probe_inputs(self) -> torch.Tensor:
        """The first tensor input of the probe (what ``/probe/inputs`` stores)."""
        return self.probe.main

    @property
    def probe_targets(self) -> torch.Tensor | None:
        return self.probe.targets

    def _probe_on(self, module: nn.Module) -> Probe:
        """The probe on the model's device, floats in its dtype (cached per device/dtype)."""
        ref = next(module.parameters(), None)
        if ref is None:
            ref = next(module.buffers(), None)
        key = None if ref is None else (ref.device, ref.dtype)
        if self._probe_cache is not None and self._probe_cache[0] == key:
            return self._probe_cache[1]
        if ref is None:
            moved = self.probe.to(None, None)
        else:
            moved = self.probe.to(ref.device, ref.dtype if ref.is_floating_point() else None)
        self._probe_cache = (key, moved)
        return moved

    def _reducer(self, layer: str) -> LayerReducer:
        reducer = self._reducers.get(layer)
        if reducer is None:
            reducer = self._reducers[layer] = LayerReducer(layer, self._reduce.spec_for(layer))
        return reducer

    def _capture(self) -> dict[str, torch.Tensor]:
        """One probe pass with hooks; returns layer name -> reduced CPU tensor (a copy).

        Each layer's output is selected (``output=``) and reduced (``reduce=``) on
        the model's device inside the hook; ``self._pass_info`` keeps each layer's
        unreduced shape, itemsize and selector text for the run file.
        """
        module = self._module
        names = {name or _ROOT_NAME: m for name, m in module.named_modules()}
        if self._layer_request is not None:
            targets = self._layer_request
        elif self._layer_shapes is not None:
            targets = list(dict.fromkeys(n.split("@")[0] for n in self._layer_shapes))
        else:
            targets = [n for n, m in names.items() if next(m.children(), None) is None]
        captured: dict[str, list[torch.Tensor | None]] = {n: [] for n in targets}
        info: dict[str, tuple[tuple[int, ...], int, str]] = {}
        outputs = self._outputs

        def make_hook(name: str):
            def hook(_mod, _inp, out):
                t, text = outputs.select(name, out)
                if t is not None:
                    k = len(captured[name])
                    layer = name if k == 0 else f"{name}@{k}"
                    info[layer] = (tuple(t.shape), _numpy_dtype(t).itemsize, text)
                    t = self._reducer(layer)(t.detach())
                    t = t.detach().to(device="cpu", copy=True)
                captured[name].append(t)

            return hook

        flags = [(m, m.training) for m in module.modules()]
        devices = sorted(
            {p.device.index or 0 for p in module.parameters() if p.device.type == "cuda"}
        )
        handles = []
        try:
            for name in targets:
                handles.append(names[name].register_forward_hook(make_hook(name)))
            if self.forward is None and type(module).forward is nn.Module.forward:
                raise TypeError(
                    f"model: {type(module).__name__} defines no forward(), so the probe cannot "
                    f"be run through it; pass forward=lambda model, probe: ... "
                    f"(e.g. model.net(probe))"
                )
            module.eval()
            probe = self._probe_on(module)
            with torch.random.fork_rng(devices=devices), torch.no_grad():
                if self.forward is None:
                    probe.call(module)
                else:
                    self.forward(module, probe.as_given())
        finally:
            for h in handles:
                h.remove()
            for m, flag in flags:
                m.training = flag
        out: dict[str, torch.Tensor] = {}
        for name in targets:
            calls = captured[name]
            for k, t in enumerate(calls):
                if t is None:
                    if self._layer_request is not None:
                        raise ValueError(
                            f"layers: module {name!r} produced no tensor output in the probe pass; "
                            f"pass output= (or output_selector=) to choose one"
                        )
                    continue
                out[name if k == 0 else f"{name}@{k}"] = t
            if not calls and self._layer_request is not None:
                raise ValueError(f"layers: module {name!r} was not called in the probe pass")
        self._pass_info = info
        return out

    def record(self, step: int, **metrics: Any) -> None:
        """Take a snapshot now, labelled with training ``step`` (strictly increasing).

        ``metrics`` are scalars (float, int, 0-d tensor/array) stored in
        ``/metrics/<name>``; names must be declared by the first call or the
        ``metrics=`` argument. Returns once the snapshot is queued for writing.
        """
        if self._closed:
            raise ValueError("record: this Recorder is closed")
        if self._writer is not None:
            self._writer.raise_if_failed()
        step = _check_step(step)
        if self._last_step is not None and step <= self._last_step:
            raise ValueError(
                f"step: expected a step > {self._last_step} (the previous snapshot), got {step}"
            )
        values = {name: _scalar(name, v) for name, v in metrics.items()}
        if self._metric_names is not None:
            unknown = [n for n in values if n not in self._metric_names]
            if unknown:
                raise ValueError(
                    f"metrics: {unknown} were not declared; the run file was created with metrics "
                    f"{self._metric_names} (declare all names with Recorder(metrics=[...]) "
                    f"or pass them to the first record call)"
                )
        acts = self._capture()
        if self._writer is None:
            self._start(acts, values)
        else:
            self._check_shapes(acts)
        row = [values.get(n, math.nan) for n in self._metric_names]
        self._writer.put(step, row, [_to_numpy(acts[n]) for n in self._layer_shapes])
        self._last_step = step
        self._n_recorded += 1

    def _start(self, acts: dict[str, torch.Tensor], values: dict[str, float]) -> None:
        if not acts:
            raise ValueError("layers: no module produced a tensor output in the probe pass")
        bad = [n for n in acts if "/" in n]
        if bad:
            raise ValueError(f"layers: module names containing '/' cannot be stored: {bad}")
        shapes = {n: (tuple(t.shape), _numpy_dtype(t)) for n, t in acts.items()}
        metric_names = list(dict.fromkeys([*self._declared_metrics, *values]))
        bad = [n for n in metric_names if "/" in n or not n]
        if bad:
            raise ValueError(f"metrics: names must be non-empty and contain no '/': {bad}")
        self._reduce.check_used(list(acts))
        self._outputs.check_used(list(dict.fromkeys(n.split("@")[0] for n in acts)))
        layer_attrs = {}
        for name in shapes:
            raw_shape, _, text = self._pass_info[name]
            layer_attrs[name] = {
                "reduce": str(self._reducers[name].spec),
                "raw_shape": np.asarray(raw_shape, dtype=np.int64),
                "output": text,
            }
        if self.budget_mb is not None:
            message = reducers.budget_error(
                {
                    n: (self._pass_info[n][0], shape, dtype.itemsize, layer_attrs[n]["reduce"])
                    for n, (shape, dtype) in shapes.items()
                },
                {n: self._pass_info[n][1] for n in shapes},
                self.budget_mb,
            )
            if message is not None:
                raise ValueError(message)
        probe = self.probe
        fields = {}
        if not probe.is_plain():
            main = next(iter(probe.tensors()))
            fields = {k: _to_numpy(v) for k, v in probe.tensors().items() if k != main}
        writer = store.RunWriter.create(
            self.path,
            overwrite=self.overwrite,
            attrs=store.root_attrs(self._config_json, self.seed),
            probe_inputs=_to_numpy(probe.main),
            probe_targets=None if probe.targets is None else _to_numpy(probe.targets),
            layers=shapes,
            metric_names=metric_names,
            compression=self.compression,
            layer_attrs=layer_attrs,
            probe_fields=fields,
            probe_structure=None if probe.is_plain() else probe.structure(),
        )
        self._writer = store.WriterThread(writer, self.queue_size)
        self._writer.start()
        self._layer_shapes = shapes
        self._layer_attrs = layer_attrs
        self._metric_names = metric_names
        # closes the writer if the Recorder is garbage-collected; at interpreter
        # exit, store's own exit handler closes it (before h5py's handler runs)
        self._finalizer = weakref.finalize(self, self._writer.close_and_report)
        self._finalizer.atexit = False

    def _check_shapes(self, acts: dict[str, torch.Tensor]) -> None:
        got = {n: tuple(t.shape) for n, t in acts.items()}
        want = {n: s for n, (s, _) in self._layer_shapes.items()}
        if got != want:
            diff = sorted(n for n in set(got) | set(want) if got.get(n) != want.get(n))
            raise RuntimeError(
                "record: the probe pass produced different layers or shapes than the first "
                f"snapshot for {diff}: first {[want.get(n) for n in diff]}, now {[got.get(n) for n in diff]}"
            )

    # ------------------------------------------------------------------ lifetime
    @property
    def layer_names(self) -> list[str] | None:
        """Recorded layer names (None before the first snapshot)."""
        return None if self._layer_shapes is None else list(self._layer_shapes)

    @property
    def n_recorded(self) -> int:
        """Snapshots queued so far (written or waiting)."""
        return self._n_recorded

    def flush(self) -> None:
        """Block until every queued snapshot is written and flushed to the file."""
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        """Write every queued snapshot, stop the writer thread, close the file.

        Re-raises (wrapped in RuntimeError) an exception from the writer thread.
        Idempotent.
        """
        self._close(raise_error=True)

    def _close(self, raise_error: bool) -> None:
        self._closed = True
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if self._writer is not None:
            self._writer.close(raise_error=raise_error)

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._close(raise_error=exc_type is None)

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("open" if self._writer else "not started")
        return f"<svccakit.Recorder {self.path!r} ({state})>"


def _check_step(step: Any, name: str = "step") -> int:
    """A training step: an integer in [0, store.MAX_STEP] (``/steps`` is int64)."""
    return check_int(step, name, 0, store.MAX_STEP)


def _scalar(name: str, value: Any) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise TypeError(
                f"metric {name!r}: expected a scalar, got a tensor of shape {tuple(value.shape)}"
            )
        return float(value.detach().cpu().item())
    if isinstance(value, np.ndarray):
        if value.size != 1:
            raise TypeError(
                f"metric {name!r}: expected a scalar, got an array of shape {value.shape}"
            )
        return float(value.reshape(()))
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise TypeError(f"metric {name!r}: expected a number, got {type(value).__name__}")
    return float(value)
