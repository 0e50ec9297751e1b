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
            "Gaussian noise, and none) to reconstruct scikit-learn's digits over depth x "
            "noise x seed, many at once as one stacked model, and test the mean-field "
            "theory's trainable depth: the boundary depth <= k xi_c is scored for k = 1..12 "
            "beside the trivial predictors (nothing trains, everything trains) and fitted "
            "noise-blind and depth-blind boundaries, per seed and at two training budgets; "
            "the variance through depth x sigma_w^2 is measured in float32 against the "
            "theory's overflow/underflow boundary. Writes config.toml, grid.csv, kscan.csv, "
            "predictors.csv, boundaries.csv, variance.csv, figures/*.png and report.md. The "
            "default grid: 510 networks of width 64 (17 noise levels incl. none, depth "
            "2..20, 3 seeds), losses after 250 and 1000 Adam steps; see docs/depth.md for "
            "its measured time. --full is closer to Pretorius et al. (2018): width 1000, "
            "depth 2..40, 3 seeds, 2000 steps (a cluster job; use --scheduler)."
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
        n_jobs_help="worker processes, one thread each, each training whole stacks of "
                    "networks (default: all CPUs)",
        scheduler_help="train the stacks on an existing Dask cluster",
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
        grid, test = result.grid, result.test
        n = len(grid.cells())
        print(f"grid:      {result.grid_csv} ({len(grid.at().table)} networks, {n} cells, "
              f"budgets {list(grid.budgets)} steps)")
        print(f"k-scan:    {result.kscan_csv}, {result.predictors_csv}, {result.boundaries_csv}")
        print(f"variance:  {result.variance_csv}")
        print(f"figures:   {result.figures[0].parent}/ ({len(result.figures)} PNG)")
        print(f"report:    {result.report}")
        for steps in grid.budgets:
            six = test.predictor("6 xi_c", steps)["accuracy"]
            nothing = test.predictor("nothing trains", steps)["accuracy"]
            everything = test.predictor("everything trains", steps)["accuracy"]
            best = test.best_k(steps)
            best_acc = test.predictor("best k xi_c", steps)["accuracy"]
            label = f"{best[0]:g}" if len(best) == 1 else f"{best[0]:g}-{best[-1]:g}"
            print(f"{steps} steps: 6 xi_c agrees in {six:.1%} of cells; nothing trains "
                  f"{nothing:.1%}, everything trains {everything:.1%}; best k = {label} "
                  f"({best_acc:.1%})")
        print(f"threshold {grid.threshold:g} x trivial loss; {result.seconds:.0f} s wall, "
              f"{result.train_cpu_seconds:.0f} s CPU training")
    return 0
