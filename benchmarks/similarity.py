"""Benchmark: svccakit.svcca against the matrix-multiply limit and the classic algorithm.

On the same inputs X, Y (n_samples x n_features each; default 500 x 10,000 and
1,000 x 20,000; see :func:`make_data` for the spectra) it times, interleaved,
best of ``--repeat``:

- ``svcca(X, Y)`` (keep=0.99) as shipped (LAPACK factorisations on one BLAS
  thread via threadpoolctl, matrix products on the BLAS's default threads);
- the same with nothing limited, and with everything on one thread (the
  threadpoolctl question, and the like-for-like partner of the classic run);
- the limit: one ``Z.T @ Z`` with ``Z = [X Y]`` prebuilt (the data must be read
  and multiplied once), with the default thread count and with one thread; the
  faster of the two is the limit;
- the classic algorithm in the style of the 2017 SVCCA release, written here:
  data as (neurons, datapoints), per side a thin SVD of the centred data
  truncated at 99% variance, then CCA of the reduced data via the covariance
  matrix, pinv and eigh (inverse square roots) and an SVD (run with one BLAS
  thread, which was its faster setting here too).

It prints the times and the ratios svcca / limit (target <= 1.5) and
classic / svcca (target >= 3), and checks that the classic value agrees.

Usage::

    .venv/bin/python benchmarks/similarity.py [--quick] [--repeat 5] [--spectrum heavy|lowrank|both]
                                              [--write-docs [PAGE]]

``--write-docs`` also writes the printout into the ``similarity`` section of
docs/benchmarks.md (see benchmarks/_docs.py).
"""

from __future__ import annotations

import argparse
import time

import _docs
import numpy as np
from threadpoolctl import threadpool_limits

from svccakit.similarity import _linalg, svcca


def make_data(n: int, d: int, spectrum: str = "heavy", seed: int = 0):
    """Two layers (n, d) sharing latent factors, plus a little noise.

    ``"heavy"``: ReLU of d factors with variances ~ 1/i, so keep=0.99 keeps ~95%
    of the directions (the hard case for svcca: its d^3 steps are largest).
    ``"lowrank"``: linear mixtures of d/8 factors, so keep=0.99 keeps d/8
    directions (closer to trained layers, e.g. `svccakit demo` keeps 10 of 48).
    """
    rng = np.random.default_rng(seed)
    r = d if spectrum == "heavy" else d // 8
    shared = rng.standard_normal((n, r // 4))
    out = []
    for _ in range(2):
        z = np.hstack([shared, rng.standard_normal((n, r - r // 4))])
        if spectrum == "heavy":
            z *= 1.0 / np.sqrt(np.arange(1, r + 1))
        mix = rng.standard_normal((r, d)) / np.sqrt(r)
        if spectrum == "heavy":
            out.append(np.maximum(z @ mix + 0.1, 0.0) + 0.05 * rng.standard_normal((n, d)))
        else:
            out.append(z @ mix + 0.01 * rng.standard_normal((n, d)))
    return out[0], out[1]


def classic_svcca(x: np.ndarray, y: np.ndarray, keep: float = 0.99, epsilon: float = 0.0) -> float:
    """SVCCA the 2017 way: SVD-truncate each side, then covariance + pinv + eigh + SVD."""

    def reduce(acts):  # acts: (neurons, datapoints)
        c = acts - acts.mean(axis=1, keepdims=True)
        _, s, vt = np.linalg.svd(c, full_matrices=False)
        frac = np.cumsum(s**2) / np.sum(s**2)
        k = int(np.searchsorted(frac, keep)) + 1
        return s[:k, None] * vt[:k]  # (k, datapoints)

    def inv_sqrt(m):
        lam, v = np.linalg.eigh(np.linalg.pinv(m))
        return (v * np.sqrt(np.maximum(lam, 0.0))) @ v.T

    a, b = reduce(x.T), reduce(y.T)
    ka = a.shape[0]
    cov = np.cov(a, b)
    sxx = cov[:ka, :ka] + epsilon * np.eye(ka)
    syy = cov[ka:, ka:] + epsilon * np.eye(cov.shape[0] - ka)
    sxy = cov[:ka, ka:]
    arr = inv_sqrt(sxx) @ sxy @ inv_sqrt(syy)
    rho = np.linalg.svd(arr, compute_uv=False)
    return float(np.mean(np.clip(rho, 0.0, 1.0)))


ONE = "svcca, everything on 1 BLAS thread"
SHIPPED = "svcca (shipped: LAPACK on 1 thread)"
CLASSIC = "classic (SVD+cov+pinv+eigh+SVD), 1 thread"


def timed(fn) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def run_size(d: int, n: int, repeat: int, spectrum: str) -> None:
    x, y = make_data(n, d, spectrum)
    z = np.hstack([x, y])

    def shipped():
        return svcca(x, y)

    def unlimited():
        _linalg.BLAS_THREADS = None
        try:
            return svcca(x, y)
        finally:
            _linalg.BLAS_THREADS = 1

    def one_thread(fn):
        def call():
            with threadpool_limits(limits=1, user_api="blas"):
                return fn()
        return call

    cases = {
        SHIPPED: shipped,
        "svcca, BLAS threads not limited": unlimited,
        ONE: one_thread(shipped),
        "limit: Z.T @ Z, default threads": lambda: z.T @ z,
        "limit: Z.T @ Z, 1 thread": one_thread(lambda: z.T @ z),
        CLASSIC: one_thread(lambda: classic_svcca(x, y)),
    }
    times = {name: np.inf for name in cases}
    outs = {}
    for i in range(repeat):  # interleaved, so load on the machine hits every case alike
        for name, fn in cases.items():
            if name == CLASSIC and i >= 2:
                continue  # slow: two runs are enough
            t, outs[name] = timed(fn)
            times[name] = min(times[name], t)
    res, classic = outs[SHIPPED], outs[CLASSIC]
    print(f"\n{d} features x {n:,} samples (each side), {spectrum} spectrum; svcca dims {res.dims}, "
          f"similarity {res.similarity:.6f}, classic {classic:.6f} "
          f"(|diff| {abs(classic - res.similarity):.1e})")
    for name, t in times.items():
        print(f"  {name:<44}{t:9.3f} s")
    ours, old = times[SHIPPED], times[CLASSIC]
    limit = min(times["limit: Z.T @ Z, default threads"], times["limit: Z.T @ Z, 1 thread"])
    print(f"  svcca / limit (faster Z.T @ Z) = {ours / limit:5.2f}   (target <= 1.5)")
    print(f"  classic / svcca (both 1 thread) = {old / times[ONE]:5.2f}   (target >= 3)")
    print(f"  classic / svcca (as shipped)    = {old / ours:5.2f}")
    print(f"  not limited / shipped          = {times['svcca, BLAS threads not limited'] / ours:5.2f}")
    print(f"  all 1 thread / shipped         = {times[ONE] / ours:5.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (seconds)")
    parser.add_argument("--repeat", type=int, default=5,
                        help="interleaved repeats, best kept (classic: at most 2)")
    parser.add_argument("--spectrum", choices=["heavy", "lowrank", "both"], default="heavy",
                        help="data: heavy-tailed spectrum (default) or low rank")
    _docs.add_argument(parser)
    args = parser.parse_args()
    sizes = [(100, 2_000), (200, 4_000)] if args.quick else [(500, 10_000), (1_000, 20_000)]
    from threadpoolctl import threadpool_info

    blas = [f"{i['internal_api']} {i['num_threads']} threads" for i in threadpool_info()
            if i["user_api"] == "blas"]
    spectra = ["heavy", "lowrank"] if args.spectrum == "both" else [args.spectrum]
    with _docs.capture() as printed:
        print(f"BLAS: {', '.join(blas)}; best of {args.repeat} interleaved repeats")
        for spectrum in spectra:
            for d, n in sizes:
                run_size(d, n, args.repeat, spectrum)
    if args.write_docs:
        _docs.write_results("similarity", printed.getvalue(), page=args.write_docs)


if __name__ == "__main__":
    main()
