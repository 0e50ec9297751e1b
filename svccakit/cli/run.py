"""``svccakit run``: the main job, end to end."""

from __future__ import annotations

import sys

from svccakit.cli import user_input
from svccakit.cli._common import add_output_arguments, check_output_arguments

DEFAULT_OUT = "svccakit-out"


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "run",
        help="run the experiment end to end (train, compare with the optimum, report)",
        description=(
            "Train the grid of networks of an experiment config (initialisations such as "
            "critical and he x activations x noises x seeds) with the recorder attached, "
            "compare every recorded layer with every layer of the optimal solution by SVCCA, "
            "PWCCA and linear CKA over training, and write runs/*.h5, results.csv, "
            "figures/*.png and report.md (conclusions computed from the measurements). With "
            "no arguments it runs the embedded default (see svccakit/experiment/configs/"
            "default.toml)."
        ),
    )
    p.add_argument("--config", metavar="FILE",
                   help="experiment config (TOML); default: the embedded default config")
    add_output_arguments(
        p, default_out=DEFAULT_OUT,
        n_jobs_help="parallel workers (default: the config's n_jobs; -1: all CPUs)",
        scheduler_help="run the comparison on an existing Dask cluster",
    )
    p.set_defaults(func=_run)


def _run(args) -> int:
    from svccakit.experiment.config import ExperimentConfig, default_config
    from svccakit.experiment.pipeline import existing_outputs, run_experiment

    check_output_arguments(args, existing_outputs, "experiment")
    with user_input():
        config = (default_config() if args.config is None
                  else ExperimentConfig.from_toml(args.config))
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
