"""The ``svccakit`` command: one sub-command per module in ``_COMMANDS``.

Each sub-command module defines ``add_parser(subparsers)``, which registers its
parser and sets ``func`` (called with the parsed namespace, returning an exit
code). Modules are imported only when the command line is parsed, so
``svccakit --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# (module under svccakit.cli) in the order they appear in --help
_COMMANDS: list[str] = [
    "run",  # the main job
    "theory",
    "dynamics",
    "inspect",
    "depth",
    "demo",
]


class CLIError(Exception):
    """An error to report to the user in one line, without a traceback."""


def build_parser() -> argparse.ArgumentParser:
    from svccakit._version import __version__

    parser = argparse.ArgumentParser(
        prog="svccakit",
        description=(
            "Watch neural-network representations during training: SVCCA against an "
            "optimal solution, mean-field critical initialisation, HDF5 run files."
        ),
    )
    parser.add_argument("--version", action="version", version=f"svccakit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMANDS:
        importlib.import_module(f"svccakit.cli.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (CLIError, ValueError, TypeError, FileNotFoundError, FileExistsError) as exc:
        print(f"svccakit {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"svccakit {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
