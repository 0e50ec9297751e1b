"""Write a benchmark's results into its section of docs/benchmarks.md.

docs/benchmarks.md holds one block per benchmark between two markers::

    <!-- bench:NAME -->
    ...replaced by the script...
    <!-- /bench:NAME -->

A script adds the flag with :func:`add_argument` and, at the end, passes what it
printed to :func:`write_results`::

    parser = argparse.ArgumentParser(...)
    _docs.add_argument(parser)
    args = parser.parse_args()
    with _docs.capture() as printed:          # still prints as usual
        ...                                   # the benchmark
    if args.write_docs:
        _docs.write_results("timeline", printed.getvalue(), page=args.write_docs)

The block written says when, where and with which command the numbers were
measured (:func:`results_block`); any prose around the markers is left alone, so
the page's interpretation must be re-read (and edited by hand) when the numbers
change. :func:`write_section` replaces a block with any markdown you give it.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import io
import os
import platform
import re
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path

PAGE = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
"""The page the benchmarks write to."""

_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*\Z")


def _markers(name: str) -> tuple[str, str]:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"name: expected lower-case letters, digits, '-' or '_', got {name!r}")
    return f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"


def write_section(name: str, markdown: str, page: str | os.PathLike = PAGE) -> Path:
    """Replace the text between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->``.

    Parameters
    ----------
    name : str
        The section's name (``"timeline"``).
    markdown : str
        What goes between the markers (a blank line is kept on each side).
    page : path, default docs/benchmarks.md
        The page; it must already hold the two markers, once each, in order.

    Returns
    -------
    Path
        The page written.

    Raises
    ------
    FileNotFoundError
        If ``page`` does not exist.
    ValueError
        If the markers are missing, repeated or out of order (the page is not touched).
    """
    if not isinstance(markdown, str):
        raise TypeError(f"markdown: expected a str, got {type(markdown).__name__}")
    page = Path(page)
    if not page.is_file():
        raise FileNotFoundError(f"page {str(page)!r} does not exist")
    text = page.read_text(encoding="utf-8")
    start, end = _markers(name)
    counts = text.count(start), text.count(end)
    if counts != (1, 1) or text.index(start) > text.index(end):
        raise ValueError(
            f"{page}: expected the markers {start} and {end} once each, in that order; "
            f"found {counts[0]} and {counts[1]}; add them where the section belongs"
        )
    head, rest = text.split(start)
    _, tail = rest.split(end)
    new = f"{head}{start}\n\n{markdown.strip()}\n\n{end}{tail}"
    page.write_text(new, encoding="utf-8")
    return page


def machine() -> str:
    """One line: CPU count, load average, OS, Python, numpy's BLAS and torch versions."""
    parts = [f"{os.cpu_count()} CPUs"]
    if hasattr(os, "getloadavg"):
        parts.append("load average {:.1f} / {:.1f} / {:.1f}".format(*os.getloadavg()))
    parts.append(f"{platform.system()} {platform.machine()}")
    parts.append(f"Python {platform.python_version()}")
    for module in ("numpy", "torch"):
        mod = sys.modules.get(module)
        if mod is not None:
            parts.append(f"{module} {mod.__version__}")
    return ", ".join(parts)


def results_block(output: str, *, command: str | None = None, note: str | None = None) -> str:
    """Markdown for a measurement: the command, when and where it ran, its output.

    Parameters
    ----------
    output : str
        What the benchmark printed (goes into a fenced block verbatim).
    command : str, optional
        The command line; default: this process's (``python benchmarks/x.py ...``).
    note : str, optional
        A sentence added under the output.
    """
    if command is None:
        command = _command(sys.argv)
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"Measured by `{command}` on {when} ({machine()}):",
        "",
        "```text",
        output.rstrip("\n"),
        "```",
    ]
    if note:
        lines += ["", note]
    return "\n".join(lines)


def _command(argv: list[str]) -> str:
    """``python SCRIPT ARGS`` without ``--write-docs [PAGE]``, the script relative to the repo."""
    script = Path(argv[0])
    with contextlib.suppress(ValueError):
        script = script.resolve().relative_to(PAGE.parent.parent)
    args, rest = [], list(argv[1:])
    while rest:
        arg = rest.pop(0)
        if arg == "--write-docs":
            if rest and not rest[0].startswith("-"):
                rest.pop(0)
            continue
        if not arg.startswith("--write-docs="):
            args.append(arg)
    return shlex.join(["python", str(script), *args])


def write_results(name: str, output: str, *, page: str | os.PathLike = PAGE,
                  command: str | None = None, note: str | None = None) -> Path:
    """:func:`write_section` with :func:`results_block` and say so on stderr."""
    path = write_section(name, results_block(output, command=command, note=note), page)
    print(f"wrote the results into section {name!r} of {path}", file=sys.stderr)
    return path


def add_argument(parser) -> None:
    """Add ``--write-docs [PAGE]`` to an ``argparse`` parser (``args.write_docs``)."""
    parser.add_argument(
        "--write-docs", nargs="?", const=str(PAGE), default=None, metavar="PAGE",
        help="also write the results into this benchmark's section of docs/benchmarks.md "
             "(or of PAGE)",
    )


class _Tee(io.TextIOBase):
    def __init__(self, stream):
        self._stream = stream
        self._copy = io.StringIO()

    def write(self, text):
        self._stream.write(text)
        return self._copy.write(text)

    def flush(self):
        self._stream.flush()

    def getvalue(self) -> str:
        return self._copy.getvalue()


@contextlib.contextmanager
def capture() -> Iterator[_Tee]:
    """Print as usual and keep a copy: ``with capture() as out: ...; out.getvalue()``."""
    tee = _Tee(sys.stdout)
    with contextlib.redirect_stdout(tee):
        yield tee
