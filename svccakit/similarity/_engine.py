"""How each side of a comparison is reduced, and how two sides meet (private).

The metrics are computed from small matrices: the centred joint Gram matrix of
one pass over the data (:mod:`~svccakit.similarity._moments`, the fast route) or
the triangular factor ``R`` of the centred data (:func:`~._moments.joint_r`, the
accurate route). Each side is *reduced* to a :class:`Reduced`: the number of
directions it contributes and how to express its orthonormal basis,

- on the Gram route, ``basis = C @ transform`` (``transform`` d x k from the
  eigendecomposition of the side's Gram block);
- on the R route, ``basis = Q @ coef`` (``coef`` D x k from an SVD of the side's
  columns of ``R``), so two sides' bases meet as ``coef_x.T @ coef_y`` exactly,
  without ever forming ``Q``.

Trust rule of the Gram route: forming ``C.T C`` squares the condition number
and the one-pass centring multiplies the rounding by the loss factor ``L``
(:class:`~._moments.Moments`), so a side is taken on the Gram route only when
``L * (lam_1 / lam_k) <= GRAM_MAX_COND**2`` over its kept directions
(accuracy about ``eps * L * kappa**2 <= 2e-10``). When only ``L`` is in the way,
the pass is repeated about the exact mean (``L = 1``); otherwise the pair takes
the R route.

Input precision: data given in float32 or a half type carry their rounding
(relative ``eps_in``) into the float64 computation. Ranks are decided against
:func:`~._linalg.rank_ratio` with that ``eps_in``; the Gram route is trusted only
when every kept direction lies above the input term of that tolerance
(:func:`~._linalg.input_noise`), otherwise the R route's SVD decides the rank.
For float64 input nothing changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg as sla
from scipy.linalg import lapack

from svccakit.similarity import _linalg as la
from svccakit.similarity._moments import (
    Moments,
    centred_blocks,
    centred_copy,
    cross_gram,
    joint_r,
    moments,
    recentre,
)
from svccakit.similarity._source import Source

RECENTRE = "recentre"  # the Gram route would be trusted with exact centring
ACCURATE = "accurate"  # the Gram route is not trusted: take the R route


def no_variance(name: str, shape: tuple[int, int]) -> ValueError:
    return ValueError(
        f"{name} has no variance: all {shape[1]} of its neurons are constant over the "
        f"{shape[0]} samples, so the similarity is undefined"
    )


def no_rank(name: str, shape: tuple[int, int], precision: float) -> ValueError:
    """``no_variance``, or for reduced-precision input: variation only at its rounding."""
    if precision <= la.EPS:
        return no_variance(name, shape)
    return ValueError(
        f"{name} has no variance above the rounding of its dtype (eps {precision:.3g}): its "
        f"{shape[1]} neurons vary over the {shape[0]} samples by no more than that rounding "
        f"of their values, so the similarity is undefined; pass higher-precision data"
    )


def _cca_floor(mean: np.ndarray, norms: np.ndarray, n: int) -> float:
    """The norm of the mean part of the column-equilibrated data (the rank rule's floor)."""
    return float(np.sqrt(n * np.sum((mean / norms) ** 2)))


@dataclass(frozen=True, eq=False)
class Frame:
    """A side's whitened directions as ``C @ A`` with ``A = S L^-T``, never formed.

    ``S`` picks the live neurons and divides them by their norms (CCA's column
    equilibration) and ``L L.T`` is the equilibrated Gram matrix, so ``C @ A``
    are orthonormal directions spanning the side: a Cholesky factor
    (``d^3 / 3`` flops) in place of an eigendecomposition (about ``9 d^3``).
    """

    chol: np.ndarray  # (m, m) lower triangular
    rows: np.ndarray  # live neurons (m of d)
    scale: np.ndarray  # (m,) 1 / norms

    def left(self, w: np.ndarray) -> np.ndarray:
        """``A.T @ w`` for ``w`` with ``d`` rows."""
        w = w[self.rows] * self.scale[:, None]
        with la.blas_threads():
            return sla.solve_triangular(self.chol, w, lower=True, check_finite=False)

    def explicit(self, d: int) -> np.ndarray:
        """``A`` itself, (d, m)."""
        return self.left(np.eye(d)).T


@dataclass(frozen=True, eq=False)
class Reduced:
    """One side's directions: ``basis = C @ transform`` or ``basis = Q @ coef``."""

    dims: int
    route: str  # "gram", "qr" (CCA from R) or "svd" (SVCCA from R or from the data)
    sv: np.ndarray  # singular values, descending (of the equilibrated data for CCA)
    transform: np.ndarray | None = None  # (d, k)
    coef: np.ndarray | None = None  # (D, k), rows of the joint R's Q
    proj: np.ndarray | None = None  # (k, d): basis.T @ C, when known
    frame: Frame | None = None  # instead of transform (pairs of arrays on the Gram route)

    def left(self, w: np.ndarray) -> np.ndarray:
        """``transform.T @ w`` (or the frame's)."""
        return self.frame.left(w) if self.frame is not None else self.transform.T @ w


# ---------------------------------------------------------------------------
# reductions from the Gram matrix (fast route)


def gram_cca(mom: Moments, i: int, method: str):
    """All directions of side ``i`` (CCA): a :class:`Reduced`, RECENTRE or ACCURATE.

    ``"auto"``: the Cholesky factor of the column-equilibrated Gram matrix whitens
    it, and LAPACK's condition estimate (``dpocon``, 1-norm, an upper bound of
    the 2-norm condition number up to the estimator's rare underestimate) decides
    the trust test. ``"fast"``: an eigendecomposition, directions below
    ``FAST_RANK_RATIO`` of the largest dropped.
    """
    g = mom.block(i, i)
    idx = np.flatnonzero(mom.side_live(i))
    if mom.n <= idx.size or method == "accurate":
        return ACCURATE
    norms = np.sqrt(np.diag(g)[idx])
    inv = 1.0 / norms
    e = g[np.ix_(idx, idx)] * inv[:, None] * inv[None, :]
    precision = mom.precision(i)
    floor = _cca_floor(mom.side_mean(i)[idx], norms, mom.n) if precision > la.EPS else 0.0
    if method == "fast":
        lam, v = la.eigh_desc(e)
        cut = lam[0] * la.FAST_RANK_RATIO
        rounding = la.input_noise((mom.n, idx.size), precision, float(np.sqrt(lam[0])), floor)
        if rounding:
            cut = max(cut, rounding**2)
        rank = int(np.count_nonzero(lam > cut))
        if rank == 0:
            return ACCURATE  # the R route reports it
        transform = np.zeros((g.shape[0], rank))
        transform[idx] = v[:, :rank] / np.sqrt(lam[:rank]) * inv[:, None]
        return Reduced(dims=rank, route="gram", sv=np.sqrt(lam[:rank]), transform=transform)
    anorm = float(np.abs(e).sum(axis=0).max())
    with la.blas_threads():
        chol, info = lapack.dpotrf(e.T, lower=1, clean=1, overwrite_a=1)
        rcond = lapack.dpocon(chol, anorm, uplo="L")[0] if info == 0 else 0.0
    cond = np.inf if rcond <= 0.0 else 1.0 / rcond
    # every direction above the input's rounding: lam_min >= 1 / ||e^-1||_1 = anorm / cond,
    # lam_1 <= anorm (up to the estimator's rare underestimate of ||e^-1||_1)
    rounding = la.input_noise((mom.n, idx.size), precision, float(np.sqrt(anorm)), floor)
    if rounding and anorm / cond <= rounding**2:
        return ACCURATE
    if cond * mom.max_loss(i) > la.GRAM_MAX_COND**2:
        if cond <= la.GRAM_MAX_COND**2 and not mom.exact:
            return RECENTRE
        return ACCURATE
    return Reduced(dims=idx.size, route="gram", sv=np.zeros(0),
                   frame=Frame(chol, rows=idx, scale=inv))


def keep_dims(lam: np.ndarray, keep, n_live: int) -> int:
    """Directions kept from Gram eigenvalues ``lam`` (descending) for ``keep``."""
    if isinstance(keep, int):
        return keep
    if keep >= 1.0:
        return n_live
    return la.n_to_keep(lam, keep)


def gram_svcca(mom: Moments, i: int, keep):
    """The kept SVD directions of side ``i`` (SVCCA): a :class:`Reduced`, RECENTRE or ACCURATE."""
    g = mom.block(i, i)
    n_live = int(mom.side_live(i).sum())
    if mom.n <= n_live:
        return ACCURATE
    lam, v = la.eigh_desc(g.copy())
    k = keep_dims(lam, keep, n_live)
    if k > n_live or lam[k - 1] <= 0.0:
        return ACCURATE
    ratio = lam[k - 1] / lam[0]
    if ratio < la.GRAM_MIN_RATIO * mom.trace_loss(i):
        return RECENTRE if ratio >= la.GRAM_MIN_RATIO and not mom.exact else ACCURATE
    noise = lam[0] * max(mom.n, g.shape[0]) * la.EPS
    precision = mom.precision(i)
    if precision > la.EPS:
        mean = mom.side_mean(i)[mom.side_live(i)]
        rounding = la.input_noise((mom.n, g.shape[0]), precision, float(np.sqrt(lam[0])),
                                  float(np.sqrt(mom.n) * np.linalg.norm(mean)))
        if lam[k - 1] <= rounding**2:
            return ACCURATE  # a kept direction at the input's rounding: the SVD decides
        noise = max(noise, rounding**2)
    return Reduced(dims=k, route="gram", sv=np.sqrt(lam[lam > noise]),
                   transform=v[:, :k] / np.sqrt(lam[:k]))


# ---------------------------------------------------------------------------
# reductions from the triangular factor (accurate route)


def _r_block(r: np.ndarray, mom: Moments, i: int) -> np.ndarray:
    sl = mom.slices[i]
    return r[: sl.stop, sl]  # C_i = Q[:, :stop] @ this (R is upper triangular)


def r_cca(r: np.ndarray, mom: Moments, i: int, name: str, shape) -> Reduced:
    """All directions of side ``i`` from ``R``: SVD of its column-equilibrated block."""
    block = _r_block(r, mom, i)
    live = mom.side_live(i)
    idx = np.flatnonzero(live)
    norms = np.sqrt(np.einsum("ij,ij->j", block[:, idx], block[:, idx]))
    u, s, vt = la.thin_svd(block[:, idx] / norms)
    mean = mom.side_mean(i)[idx]
    floor = _cca_floor(mean, norms, mom.n)
    rank = la.svd_rank(s, (mom.n, idx.size), floor, mom.precision(i))
    if rank == 0:
        raise no_rank(name, shape, mom.precision(i))
    coef = np.zeros((r.shape[0], rank))
    coef[: block.shape[0]] = u[:, :rank]
    transform = np.zeros((block.shape[1], rank))
    transform[idx] = vt[:rank].T / s[:rank] / norms[:, None]
    return Reduced(dims=rank, route="qr", sv=s[:rank], transform=transform, coef=coef,
                   proj=u[:, :rank].T @ block)


def r_svcca(r: np.ndarray, mom: Moments, i: int, keep, name: str, shape) -> Reduced:
    """The kept SVD directions of side ``i`` from ``R``: SVD of its block."""
    block = _r_block(r, mom, i)
    u, s, vt = la.thin_svd(block)
    mean = mom.side_mean(i)[mom.side_live(i)]
    rank = la.svd_rank(s, (mom.n, block.shape[1]), float(np.sqrt(mom.n) * np.linalg.norm(mean)),
                       mom.precision(i))
    if rank == 0:
        raise no_rank(name, shape, mom.precision(i))
    s = s[:rank]
    k = keep_dims(s**2, keep, rank)
    if k > rank:
        raise ValueError(f"keep={keep} directions requested for {name}, but its numerical rank "
                         f"is only {rank} ({shape[1]} features, {shape[0]} samples)")
    coef = np.zeros((r.shape[0], k))
    coef[: block.shape[0]] = u[:, :k]
    return Reduced(dims=k, route="svd", sv=s, transform=vt[:k].T / s[:k], coef=coef,
                   proj=s[:k, None] * vt[:k])


# ---------------------------------------------------------------------------
# pairs of arrays: one pass, both sides reduced, one cross matrix


@dataclass(frozen=True, eq=False)
class Pair:
    """Two reduced sides and their cross matrix ``basis_x.T @ basis_y``."""

    x: Reduced
    y: Reduced
    cross: np.ndarray
    mom: Moments


def reduce_pair(sources: list[Source], names: tuple[str, str], gram_reduce: Callable,
                r_reduce: Callable, accurate: bool = False) -> Pair:
    """Both sides by the Gram route when both are trusted there, else by the R route."""
    mom = moments(sources)
    for i, (src, name) in enumerate(zip(sources, names, strict=True)):
        if not mom.side_live(i).any():
            raise no_variance(name, (src.n, src.d))
    if not accurate:
        outs = [gram_reduce(mom, i) for i in range(2)]
        if RECENTRE in outs:
            mom = recentre(mom, sources)
            outs = [gram_reduce(mom, i) for i in range(2)]
        if all(isinstance(o, Reduced) for o in outs):
            rx, ry = outs
            m = rx.left(mom.block(0, 1))
            return Pair(rx, ry, ry.left(m.T).T, mom)
    r = joint_r(sources, mom)
    rx, ry = (r_reduce(r, mom, i, name, (src.n, src.d))
              for i, (src, name) in enumerate(zip(sources, names, strict=True)))
    return Pair(rx, ry, rx.coef.T @ ry.coef, mom)


# ---------------------------------------------------------------------------
# one side on its own (decompositions, and an array compared with one)


@dataclass(frozen=True, eq=False)
class Side:
    """One side of a comparison whose other side was reduced separately."""

    src: Source
    mean: np.ndarray  # scaled units
    exp: int
    live: np.ndarray
    dims: int
    route: str
    transform: np.ndarray | None  # basis = C @ transform
    basis: np.ndarray | None  # explicit (n, k) basis from an SVD of the data, or None
    gram: np.ndarray | None  # centred Gram (scaled), when known
    sv: np.ndarray | None = None  # singular values (equilibrated data for CCA)
    proj: np.ndarray | None = None
    _made: dict = field(default_factory=dict, repr=False)  # C @ transform, once formed

    def get_basis(self) -> np.ndarray:
        """The explicit basis (n, k): from the SVD, or ``C @ transform`` formed once."""
        if self.basis is not None:
            return self.basis
        if "basis" not in self._made:
            self._made["basis"] = basis_of(self.src, self.mean, self.exp, self.live,
                                           self.transform)
        return self._made["basis"]

    @property
    def exact(self) -> bool:
        """True when the side's basis came from an SVD/QR (more accurate than ``C @ T``)."""
        return self.route != "gram"


def basis_of(src: Source, mean: np.ndarray, exp: int, live: np.ndarray,
             transform: np.ndarray) -> np.ndarray:
    """``C @ transform`` (n, k), computed block by block (no centred copy)."""
    out = np.empty((src.n, transform.shape[1]))
    t = transform.copy()
    t[~live] = 0.0
    for lo, hi, block in centred_blocks(src, mean, exp):
        out[lo:hi] = block @ t
    return out


def single_side(src: Source, name: str, kind: str, param) -> Side:
    """``src`` reduced alone: ``kind`` "cca" (``param`` = method) or "svcca" (``param`` = keep)."""
    mom = moments([src])
    if not mom.side_live(0).any():
        raise no_variance(name, (src.n, src.d))
    reduce = (lambda m: gram_cca(m, 0, param)) if kind == "cca" else (
        lambda m: gram_svcca(m, 0, param))
    out = reduce(mom)
    if out == RECENTRE:
        mom = recentre(mom, [src])
        out = reduce(mom)
    mean, exp, live, gram = mom.side_mean(0), mom.exps[0], mom.side_live(0), mom.block(0, 0)
    if isinstance(out, Reduced):
        t = out.transform if out.frame is None else out.frame.explicit(src.d)
        return Side(src, mean, exp, live, out.dims, "gram", t, None, gram, out.sv)
    return _accurate_side(src, name, kind, param, mom)


def _accurate_side(src: Source, name: str, kind: str, param, mom: Moments) -> Side:
    mean, exp, live, gram = mom.side_mean(0), mom.exps[0], mom.side_live(0), mom.block(0, 0)
    shape = (src.n, src.d)
    if src.in_memory:  # the explicit basis of the centred data, accurate to eps * kappa
        c = centred_copy(src, mean, exp, live)
        idx = np.flatnonzero(live)
        if kind == "cca":
            norms = np.sqrt(np.einsum("ij,ij->j", c[:, idx], c[:, idx]))
            u, s, vt = la.thin_svd(c[:, idx] / norms)
            floor = _cca_floor(mean[idx], norms, src.n)
            rank = la.svd_rank(s, shape, floor, src.precision)
            if rank == 0:
                raise no_rank(name, shape, src.precision)
            q = u[:, :rank]
            t = np.zeros((src.d, rank))
            t[idx] = vt[:rank].T / s[:rank] / norms[:, None]
            return Side(src, mean, exp, live, rank, "qr", t, q, gram, s[:rank])
        u, s, vt = la.thin_svd(c)
        rank = la.svd_rank(s, shape, float(np.sqrt(src.n) * np.linalg.norm(mean[idx])),
                           src.precision)
        if rank == 0:
            raise no_rank(name, shape, src.precision)
        k = keep_dims(s[:rank] ** 2, param, rank)
        if k > rank:
            raise ValueError(f"keep={param} directions requested for {name}, but its numerical "
                             f"rank is only {rank} ({shape[1]} features, {shape[0]} samples)")
        q = u[:, :k]
        return Side(src, mean, exp, live, k, "svd", vt[:k].T / s[:k], q, gram,
                    s[:rank], proj=s[:k, None] * vt[:k])
    r = joint_r([src], mom)
    red = r_cca(r, mom, 0, name, shape) if kind == "cca" else r_svcca(r, mom, 0, param, name,
                                                                     shape)
    t = red.transform  # streamed: basis = C @ transform, formed only when asked for
    return Side(src, mean, exp, live, red.dims, red.route, t, None, gram, red.sv, red.proj)


def cross(sx: Side, sy: Side) -> np.ndarray:
    """``basis_x.T @ basis_y`` (kx, ky) of two separately reduced sides.

    Route A, ``T_x.T (C_x.T C_y) T_y`` (one pass over both inputs, ``n dx dy``);
    route B, the product of explicit bases (``n kx ky`` once they exist). B when a
    side came from an SVD/QR of the data in memory (its basis is more accurate than
    ``C @ T``) or when it is cheaper; A for streamed inputs.
    """
    streamed = not (sx.src.in_memory and sy.src.in_memory)
    dx, dy = sx.src.d, sy.src.d
    kx, ky = sx.dims, sy.dims
    use_a = (sx.transform is not None and sy.transform is not None
             and (streamed or (not (sx.exact or sy.exact)
                               and dx * dy <= dx * kx + dy * ky + kx * ky)))
    if use_a:
        gxy = cross_gram(sx.src, sx.mean, sx.exp, sx.live, sy.src, sy.mean, sy.exp, sy.live)
        return (sx.transform.T @ gxy) @ sy.transform
    return sx.get_basis().T @ sy.get_basis()


def side_proj(s: Side) -> np.ndarray:
    """``basis.T @ C`` (k, d) for PWCCA's weights."""
    if s.proj is not None:
        return s.proj
    if s.transform is not None and s.gram is not None and s.route == "gram":
        return s.transform.T @ s.gram
    c = centred_copy(s.src, s.mean, s.exp, s.live)
    return s.get_basis().T @ c
