"""Arguments shared by the sub-commands that write an experiment's output directory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from svccakit.cli import CLIError, user_input


def add_output_arguments(p, *, default_out: str, n_jobs_help: str, scheduler_help: str) -> None:
    """Add ``--out``, ``--n-jobs``, ``--scheduler``, ``--overwrite`` and ``--quiet`` to ``p``."""
    p.add_argument("--out", metavar="DIR", default=default_out,
                   help=f"output directory (default: {default_out})")
    p.add_argument("--n-jobs", type=int, metavar="N", default=None, help=n_jobs_help)
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help=f"{scheduler_help}, e.g. tcp://127.0.0.1:8786 (needs "
                        f"`pip install 'svccakit[dask]'`; the workers must see DIR at the "
                        f"same path)")
    p.add_argument("--overwrite", action="store_true", help="replace the outputs already in DIR")
    p.add_argument("--quiet", action="store_true", help="no progress bars or summary")


def check_output_arguments(
    args, existing_outputs: Callable[[str], list[Path]], what: str,
) -> None:
    """Refuse a bad ``--n-jobs`` and, without ``--overwrite``, a ``--out`` that already
    holds outputs (``existing_outputs(args.out)``), before any work starts."""
    from svccakit._validate import check_n_jobs

    if args.n_jobs is not None and args.n_jobs == 0:
        raise CLIError("--n-jobs must be a non-zero integer (-1: all CPUs), got 0")
    with user_input():
        check_n_jobs(args.n_jobs, "--n-jobs")
    present = existing_outputs(args.out)
    if present and not args.overwrite:
        raise CLIError(
            f"{args.out!r} already holds {what} outputs ({', '.join(p.name for p in present)}); "
            "pass --overwrite to replace them or --out DIR to write elsewhere"
        )
