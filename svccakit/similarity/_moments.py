"""Second moments of several inputs from one pass over their rows (private).

:func:`moments` reads the inputs ``S_1 .. S_m`` (all with the same ``n`` rows)
together, block by block, and returns their joint centred Gram matrix
``C.T @ C`` with ``C = [S_1 - mean_1, ..., S_m - mean_m]`` (each side scaled by
a power of two), from which every metric of the fast route follows.

How, and why it is accurate:

- Each block is copied into one float64 buffer ``[S_1 - x0_1, ..., 1]``
  (float32 data is converted in the same copy, so there is never a full
  float64 copy of the data) and ``buffer.T @ buffer`` is accumulated by one
  symmetric rank-k update (BLAS ``dsyrk``): the column of ones brings the
  column sums along for free.
- ``x0`` is the first row. Subtracting it makes a constant neuron exactly zero
  (so dead neurons are found exactly, at no cost) and removes any common
  offset before anything is squared: the centring that follows,
  ``G - s s.T / n`` (a rank-one correction), then cancels only about
  ``log2(L)`` bits, where ``L = G_jj / Gc_jj`` is the ratio of a neuron's
  second moment about ``x0`` to its variance (about 2 for typical data).
  The loss factors are returned; when the largest exceeds :data:`LOSS_MAX`
  the pass is repeated with the exact mean as the shift (``L = 1``): a
  two-pass algorithm, used only for data whose first row is far from the mean.
  So the centred Gram matrix is accurate to a few ulps of each neuron's
  variance whatever the data's offset: a constant offset changes the input
  only by its own rounding (``eps * |offset|``).
- Magnitudes: each side is computed as is when its largest second moment
  lies within ``2**+-400`` (so that squares of Gram entries, as CKA takes,
  stay finite too); otherwise (overflow, subnormal data) the pass is repeated on
  the side scaled by the exact power of two that brings its largest ``|x|``
  into [0.5, 1). Every metric is invariant to that scale, and a power of two
  changes no bit, so the result equals the result for the input rescaled to
  unit size. A neuron whose variance is below ``2**-800`` times its side's
  largest then counts as constant (its squares would underflow).
- A NaN or Inf anywhere makes the sums non-finite; only then are the
  non-finite entries counted, for the error message.

:func:`cross_gram` is the same pass for ``C_x.T @ C_y`` of two sides whose means
are known (decompositions); :func:`joint_r` the triangular factor of the
centred data for the accurate route, from one QR (in memory) or a blockwise
TSQR (streamed inputs).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
from scipy.linalg import blas

from svccakit.similarity._source import (
    EPS64,
    Source,
    block_rows,
    max_abs,
    nonfinite_error,
)

LOSS_MAX = 1024.0
"""Largest centring loss factor accepted from the one-pass rank-one centring (10 bits)."""

_SAFE_HIGH = 2.0**400  # second moments above this: rescale (CKA squares them again)
_SAFE_LOW = 2.0**-400  # a side's largest second moment below this: rescale (underflow)
DEAD_RATIO = 2.0**-800
"""A neuron whose variance is below this times its side's largest counts as constant."""


@dataclass(frozen=True, eq=False)
class Moments:
    """Centred second moments of the sides read together (scaled units).

    The centred Gram matrix ``(D, D)``, ``D = sum(sizes)``, is held as its upper
    triangle (``upper``; the lower one is not kept up to date): side ``i``
    occupies ``slices[i]`` and :meth:`block` hands out full blocks. ``mean`` and
    the Gram matrix are of the scaled data ``S_i * 2**exps[i]``.
    """

    n: int
    sizes: tuple[int, ...]
    exps: tuple[int, ...]
    shift: np.ndarray  # (D,) the shift x0 (scaled units)
    mean: np.ndarray  # (D,) column means (scaled units)
    upper: np.ndarray  # (D, D) centred Gram matrix, upper triangle valid
    loss: np.ndarray  # (D,) G_jj / Gc_jj about the shift (1 for exact centring); 1 for dead
    live: np.ndarray  # (D,) bool, False for constant neurons
    exact: bool  # centred about the exact mean (second pass)
    rhs: np.ndarray | None = None  # (D, K) C.T @ B for extra right-hand sides B
    precisions: tuple[float, ...] = ()  # each side's input precision (Source.precision)

    @property
    def slices(self) -> list[slice]:
        bounds = np.concatenate([[0], np.cumsum(self.sizes)])
        return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]

    def block(self, i: int, j: int) -> np.ndarray:
        """``C_i.T @ C_j`` as a new array (a full symmetric matrix when ``i == j``)."""
        si, sj = self.slices[i], self.slices[j]
        if i < j:
            return np.array(self.upper[si, sj])
        if i > j:
            return np.array(self.upper[sj, si].T)
        return symmetric(self.upper[si, si])

    @property
    def gram(self) -> np.ndarray:
        """The full centred Gram matrix (D, D) (a new array)."""
        return symmetric(self.upper)

    def precision(self, i: int) -> float:
        """Relative precision side ``i`` was given in (float64's eps if unknown)."""
        return self.precisions[i] if self.precisions else EPS64

    def side_mean(self, i: int) -> np.ndarray:
        return self.mean[self.slices[i]]

    def side_live(self, i: int) -> np.ndarray:
        return self.live[self.slices[i]]

    def max_loss(self, i: int) -> float:
        """Largest per-neuron loss factor of side ``i`` (what CCA's equilibration sees)."""
        sl = self.slices[i]
        live = self.live[sl]
        return float(self.loss[sl][live].max()) if live.any() else 1.0

    def trace_loss(self, i: int) -> float:
        """Side ``i``'s second moment about the shift over its variance (SVCCA, CKA)."""
        sl = self.slices[i]
        g = np.diag(self.upper)[sl]
        live = self.live[sl]
        total = float(g[live].sum())
        if total <= 0:
            return 1.0
        return float((g[live] * self.loss[sl][live]).sum() / total)


def symmetric(upper: np.ndarray) -> np.ndarray:
    """A full symmetric matrix from the upper triangle of ``upper``."""
    out = np.triu(upper)
    out += np.triu(upper, 1).T
    return out


def _scaled_first_row(src: Source, exp: int) -> np.ndarray:
    row = src.rows(0, 1)
    if src.kind == "device":
        row = row.detach().to("cpu").double().numpy()
    return np.ldexp(np.asarray(row, dtype=np.float64).reshape(-1), exp)


class _NumpyAcc:
    """Blocked accumulation of ``buf.T @ buf`` (dsyrk) and ``buf.T @ B`` on numpy arrays."""

    def __init__(self, width: int, rows: int, k: int):
        self.c = np.zeros((width, width), order="F")
        self.buf = np.empty((rows, width))
        self.p = np.zeros((width - 1, k)) if k else None

    def fill(self, col: int, block, shift: np.ndarray, exp: int, m: int) -> None:
        _transform(block, shift, exp, self.buf[:m, col:col + shift.size])

    def update(self, m: int, rhs_block) -> None:
        buf = self.buf[:m]
        buf[:, -1] = 1.0
        self.c = blas.dsyrk(1.0, buf.T, beta=1.0, c=self.c, overwrite_c=1)
        if self.p is not None:
            self.p += buf[:, :-1].T @ rhs_block

    def result(self):
        return self.c, self.p  # upper triangle valid


class _TorchAcc:
    """The same on torch tensors, on their device, in float64."""

    def __init__(self, width: int, rows: int, k: int, device):
        import torch

        self.torch = torch
        self.c = torch.zeros((width, width), dtype=torch.float64, device=device)
        self.buf = torch.empty((rows, width), dtype=torch.float64, device=device)
        self.p = None
        if k:
            self.p = torch.zeros((width - 1, k), dtype=torch.float64, device=device)
        self.device = device

    def fill(self, col: int, block, shift: np.ndarray, exp: int, m: int) -> None:
        out = self.buf[:m, col:col + shift.size]
        out.copy_(block)
        if exp:
            out.copy_(self.torch.ldexp(out, self.torch.tensor(float(exp), device=self.device)))
        out.sub_(self.torch.as_tensor(shift, device=self.device))

    def update(self, m: int, rhs_block) -> None:
        buf = self.buf[:m]
        buf[:, -1] = 1.0
        self.c.addmm_(buf.T, buf)
        if self.p is not None:
            self.p.addmm_(buf[:, :-1].T, self.torch.as_tensor(rhs_block, device=self.device))

    def result(self):
        c = np.asfortranarray(self.c.cpu().numpy())
        return c, None if self.p is None else self.p.cpu().numpy()


def _pass(sources: list[Source], exps: list[int], shifts: list[np.ndarray], rhs):
    with np.errstate(over="ignore", invalid="ignore"):
        return _pass_blocks(sources, exps, shifts, rhs)


def _pass_blocks(sources, exps, shifts, rhs):
    n = sources[0].n
    sizes = [s.d for s in sources]
    width = sum(sizes) + 1
    rows = block_rows(sources[0], sources)
    k = 0 if rhs is None else rhs.shape[1]
    device = next((s.data.device for s in sources if s.kind == "device"), None)
    acc = _NumpyAcc(width, rows, k) if device is None else _TorchAcc(width, rows, k, device)
    for lo in range(0, n, rows):
        hi = min(n, lo + rows)
        col = 0
        for src, exp, shift in zip(sources, exps, shifts, strict=True):
            block = src.rows(lo, hi)
            if device is not None and src.kind != "device":
                block = acc.torch.as_tensor(np.asarray(block), device=device)
            acc.fill(col, block, shift, exp, hi - lo)
            col += src.d
        acc.update(hi - lo, None if rhs is None else rhs[lo:hi])
    return acc.result()


def _exponent(peak: float) -> int:
    """``e`` with ``peak * 2**e`` in [0.5, 1) (0 for peak 0), at most 1023 so that
    ``2**e`` itself is a float (subnormal data then lands in [2**-51, 1))."""
    return 0 if peak == 0.0 else min(-math.frexp(peak)[1], 1023)


def moments(sources: list[Source], *, rhs: np.ndarray | None = None,
            exact: bool = False) -> Moments:
    """Centred joint second moments of ``sources`` (see the module docstring)."""
    if not exact and all(s.in_memory and s.dtype == np.float64 for s in sources):
        exps = [0] * len(sources)
        with np.errstate(over="ignore", invalid="ignore"):
            c, p = _products(sources, rhs)
        scaled = sources
        if _needs_rescale(c, sources):  # rare: the same products on exactly rescaled copies
            exps = [_exponent(max_abs(s)) for s in sources]  # raises on NaN / Inf
            scaled = [dataclasses.replace(s, data=np.ldexp(s.data, e))
                      for s, e in zip(sources, exps, strict=True)]
            c, p = _products(scaled, rhs)
        mom = _finish(c, p, scaled, exps, np.zeros(c.shape[0] - 1), rhs, exact=False,
                      about_zero=True)
        if float(mom.loss.max(initial=1.0)) > LOSS_MAX:
            return recentre(mom, sources, rhs)
        return mom
    exps = [0] * len(sources)
    shifts = [_scaled_first_row(s, 0) for s in sources]
    c, p = _pass(sources, exps, shifts, rhs)
    if _needs_rescale(c, sources):
        exps = [_exponent(max_abs(s)) for s in sources]  # raises on NaN / Inf
        shifts = [_scaled_first_row(s, e) for s, e in zip(sources, exps, strict=True)]
        c, p = _pass(sources, exps, shifts, rhs)
    mom = _finish(c, p, sources, exps, np.concatenate(shifts), rhs, exact=False)
    if exact or float(mom.loss.max(initial=1.0)) > LOSS_MAX:
        return recentre(mom, sources, rhs)
    return mom


def _products(sources: list[Source], rhs):
    """``[S, 1].T @ [S, 1]`` of float64 arrays in memory by whole-array products, no copy.

    ``S_i.T @ S_i`` is one symmetric rank-k update (numpy calls BLAS ``syrk`` for
    ``a.T @ a``), ``S_i.T @ S_j`` one ``gemm``: the Gram product at its floor
    (measured 1.06x one ``Z.T @ Z`` with ``Z = [X Y]`` prebuilt, against 1.19x
    for the blockwise copy under a loaded machine). No shift: the centring loss is
    ``1 + mean**2 / var`` per neuron, and data with a mean beyond ~30 standard
    deviations goes through :func:`recentre`.
    """
    d = sum(s.d for s in sources)
    c = np.empty((d + 1, d + 1), order="F")
    bounds = np.concatenate([[0], np.cumsum([s.d for s in sources])])
    for i, si in enumerate(sources):
        a = si.data
        lo, hi = bounds[i], bounds[i + 1]
        c[lo:hi, lo:hi] = a.T @ a
        for j in range(i + 1, len(sources)):
            c[lo:hi, bounds[j]:bounds[j + 1]] = a.T @ sources[j].data
        c[lo:hi, d] = _column_sums(a)
    c[d, d] = sources[0].n
    p = None
    if rhs is not None:
        p = np.vstack([s.data.T @ rhs for s in sources])
    return c, p


def _column_sums(a: np.ndarray, rows: int = 4096) -> np.ndarray:
    """Column sums of a 2-D array, in blocks of rows (error O(n/rows + rows) ulps, not O(n))."""
    if a.shape[0] <= rows:
        return a.sum(axis=0)
    return np.add.reduce([a[lo:lo + rows].sum(axis=0) for lo in range(0, a.shape[0], rows)])


def _needs_rescale(c: np.ndarray, sources: list[Source]) -> bool:
    """True when a side's largest second moment is non-finite or outside ``2**+-400``."""
    if not np.isfinite(np.diag(c)).all() or not np.isfinite(c[:, -1]).all():
        for s in sources:
            if not math.isfinite(max_abs(s)):
                raise nonfinite_error(s)
        return True  # finite data whose squares overflowed
    diag = np.diag(c)[:-1]
    start = 0
    for s in sources:
        top = float(diag[start:start + s.d].max())
        start += s.d
        if top > _SAFE_HIGH or top < _SAFE_LOW:  # top == 0: constant, or squares underflowed
            return True
    return False


def recentre(mom: Moments, sources: list[Source], rhs: np.ndarray | None = None) -> Moments:
    """The same moments from a second pass about the exact means (loss factor 1)."""
    if mom.exact:
        return mom
    shifts = [mom.side_mean(i) for i in range(len(sources))]
    c, p = _pass(sources, list(mom.exps), shifts, rhs)
    return _finish(c, p, sources, list(mom.exps), np.concatenate(shifts), rhs, exact=True)


def _finish(c, p, sources, exps, shift, rhs, exact: bool, about_zero: bool = False) -> Moments:
    """Centre the accumulated ``[S - x0, 1].T @ [S - x0, 1]`` (upper triangle, in place).

    ``about_zero``: there was no shift (:func:`_products`), so a constant neuron is
    not exactly zero; neurons whose variance cancels to below ``2**-20`` of their
    second moment are then compared with their first value, row by row.
    """
    n = sources[0].n
    d = c.shape[0] - 1
    s = c[:d, d].copy()  # column sums about the shift
    raw = np.diag(c)[:d].copy()  # second moments about the shift
    x = np.zeros(d + 1)
    x[:d] = s
    c = blas.dsyr(-1.0 / n, x, a=c, overwrite_a=1)  # G - s s.T / n, upper triangle
    upper = c[:d, :d]
    var = np.diag(upper).copy()
    sizes = tuple(src.d for src in sources)
    live = np.zeros(d, dtype=bool)
    start = 0
    for size in sizes:
        sl = slice(start, start + size)
        start += size
        # exactly constant neurons are exactly 0 about the first row; neurons whose
        # squares underflow next to the side's largest count as constant too
        live[sl] = raw[sl] > float(raw[sl].max()) * DEAD_RATIO
    if about_zero:
        _drop_constant(sources, live, var <= raw * 2.0**-20)
    loss = np.ones(d)
    with np.errstate(divide="ignore", invalid="ignore"):
        loss[live] = np.where(var[live] > 0, raw[live] / var[live], np.inf)
    dead = np.flatnonzero(~live)
    if dead.size:
        upper[dead, :] = 0.0
        upper[:, dead] = 0.0
    mean = shift + s / n
    if about_zero:  # a constant neuron's mean is exactly its value (for a later pass)
        start = 0
        for src in sources:
            idx = dead[(dead >= start) & (dead < start + src.d)]
            mean[idx] = src.data[0, idx - start]
            start += src.d
    else:
        mean[dead] = shift[dead]
    cross = None
    if rhs is not None:
        cross = p - np.outer(s / n, rhs.sum(axis=0))
        cross[dead] = 0.0
    return Moments(n=n, sizes=sizes, exps=tuple(exps), shift=shift, mean=mean, upper=upper,
                   loss=loss, live=live, exact=exact, rhs=cross,
                   precisions=tuple(src.precision for src in sources))


def _drop_constant(sources: list[Source], live: np.ndarray, suspect: np.ndarray) -> None:
    """Mark exactly constant neurons among ``suspect`` as not live (in memory sources)."""
    start = 0
    for src in sources:
        idx = np.flatnonzero(suspect[start:start + src.d] & live[start:start + src.d])
        if idx.size:
            cols = src.data[:, idx]
            live[start + idx[(cols == cols[0]).all(axis=0)]] = False
        start += src.d


def cross_gram(sx: Source, mean_x: np.ndarray, exp_x: int, live_x: np.ndarray,
               sy: Source, mean_y: np.ndarray, exp_y: int, live_y: np.ndarray) -> np.ndarray:
    """``C_x.T @ C_y`` of two sides centred about their known means (scaled units)."""
    n = sx.n
    rows = block_rows(sx, [sx, sy])
    device = next((s.data.device for s in (sx, sy) if s.kind == "device"), None)
    if device is not None:
        import torch

        out = torch.zeros((sx.d, sy.d), dtype=torch.float64, device=device)
    else:
        out = np.zeros((sx.d, sy.d))
    bx = by = None
    for lo in range(0, n, rows):
        hi = min(n, lo + rows)
        blocks = []
        for src, mean, exp in ((sx, mean_x, exp_x), (sy, mean_y, exp_y)):
            block = src.rows(lo, hi)
            if device is not None:
                block = torch.as_tensor(np.asarray(block) if src.kind != "device" else block,
                                        device=device).double()
                if exp:
                    block = torch.ldexp(block, torch.tensor(float(exp), device=device))
                blocks.append(block - torch.as_tensor(mean, device=device))
            else:
                blocks.append(_centred_block(block, mean, exp))
        bx, by = blocks
        out += bx.T @ by
    if device is not None:
        out = out.cpu().numpy()
    out[~live_x] = 0.0
    out[:, ~live_y] = 0.0
    return out


def _transform(block, shift: np.ndarray, exp: int, out: np.ndarray) -> np.ndarray:
    """``out = block * 2**exp - shift`` (shift in scaled units), float64, in one or two passes."""
    if exp:
        np.ldexp(block, exp, out=out)
        np.subtract(out, shift, out=out)
    else:
        np.subtract(block, shift, out=out)
    return out


def _centred_block(block, mean: np.ndarray, exp: int) -> np.ndarray:
    return _transform(block, mean, exp, np.empty(block.shape))


def _cpu_rows(src: Source, lo: int, hi: int):
    """Rows ``lo:hi`` of a source, a device tensor brought to the CPU in float64."""
    block = src.rows(lo, hi)
    if src.kind == "device":
        block = block.detach().to("cpu").double().numpy()
    return block


def centred_blocks(src: Source, mean: np.ndarray, exp: int):
    """``(lo, hi, (X[lo:hi] - mean) * 2**exp)`` in float64, block after block of rows."""
    rows = block_rows(src, [src])
    for lo in range(0, src.n, rows):
        hi = min(src.n, lo + rows)
        yield lo, hi, _centred_block(_cpu_rows(src, lo, hi), mean, exp)


def centred_copy(src: Source, mean: np.ndarray, exp: int, live: np.ndarray) -> np.ndarray:
    """``(X - mean) * 2**exp`` as a float64 array in memory; dead neurons exactly 0."""
    out = np.empty((src.n, src.d))
    for lo, hi, block in centred_blocks(src, mean, exp):
        out[lo:hi] = block
    out[:, ~live] = 0.0
    return out


def joint_r(sources: list[Source], mom: Moments) -> np.ndarray:
    """Upper triangular ``R`` (D, D) with ``C = Q R``, ``C`` the centred scaled joint data.

    In memory: one LAPACK QR of the centred copy. Streamed: TSQR, ``R`` of
    ``[R; block]`` block after block (twice the flops of the Gram route; the
    accuracy of a QR of the whole matrix).
    """
    slices = mom.slices
    if all(s.in_memory for s in sources):
        c = np.hstack([centred_copy(s, mom.side_mean(i), mom.exps[i], mom.side_live(i))
                       for i, s in enumerate(sources)])
        return _r_factor(c, mom.mean.size)
    d = mom.mean.size
    rows = max(block_rows(sources[0], sources), 2 * d)
    r = np.zeros((0, d))
    for lo in range(0, sources[0].n, rows):
        hi = min(sources[0].n, lo + rows)
        block = np.empty((hi - lo, d))
        for i, s in enumerate(sources):
            block[:, slices[i]] = _centred_block(_cpu_rows(s, lo, hi), mom.side_mean(i),
                                                 mom.exps[i])
        block[:, ~mom.live] = 0.0
        r = _r_factor(np.vstack([r, block]), d)
    return r


def _r_factor(a: np.ndarray, d: int) -> np.ndarray:
    from svccakit.similarity._linalg import blas_threads

    with blas_threads():
        r = sla.qr(a, mode="r", overwrite_a=True, check_finite=False)[0]
    if r.shape[0] < d:  # fewer rows than columns so far
        r = np.vstack([r, np.zeros((d - r.shape[0], d))])
    return np.triu(r[:d])


def project(src: Source, mean: np.ndarray, exp: int, live: np.ndarray,
            b: np.ndarray) -> np.ndarray:
    """``C.T @ b`` (d, K) for an in-memory ``b`` (n, K) whose columns sum to about 0.

    A float64 array in memory is multiplied as it is, ``X.T @ b - mean (1.T b)``
    (one product, no copy); anything else block by block.
    """
    if src.in_memory and src.dtype == np.float64 and exp == 0:
        out = src.data.T @ b - np.outer(mean, b.sum(axis=0))
    else:
        out = np.zeros((src.d, b.shape[1]))
        for lo, hi, block in centred_blocks(src, mean, exp):
            out += block.T @ b[lo:hi]
    out[~live] = 0.0
    return out


def row_norms(src: Source, mean: np.ndarray, exp: int, live: np.ndarray) -> np.ndarray:
    """Squared norms of the centred rows, shape (n,) (debiased CKA)."""
    out = np.empty(src.n)
    for lo, hi, c in centred_blocks(src, mean, exp):
        c[:, ~live] = 0.0
        out[lo:hi] = np.einsum("ij,ij->i", c, c)
    return out
