"""The ``svccakit`` command: one sub-command per module in ``_COMMANDS``.

Each sub-command module defines ``add_parser(subparsers)``, which registers its
parser and sets ``func`` (called with the parsed namespace, returning an exit
code). Modules are imported only when the command line is parsed, so
``svccakit --help`` stays fast.

Errors. An expected failure is reported in one line, ``svccakit CMD: error: ...``,
with exit status 1:

- anything raised while a sub-command reads and checks what the user gave (its
  arguments, the config file): each does that inside :func:`user_input`, which turns
  ``ValueError``, ``TypeError``, ``OverflowError`` and ``FloatingPointError`` into a
  :class:`CLIError`;
- during the work: the library's own errors (:class:`svccakit.exceptions.SvccakitError`:
  corrupt run files, occupied output directories, diverged training, an unreachable
  scheduler, ...), ``OSError`` (files and directories: missing, read-only, disk full)
  and ``MemoryError`` (a request larger than this machine).

Anything else raised during the work (a ``ValueError`` from deep inside, say) is an
internal error and keeps its traceback. Ctrl-C exits with status 130.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys

from svccakit.exceptions import SvccakitError

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


# what ``main`` reports in one line; everything else keeps its traceback
_EXPECTED = (CLIError, SvccakitError, OSError, MemoryError)


@contextlib.contextmanager
def user_input(what: str = ""):
    """Report errors in checking the user's input (arguments, config files) in one line.

    Wrap only the reading and checking of input, never the work itself. ``what`` names
    the input in messages that would not name it (an overflow).
    """
    try:
        yield
    except (ValueError, TypeError, OverflowError, FloatingPointError) as exc:
        if isinstance(exc, SvccakitError):
            raise
        if isinstance(exc, (OverflowError, FloatingPointError)):
            prefix = f"{what}: " if what else ""
            raise CLIError(f"{prefix}a value too large to compute with ({exc})") from exc
        raise CLIError(str(exc)) from exc


def safe(text) -> str:
    """``text`` with every character that is not printable (terminal escape sequences,
    other control characters, bidirectional overrides) written as a Python escape, so
    names and messages from a file cannot drive the terminal."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in str(text))


def _one_line(exc: BaseException) -> str:
    text = " ".join(safe(line) for line in str(exc).split("\n")).strip()
    if isinstance(exc, MemoryError):
        detail = f" ({text})" if text else ""
        return f"out of memory{detail}: the request is larger than this machine can hold"
    return text or type(exc).__name__


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
    except _EXPECTED as exc:
        print(f"svccakit {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"svccakit {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
