"""The run file: one crash-safe HDF5 file per training run.

Layout (format ``"svccakit-run"``, version :data:`FORMAT_VERSION`)::

    /                     root attributes: format, format_version, svccakit_version,
                          torch_version, h5py_version, hdf5_version, numpy_version,
                          created (ISO-8601 UTC), seed (when given), config (JSON, when given)
    /probe/inputs         (n_probe, ...)          the exact probe inputs
    /probe/targets        (n_probe, ...)          when the probe was ``(inputs, targets)``
    /steps                (T,) int64              the training step of each snapshot
    /metrics/<name>       (T,) float64            NaN where the metric was absent
    /layers/<name>        (T, n_probe, ...)       one chunk per snapshot, resizable along T

The number of valid snapshots is ``len(/steps)``. A writer extends every
``/layers`` and ``/metrics`` dataset, flushes, and only then extends ``/steps``
and flushes again, so a reader bounded by ``len(/steps)`` never sees a
half-written snapshot.

The file is written in HDF5 SWMR mode (``libver="latest"``); every dataset is
created before SWMR starts and nothing is created afterwards. It is built under
a temporary name and moved to its final path only once SWMR is on, so the path
either does not exist or holds a file that opens. A file whose writer was
killed still has HDF5's "open for writing" flag set: :func:`open_run` (which
opens it as an SWMR reader) reads it; other tools need
``h5py.File(path, "r", libver="latest", swmr=True)`` or ``h5clear -s path``.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import datetime
import json
import os
import queue
import socket
import threading
import warnings
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import h5py
import numpy as np

from svccakit._validate import check_int
from svccakit.exceptions import RunFileError

FORMAT_NAME = "svccakit-run"
FORMAT_VERSION = 1
COMPRESSIONS = (None, "lzf", "gzip", "blosc")

__all__ = [
    "COMPRESSIONS",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "LayerInfo",
    "Run",
    "RunFileError",
    "open_run",
]


# ----------------------------------------------------------------------------- write side


def _compression_kwargs(compression: str | None) -> dict[str, Any]:
    """h5py ``create_dataset`` keyword arguments for a compression name."""
    if compression is None:
        return {}
    if compression == "lzf":
        return {"compression": "lzf", "shuffle": True}
    if compression == "gzip":
        return {"compression": "gzip", "compression_opts": 4, "shuffle": True}
    if compression == "blosc":
        try:
            import hdf5plugin
        except ImportError as exc:
            raise ValueError(
                "compression='blosc' needs the hdf5plugin package "
                "(pip install hdf5plugin, or svccakit[compression]); it is not installed"
            ) from exc
        return dict(hdf5plugin.Blosc(cname="lz4", clevel=5, shuffle=hdf5plugin.Blosc.SHUFFLE))
    raise ValueError(f"compression: expected one of {COMPRESSIONS}, got {compression!r}")


def check_compression(compression: Any) -> None:
    """Raise ValueError unless ``compression`` is usable on this machine."""
    if compression not in COMPRESSIONS:
        raise ValueError(f"compression: expected one of {COMPRESSIONS}, got {compression!r}")
    _compression_kwargs(compression)


def _storable(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array)


class RunWriter:
    """Creates a run file and appends snapshots to it (not thread-safe: one thread
    appends). Use :meth:`create`; all datasets exist before SWMR starts.
    """

    def __init__(
        self, file: h5py.File, layer_names: list[str], metric_names: list[str], path: str
    ):
        self.path = path
        self._file = file
        self._layers = [file["layers"][name] for name in layer_names]
        self._layer_names = layer_names
        self._metrics = [file["metrics"][name] for name in metric_names]
        self._metric_names = metric_names
        self._steps = file["steps"]
        self.n_written = 0

    @classmethod
    def create(
        cls,
        path: str | os.PathLike,
        *,
        overwrite: bool,
        attrs: Mapping[str, Any],
        probe_inputs: np.ndarray,
        probe_targets: np.ndarray | None,
        layers: Mapping[str, tuple[tuple[int, ...], np.dtype]],
        metric_names: Sequence[str],
        compression: str | None,
        layer_attrs: Mapping[str, Mapping[str, Any]] | None = None,
        probe_fields: Mapping[str, np.ndarray] | None = None,
        probe_structure: str | None = None,
    ) -> RunWriter:
        """Build the file under a temporary name, switch it to SWMR, move it to ``path``.

        ``layers`` maps each layer name to the shape ``(n_probe, ...)`` and dtype
        of one snapshot; ``layer_attrs`` to the attributes of its dataset
        (``reduce``, ``raw_shape``, ``output``). A structured probe stores its
        other inputs as ``probe_fields`` (``"args/1"``, ``"kwargs/mask"`` ->
        array, under ``/probe``) and its call as the JSON ``probe_structure``.
        """
        path = os.fspath(path)
        if not overwrite and os.path.exists(path):
            raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it")
        directory = os.path.dirname(os.path.abspath(path))
        _remove_stale_partials(directory, os.path.basename(path))
        tmp = os.path.join(directory, _partial_name(os.path.basename(path), os.getpid()))
        comp = _compression_kwargs(compression)
        file = h5py.File(tmp, "w", libver="latest")
        try:
            for key, value in attrs.items():
                file.attrs[key] = value
            probe = file.create_group("probe")
            probe.create_dataset("inputs", data=_storable(probe_inputs))
            if probe_targets is not None:
                probe.create_dataset("targets", data=_storable(probe_targets))
            for key, array in (probe_fields or {}).items():
                probe.create_dataset(key, data=_storable(array))
            if probe_structure is not None:
                probe.attrs["structure"] = probe_structure
            file.create_dataset(
                "steps", shape=(0,), maxshape=(None,), dtype=np.int64, chunks=(1024,)
            )
            group = file.create_group("metrics")
            for name in metric_names:
                group.create_dataset(
                    name,
                    shape=(0,),
                    maxshape=(None,),
                    dtype=np.float64,
                    chunks=(1024,),
                    fillvalue=np.nan,
                )
            group = file.create_group("layers")
            group.attrs["order"] = np.array(list(layers), dtype=h5py.string_dtype())
            for name, (shape, dtype) in layers.items():
                group.create_dataset(
                    name,
                    shape=(0, *shape),
                    maxshape=(None, *shape),
                    dtype=dtype,
                    chunks=(1, *shape),
                    **comp,
                )
                for key, value in (layer_attrs or {}).get(name, {}).items():
                    group[name].attrs[key] = value
            file.flush()
            file.swmr_mode = True
            _publish(tmp, path, overwrite)
        except BaseException:
            file.close()
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return cls(file, list(layers), list(metric_names), path)

    def append(self, step: int, metrics: Sequence[float], layers: Sequence[np.ndarray]) -> None:
        """Write one snapshot: layers and metrics first, then ``/steps`` (flushed each)."""
        t = self.n_written
        for ds, array in zip(self._layers, layers, strict=True):
            ds.resize(t + 1, axis=0)
            ds[t] = array
        for ds, value in zip(self._metrics, metrics, strict=True):
            ds.resize(t + 1, axis=0)
            ds[t] = value
        self._file.flush()
        self._steps.resize(t + 1, axis=0)
        self._steps[t] = step
        self._file.flush()
        self.n_written = t + 1

    def close(self) -> None:
        if self._file.id.valid:
            self._file.close()


def _partial_name(basename: str, pid: int) -> str:
    """The temporary name a run file is built under, beside its final path."""
    return f".{basename}.{socket.gethostname()}.{pid}.partial"


def _remove_stale_partials(directory: str, basename: str) -> None:
    """Delete temporary files of ``basename`` left by dead processes of this host.

    A ``.partial`` file never holds a snapshot (the file is moved to its final
    path before the first one is written), so nothing is lost. Files of other
    hosts, of live processes, or on non-POSIX systems are left alone.
    """
    if os.name != "posix":
        return
    prefix = f".{basename}.{socket.gethostname()}."
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if not (name.startswith(prefix) and name.endswith(".partial")):
            continue
        pid = name[len(prefix) : -len(".partial")]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:  # the process that made it is gone
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(directory, name))
        except OSError:  # alive, owned by someone else
            pass


def _publish(tmp: str, path: str, overwrite: bool) -> None:
    """Move a finished-setup file from ``tmp`` to ``path`` (never clobbering unless asked)."""
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it") from None
    except OSError:  # a file system without hard links
        if os.path.exists(path):
            raise FileExistsError(
                f"{path} already exists; pass overwrite=True to replace it"
            ) from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


_STOP = object()


class WriterThread:
    """One background thread appending snapshots from a bounded queue.

    ``put`` blocks only while the queue is full. An exception in the thread is
    kept and re-raised by the next ``put``/``flush``/``close``; the thread keeps
    draining the queue so the producer never blocks forever.
    """

    def __init__(self, writer: RunWriter, queue_size: int):
        self._writer = writer
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="svccakit-recorder", daemon=True)
        self._closed = False

    def start(self) -> None:
        self._thread.start()
        _OPEN_WRITERS.add(self)

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is _STOP:
                    return
                if self._error is None:
                    self._writer.append(*item)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the producer
                self._error = exc
            finally:
                self._queue.task_done()

    def raise_if_failed(self) -> None:
        """Re-raise (wrapped) the writer thread's exception, if any; sticky."""
        if self._error is not None:
            raise RuntimeError(
                f"the recorder's writer thread failed: {self._error!r}"
            ) from self._error

    def put(self, step: int, metrics: Sequence[float], layers: Sequence[np.ndarray]) -> None:
        self.raise_if_failed()
        self._queue.put((step, metrics, layers))

    def flush(self) -> None:
        """Wait until every queued snapshot is written and flushed."""
        self._queue.join()
        self.raise_if_failed()

    def close(self, *, raise_error: bool = True) -> None:
        """Write what is queued, stop the thread, close the file; then re-raise a
        writer failure unless ``raise_error`` is False."""
        if not self._closed:
            self._closed = True
            _OPEN_WRITERS.discard(self)
            try:
                self._queue.put(_STOP)
                self._thread.join()
            finally:
                self._writer.close()
        if raise_error:
            self.raise_if_failed()

    def close_and_report(self) -> None:
        """Close without raising; a writer failure (snapshots lost) becomes a RuntimeWarning.

        For closes nobody asked for: a recorder garbage-collected or still open
        when the interpreter exits.
        """
        self.close(raise_error=False)
        if self._error is not None:
            warnings.warn(
                f"svccakit: the recorder writing {self._writer.path} failed after "
                f"{self._writer.n_written} snapshots; later snapshots were not saved: "
                f"{self._error!r}",
                RuntimeWarning,
                stacklevel=2,
            )


# Writer threads not yet closed; the exit handler below closes them. It is
# registered here, after ``import h5py``, so it runs before h5py's own exit
# handler (atexit runs last-registered first), which unregisters h5py's type
# converters and must not race a writer thread that is still appending. A
# ``weakref.finalize`` exit hook would run too late: torch registers that
# machinery on import, before h5py is imported.
_OPEN_WRITERS: weakref.WeakSet[WriterThread] = weakref.WeakSet()


def _close_open_writers() -> None:
    for writer in list(_OPEN_WRITERS):
        writer.close_and_report()


atexit.register(_close_open_writers)


def root_attrs(config: Any, seed: int | None) -> dict[str, Any]:
    """The root attributes of a new run file (versions, time, config JSON, seed)."""
    import torch

    from svccakit._version import __version__

    attrs: dict[str, Any] = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "svccakit_version": str(__version__),
        "torch_version": str(torch.__version__),
        "h5py_version": str(h5py.__version__),
        "hdf5_version": str(h5py.version.hdf5_version),
        "numpy_version": str(np.__version__),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    if seed is not None:
        attrs["seed"] = int(seed)
    if config is not None:
        attrs["config"] = config
    return attrs


def config_json(config: Any) -> str | None:
    """``config`` (dict, dataclass or None) as a JSON string; TypeError if impossible."""
    import dataclasses

    if config is None:
        return None
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = dataclasses.asdict(config)
    if not isinstance(config, Mapping):
        raise TypeError(
            f"config: expected a dict or a dataclass instance, got {type(config).__name__}"
        )
    try:
        return json.dumps(dict(config), sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"config: not JSON-serialisable ({exc})") from None


# ----------------------------------------------------------------------------- read side


def _open_h5(path: str) -> h5py.File:
    try:
        import hdf5plugin  # noqa: F401  (registers blosc & co. for reading)
    except ImportError:  # pragma: no cover - optional
        pass
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such run file: {path}")
    if os.path.isdir(path):
        raise RunFileError(f"{path} is a directory, not a run file")
    if os.path.getsize(path) == 0:
        raise RunFileError(f"{path} is empty (0 bytes), not an HDF5 run file")
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head != b"\x89HDF\r\n\x1a\n":
        raise RunFileError(f"{path} is not an HDF5 file (no HDF5 signature at its start)")
    # A cleanly closed file opens in plain read mode, which also checks the file
    # length against the superblock (truncation). A file whose writer is still
    # running, or was killed, is flagged "open for writing": open it as an SWMR reader.
    try:
        return h5py.File(path, "r")
    except (OSError, RuntimeError, ValueError) as exc:
        msg = str(exc)
        if "truncated" in msg:
            raise RunFileError(f"{path} is truncated or corrupt (HDF5: {msg})") from None
    try:
        return h5py.File(path, "r", libver="latest", swmr=True)
    except (OSError, RuntimeError, ValueError) as exc:
        msg = str(exc)
        if "truncated" in msg:
            raise RunFileError(f"{path} is truncated or corrupt (HDF5: {msg})") from None
        raise RunFileError(
            f"{path} could not be opened as an HDF5 run file (HDF5: {msg})"
        ) from None


def _check_layout(file: h5py.File, path: str) -> None:
    found_format = file.attrs.get("format")
    if isinstance(found_format, bytes):
        found_format = found_format.decode("utf-8", "replace")
    if found_format != FORMAT_NAME:
        groups = sorted(file.keys())
        attrs = sorted(file.attrs.keys())
        raise RunFileError(
            f"{path} is not an svccakit run file: expected root attribute "
            f"format={FORMAT_NAME!r}, found {found_format!r} "
            f"(root groups/datasets: {groups}, root attributes: {attrs})"
        )
    version = file.attrs.get("format_version")
    if isinstance(version, np.generic):
        version = version.item()
    if version != FORMAT_VERSION:
        raise RunFileError(
            f"{path} is an svccakit run file of format_version {version!r}; "
            f"this svccakit reads format_version {FORMAT_VERSION}"
        )
    missing = [k for k in ("probe", "steps", "metrics", "layers") if k not in file]
    if missing:
        raise RunFileError(f"{path} is an incomplete svccakit run file: missing {missing}")


@dataclasses.dataclass(frozen=True)
class LayerInfo:
    """One recorded layer: snapshot ``shape`` ``(n_probe, ...)``, numpy ``dtype``,
    HDF5 ``compression`` filter name (None when uncompressed), the reducer
    ``reduce`` it was stored with (``"none"``, ``"pool"``, ``"positions:K"``,
    ``"project:D"``, ``"callable:<name>"``; see :mod:`svccakit.record.reducers`),
    the module output's shape before reduction ``raw_shape`` (None in files
    written before reducers existed) and the ``output`` selector's text."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    compression: str | None
    reduce: str = "none"
    raw_shape: tuple[int, ...] | None = None
    output: str | None = None


class Run:
    """Read side of a run file (see :func:`open_run`). Lazy: nothing but the root
    attributes and names is read until asked. Works on a file still being written:
    every access re-reads the current number of snapshots ``len(run)``.
    """

    def __init__(self, file: h5py.File, path: str):
        self._file = file
        self.path = path
        self._probe: np.ndarray | None = None

    # context manager / lifetime
    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._file.id.valid:
            self._file.close()

    def __repr__(self) -> str:
        state = "open" if self._file.id.valid else "closed"
        return f"<svccakit.Run {self.path!r} ({state})>"

    def _read(self, fn, what: str):
        try:
            return fn()
        except (OSError, RuntimeError, ValueError) as exc:
            raise RunFileError(f"{self.path}: could not read {what} (HDF5: {exc})") from None

    @property
    def closed_cleanly(self) -> bool:
        """True if the writer closed the file; False while it is being written or
        after its writer died (the file is then read as an SWMR reader)."""
        return not self._file.swmr_mode

    def _refresh(self, ds: h5py.Dataset, what: str) -> None:
        if self._file.swmr_mode:
            self._read(ds.refresh, what)

    def __len__(self) -> int:
        """The number of complete snapshots T (``len(/steps)``, refreshed)."""
        steps = self._file["steps"]
        self._refresh(steps, "/steps")
        return int(steps.shape[0])

    def refresh(self) -> int:
        """Re-read the snapshot count from a file being written; returns it."""
        return len(self)

    @property
    def steps(self) -> np.ndarray:
        """The training step of each snapshot, shape ``(T,)``, int64."""
        t = len(self)
        return self._read(lambda: self._file["steps"][:t], "/steps")

    @property
    def layer_names(self) -> list[str]:
        """The recorded layers, in model order."""
        order = self._file["layers"].attrs.get("order")
        if order is None:
            return list(self._file["layers"].keys())
        return [n.decode() if isinstance(n, bytes) else str(n) for n in order]

    @property
    def metric_names(self) -> list[str]:
        return list(self._file["metrics"].keys())

    @property
    def metrics(self) -> dict[str, np.ndarray]:
        """Metric name -> ``(T,)`` float64 array (NaN where absent)."""
        t = len(self)
        out = {}
        for name, ds in self._file["metrics"].items():
            self._refresh(ds, f"/metrics/{name}")
            out[name] = self._read(lambda ds=ds: ds[:t], f"/metrics/{name}")
        return out

    @property
    def config(self) -> dict | None:
        """The experiment config (parsed from the JSON root attribute), or None."""
        text = self._file.attrs.get("config")
        if text is None:
            return None
        return json.loads(text)

    @property
    def attrs(self) -> dict[str, Any]:
        """All root attributes (format, versions, created, seed, config JSON)."""
        out = {}
        for key, value in self._file.attrs.items():
            if isinstance(value, np.generic):
                value = value.item()
            out[key] = value
        return out

    @property
    def probe(self) -> np.ndarray:
        """The probe inputs, shape ``(n_probe, ...)``."""
        if self._probe is None:
            self._probe = self._read(lambda: self._file["probe/inputs"][()], "/probe/inputs")
        return self._probe

    @property
    def probe_targets(self) -> np.ndarray | None:
        """The probe targets, shape ``(n_probe, ...)``, or None when not recorded."""
        if "targets" not in self._file["probe"]:
            return None
        return self._read(lambda: self._file["probe/targets"][()], "/probe/targets")

    @property
    def n_probe(self) -> int:
        return int(self._file["probe/inputs"].shape[0])

    def _layer(self, layer: str) -> h5py.Dataset:
        if not isinstance(layer, str):
            raise TypeError(f"layer: expected a layer name (str), got {type(layer).__name__}")
        group = self._file["layers"]
        if layer not in group:
            raise KeyError(
                f"layer {layer!r} is not in {self.path}; recorded layers: {self.layer_names}"
            )
        return group[layer]

    def layer_shape(self, layer: str) -> tuple[int, ...]:
        """Shape of one snapshot of ``layer``: ``(n_probe, d)`` or ``(n_probe, c, h, w)``."""
        return tuple(self._layer(layer).shape[1:])

    def layer_info(self, layer: str) -> LayerInfo:
        """Shape, dtype and compression of ``layer`` (nothing is read but metadata)."""
        ds = self._layer(layer)
        comp = ds.compression
        if comp is None and ds._filters:
            comp = ", ".join(str(k) for k in ds._filters)
        attrs = ds.attrs
        raw = attrs.get("raw_shape")
        output = attrs.get("output")
        return LayerInfo(
            layer,
            tuple(ds.shape[1:]),
            ds.dtype,
            comp,
            reduce=_text(attrs.get("reduce", "none")),
            raw_shape=None if raw is None else tuple(int(v) for v in np.asarray(raw)),
            output=None if output is None else _text(output),
        )

    def samples(self, layer: str, index: int) -> np.ndarray:
        """Snapshot ``index`` of ``layer`` as the 2-D ``(n_samples, n_features)`` matrix
        the similarity metrics take (:func:`svccakit.record.reducers.as_samples`
        with the layer's stored reducer: ``positions:K`` layers give ``n_probe * K``
        rows, unreduced conv layers one row per position)."""
        from svccakit.record.reducers import as_samples

        return as_samples(self.activations(layer, index), self.layer_info(layer).reduce)

    @property
    def probe_call(self) -> tuple[tuple, dict[str, Any]]:
        """The probe as the model was called: ``(args, kwargs)`` of arrays (and
        constants); ``((probe,), {})`` for a plain tensor probe."""
        structure = self._file["probe"].attrs.get("structure")
        if structure is None:
            return (self.probe,), {}
        spec = json.loads(_text(structure))

        def value(entry):
            if "dataset" in entry:
                key = entry["dataset"]
                return self._read(lambda: self._file["probe"][key][()], f"/probe/{key}")
            return entry["value"]

        return (
            tuple(value(e) for e in spec["args"]),
            {k: value(e) for k, e in spec["kwargs"].items()},
        )

    def activations(self, layer: str, index: int) -> np.ndarray:
        """Activations of ``layer`` at snapshot ``index`` (negative counts from the end).

        Returns an array of shape ``(n_probe, d)`` (conv layers keep
        ``(n_probe, c, h, w)``), in the dtype it was recorded in.
        """
        ds = self._layer(layer)
        index = check_int(index, "index")
        t = len(self)
        i = int(index) + t if index < 0 else int(index)
        if not 0 <= i < t:
            raise IndexError(f"index: snapshot {index} out of range for a run with {t} snapshots")
        self._refresh(ds, f"/layers/{layer}")
        return self._read(lambda: ds[i], f"/layers/{layer}[{i}]")

    def index_of_step(self, step: int) -> int:
        """The snapshot index recorded at training step ``step`` (KeyError if none)."""
        hits = np.flatnonzero(self.steps == step)
        if hits.size == 0:
            raise KeyError(f"no snapshot at step {step} in {self.path}")
        return int(hits[0])


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def open_run(path: str | os.PathLike) -> Run:
    """Open a run file for reading (also while it is being written).

    Parameters
    ----------
    path : str or path-like
        A file written by :class:`svccakit.Recorder`.

    Returns
    -------
    Run
        Lazy reader; use as a context manager or call ``close()``.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    RunFileError
        Not HDF5, truncated or corrupt, or an HDF5 file of another layout or version.
    """
    path = os.fspath(path)
    file = _open_h5(path)
    try:
        _check_layout(file, path)
    except BaseException:
        file.close()
        raise
    return Run(file, path)
