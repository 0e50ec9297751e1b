"""The inputs of the similarity engine (private): arrays in memory, torch tensors, row blocks.

Every metric reads its data through a :class:`Source`, which knows the shape and
how to hand out rows ``[lo, hi)``. Three kinds:

- ``"memory"``: a numpy array (float32 or float64; other numeric dtypes are
  converted to float64 once, as are CPU torch tensors of other dtypes).
  CPU torch tensors are used through ``Tensor.numpy()``, without a copy.
- ``"device"``: a torch tensor on a non-CPU device (CUDA, MPS). The Gram
  products are computed on the device in float64, block by block
  (:mod:`svccakit.similarity._moments`); only ``d x d`` results come to the CPU.
  The accurate route (QR/SVD of the data) copies the data to the CPU.
- ``"rows"``: anything else with ``shape``, ``dtype`` and row slicing
  ``a[lo:hi]`` (an h5py dataset, a ``numpy.memmap``, a zarr array), or a
  :class:`Streamed` wrapper (which also selects one item of a stacked
  ``(T, n, d)`` source, such as a run file's layer at a snapshot). It is read in
  row blocks and never held in memory whole.

Finiteness is not checked here: the one pass over the data
(:mod:`~svccakit.similarity._moments`) sees a NaN/Inf in its sums and then
:func:`count_nonfinite` counts them for the error message.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from svccakit._validate import _describe, _is_torch_tensor

__all__ = ["Source", "Streamed", "as_source"]

BLOCK_BYTES = 8 * 2**20
"""Float64 bytes of one row block (of all sides read together): 8 MiB.

Measured (benchmarks/similarity.py, 10,000 x 1,000): 4-8 MiB blocks run the
Gram product as fast as one BLAS call on the whole matrix; 32 MiB and above are
slower (the block no longer stays in cache between the copy and the product).
"""


class Streamed:
    """Read an array-like in row blocks instead of loading it whole.

    Every metric of :mod:`svccakit.similarity` accepts an h5py dataset, a
    ``numpy.memmap`` or any array-like with ``shape``, ``dtype`` and row slicing
    as it is, and streams it; wrap it in ``Streamed`` to pick one item of a
    stacked source or to choose the block size. Peak memory is then bounded by
    the block size and ``O(n_features**2)``, whatever ``n_samples`` is.

    Parameters
    ----------
    source : array-like of shape (n_samples, n_features) or (T, n_samples, n_features)
        An h5py dataset, a memory-mapped array, or any object with ``shape``,
        ``dtype`` and ``source[lo:hi]`` (``source[index, lo:hi]`` with ``index``).
        An in-memory numpy array or torch tensor is streamed too (the float64
        work then happens block by block).
    index : int, optional
        For a stacked 3-D source: the item to use, e.g. a run file's layer
        dataset ``run_file["layers/fc1"]`` at snapshot ``index``.
    block_rows : int, optional
        Rows per block (default: about 8 MiB of float64 per block over all
        sides read together).

    Examples
    --------
    >>> import h5py, svccakit as sk                                # doctest: +SKIP
    >>> with h5py.File("run.h5") as f:                              # doctest: +SKIP
    ...     sk.svcca(Streamed(f["layers/fc1"], index=-1), f2["acts"])
    """

    def __init__(self, source, index: int | None = None, block_rows: int | None = None):
        if index is not None and (isinstance(index, (bool, np.bool_))
                                  or not isinstance(index, numbers.Integral)):
            raise TypeError(f"index: expected an integer or None, got "
                            f"{type(index).__name__} {index!r}")
        if block_rows is not None and (isinstance(block_rows, (bool, np.bool_))
                                       or not isinstance(block_rows, numbers.Integral)):
            raise TypeError(f"block_rows: expected an integer or None, got "
                            f"{type(block_rows).__name__} {block_rows!r}")
        if block_rows is not None and block_rows < 1:
            raise ValueError(f"block_rows: expected an integer >= 1, got {block_rows!r}")
        self.source = source
        self.index = None if index is None else int(index)
        self.block_rows = None if block_rows is None else int(block_rows)

    def __repr__(self) -> str:
        extra = "" if self.index is None else f", index={self.index}"
        extra += "" if self.block_rows is None else f", block_rows={self.block_rows}"
        return f"Streamed({_describe(self.source)}{extra})"


@dataclass(frozen=True, eq=False)
class Source:
    """One validated input of shape ``(n, d)``; rows ``[lo, hi)`` by :meth:`rows`."""

    data: object  # numpy array ("memory"), torch tensor ("device") or array-like ("rows")
    name: str
    n: int
    d: int
    kind: str  # "memory", "device" or "rows"
    dtype: np.dtype  # of the stored data (float32 or float64 for "memory")
    index: int | None = None  # item of a stacked "rows" source
    block_rows: int | None = None  # requested rows per block ("rows" sources)

    @property
    def in_memory(self) -> bool:
        return self.kind == "memory"

    def rows(self, lo: int, hi: int):
        """Rows ``lo:hi`` as stored (numpy for "memory"/"rows", a tensor for "device")."""
        if self.index is None:
            block = self.data[lo:hi]
        else:
            block = self.data[self.index, lo:hi]
        if self.kind == "rows":
            block = np.asarray(block)
        return block

    def to_numpy64(self) -> np.ndarray:
        """The whole input as a float64 numpy array (a copy unless it already is one)."""
        if self.kind == "memory":
            return np.asarray(self.data, dtype=np.float64)
        if self.kind == "device":
            return self.data.detach().to("cpu", dtype=_torch().float64).numpy()
        out = np.empty((self.n, self.d))
        step = block_rows(self, [self])
        for lo in range(0, self.n, step):
            hi = min(self.n, lo + step)
            out[lo:hi] = self.rows(lo, hi)
        return out


def _torch():
    import torch

    return torch


def _check_dtype(dtype, name: str, what) -> None:
    kind = np.dtype(dtype).kind if not hasattr(dtype, "is_floating_point") else None
    if kind == "c":
        raise TypeError(f"{name} must be a real numeric array, got complex dtype {dtype}")
    if kind is not None and kind not in "biuf":
        raise TypeError(f"{name} must be a numeric array (bool, integer or float), got dtype "
                        f"{dtype}")


def _check_shape(shape: tuple, name: str) -> tuple[int, int]:
    if len(shape) != 2:
        hint = (" (conv activations (n, c, h, w): see svccakit.flatten_conv)"
                if len(shape) == 4 else "")
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got a {len(shape)}-D "
                         f"array of shape {tuple(shape)}{hint}")
    if shape[0] == 0 or shape[1] == 0:
        raise ValueError(f"{name} must not be empty, got an array of shape {tuple(shape)}")
    return int(shape[0]), int(shape[1])


def _on_device(t) -> bool:
    """Whether a tensor is computed on its own device (tests patch this for CPU tensors)."""
    return t.device.type != "cpu"


def _from_tensor(x, name: str) -> Source:
    torch = _torch()
    if x.is_complex():
        raise TypeError(f"{name} must be a real numeric array, got a complex {_describe(x)}")
    t = x.detach()
    if t.ndim == 2 and 0 not in t.shape and _on_device(t):
        n, d = _check_shape(tuple(t.shape), name)
        return Source(t, name, n, d, "device", np.dtype("float64"))
    if t.device.type != "cpu":
        t = t.cpu()
    if t.dtype not in (torch.float32, torch.float64):
        t = t.to(torch.float64)  # float16 / bfloat16 / integers / bool
    return _from_numpy(t.numpy(), name)


def _from_numpy(a: np.ndarray, name: str) -> Source:
    _check_dtype(a.dtype, name, a)
    if a.ndim != 2 or a.size == 0:
        if a.size == 0:
            raise ValueError(f"{name} must not be empty, got an array of shape {a.shape}")
        _check_shape(a.shape, name)
    if a.dtype not in (np.float32, np.float64):
        a = a.astype(np.float64)
    n, d = _check_shape(a.shape, name)
    return Source(a, name, n, d, "memory", a.dtype)


def _from_rows(x, name: str, index: int | None, rows: int | None) -> Source:
    shape = getattr(x, "shape", None)
    dtype = getattr(x, "dtype", None)
    if shape is None or dtype is None or not hasattr(x, "__getitem__"):
        raise TypeError(f"{name} must be an array-like with shape, dtype and row slicing, "
                        f"got {_describe(x)}")
    shape = tuple(int(s) for s in shape)
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name} must be a numeric array, got {_describe(x)}") from None
    _check_dtype(dtype, name, x)
    if index is not None:
        if len(shape) != 3:
            raise ValueError(f"{name}: index={index} selects one item of a stacked (T, n, d) "
                             f"source, but it has shape {shape}")
        if not -shape[0] <= index < shape[0]:
            raise ValueError(f"{name}: index {index} out of range for a stacked source of "
                             f"{shape[0]} items")
        index = index % shape[0]
        shape = shape[1:]
    n, d = _check_shape(shape, name)
    if dtype not in (np.float32, np.float64) and dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a numeric array, got dtype {dtype}")
    return Source(x, name, n, d, "rows", dtype, index, rows)


def as_source(x, name: str) -> Source:
    """``x`` (array-like, torch tensor, memmap, h5py dataset, :class:`Streamed`) as a Source.

    Raises
    ------
    TypeError
        Non-numeric or complex data, or an object that is not array-like.
    ValueError
        Not 2-D, or empty.
    """
    if isinstance(x, Streamed):
        src = x.source
        if x.index is None and isinstance(src, np.ndarray) and not isinstance(src, np.memmap):
            return _from_rows(src, name, None, x.block_rows)
        if _is_torch_tensor(src) and x.index is None:
            src = src.detach()
            if src.device.type == "cpu":
                src = src.numpy()
        return _from_rows(src, name, x.index, x.block_rows)
    if _is_torch_tensor(x):
        return _from_tensor(x, name)
    if isinstance(x, np.memmap):
        return _from_rows(x, name, None, None)
    if isinstance(x, np.ndarray):
        return _from_numpy(x, name)
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"{name} must be a numeric array, got {_describe(x)}")
    if hasattr(x, "shape") and hasattr(x, "dtype") and hasattr(x, "__getitem__") \
            and not isinstance(x, (list, tuple)) and not hasattr(x, "__array_interface__"):
        return _from_rows(x, name, None, None)
    try:
        a = np.asarray(x)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"{name} must be a numeric array, got {_describe(x)} ({exc})") from exc
    return _from_numpy(a, name)


def block_rows(first: Source, sources: list[Source]) -> int:
    """Rows per block for reading ``sources`` together (the first one's request wins)."""
    for s in sources:
        if s.block_rows is not None:
            return max(1, min(s.block_rows, first.n))
    width = sum(s.d for s in sources) + 1
    return int(max(16, min(first.n, BLOCK_BYTES // (8 * width))))


def count_nonfinite(src: Source) -> tuple[int, int]:
    """``(NaN count, Inf count)`` of a source, read block by block."""
    n_nan = n_inf = 0
    step = block_rows(src, [src])
    for lo in range(0, src.n, step):
        block = src.rows(lo, min(src.n, lo + step))
        if src.kind == "device":
            torch = _torch()
            n_nan += int(torch.isnan(block).sum())
            n_inf += int(torch.isinf(block).sum())
        elif np.dtype(block.dtype).kind == "f":
            n_nan += int(np.isnan(block).sum())
            n_inf += int(np.isinf(block).sum())
    return n_nan, n_inf


def nonfinite_error(src: Source) -> ValueError:
    n_nan, n_inf = count_nonfinite(src)
    return ValueError(f"{src.name} must contain only finite values, got {n_nan} NaN and "
                      f"{n_inf} Inf among its {src.n * src.d} entries")


def max_abs(src: Source) -> float:
    """Largest ``|x|`` of a finite source (a pass over the data)."""
    peak = 0.0
    step = block_rows(src, [src])
    for lo in range(0, src.n, step):
        block = src.rows(lo, min(src.n, lo + step))
        if src.kind == "device":
            hi, lo = float(block.max()), float(block.min())
        else:
            hi, lo = float(np.max(block)), float(np.min(block))
        if not (math.isfinite(hi) and math.isfinite(lo)):
            return math.nan
        peak = max(peak, hi, -lo)
    return peak
