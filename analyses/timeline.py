"""Compare recorded runs with a reference run over training; write a results table.

Usage::

    python analyses/timeline.py svccakit-out/runs/*.h5 \
        --reference svccakit-out/runs/reference.h5 --out results.csv \
        [--metrics svcca pwcca cka] [--pairs matching|all] [--n-jobs N] \
        [--scheduler tcp://HOST:8786]

The reference file is skipped if it also matches the run list. The table has one
row per (run, step, layer, ref_layer, metric); see ``svccakit.timeline``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from svccakit.experiment.timeline import timeline
from svccakit.similarity import METRIC_NAMES as METRICS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run files (.h5)")
    parser.add_argument("--reference", type=Path, required=True, help="reference run file")
    parser.add_argument("--out", type=Path, default=Path("results.csv"), help="CSV to write")
    parser.add_argument("--metrics", nargs="+", choices=METRICS, default=["svcca"])
    parser.add_argument("--pairs", choices=["matching", "all"], default="matching")
    parser.add_argument("--keep", type=float, default=0.99, help="SVCCA variance kept")
    parser.add_argument("--baseline-n", type=int, default=10, help="shuffles for chance level")
    parser.add_argument("--n-jobs", type=int, default=None)
    parser.add_argument("--scheduler", default=None, help="Dask scheduler address")
    args = parser.parse_args()

    runs = [p for p in args.runs if p.resolve() != args.reference.resolve()]
    results = timeline(runs, args.reference, metrics=args.metrics, pairs=args.pairs,
                       keep=args.keep, baseline_n=args.baseline_n, n_jobs=args.n_jobs,
                       scheduler=args.scheduler)
    results.to_csv(args.out, index=False)
    print(f"wrote {args.out} ({len(results)} rows from {len(runs)} runs)")


if __name__ == "__main__":
    main()
