"""Benchmark: each similarity metric's time over the one-Gram floor, at several sizes.

For each size (n samples x d features, both sides; data from :func:`make_data`)
it times, interleaved, and reports the median of ``--repeat`` runs:

- the floor: one ``Z.T @ Z`` with ``Z = [X Y]`` prebuilt (numpy calls BLAS
  ``syrk``): the data must be read and its Gram matrix formed at least once;
- ``svcca`` (keep 0.99), ``cca``, ``pwcca`` and ``linear_cka`` on float64 arrays,
  and ``svcca`` / ``linear_cka`` on the same data as float32 arrays (converted to
  float64 block by block);
- svcca's own lower bound: the floor plus the three eigenproblems SVCCA cannot
  skip: X's and Y's d x d Gram matrices with their eigenvectors (they decide the
  directions kept and span them), and the k x k cross Gram, eigenvalues only
  (the squared canonical correlations); LAPACK's divide-and-conquer driver;
- peers, when available: google/svcca's plain CCA (``cca_core.get_cca_similarity``
  on the raw activations, from a checkout given by ``--google-svcca PATH``; its
  code is not part of svccakit) and cca-zoo's linear CCA (``pip install
  svccakit[bench]``), both with all canonical directions.

Everything runs with ``--threads`` BLAS threads (default 1, via threadpoolctl),
the floor included. Targets (issue 14, at 10,000 x 500 per side): svcca <= 1.3x
the floor, linear_cka <= 1.2x, both <= half of google's plain CCA.

``--figure PATH`` runs a second sweep for a figure of time against size: n in
``--sweep-n`` at d = ``--sweep-d0``, and d in ``--sweep-d`` at n = ``--sweep-n0``
(each point timed as above), drawn on log-log axes with the floor as a dashed
line; the same numbers are printed.

Usage::

    python benchmarks/similarity.py [--sizes 10000x500,5000x512] [--repeat 5] [--threads 1]
        [--spectrum heavy|lowrank] [--google-svcca PATH] [--quick] [--write-docs]
        [--figure docs/benchmark-similarity.png]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import _docs  # benchmarks/_docs.py: --write-docs into docs/benchmarks.md
import numpy as np
import scipy.linalg as sla
from threadpoolctl import threadpool_info, threadpool_limits

import svccakit as sk

DEFAULT_SIZES = "1000x256,5000x512,10000x500,10000x1024"
QUICK_SIZES = "1000x128,4000x256"


def make_data(n: int, d: int, spectrum: str = "heavy", seed: int = 0):
    """Two layers (n, d) sharing latent factors, plus a little noise.

    ``"heavy"``: ReLU of d factors with variances ~ 1/i, so keep=0.99 keeps ~95%
    of the directions (the hard case for svcca: its d^3 steps are largest).
    ``"lowrank"``: linear mixtures of d/8 factors, so keep=0.99 keeps d/8
    directions (closer to trained layers).
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


def eigenvalue_bound(x: np.ndarray, y: np.ndarray, k: int):
    """The d^3 work SVCCA cannot skip, given the Gram blocks: three eigenproblems."""
    gxx, gyy = x.T @ x, y.T @ y
    m = np.random.default_rng(1).standard_normal((k, k))
    w = m @ m.T

    def run():
        for a in (gxx, gyy):  # the kept directions: eigenvalues and eigenvectors
            sla.eigh(a, driver="evd", check_finite=False)
        sla.eigh(w, eigvals_only=True, driver="evd", check_finite=False)

    return run


def google_cca(path: str | None):
    if path is None:
        return None
    sys.path.insert(0, path)
    try:
        import cca_core
    except ImportError:
        print(f"(no cca_core.py under {path}: google/svcca skipped)")
        return None
    return lambda x, y: float(np.mean(cca_core.get_cca_similarity(
        x.T, y.T, epsilon=0.0, compute_dirns=False, verbose=False)["cca_coef1"]))


def cca_zoo_cca():
    try:
        from cca_zoo.linear import CCA
    except ImportError:
        return None

    def run(x, y):
        model = CCA(n_components=min(x.shape[1], y.shape[1])).fit([x, y])
        return model

    return run


def run_size(n: int, d: int, args, peers: dict) -> dict:
    x, y = make_data(n, d, args.spectrum)
    z = np.hstack([x, y])
    x32, y32 = x.astype(np.float32), y.astype(np.float32)
    k = sk.svcca(x, y).dims
    cases = {
        "floor Z.T @ Z": lambda: z.T @ z,
        "svcca": lambda: sk.svcca(x, y),
        "cca": lambda: sk.cca(x, y),
        "pwcca": lambda: sk.pwcca(x, y),
        "linear_cka": lambda: sk.linear_cka(x, y),
        "svcca float32": lambda: sk.svcca(x32, y32),
        "linear_cka float32": lambda: sk.linear_cka(x32, y32),
        "3 eigenproblems": eigenvalue_bound(x, y, min(k)),
    }
    for name, fn in peers.items():
        if d <= args.peer_max_d or name.startswith("google"):
            cases[name] = (lambda fn=fn: fn(x, y))
    peers = {name: fn for name, fn in peers.items() if name in cases}
    times = {name: [] for name in cases}
    with threadpool_limits(limits=args.threads, user_api="blas"):
        for i in range(args.repeat):  # interleaved: load on the machine hits every case alike
            for name, fn in cases.items():
                if name in peers and i >= args.peer_repeat:
                    continue
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    med = {name: float(np.median(t)) for name, t in times.items()}
    floor = med["floor Z.T @ Z"]
    print(f"\n{n:,} x {d} per side ({args.spectrum} spectrum, svcca keeps {k[0]} + {k[1]}), "
          f"median of {args.repeat} (peers {min(args.repeat, args.peer_repeat)}):")
    print(f"  {'':28s}{'time':>10s}{'/ floor':>10s}")
    for name, t in med.items():
        print(f"  {name:28s}{t:9.3f}s{t / floor:9.2f}x")
    bound = floor + med["3 eigenproblems"]
    print(f"  svcca's lower bound (floor + 3 eigenproblems) = {bound / floor:.2f}x the floor")
    for peer in peers:
        print(f"  {peer} / svcca = {med[peer] / med['svcca']:.1f}, / linear_cka = "
              f"{med[peer] / med['linear_cka']:.1f}")
    return med


PLOTTED = {  # case -> (label, style)
    "floor Z.T @ Z": ("floor: one Z.T @ Z", {"color": "black", "ls": "--"}),
    "svcca": ("svcca", {"color": "C0", "marker": "o"}),
    "cca": ("cca", {"color": "C1", "marker": "s"}),
    "pwcca": ("pwcca", {"color": "C2", "marker": "^"}),
    "linear_cka": ("linear_cka", {"color": "C3", "marker": "D"}),
    "google/svcca plain CCA": ("google/svcca plain CCA", {"color": "C7", "marker": "x"}),
    "cca-zoo CCA": ("cca-zoo CCA", {"color": "C5", "marker": "+"}),
}


def sweep_figure(path: str, args, peers: dict) -> None:
    """Time against n (d fixed) and against d (n fixed) for each metric and peer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    over_n = [(n, args.sweep_d0) for n in _ints(args.sweep_n)]
    over_d = [(args.sweep_n0, d) for d in _ints(args.sweep_d)]
    print(f"\nsweep for {path}:")
    done: dict = {}
    for size in over_n + over_d:
        if size not in done:
            done[size] = run_size(*size, args, peers)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for ax, sizes, axis, fixed in ((axes[0], over_n, 0, f"d = {args.sweep_d0} per side"),
                                   (axes[1], over_d, 1, f"n = {args.sweep_n0:,}")):
        for case, (label, style) in PLOTTED.items():
            points = [(size[axis], done[size][case]) for size in sizes if case in done[size]]
            if points:
                xs, ts = zip(*points, strict=True)
                ax.plot(xs, ts, label=label, **style)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(("n (samples)" if axis == 0 else "d (features per side)") + f", {fixed}")
        ax.set_ylabel("seconds (median, 1 BLAS thread)" if args.threads == 1
                      else f"seconds (median, {args.threads} BLAS threads)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Time against size ({args.spectrum} spectrum, keep 0.99 for svcca)")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"figure: {path}")


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=DEFAULT_SIZES,
                        help=f"comma-separated NxD (default {DEFAULT_SIZES})")
    parser.add_argument("--quick", action="store_true", help=f"sizes {QUICK_SIZES}")
    parser.add_argument("--repeat", type=int, default=5, help="interleaved repeats (median)")
    parser.add_argument("--peer-repeat", type=int, default=3, help="repeats of the peers")
    parser.add_argument("--peer-max-d", type=int, default=512,
                        help="run cca-zoo only up to this many features (it is slow)")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads for everything")
    parser.add_argument("--spectrum", choices=["heavy", "lowrank"], default="heavy")
    parser.add_argument("--google-svcca", default=os.environ.get("GOOGLE_SVCCA"),
                        help="a checkout of github.com/google/svcca (for cca_core.py)")
    parser.add_argument("--figure", default=None, metavar="PATH",
                        help="also run the size sweep and draw time against n and d")
    parser.add_argument("--sweep-n", default="1000,2500,5000,10000",
                        help="n values of the sweep (default 1000,2500,5000,10000)")
    parser.add_argument("--sweep-d0", type=int, default=256, help="d of the n sweep")
    parser.add_argument("--sweep-d", default="64,128,256,512",
                        help="d values of the sweep (default 64,128,256,512)")
    parser.add_argument("--sweep-n0", type=int, default=5000, help="n of the d sweep")
    _docs.add_argument(parser)
    args = parser.parse_args()
    sizes = [tuple(int(v) for v in s.split("x")) for s in
             (QUICK_SIZES if args.quick else args.sizes).split(",")]
    peers = {}
    google = google_cca(args.google_svcca)
    if google is not None:
        peers["google/svcca plain CCA"] = google
    zoo = cca_zoo_cca()
    if zoo is not None:
        peers["cca-zoo CCA"] = zoo
    with _docs.capture() as printed:
        blas = [f"{i['internal_api']} {i['version']}" for i in threadpool_info()
                if i["user_api"] == "blas"]
        load = "{:.1f} / {:.1f} / {:.1f}".format(*os.getloadavg())
        print(f"BLAS: {', '.join(sorted(set(blas)))}; {args.threads} thread(s); load average "
              f"{load} on {os.cpu_count()} CPUs")
        for n, d in sizes:
            run_size(n, d, args, peers)
    if args.figure:  # after the docs block: the sweep's printout is not part of it
        sweep_figure(args.figure, args, peers)
    if args.write_docs:
        _docs.write_results("similarity", printed.getvalue(), page=args.write_docs)


if __name__ == "__main__":
    main()
