"""Benchmark: svccakit.timeline against a naive pairwise SVCCA loop.

A synthetic run (``--steps`` snapshots x ``--layers`` layers x ``--width``
neurons, probe of ``--probe`` inputs; default 50 x 8 x 256, 2,000) is compared
with an 8-layer reference on all layer pairs, once by :func:`svccakit.timeline`
(each reference layer and each snapshot decomposed once) and once by a naive loop
that calls ``svcca(X, Y)`` on arrays for every (step, layer, ref_layer), so both
sides are decomposed for every pair. Both run in this process with one BLAS
thread; the snapshot arrays are read once for the naive loop too, so the ratio
measures the decompositions saved. Prints both times, the speed ratio and the
largest absolute difference between the two tables (asserted below 1e-9).

Usage::

    python benchmarks/timeline.py [--steps 50] [--layers 8] [--width 256] [--probe 2000]
                                  [--write-docs [PAGE]]

``--write-docs`` also writes the printout into the ``timeline`` section of
docs/benchmarks.md (see benchmarks/_docs.py).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import _docs
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--probe", type=int, default=2000)
    parser.add_argument("--keep", type=float, default=0.99)
    _docs.add_argument(parser)
    args = parser.parse_args()
    with _docs.capture() as printed:
        _run(args)
    if args.write_docs:
        _docs.write_results("timeline", printed.getvalue(), page=args.write_docs)


def _run(args) -> None:

    with tempfile.TemporaryDirectory() as tmp:
        run_path, ref_path = write_files(Path(tmp), args.steps, args.layers, args.width,
                                         args.probe)
        pairs = args.steps * args.layers * args.layers
        print(f"synthetic run: {args.steps} steps x {args.layers} layers x {args.width} "
              f"neurons, probe {args.probe}; all pairs with a {args.layers}-layer reference "
              f"= {pairs} SVCCA values")

        _warm_up()
        start = time.perf_counter()
        table = timeline(run_path, ref_path, pairs="all", keep=args.keep, baseline_n=0,
                         n_jobs=1, progress=False)
        t_timeline = time.perf_counter() - start

        start = time.perf_counter()
        reference = naive(run_path, ref_path, args.keep)
        t_naive = time.perf_counter() - start

    got = np.array([table_value for table_value in table["value"]])
    want = np.array([reference[(int(r.step), r.layer, r.ref_layer)]
                     for r in table.itertuples()])
    diff = float(np.max(np.abs(got - want)))
    assert len(table) == len(reference) == pairs
    print(f"timeline (each side decomposed once): {t_timeline:8.2f} s")
    print(f"naive loop (both sides per pair):     {t_naive:8.2f} s")
    print(f"speed ratio naive/timeline:           {t_naive / t_timeline:8.1f}x")
    print(f"max |timeline - naive|:               {diff:.3g}")
    assert diff < 1e-9, f"timeline and naive loop disagree by {diff}"


if __name__ == "__main__":
    main()
