"""``svccakit depth``: noise limits trainable depth (the 6 xi_c boundary)."""

from __future__ import annotations

from svccakit.cli import user_input
from svccakit.cli._common import add_output_arguments, check_output_arguments

DEFAULT_OUT = "svccakit-depth"


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "depth",
        help="train a depth x noise grid and compare its trainable depth with 6 xi_c",
        description=(
            "Train critically initialised noisy ReLU networks (dropout and multiplicative "
            "Gaussian noise) to reconstruct scikit-learn's digits over depth x noise, and "
            "compare the depth they train to with the mean-field theory's 6 xi_c; measure "
            "the variance through depth x sigma_w^2 in float32 against the theory's "
            "overflow/underflow boundary. Writes config.toml, runs/*.h5, grid.csv, "
            "variance.csv, figures/*.png and report.md. The default grid (160 networks of "
            "width 128, depth 2..20, keep rate 0.1..0.95, Gaussian sigma 0.25..2, 1000 "
            "steps) takes about 6 minutes on 2 cores; --full is closer to Pretorius et al. "
            "(2018): width 1000, depth 2..40, keep rate 0.1..1 and Gaussian sigma 0.1..2, "
            "2000 steps (about 45 CPU-core hours; use --scheduler)."
        ),
    )
    grid = p.add_mutually_exclusive_group()
    grid.add_argument("--full", action="store_true",
                      help="the paper-sized grid instead of the quick default")
    grid.add_argument("--config", metavar="FILE",
                      help="a depth config: the experiment TOML plus a [depth_grid] table, "
                           "as written to DIR/config.toml; missing keys take the quick "
                           "default's values")
    add_output_arguments(
        p, default_out=DEFAULT_OUT,
        n_jobs_help="worker processes, one thread each (default: all CPUs)",
        scheduler_help="train on an existing Dask cluster",
    )
    p.set_defaults(func=_run)


def _run(args) -> int:
    from svccakit.depth.experiment import (
        DepthConfig,
        existing_outputs,
        full_config,
        quick_config,
        run_depth,
    )

    check_output_arguments(args, existing_outputs, "depth")
    with user_input():
        if args.config is not None:
            config = DepthConfig.from_toml(args.config)
        else:
            config = full_config() if args.full else quick_config()
    result = run_depth(config, args.out, n_jobs=args.n_jobs, scheduler=args.scheduler,
                       overwrite=args.overwrite, progress=not args.quiet)
    if not args.quiet:
        n = len(result.grid.cells())
        print(f"grid:      {result.grid_csv} ({len(result.grid.table)} networks, {n} cells)")
        print(f"variance:  {result.variance_csv}")
        print(f"figures:   {result.figures[0].parent}/ ({len(result.figures)} PNG)")
        print(f"report:    {result.report}")
        print(f"agreement with 6 xi_c: {result.agreement:.1%} of cells "
              f"(threshold {result.grid.threshold:g} x trivial loss); "
              f"{result.seconds:.0f} s")
    return 0
