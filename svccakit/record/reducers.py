"""Reducers: shrink a layer's activations at record time, before they reach the disk.

A reducer is chosen per layer with ``Recorder(reduce=...)``: one spec for every
layer, or a mapping from layer-name glob to spec (the first matching glob wins;
layers no glob matches are stored unreduced). Specs:

``"none"``
    the module's output as it is, ``(n, ...)``.
``"pool"``
    the mean over the spatial or sequence axes: a conv layer ``(n, c, h, w)``
    (or ``(n, c, d, h, w)``) is stored as ``(n, c)``, a sequence layer
    ``(n, t, d)`` as ``(n, d)``; a 2-D layer ``(n, d)`` is stored as it is.
``"positions:K"``
    K positions (tokens) per probe input, the positions as samples (the usual
    way to run SVCCA on conv layers). A conv layer ``(n, c, h, w)`` is stored
    as ``(n, K, c)``, a sequence layer ``(n, t, d)`` as ``(n, K, d)``. The
    positions are drawn once, uniformly at random and with replacement, as
    *relative* coordinates in ``[0, 1)`` (seeded by K only) and mapped to each
    layer's own grid (``floor(u * h)``, ``floor(v * w)``): every snapshot, every
    layer and every run recorded with the same spec and the same number of probe
    inputs sees the same image locations, so sample ``(i, k)`` of one layer and
    of another (even at another resolution) refer to the same input and place.
    A 2-D layer ``(n, d)`` is stored as it is and counts as the same vector at
    each of the K positions (:func:`as_samples` repeats it).
``"project:D"``
    a fixed Gaussian random projection of the flattened features ``(n, d)`` to
    ``(n, D)``: ``x @ R`` with ``R`` of shape ``(d, D)``, entries ``N(0, 1/D)``,
    seeded from the layer name, ``d`` and ``D`` (:func:`projection_matrix`), so
    it is the same matrix at every snapshot and in every run. By the
    Johnson-Lindenstrauss lemma the Gram matrix ``X Xᵀ`` (hence linear CKA) is
    kept up to a relative error of order ``1/sqrt(D)``; measured shifts of SVCCA
    and CKA are in ``docs/record.md``. A layer with ``d <= D`` features is
    stored flattened but not projected. The matrix lives in memory beside the
    model: ``4 d D`` bytes per projected layer.
a callable
    ``fn(tensor) -> tensor`` applied to the module's output (first axis kept:
    one row per probe input); stored as ``"callable:<module>.<qualname>"``.

Axes are read by one rule: 2-D is ``(n, features)``; 3-D is a sequence
``(n, t, d)`` (batch first, features last, as transformers lay it out); 4-D and
5-D are channels first ``(n, c, *spatial)`` (as torch's conv layers lay them
out). A ``Conv1d`` output ``(n, c, L)`` is therefore read as a sequence; pass a
callable (e.g. ``lambda t: t.mean(-1)``) for it.

Pooling and projection compute in float32 (float64 stays float64);
positions keep the recorded dtype. The spec string is stored in the run file as
the layer's ``reduce`` attribute, with the unreduced shape as ``raw_shape``;
:func:`as_samples` turns a stored snapshot into the 2-D ``(samples, features)``
matrix the similarity metrics take.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import math
import zlib
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

__all__ = [
    "REDUCER_KINDS",
    "ReduceSpec",
    "as_samples",
    "parse_reduce",
    "projection_matrix",
    "relative_positions",
]

REDUCER_KINDS = ("none", "pool", "positions:K", "project:D", "a callable")
"""The reducer specs :func:`parse_reduce` accepts."""

_POSITIONS_SEED = 0x706F73  # "pos"
_PROJECT_SEED = 0x70726F6A  # "proj"


@dataclasses.dataclass(frozen=True)
class ReduceSpec:
    """One reducer: ``kind`` in ``{"none", "pool", "positions", "project", "callable"}``,
    ``size`` (K or D), ``fn`` (the callable), ``name`` (its qualified name).

    ``str(spec)`` is the text stored in the run file (``"pool"``,
    ``"positions:16"``, ``"project:256"``, ``"callable:mymodule.fn"``).
    """

    kind: str
    size: int | None = None
    fn: Callable | None = dataclasses.field(default=None, compare=False, repr=False)
    name: str | None = None

    def __str__(self) -> str:
        if self.kind in ("none", "pool"):
            return self.kind
        if self.kind == "callable":
            return f"callable:{self.name}"
        return f"{self.kind}:{self.size}"

    def stored_shape(self, raw_shape: tuple[int, ...]) -> tuple[int, ...] | None:
        """The stored shape of one snapshot for a module output of ``raw_shape``
        ``(n, ...)`` (None for a callable: known only once applied)."""
        raw_shape = tuple(int(s) for s in raw_shape)
        n, rest = raw_shape[0], raw_shape[1:]
        if self.kind == "none":
            return raw_shape
        if self.kind == "callable":
            return None
        if self.kind == "project":
            d = math.prod(rest)
            return (n, d) if d <= self.size else (n, self.size)
        if len(raw_shape) <= 2:
            return raw_shape
        _check_axes(raw_shape, str(self))
        features = raw_shape[-1] if len(raw_shape) == 3 else raw_shape[1]
        return (n, features) if self.kind == "pool" else (n, self.size, features)


def parse_reduce(spec: Any, name: str = "reduce") -> ReduceSpec:
    """One reducer spec (a string or a callable) as a :class:`ReduceSpec`.

    Raises
    ------
    TypeError
        ``spec`` is neither a string nor a callable.
    ValueError
        An unknown name or a size that is not a positive integer.
    """
    if isinstance(spec, ReduceSpec):
        return spec
    if callable(spec) and not isinstance(spec, str):
        module = getattr(spec, "__module__", None) or ""
        qual = getattr(spec, "__qualname__", None) or type(spec).__qualname__
        return ReduceSpec("callable", fn=spec, name=f"{module}.{qual}" if module else qual)
    if not isinstance(spec, str):
        raise TypeError(
            f"{name}: expected a reducer spec (one of {', '.join(REDUCER_KINDS)}) or a mapping "
            f"from layer glob to spec, got {type(spec).__name__} {spec!r}"
        )
    text = spec.strip().lower()
    if text in ("none", "pool"):
        return ReduceSpec(text)
    kind, sep, size = text.partition(":")
    if kind in ("positions", "project"):
        letter = "K" if kind == "positions" else "D"
        if not sep or not size.strip().isdigit() or int(size) < 1:
            raise ValueError(
                f"{name}: expected {kind}:{letter} with {letter} a positive integer "
                f"(e.g. {kind}:{16 if kind == 'positions' else 256}), got {spec!r}"
            )
        return ReduceSpec(kind, int(size))
    raise ValueError(f"{name}: expected one of {', '.join(REDUCER_KINDS)}, got {spec!r}")


class ReducePlan:
    """``reduce=`` resolved: a spec for every layer name (private to the recorder)."""

    def __init__(self, reduce: Any):
        if reduce is None:
            reduce = "none"
        if isinstance(reduce, Mapping):
            rules = []
            for pattern, spec in reduce.items():
                if not isinstance(pattern, str):
                    raise TypeError(
                        f"reduce: mapping keys must be layer names or glob patterns (str), "
                        f"got {type(pattern).__name__} {pattern!r}"
                    )
                rules.append((pattern, parse_reduce(spec, f"reduce[{pattern!r}]")))
            self.rules = rules
            self.default = ReduceSpec("none")
        else:
            self.rules = []
            self.default = parse_reduce(reduce)

    def spec_for(self, layer: str) -> ReduceSpec:
        """The spec of ``layer`` (a layer ``name@k`` also matches rules for ``name``)."""
        base = layer.split("@")[0]
        for pattern, spec in self.rules:
            if fnmatch.fnmatchcase(layer, pattern) or fnmatch.fnmatchcase(base, pattern):
                return spec
        return self.default

    def check_used(self, layers: list[str]) -> None:
        """Every glob of a mapping must match a recorded layer (a typo is an error)."""
        for pattern, _ in self.rules:
            if not any(
                fnmatch.fnmatchcase(n, pattern) or fnmatch.fnmatchcase(n.split("@")[0], pattern)
                for n in layers
            ):
                raise ValueError(
                    f"reduce: {pattern!r} matches no recorded layer; recorded layers are {layers}"
                )


def _check_axes(raw_shape: tuple[int, ...], spec: str) -> None:
    if len(raw_shape) > 5:
        raise ValueError(
            f"reduce={spec!r}: cannot tell the spatial axes of a {len(raw_shape)}-D output of "
            f"shape {raw_shape} (2-D is (n, d), 3-D (n, t, d), 4-D/5-D (n, c, *spatial)); "
            f"pass a callable reducer for this layer"
        )


def relative_positions(n: int, k: int) -> np.ndarray:
    """The relative coordinates of ``positions:K``: ``(n, K, 3)`` floats in ``[0, 1)``.

    Drawn from a generator seeded by K only; rows are drawn in order, so the
    first ``m`` rows are the same for every ``n >= m``. A layer with spatial
    axes ``s_1, ..., s_a`` (a <= 3) uses the first ``a`` coordinates,
    ``floor(u_j * s_j)``.
    """
    rng = np.random.default_rng(np.random.SeedSequence([_POSITIONS_SEED, int(k)]))
    return rng.random((int(n), int(k), 3))


def position_indices(n: int, k: int, spatial: tuple[int, ...]) -> np.ndarray:
    """Flat indices ``(n, K)`` into the flattened spatial axes ``spatial``."""
    u = relative_positions(n, k)
    coords = []
    for j, size in enumerate(spatial):
        coords.append(np.minimum(np.floor(u[..., j] * size).astype(np.int64), size - 1))
    return np.ravel_multi_index(tuple(coords), spatial)


def projection_matrix(layer: str, d: int, dim: int) -> np.ndarray:
    """The ``project:D`` matrix of ``layer``: ``(d, D)`` float32, entries ``N(0, 1/D)``.

    Seeded from the layer name (its CRC-32), ``d`` and ``D``: the same matrix in
    every snapshot, run and process.
    """
    seed = np.random.SeedSequence([_PROJECT_SEED, zlib.crc32(layer.encode()), int(d), int(dim)])
    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((int(d), int(dim)), dtype=np.float32)
    matrix *= np.float32(1.0 / math.sqrt(dim))
    return matrix


class LayerReducer:
    """Applies one layer's spec to torch tensors on their device (private; caches
    the position indices and the projection matrix per shape and device)."""

    def __init__(self, layer: str, spec: ReduceSpec):
        self.layer = layer
        self.spec = spec
        self._cache: dict[Any, Any] = {}

    def __call__(self, t):
        import torch

        kind = self.spec.kind
        if kind == "none":
            return t
        if kind == "callable":
            out = self.spec.fn(t)
            if not isinstance(out, torch.Tensor):
                raise TypeError(
                    f"reduce: the callable {self.spec.name} returned {type(out).__name__} for "
                    f"layer {self.layer!r}; expected a torch.Tensor"
                )
            if out.ndim < 1 or out.shape[0] != t.shape[0]:
                raise ValueError(
                    f"reduce: the callable {self.spec.name} returned shape {tuple(out.shape)} "
                    f"for layer {self.layer!r} of shape {tuple(t.shape)}; the first axis "
                    f"(one row per probe input, {t.shape[0]}) must be kept"
                )
            return out
        if kind == "project":
            n, d = t.shape[0], math.prod(t.shape[1:])
            flat = t.reshape(n, d)
            if d <= self.spec.size:
                return flat
            key = (d, t.device)
            matrix = self._cache.get(key)
            if matrix is None:
                self._cache.clear()
                matrix = torch.from_numpy(projection_matrix(self.layer, d, self.spec.size))
                matrix = matrix.to(t.device)
                self._cache[key] = matrix
            work = flat.double() if t.dtype == torch.float64 else flat.float()
            return work @ matrix.to(work.dtype)
        if t.ndim <= 2:
            return t
        _check_axes(tuple(t.shape), str(self.spec))
        if kind == "pool":
            work = t if t.dtype == torch.float64 else t.float()
            axes = (1,) if t.ndim == 3 else tuple(range(2, t.ndim))
            return work.mean(dim=axes)
        # positions
        n, k = t.shape[0], self.spec.size
        spatial = (t.shape[1],) if t.ndim == 3 else tuple(t.shape[2:])
        key = (tuple(t.shape), t.device)
        index = self._cache.get(key)
        if index is None:
            self._cache.clear()
            index = torch.from_numpy(position_indices(n, k, spatial)).to(t.device)
            self._cache[key] = index
        if t.ndim == 3:  # (n, t, d) -> (n, K, d)
            return torch.gather(t, 1, index[:, :, None].expand(n, k, t.shape[2]))
        c = t.shape[1]
        flat = t.reshape(n, c, -1)
        picked = torch.gather(flat, 2, index[:, None, :].expand(n, c, k))
        return picked.transpose(1, 2).contiguous()  # (n, K, c)


def as_samples(array: np.ndarray, reduce: str = "none") -> np.ndarray:
    """One stored snapshot as the 2-D ``(samples, features)`` matrix metrics take.

    - ``positions:K``: ``(n, K, c)`` -> ``(n * K, c)``, rows ordered by input then
      position; a 2-D layer ``(n, d)`` is repeated K times per input (the same
      vector at every position), so it lines up with the conv layers' samples;
    - other specs: a 2-D snapshot is returned as it is; a 3-D one ``(n, t, d)``
      becomes ``(n * t, d)`` and a 4-D/5-D one ``(n, c, *spatial)`` becomes
      ``(n * prod(spatial), c)``: every position a sample, as
      :func:`svccakit.flatten_conv` (``mode="positions"``) does.

    Parameters
    ----------
    array : ndarray of shape (n, ...)
        A snapshot as :meth:`svccakit.Run.activations` returns it.
    reduce : str
        The layer's stored spec (:attr:`svccakit.record.LayerInfo.reduce`).

    Returns
    -------
    ndarray of shape (n_samples, n_features)
    """
    array = np.asarray(array)
    kind, _, size = str(reduce).partition(":")
    if kind == "positions":
        if array.ndim == 2:
            return np.repeat(array, int(size), axis=0)
        return array.reshape(-1, array.shape[-1])
    if array.ndim <= 2:
        return array.reshape(array.shape[0], -1) if array.ndim == 1 else array
    if array.ndim == 3:
        return array.reshape(-1, array.shape[-1])
    return np.moveaxis(array, 1, -1).reshape(-1, array.shape[1])


def _mb(nbytes: float) -> str:
    return f"{nbytes / 1e6:.1f} MB" if nbytes >= 1e5 else f"{nbytes / 1e6:.3f} MB"


def snapshot_bytes(
    layers: Mapping[str, tuple[tuple[int, ...], int]], spec: ReduceSpec
) -> int:
    """Bytes of one snapshot if every layer were reduced with ``spec``; ``layers``
    maps a name to ``(raw_shape, itemsize)`` (pool and project store float32)."""
    total = 0
    for raw_shape, itemsize in layers.values():
        shape = spec.stored_shape(raw_shape)
        size = max(itemsize, 4) if spec.kind in ("pool", "project") else itemsize
        total += math.prod(shape) * size
    return total


def budget_error(
    stored: Mapping[str, tuple[tuple[int, ...], tuple[int, ...], int, str]],
    raw_itemsize: Mapping[str, int],
    budget_mb: float,
) -> str | None:
    """The refusal message when a snapshot is over ``budget_mb``, else None.

    ``stored`` maps each layer to ``(raw_shape, stored_shape, stored_itemsize,
    spec_text)``; ``raw_itemsize`` to the itemsize of its unreduced output.
    """
    sizes = {n: math.prod(s) * b for n, (_, s, b, _) in stored.items()}
    total = sum(sizes.values())
    budget = budget_mb * 1e6
    if total <= budget:
        return None
    raw = {n: (r, raw_itemsize[n]) for n, (r, _, _, _) in stored.items()}
    lines = [
        f"budget_mb: one snapshot would hold {_mb(total)} over {len(stored)} layers, more than "
        f"the budget of {budget_mb:g} MB; nothing was written. Largest layers "
        f"(module output shape -> stored shape, size, reducer):"
    ]
    order = sorted(sizes, key=sizes.get, reverse=True)
    for name in order[:12]:
        raw_shape, shape, _, text = stored[name]
        lines.append(f"  {name}: {raw_shape} -> {shape}, {_mb(sizes[name])}, reduce={text!r}")
    if len(order) > 12:
        rest = sum(sizes[n] for n in order[12:])
        lines.append(f"  ... and {len(order) - 12} more layers, {_mb(rest)}")
    fits = []
    candidates = [ReduceSpec("pool")]
    candidates += [ReduceSpec("positions", k) for k in (64, 32, 16, 8, 4, 2, 1)]
    candidates += [ReduceSpec("project", d) for d in (1024, 512, 256, 128, 64, 32)]
    seen_kinds: set[str] = set()
    for spec in candidates:
        if spec.kind in seen_kinds:
            continue
        try:
            need = snapshot_bytes(raw, spec)
        except ValueError:
            continue
        if need <= budget:
            seen_kinds.add(spec.kind)
            fits.append(f"reduce={str(spec)!r} ({_mb(need)})")
    if fits:
        lines.append("Reducers that fit the budget for every layer: " + ", ".join(fits) + ".")
    else:
        lines.append("No single reducer fits the budget for every layer; record fewer layers.")
    lines.append("Or raise the budget: Recorder(budget_mb=...) (None: no limit).")
    return "\n".join(lines)
