"""``svccakit run``: the main job, end to end."""

from __future__ import annotations

import sys

from svccakit.cli import CLIError

DEFAULT_OUT = "svccakit-out"


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "run",
        help="run the experiment end to end (train, compare with the optimum, report)",
        description=(
            "Train the grid of networks of an experiment config (critical/random "
            "initialisation x activations x noise x seeds) with the recorder attached, "
            "compare every recorded layer with the optimal solution by SVCCA over "
            "training, and write runs/*.h5, results.csv, figures/*.png and report.md. "
            "With no arguments it runs the embedded default (n-bit parity)."
        ),
    )
    p.add_argument("--config", metavar="FILE",
                   help="experiment config (TOML); default: the embedded default config")
    p.add_argument("--out", metavar="DIR", default=DEFAULT_OUT,
                   help=f"output directory (default: {DEFAULT_OUT})")
    p.add_argument("--n-jobs", type=int, metavar="N", default=None,
                   help="parallel workers (default: the config's n_jobs; -1: all CPUs)")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="run the comparison on an existing Dask cluster, e.g. "
                        "tcp://127.0.0.1:8786 (needs `pip install svccakit[dask]`; the "
                        "workers must see DIR at the same path)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the outputs already in DIR")
    p.add_argument("--quiet", action="store_true", help="no progress bars or summary")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from svccakit.config import ExperimentConfig, default_config
    from svccakit.pipeline import existing_outputs, run_experiment

    if args.n_jobs is not None and args.n_jobs == 0:
        raise CLIError("--n-jobs must be a non-zero integer (-1: all CPUs), got 0")
    present = existing_outputs(args.out)
    if present and not args.overwrite:
        raise CLIError(
            f"{args.out!r} already holds experiment outputs "
            f"({', '.join(p.name for p in present)}); pass --overwrite to replace them "
            f"or --out DIR to write elsewhere"
        )
    config = default_config() if args.config is None else ExperimentConfig.from_toml(args.config)
    result = run_experiment(
        config, args.out, n_jobs=args.n_jobs, scheduler=args.scheduler,
        overwrite=args.overwrite, progress=not args.quiet,
    )
    if not args.quiet:
        print(f"runs:    {result.runs[0].parent}/ ({len(result.runs)} runs + reference "
              f"{result.reference.name})", file=sys.stdout)
        print(f"table:   {result.results}")
        print(f"figures: {result.figures[0].parent}/ ({len(result.figures)} PNG)")
        print(f"report:  {result.report}")
    return 0
