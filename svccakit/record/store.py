"""The run file: one crash-safe HDF5 file per training run.

Layout (format ``"svccakit-run"``, version :data:`FORMAT_VERSION`)::

    /                     root attributes: format, format_version, svccakit_version,
                          torch_version, h5py_version, hdf5_version, numpy_version,
                          created (ISO-8601 UTC), seed (when given), config (JSON, when given),
                          writer_host, writer_pid (the process that created the file)
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

``overwrite=True`` replaces a finished file, or one whose writer is known to be
dead; a file another recorder is still writing (in this process, or in a live
process of this host, or whose writer on another host cannot be checked) raises
:class:`~svccakit.exceptions.RunFileInUseError` and is left alone.
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
from svccakit.exceptions import RunFileError, RunFileInUseError

FORMAT_NAME = "svccakit-run"
FORMAT_VERSION = 1
MAX_STEP = int(np.iinfo(np.int64).max)
"""The largest training step a run file can hold (``/steps`` is int64)."""
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
        self._key = _file_key(path)
        _WRITING.add(self._key)

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
        if overwrite:
            _check_not_in_use(path)
        directory = os.path.dirname(os.path.abspath(path))
        _remove_stale_partials(directory, os.path.basename(path))
        tmp = os.path.join(directory, _partial_name(os.path.basename(path), os.getpid()))
        comp = _compression_kwargs(compression)
        file = None
        try:
            # inside the try: creating the file can fail half-way (disk full) and leave it
            file = h5py.File(tmp, "w", libver="latest")
            for key, value in {**attrs, "writer_host": socket.gethostname(),
                               "writer_pid": os.getpid()}.items():
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
            if file is not None:
                with contextlib.suppress(Exception):
                    file.close()
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return cls(file, list(layers), list(metric_names), path)

    def append(self, step: int, metrics: Sequence[float], layers: Sequence[np.ndarray]) -> None:
        """Write one snapshot: layers and metrics first, then ``/steps`` (flushed each).

        ``/steps`` grows only once its new entry is written: if writing it fails, it is
        shrunk back, so no snapshot is ever published with a step that was not written.
        """
        if not 0 <= step <= MAX_STEP:
            raise ValueError(f"step: expected an integer in [0, {MAX_STEP}], got {step!r}")
        row = np.array([step], dtype=np.int64)
        t = self.n_written
        for ds, array in zip(self._layers, layers, strict=True):
            ds.resize(t + 1, axis=0)
            ds[t] = array
        for ds, value in zip(self._metrics, metrics, strict=True):
            ds.resize(t + 1, axis=0)
            ds[t] = value
        self._file.flush()
        self._steps.resize(t + 1, axis=0)
        try:
            self._steps[t : t + 1] = row
            self._file.flush()
        except BaseException:
            with contextlib.suppress(Exception):
                self._steps.resize(t, axis=0)
                self._file.flush()
            raise
        self.n_written = t + 1

    def close(self) -> None:
        _WRITING.discard(self._key)
        if self._file.id.valid:
            self._file.close()


# Run files this process is writing, by (device, inode).
_WRITING: set[tuple[int, int] | None] = set()


def _file_key(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _check_not_in_use(path: str) -> None:
    """RunFileInUseError if ``path`` is a run file that a recorder may still be writing.

    Finished files, files whose writer on this host is dead, files without writer
    information and files that are not run files may be replaced.
    """
    key = _file_key(path)
    if key is None:
        return
    hint = ("overwrite=True replaces only a finished run file; close that recorder, "
            "wait for it, or choose another path")
    if key in _WRITING:
        raise RunFileInUseError(f"{path} is being written by another Recorder in this "
                                f"process; {hint}")
    writer = _writer_of_open_file(path)
    if writer is None:
        return
    host, pid = writer
    if host == socket.gethostname():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return  # its writer is dead: the file may be replaced
        except OSError:
            pass  # alive, owned by another user
        raise RunFileInUseError(f"{path} is being written by process {pid} on this host; "
                                f"{hint}")
    raise RunFileInUseError(
        f"{path} is open for writing by process {pid} on host {host!r}, which cannot be "
        f"checked from here; if that process is gone, delete the file yourself ({hint})"
    )


def _writer_of_open_file(path: str) -> tuple[str, int] | None:
    """(host, pid) of the recorder of a run file flagged "open for writing", or None
    (closed cleanly, no writer information, or not a readable run file)."""
    try:
        with h5py.File(path, "r"):
            return None  # closed cleanly
    except Exception as exc:  # noqa: BLE001
        if "open for" not in str(exc):
            return None
    try:
        file = _open_swmr_reader(path)
    except Exception:  # noqa: BLE001
        return None
    try:
        _check_heaps(file, path)
        host = _text(_read_attr(file, "writer_host", path, "/"))
        pid = _read_attr(file, "writer_pid", path, "/")
    except Exception:  # noqa: BLE001
        return None
    finally:
        with contextlib.suppress(Exception):
            file.close()
    if host is None or isinstance(pid, bool) or not isinstance(pid, int):
        return None
    return host, pid


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
        self._close_error: BaseException | None = None
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
            also = ("" if self._close_error is None else
                    f" (closing the file then failed too: {_one_line(self._close_error)})")
            raise RuntimeError(
                f"the recorder's writer thread failed: {self._error!r}{also}"
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
                try:
                    self._writer.close()
                except Exception as exc:
                    if self._error is None:
                        raise
                    # closing a file after a failed write fails too ("Can't decrement id
                    # ref count"); the write's error is the one that explains it
                    self._close_error = exc
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
#
# A run file may be corrupt (flipped bytes, truncation) or crafted. Everything the
# reader does with the file's contents happens inside ``_reading``, which turns any
# failure into a one-line RunFileError naming the file; only hard links inside the file
# are followed (external links, soft links, external raw storage and virtual datasets
# are refused); every read is checked against what the file stores before numpy
# allocates it. Errors in the caller's arguments (an unknown layer name, an index out
# of range) keep their KeyError / IndexError / TypeError.

_NUMERIC = "biufc"  # bool, int, uint, float, complex
_MAX_COMPRESSION_RATIO = 1100  # above deflate's ~1032:1 and LZ4's ~255:1
_READ_SLACK = 1 << 20  # bytes a read may exceed the stored size by (headers, fill values)
_MAX_MESSAGE = 300


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


@contextlib.contextmanager
def _reading(path: str, what: str):
    """Turn any failure while reading ``what`` from the file into a RunFileError."""
    try:
        yield
    except RunFileError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever a damaged file makes h5py raise
        raise RunFileError(f"{path}: could not read {what}: {_one_line(exc)}") from exc


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def _check_read(obj, nbytes: int, path: str, what: str) -> None:
    """RunFileError unless reading ``nbytes`` from dataset/attribute ``obj`` is plausible:
    no more than what the file stores for it (times the largest compression ratio)."""
    with _reading(path, what):
        storage = int(obj.get_storage_size())
        filtered = isinstance(obj, h5py.h5d.DatasetID) and obj.get_create_plist().get_nfilters() > 0
    limit = storage * (_MAX_COMPRESSION_RATIO if filtered else 1) + _READ_SLACK
    if nbytes > limit:
        raise RunFileError(
            f"{path}: {what} declares {_fmt_bytes(nbytes)} of data but the file stores only "
            f"{_fmt_bytes(storage)} for it; the file is corrupt or crafted (nothing was read)"
        )


def _nbytes(shape: Sequence[int], dtype: np.dtype) -> int:
    n = int(dtype.itemsize)
    for d in shape:
        n *= int(d)
    return n


def _member(group: h5py.Group, name: str, path: str, what: str):
    """The object ``group[name]`` if it is stored in this file under a hard link; None if
    there is no such name. External and soft links are refused, never followed."""
    with _reading(path, what):
        link = group.get(name, getlink=True)
    if link is None:
        return None
    if isinstance(link, h5py.ExternalLink):
        raise RunFileError(
            f"{path}: {what} is an external link to another file; run files never link to "
            "other files and svccakit does not follow such links"
        )
    if not isinstance(link, h5py.HardLink):
        raise RunFileError(
            f"{path}: {what} is a {type(link).__name__}, not an object stored in place; "
            "svccakit run files hold no links"
        )
    with _reading(path, what):
        return group[name]


def _group(parent: h5py.Group, name: str, path: str, what: str) -> h5py.Group:
    obj = _member(parent, name, path, what)
    if not isinstance(obj, h5py.Group):
        found = "missing" if obj is None else "a dataset, not a group"
        raise RunFileError(f"{path}: {what} is {found}; not a readable svccakit run file")
    return obj


def _dataset(parent: h5py.Group, name: str, path: str, what: str, *, kinds: str,
             ndim: tuple[int, int], required: bool = True) -> h5py.Dataset | None:
    """A dataset stored in this file, of a numeric dtype kind in ``kinds`` and
    ``ndim[0] <= ndim <= ndim[1]`` dimensions."""
    obj = _member(parent, name, path, what)
    if obj is None and not required:
        return None
    if not isinstance(obj, h5py.Dataset):
        found = "missing" if obj is None else "a group, not a dataset"
        raise RunFileError(f"{path}: {what} is {found}; not a readable svccakit run file")
    with _reading(path, what):
        dtype, shape = obj.dtype, obj.shape
        external = obj.external
        virtual = obj.is_virtual
    if external or virtual:
        raise RunFileError(
            f"{path}: {what} keeps its data in other files ("
            f"{'virtual dataset' if virtual else 'external storage'}); svccakit does not "
            "read data from outside the run file"
        )
    if shape is None or not ndim[0] <= len(shape) <= ndim[1]:
        raise RunFileError(
            f"{path}: {what} has shape {shape}, expected {ndim[0]} to {ndim[1]} dimensions"
        )
    if dtype.kind not in kinds or dtype.subdtype is not None or dtype.fields is not None:
        raise RunFileError(f"{path}: {what} has dtype {dtype}, not a numeric array")
    return obj


def _attr_names(obj, path: str, what: str) -> list[str]:
    with _reading(path, f"the attributes of {what}"):
        return list(obj.attrs.keys())


def _read_attr(obj, name: str, path: str, what: str):
    """Attribute ``name`` of ``obj`` (None when absent), size-checked before reading."""
    label = f"attribute {name!r} of {what}"
    with _reading(path, label):
        if name not in obj.attrs:
            return None
        aid = obj.attrs.get_id(name)
        shape, dtype = aid.shape, aid.dtype
    if shape is not None:
        _check_read(aid, _nbytes(shape, dtype), path, label)
    with _reading(path, label):
        value = obj.attrs[name]
    if isinstance(value, np.generic):
        value = value.item()
    return value


def _text(value) -> str | None:
    """A str attribute value (bytes decoded as UTF-8); None when it is not text."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return value if isinstance(value, str) else None


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
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of a damaged file
        msg = _one_line(exc)
        if "truncated" in msg:
            raise RunFileError(f"{path} is truncated or corrupt (HDF5: {msg})") from None
        if "open for" not in msg:  # "already open for write": anything else is damage
            raise RunFileError(
                f"{path} could not be opened as an HDF5 run file (HDF5: {msg})"
            ) from None
    try:
        return _open_swmr_reader(path)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001
        msg = _one_line(exc)
        if "truncated" in msg:
            raise RunFileError(f"{path} is truncated or corrupt (HDF5: {msg})") from None
        raise RunFileError(
            f"{path} could not be opened as an HDF5 run file (HDF5: {msg})"
        ) from None


# An SWMR reader retries a metadata read whose checksum fails, with growing sleeps
# between tries (HDF5's default: 100 tries), because a writer may be half-way through
# updating it. On a damaged file every such read then takes minutes (measured: more than
# 10 minutes for one file with 16 flipped bytes in its superblock). The reader allows
# _SWMR_READ_ATTEMPTS tries instead: a live writer's update is over within them, damage
# fails at once. HDF5's setter is not wrapped by h5py; it is called through ctypes from
# the libhdf5 that h5py loaded, when that library can be found (else HDF5's default).
_SWMR_READ_ATTEMPTS = 12
_ATTEMPTS_SETTER: list = []  # [function or None], found once


def _read_attempts_setter():
    if not _ATTEMPTS_SETTER:
        _ATTEMPTS_SETTER.append(_find_read_attempts_setter())
    return _ATTEMPTS_SETTER[0]


def _find_read_attempts_setter():
    import ctypes

    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as fh:
            paths = {line.split()[-1] for line in fh if "/" in line}
    except OSError:
        return None
    libs = sorted(p for p in paths if os.path.basename(p).startswith("libhdf5")
                  and not os.path.basename(p).startswith("libhdf5_"))
    if len(libs) > 1:  # several HDF5 libraries loaded: only h5py's own will do
        home = os.path.dirname(os.path.dirname(os.path.abspath(h5py.__file__)))
        libs = [p for p in libs if p.startswith(home)]
    if len(libs) != 1:
        return None
    try:
        setter = ctypes.CDLL(libs[0]).H5Pset_metadata_read_attempts
    except (OSError, AttributeError):
        return None
    setter.argtypes = [ctypes.c_int64, ctypes.c_uint]
    setter.restype = ctypes.c_int
    return setter


def _open_swmr_reader(path: str) -> h5py.File:
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_libver_bounds(h5py.h5f.LIBVER_LATEST, h5py.h5f.LIBVER_LATEST)
    setter = _read_attempts_setter()
    if setter is not None:
        setter(fapl.id, _SWMR_READ_ATTEMPTS)
    flags = h5py.h5f.ACC_RDONLY | h5py.h5f.ACC_SWMR_READ
    return h5py.File(h5py.h5f.open(os.fsencode(path), flags, fapl=fapl))


# HDF5 keeps variable-length strings (the root attributes, /layers.order) in "global
# heap collections". HDF5 2.0 parses a collection in a loop that never ends when a
# free-space object in it has size 0 (found by flipping bytes in a run file:
# `svccakit inspect` spun at 100% CPU for good). Before any text attribute is read, the
# reader looks for collections ("GCOL") in the part of the file svccakit writes them in,
# everything before the first snapshot's data (at least the first MiB; the first
# _HEAP_SCAN_BYTES when the first snapshot's place is not known), and refuses the file if one of them would not parse to its end. A crafted
# file can place a collection further on; that part is not scanned, as scanning costs
# about 3 s per GiB (measured on the shared 2-core machine) and a file is opened once
# per layer by the timeline.
_HEAP_SCAN_BYTES = 64 << 20
_HEAP_MIN_SCAN_BYTES = 1 << 20
_HEAP_SIGNATURE = b"GCOL\x01\x00\x00\x00"  # signature, version 1, reserved
_HEAP_MIN_SIZE = 4096


def _check_heaps(file: h5py.File, path: str) -> None:
    """RunFileError if a global heap collection would send HDF5 into an endless loop."""
    import mmap

    size = os.path.getsize(path)
    first = _first_snapshot_offset(file)
    end = min(size, _HEAP_SCAN_BYTES if first is None else max(first, _HEAP_MIN_SCAN_BYTES))
    if end < len(_HEAP_SIGNATURE):
        return
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
        length = _size_of_lengths(data)
        at = data.find(_HEAP_SIGNATURE, 0, end)
        while at >= 0:
            problem = _heap_problem(data, at, length)
            if problem:
                raise RunFileError(
                    f"{path}: the global heap collection at byte {at} is damaged ({problem}); "
                    "HDF5 cannot read the file's text attributes; the file is corrupt or crafted"
                )
            at = data.find(_HEAP_SIGNATURE, at + 1, end)


def _size_of_lengths(data) -> int:
    """Bytes per length field, from the superblock (8 unless the file says otherwise)."""
    if len(data) <= 14:
        return 8
    n = data[10] if data[8] >= 2 else data[14]  # superblock version 2/3, or 0/1
    return n if n in (2, 4, 8) else 8


def _heap_problem(data, at: int, length: int) -> str:
    """What makes the collection at ``at`` unparseable (endless or out of bounds), or ""."""
    header = 8 + length
    if at + header > len(data):
        return ""
    size = int.from_bytes(data[at + 8: at + header], "little")
    if size < _HEAP_MIN_SIZE or at + size > len(data):
        return ""  # HDF5 refuses such a collection with an error of its own
    end, p, wrap = at + size, at + header, 1 << (8 * 8)
    objhdr = 8 + length
    while p < end:
        if p + objhdr > end:  # HDF5: the tail is free space
            break
        index = int.from_bytes(data[p: p + 2], "little")
        obj = int.from_bytes(data[p + 8: p + objhdr], "little")
        need = (objhdr + ((obj + 7) // 8) * 8) % wrap if index else obj
        if need == 0:
            return f"an object of size 0 at byte {p}"
        if p + need > end:
            return f"an object at byte {p} of {obj} bytes runs past the collection's end"
        p += need
    return ""


def _first_snapshot_offset(file: h5py.File) -> int | None:
    """Byte offset of the first layer's first snapshot, where snapshot data begins."""
    try:
        layers = file.get("layers", getlink=True)
        if not isinstance(layers, h5py.HardLink):
            return None
        for name in file["layers"]:
            if isinstance(file["layers"].get(name, getlink=True), h5py.HardLink):
                ds = file["layers"][name]
                if isinstance(ds, h5py.Dataset) and ds.chunks and ds.shape[0] > 0:
                    return int(ds.id.get_chunk_info(0).byte_offset)
            return None
    except Exception:  # noqa: BLE001 - damaged: scan the default length
        return None
    return None


def _refresh_live(ds: h5py.Dataset, path: str, what: str) -> None:
    """Re-read a dataset's header from a file being written (SWMR), as a reader must
    before comparing its length with ``/steps``: HDF5 otherwise answers from the header
    it cached when the dataset was first opened."""
    with _reading(path, what):
        ds.refresh()


@dataclasses.dataclass(frozen=True)
class _Layout:
    """The checked objects of an open run file (see :func:`_check_layout`)."""

    inputs: h5py.Dataset
    targets: h5py.Dataset | None
    steps: h5py.Dataset
    metrics: dict[str, h5py.Dataset]
    layers: dict[str, h5py.Dataset]  # in model order


def _check_layout(file: h5py.File, path: str) -> _Layout:
    """Check everything the reader relies on, once, and return the checked objects."""
    _check_heaps(file, path)
    found_format = _text(_read_attr(file, "format", path, "/"))
    if found_format != FORMAT_NAME:
        with _reading(path, "/"):
            groups = sorted(file.keys())
        attrs = sorted(_attr_names(file, path, "/"))
        raise RunFileError(
            f"{path} is not an svccakit run file: expected root attribute "
            f"format={FORMAT_NAME!r}, found {found_format!r} "
            f"(root groups/datasets: {groups}, root attributes: {attrs})"
        )
    version = _read_attr(file, "format_version", path, "/")
    if isinstance(version, np.ndarray) or version != FORMAT_VERSION:
        raise RunFileError(
            f"{path} is an svccakit run file of format_version {version!r}; "
            f"this svccakit reads format_version {FORMAT_VERSION}"
        )
    with _reading(path, "/"):
        missing = [k for k in ("probe", "steps", "metrics", "layers")
                   if file.get(k, getlink=True) is None]
    if missing:
        raise RunFileError(f"{path} is an incomplete svccakit run file: missing {missing}")

    probe = _group(file, "probe", path, "/probe")
    inputs = _dataset(probe, "inputs", path, "/probe/inputs", kinds=_NUMERIC, ndim=(1, 32))
    n_probe = inputs.shape[0]
    if n_probe < 1:
        raise RunFileError(f"{path}: /probe/inputs holds no probe (shape {inputs.shape})")
    targets = _dataset(probe, "targets", path, "/probe/targets", kinds=_NUMERIC, ndim=(1, 32),
                       required=False)
    if targets is not None and targets.shape[0] != n_probe:
        raise RunFileError(f"{path}: /probe/targets has shape {targets.shape}, expected "
                           f"{n_probe} rows like /probe/inputs {inputs.shape}")
    steps = _dataset(file, "steps", path, "/steps", kinds="iu", ndim=(1, 1))
    live = file.swmr_mode
    if live:  # the writer flushes layers and metrics before /steps: read /steps first
        _refresh_live(steps, path, "/steps")
    t = steps.shape[0]

    metrics = {}
    group = _group(file, "metrics", path, "/metrics")
    with _reading(path, "/metrics"):
        names = list(group.keys())
    for name in names:
        ds = _dataset(group, name, path, f"/metrics/{name}", kinds="fiu", ndim=(1, 1))
        if live:  # its header may have been cached before /steps was read
            _refresh_live(ds, path, f"/metrics/{name}")
        if ds.shape[0] < t:
            raise RunFileError(f"{path}: /metrics/{name} has {ds.shape[0]} values but /steps "
                               f"lists {t} snapshots; the file is corrupt or crafted")
        metrics[name] = ds

    layers = {}
    group = _group(file, "layers", path, "/layers")
    with _reading(path, "/layers"):
        names = list(group.keys())
    for name in names:
        ds = _dataset(group, name, path, f"/layers/{name}", kinds=_NUMERIC, ndim=(2, 33))
        if live:  # cached when the heaps were checked, before /steps was read
            _refresh_live(ds, path, f"/layers/{name}")
        if ds.shape[1] != n_probe:
            raise RunFileError(f"{path}: /layers/{name} has shape {ds.shape}, expected "
                               f"(T, {n_probe}, ...) for a probe of {n_probe} inputs")
        if ds.shape[0] < t:
            raise RunFileError(f"{path}: /layers/{name} has {ds.shape[0]} snapshots but "
                               f"/steps lists {t}; the file is corrupt or crafted")
        layers[name] = ds
    order = _read_attr(group, "order", path, "/layers")
    if order is not None:
        texts = [_text(n) for n in np.ravel(np.asarray(order, dtype=object))]
        if (not isinstance(order, np.ndarray) or order.ndim != 1 or None in texts
                or len(set(texts)) != len(texts) or set(texts) != set(layers)):
            raise RunFileError(
                f"{path}: the attribute /layers.order does not list the layer datasets "
                f"{sorted(layers)} once each; the file is corrupt or crafted"
            )
        layers = {name: layers[name] for name in texts}
    return _Layout(inputs, targets, steps, metrics, layers)


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

    Every problem of the file itself (corrupt, truncated, crafted) raises
    :class:`RunFileError` with a one-line message naming the file; unknown layer names,
    out-of-range indices and wrong argument types raise KeyError, IndexError and
    TypeError.
    """

    def __init__(self, file: h5py.File, path: str):
        self._file = file
        self.path = path
        self._layout = _check_layout(file, path)
        self._probe: np.ndarray | None = None

    # context manager / lifetime
    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._file.id.valid:
            with _reading(self.path, "the file (closing it)"):
                self._file.close()

    def __repr__(self) -> str:
        state = "open" if self._file.id.valid else "closed"
        return f"<svccakit.Run {self.path!r} ({state})>"

    def _read(self, ds: h5py.Dataset, selection, shape: Sequence[int], what: str):
        """``ds[selection]`` of ``shape``, size-checked first."""
        _check_read(ds.id, _nbytes(shape, ds.dtype), self.path, what)
        with _reading(self.path, what):
            return ds[selection]

    @property
    def closed_cleanly(self) -> bool:
        """True if the writer closed the file; False while it is being written or
        after its writer died (the file is then read as an SWMR reader)."""
        return not self._file.swmr_mode

    def _refresh(self, ds: h5py.Dataset, what: str) -> None:
        if self._file.swmr_mode:
            _refresh_live(ds, self.path, what)

    def __len__(self) -> int:
        """The number of complete snapshots T (``len(/steps)``, refreshed)."""
        steps = self._layout.steps
        self._refresh(steps, "/steps")
        with _reading(self.path, "/steps"):
            return int(steps.shape[0])

    def refresh(self) -> int:
        """Re-read the snapshot count from a file being written; returns it."""
        return len(self)

    @property
    def steps(self) -> np.ndarray:
        """The training step of each snapshot, shape ``(T,)``, int64."""
        t = len(self)
        steps = np.asarray(self._read(self._layout.steps, slice(0, t), (t,), "/steps"))
        if steps.size and (steps[0] < 0 or steps[-1] > np.iinfo(np.int64).max
                           or np.any(steps[1:] <= steps[:-1])):
            raise RunFileError(f"{self.path}: /steps is not a strictly increasing list of "
                               "non-negative steps; the file is corrupt or crafted")
        return steps.astype(np.int64)

    @property
    def layer_names(self) -> list[str]:
        """The recorded layers, in model order."""
        return list(self._layout.layers)

    @property
    def metric_names(self) -> list[str]:
        return list(self._layout.metrics)

    @property
    def metrics(self) -> dict[str, np.ndarray]:
        """Metric name -> ``(T,)`` float64 array (NaN where absent)."""
        t = len(self)
        out = {}
        for name, ds in self._layout.metrics.items():
            what = f"/metrics/{name}"
            self._refresh(ds, what)
            with _reading(self.path, what):
                n = ds.shape[0]
            if n < t:
                raise RunFileError(f"{self.path}: {what} has {n} values but /steps lists {t} "
                                   "snapshots; the file is corrupt or crafted")
            out[name] = np.asarray(self._read(ds, slice(0, t), (t,), what), dtype=np.float64)
        return out

    @property
    def config(self) -> dict | None:
        """The experiment config (parsed from the JSON root attribute), or None."""
        value = _read_attr(self._file, "config", self.path, "/")
        if value is None:
            return None
        text = _text(value)
        if text is None:
            raise RunFileError(f"{self.path}: the root attribute 'config' is not text "
                               f"(got {type(value).__name__}); expected a JSON object")
        try:
            config = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise RunFileError(f"{self.path}: the root attribute 'config' is not valid JSON "
                               f"({_one_line(exc)})") from None
        if not isinstance(config, dict):
            raise RunFileError(f"{self.path}: the root attribute 'config' is JSON of type "
                               f"{type(config).__name__}, expected an object")
        return config

    @property
    def attrs(self) -> dict[str, Any]:
        """All root attributes (format, versions, created, seed, config JSON)."""
        return {key: _read_attr(self._file, key, self.path, "/")
                for key in _attr_names(self._file, self.path, "/")}

    @property
    def probe(self) -> np.ndarray:
        """The probe inputs, shape ``(n_probe, ...)``."""
        if self._probe is None:
            ds = self._layout.inputs
            self._probe = np.asarray(self._read(ds, (), ds.shape, "/probe/inputs"))
        return self._probe

    @property
    def probe_targets(self) -> np.ndarray | None:
        """The probe targets, shape ``(n_probe, ...)``, or None when not recorded."""
        ds = self._layout.targets
        if ds is None:
            return None
        return np.asarray(self._read(ds, (), ds.shape, "/probe/targets"))

    @property
    def n_probe(self) -> int:
        return int(self._layout.inputs.shape[0])

    def _layer(self, layer: str) -> h5py.Dataset:
        if not isinstance(layer, str):
            raise TypeError(f"layer: expected a layer name (str), got {type(layer).__name__}")
        ds = self._layout.layers.get(layer)
        if ds is None:
            raise KeyError(
                f"layer {layer!r} is not in {self.path}; recorded layers: {self.layer_names}"
            )
        return ds

    def layer_shape(self, layer: str) -> tuple[int, ...]:
        """Shape of one snapshot of ``layer``: ``(n_probe, d)`` or ``(n_probe, c, h, w)``."""
        ds = self._layer(layer)
        with _reading(self.path, f"/layers/{layer}"):
            return tuple(ds.shape[1:])

    def layer_info(self, layer: str) -> LayerInfo:
        """Shape, dtype and compression of ``layer`` (nothing is read but metadata)."""
        ds = self._layer(layer)
        with _reading(self.path, f"/layers/{layer}"):
            comp = ds.compression
            if comp is None and ds._filters:
                comp = ", ".join(str(k) for k in ds._filters)
            shape, dtype = tuple(ds.shape[1:]), ds.dtype
        what = f"/layers/{layer}"
        reduce = _read_attr(ds, "reduce", self.path, what)
        reduce = "none" if reduce is None else _text(reduce)
        raw = _read_attr(ds, "raw_shape", self.path, what)
        stored_output = _read_attr(ds, "output", self.path, what)
        output = None if stored_output is None else _text(stored_output)
        try:
            raw = None if raw is None else tuple(int(v) for v in np.ravel(np.asarray(raw)))
        except (TypeError, ValueError, OverflowError):
            raw = False
        if reduce is None or raw is False or (stored_output is not None and output is None):
            raise RunFileError(f"{self.path}: the attributes of {what} (reduce, raw_shape, "
                               "output) are not what a recorder writes; the file is corrupt "
                               "or crafted")
        return LayerInfo(layer, shape, dtype, comp, reduce=reduce, raw_shape=raw,
                         output=output)

    def samples(self, layer: str, index: int) -> np.ndarray:
        """Snapshot ``index`` of ``layer`` as the 2-D ``(n_samples, n_features)`` matrix
        the similarity metrics take (:func:`svccakit.record.reducers.as_samples`
        with the layer's stored reducer: ``positions:K`` layers give ``n_probe * K``
        rows, unreduced conv layers one row per position)."""
        from svccakit.record.reducers import as_samples

        array = self.activations(layer, index)
        reduce = self.layer_info(layer).reduce
        with _reading(self.path, f"/layers/{layer}[{index}] with its reducer {reduce!r}"):
            return as_samples(array, reduce)

    @property
    def probe_call(self) -> tuple[tuple, dict[str, Any]]:
        """The probe as the model was called: ``(args, kwargs)`` of arrays (and
        constants); ``((probe,), {})`` for a plain tensor probe."""
        group = _group(self._file, "probe", self.path, "/probe")
        structure = _read_attr(group, "structure", self.path, "/probe")
        if structure is None:
            return (self.probe,), {}
        bad = RunFileError(f"{self.path}: the attribute /probe.structure is not the JSON "
                           "call description a recorder writes; the file is corrupt or crafted")
        text = _text(structure)
        if text is None:
            raise bad
        try:
            spec = json.loads(text)
            args, kwargs = spec["args"], spec["kwargs"]
            if not isinstance(args, list) or not isinstance(kwargs, dict):
                raise bad
        except (ValueError, KeyError, TypeError, RecursionError):
            raise bad from None

        def value(entry):
            if not isinstance(entry, dict):
                raise bad
            if "dataset" in entry:
                key = entry["dataset"]
                if not isinstance(key, str) or not key:
                    raise bad
                parent, parts = group, key.split("/")
                for part in parts[:-1]:
                    parent = _group(parent, part, self.path, f"/probe/{key}")
                ds = _dataset(parent, parts[-1], self.path, f"/probe/{key}", kinds=_NUMERIC,
                              ndim=(0, 32))
                return np.asarray(self._read(ds, (), ds.shape, f"/probe/{key}"))
            if "value" not in entry:
                raise bad
            return entry["value"]

        return (tuple(value(e) for e in args), {str(k): value(e) for k, e in kwargs.items()})

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
        what = f"/layers/{layer}[{i}]"
        self._refresh(ds, what)
        with _reading(self.path, what):
            shape = ds.shape
        if shape[0] <= i:
            raise RunFileError(f"{self.path}: /layers/{layer} has {shape[0]} snapshots but "
                               f"/steps lists {t}; the file is corrupt or crafted")
        return self._read(ds, i, shape[1:], what)

    def index_of_step(self, step: int) -> int:
        """The snapshot index recorded at training step ``step`` (KeyError if none)."""
        hits = np.flatnonzero(self.steps == step)
        if hits.size == 0:
            raise KeyError(f"no snapshot at step {step} in {self.path}")
        return int(hits[0])


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
        Not HDF5, truncated, corrupt or crafted (links to other files, sizes the file
        does not hold, an inconsistent layout), or an HDF5 file of another layout or
        version. The message is one line and names the file.
    """
    path = os.fspath(path)
    file = _open_h5(path)
    try:
        return Run(file, path)
    except BaseException:
        with contextlib.suppress(Exception):
            file.close()
        raise
