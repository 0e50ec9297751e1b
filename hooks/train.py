"""Train networks with the recorder attached: one run, or the whole grid.

One run (writes ``<out>/runs/<init>-<activation>-<noise>-s<seed>.h5``)::

    python hooks/train.py --task parity --init critical --activation shifted-relu:0.5 --out out/

The grid {inits} x {activations} x {noises} x {seeds} of a config, plus the reference
(the optimal solution, ``<out>/runs/reference.h5``), in parallel::

    python hooks/train.py --grid --out out/
    python hooks/train.py --grid --config my.toml --seed 0 1 2 --noise none dropout:0.9

Without ``--config`` the embedded default config is used; the flags override it, and
``--set KEY=VALUE`` overrides any key (``--set task.n_bits=10 --set optimiser.lr=0.02``).
``--task NAME`` also takes that task's own sizes (for parity its whole truth table:
``task.n_train = 0, task.n_val = 0``). All logic lives in :mod:`svccakit.experiment.train`;
copy and adapt this script freely.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from svccakit.experiment.config import ExperimentConfig, default_config
from svccakit.experiment.registry import TASK_NAMES, get_task
from svccakit.experiment.train import record_reference, run_grid, run_name, train_run


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", metavar="FILE", help="experiment config (TOML); default: embedded")
    p.add_argument("--task", choices=TASK_NAMES, help="the task (default: the config's)")
    p.add_argument("--init", nargs="+", metavar="INIT", help="critical and/or a random scheme: pytorch-default, xavier, lecun, he")
    p.add_argument("--activation", nargs="+", metavar="SPEC",
                   help="relu and/or shifted-relu:ALPHA")
    p.add_argument("--noise", nargs="+", metavar="SPEC", help="none, dropout:P, gauss:SIGMA")
    p.add_argument("--seed", nargs="+", type=int, metavar="N")
    p.add_argument("--depth", type=int)
    p.add_argument("--width", type=int)
    p.add_argument("--steps", type=int)
    p.add_argument("--optimiser", choices=("sgd", "adam"))
    p.add_argument("--lr", type=float)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config key (TOML value), e.g. task.n_bits=10")
    p.add_argument("--out", default="runs", metavar="DIR", help="output directory (default: runs)")
    p.add_argument("--grid", action="store_true", help="train the whole grid and the reference")
    p.add_argument("--reference", action="store_true",
                   help="single run: also record the reference (<out>/runs/reference.h5)")
    p.add_argument("--n-jobs", type=int, help="grid: worker processes (default: config n_jobs)")
    p.add_argument("--overwrite", action="store_true", help="replace existing run files")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p.parse_args(argv)


def _value(text: str):
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text  # a bare string


def build_config(args) -> ExperimentConfig:
    config = default_config() if args.config is None else ExperimentConfig.from_toml(args.config)
    changes = {}
    if args.task is not None:  # the task's own sizes (parity: its whole truth table)
        changes.update(get_task(args.task).config_changes())
    for key, flag in (("inits", args.init),
                      ("activations", args.activation), ("noises", args.noise),
                      ("seeds", args.seed), ("depth", args.depth), ("width", args.width),
                      ("steps", args.steps), ("optimiser.name", args.optimiser),
                      ("optimiser.lr", args.lr)):
        if flag is not None:
            changes[key] = flag
    for item in args.set:
        key, eq, text = item.partition("=")
        if not eq:
            raise ValueError(f"--set: expected KEY=VALUE, got {item!r}")
        changes[key.strip()] = _value(text.strip())
    return config.updated(changes) if changes else config


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        config = build_config(args)
        out = Path(args.out)
        if args.grid:
            result = run_grid(config, out, n_jobs=args.n_jobs, overwrite=args.overwrite,
                              progress=not args.quiet)
            print(f"reference: {result.reference}")
            print(f"{len(result.runs)} runs in {out / 'runs'}")
            return 0
        one = {"init": config.inits, "activation": config.activations,
               "noise": config.noises, "seed": config.seeds}
        for name, values in one.items():
            if len(values) != 1 and getattr(args, name) is not None:
                raise ValueError(f"--{name}: a single run takes one value, got {list(values)} "
                                 "(use --grid for several)")
        spec = {name: values[0] for name, values in one.items()}
        if args.reference:
            ref = record_reference(config, out / "runs" / "reference.h5",
                                   overwrite=args.overwrite, progress=not args.quiet)
            print(f"reference: {ref}")
        path = out / "runs" / f"{run_name(**spec)}.h5"
        train_run(config, **spec, path=path, overwrite=args.overwrite, progress=not args.quiet)
        print(path)
        return 0
    except (ValueError, TypeError, FileNotFoundError, FileExistsError) as exc:
        print(f"train.py: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
