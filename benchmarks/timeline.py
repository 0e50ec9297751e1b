"""Benchmark: svccakit.timeline against its own floor, and on a Dask LocalCluster.

A synthetic run (``--steps`` snapshots x ``--layers`` layers x ``--width``
neurons, probe of ``--probe`` inputs; default 50 x 8 x 256, 2,000) is compared
with an 8-layer reference on all layer pairs (SVCCA). In this process, one BLAS
thread, it times

- the timeline (``n_jobs=1``: every task in this process);
- its floor, measured piece by piece on the same files: reading each snapshot
  once, one decomposition per snapshot (:func:`svccakit.decompose`), and one
  product of each snapshot against the stacked reference bases with the small
  SVDs that follow (:func:`svccakit.svcca_many` on decompositions); the
  references are decomposed once, outside the floor, as the timeline does;
- with ``--naive``: the naive loop calling ``svcca(X, Y)`` on arrays for every
  (step, layer, ref_layer), so both sides are decomposed for every pair;
- with ``--dask N``: the timeline on a ``distributed.LocalCluster`` of N
  single-threaded worker processes (``scheduler=`` its address), against the
  in-process run: the speed-up from spreading (run, layer) tasks over workers.

Prints the times, timeline / floor, the speed-ups and the largest absolute
difference between the tables (asserted below 1e-9).

Usage::

    python benchmarks/timeline.py [--steps 50] [--layers 8] [--width 256] [--probe 2000]
        [--naive] [--dask 2] [--write-docs]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import _docs  # benchmarks/_docs.py: --write-docs into docs/benchmarks.md
import numpy as np
import torch
from threadpoolctl import threadpool_limits

from svccakit.experiment.timeline import timeline
from svccakit.meanfield.nets import mlp
from svccakit.record.recorder import Recorder
from svccakit.record.store import open_run
from svccakit.similarity import svcca

IN_FEATURES = 32


def write_files(root: Path, steps: int, layers: int, width: int, probe_size: int):
    """A reference (one snapshot) and a run drifting over ``steps`` snapshots."""
    gen = torch.Generator().manual_seed(0)
    probe = torch.randn(probe_size, IN_FEATURES, generator=gen)
    torch.manual_seed(1)
    reference = mlp(IN_FEATURES, width, layers, 2)
    ref_path = root / "reference.h5"
    with Recorder(reference, probe, ref_path, layers=["act*"], steps=[0],
                  config={"run": {"name": "reference", "role": "reference",
                                  "init": "optimal"}}) as rec:
        rec.record(0)
    torch.manual_seed(2)
    model = mlp(IN_FEATURES, width, layers, 2)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    target = reference.state_dict()
    run_path = root / "run.h5"
    with Recorder(model, probe, run_path, layers=["act*"], steps=list(range(steps)),
                  config={"run": {"name": "run", "role": "student", "init": "random",
                                  "activation": "relu", "noise": "none", "seed": 0}}) as rec:
        for step in range(steps):
            a = step / max(1, steps - 1)
            model.load_state_dict({k: (1 - a) * start[k] + a * target[k] for k in start})
            rec.record(step)
    return run_path, ref_path


def floor(run_path: Path, ref_path: Path, keep: float) -> dict[str, float]:
    """The timeline's floor, piece by piece: read once, decompose once, one product."""
    from svccakit.similarity import decompose, svcca_many

    times = {"read each snapshot once": 0.0, "one decomposition per snapshot": 0.0,
             "one product against the stacked references (+ SVDs)": 0.0}
    with threadpool_limits(limits=1), open_run(ref_path) as ref, open_run(run_path) as run:
        refs = [decompose(np.asarray(ref.activations(name, 0)), keep) for name in ref.layer_names]
        svcca_many(decompose(np.asarray(ref.activations(ref.layer_names[0], 0)), keep), refs)
        for t in range(len(run)):
            for layer in run.layer_names:
                start = time.perf_counter()
                x = np.asarray(run.activations(layer, t))
                mid = time.perf_counter()
                dec = decompose(x, keep)
                end = time.perf_counter()
                svcca_many(dec, refs)
                done = time.perf_counter()
                keys = list(times)
                times[keys[0]] += mid - start
                times[keys[1]] += end - mid
                times[keys[2]] += done - end
    return times


def naive(run_path: Path, ref_path: Path, keep: float) -> dict:
    values = {}
    with threadpool_limits(limits=1), open_run(ref_path) as ref, open_run(run_path) as run:
        refs = {name: np.asarray(ref.activations(name, 0)) for name in ref.layer_names}
        for t, step in enumerate(np.asarray(run.steps).tolist()):
            for layer in run.layer_names:
                x = np.asarray(run.activations(layer, t))
                for ref_layer, y in refs.items():
                    values[(int(step), layer, ref_layer)] = svcca(x, y, keep=keep).similarity
    return values


def _warm_up() -> None:
    """Import what the timeline imports lazily, so neither side pays import time."""
    import joblib  # noqa: F401
    import pandas  # noqa: F401
    import scipy.linalg  # noqa: F401
    import tqdm.auto  # noqa: F401


def on_dask(run_path: Path, ref_path: Path, keep: float, workers: int):
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster):
        timeline(run_path, ref_path, pairs="all", keep=keep, baseline_n=0,
                 scheduler=cluster.scheduler_address, progress=False)  # warm the workers
        start = time.perf_counter()
        table = timeline(run_path, ref_path, pairs="all", keep=keep, baseline_n=0,
                         scheduler=cluster.scheduler_address, progress=False)
        return time.perf_counter() - start, table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--probe", type=int, default=2000)
    parser.add_argument("--keep", type=float, default=0.99)
    parser.add_argument("--naive", action="store_true", help="also time the naive loop")
    parser.add_argument("--dask", type=int, default=0, metavar="N",
                        help="also run on a LocalCluster of N single-threaded workers")
    _docs.add_argument(parser)
    args = parser.parse_args()
    with _docs.capture() as printed:
        run(args)
    if args.write_docs:
        _docs.write_results("timeline", printed.getvalue(), page=args.write_docs)


def run(args) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run_path, ref_path = write_files(Path(tmp), args.steps, args.layers, args.width,
                                         args.probe)
        pairs = args.steps * args.layers * args.layers
        load = "{:.1f} / {:.1f} / {:.1f}".format(*os.getloadavg())
        print(f"synthetic run: {args.steps} steps x {args.layers} layers x {args.width} "
              f"neurons, probe {args.probe}; all pairs with a {args.layers}-layer reference "
              f"= {pairs} SVCCA values; load average {load} on {os.cpu_count()} CPUs")

        _warm_up()
        start = time.perf_counter()
        with threadpool_limits(limits=1):
            table = timeline(run_path, ref_path, pairs="all", keep=args.keep, baseline_n=0,
                             n_jobs=1, progress=False)
        t_timeline = time.perf_counter() - start
        parts = floor(run_path, ref_path, args.keep)
        t_floor = sum(parts.values())
        print(f"timeline, in this process (n_jobs=1):  {t_timeline:8.2f} s")
        for name, t in parts.items():
            print(f"  floor: {name:<52s}{t:8.2f} s")
        print(f"  floor, total:{'':47s}{t_floor:8.2f} s")
        print(f"timeline / floor:                      {t_timeline / t_floor:8.2f}")

        got = table["value"].to_numpy()
        if args.naive:
            start = time.perf_counter()
            reference = naive(run_path, ref_path, args.keep)
            t_naive = time.perf_counter() - start
            want = np.array([reference[(int(r.step), r.layer, r.ref_layer)]
                             for r in table.itertuples()])
            diff = float(np.max(np.abs(got - want)))
            print(f"naive loop (both sides per pair):      {t_naive:8.2f} s   "
                  f"naive / timeline {t_naive / t_timeline:.1f}x, max |diff| {diff:.2g}")
            assert diff < 1e-9, f"timeline and naive loop disagree by {diff}"
        if args.dask:
            t_dask, dask_table = on_dask(run_path, ref_path, args.keep, args.dask)
            diff = float(np.max(np.abs(dask_table["value"].to_numpy() - got)))
            print(f"timeline on a LocalCluster of {args.dask} single-threaded workers: "
                  f"{t_dask:8.2f} s   speed-up over in-process {t_timeline / t_dask:.2f}x, "
                  f"max |diff| {diff:.2g}")
            assert diff < 1e-9, f"dask and in-process timelines disagree by {diff}"


if __name__ == "__main__":
    main()
