"""MkDocs hooks: the parts of the site generated from the code at build time.

A page asks for generated text with one HTML comment on a line of its own:

``<!-- config-reference: experiment -->``
    a table of every key of :class:`svccakit.experiment.config.ExperimentConfig`
    (type, default, meaning), from the dataclasses' field docs (``metadata["doc"]``);
``<!-- config-reference: default-toml -->``
    the embedded default configuration as TOML, every key with its comment;
``<!-- config-reference: depth -->``
    the ``[depth_grid]`` table of :class:`svccakit.depth.experiment.DepthConfig`
    (from field docs, else the class docstring's ``Attributes``), and how the depth
    experiment's presets differ from the default config;
``<!-- api-table -->``
    every name of ``svccakit.__all__`` with a link to its API entry (so the strict
    build fails when a public name is not documented on some page);
``<!-- cli-help: COMMAND -->``
    ``svccakit COMMAND --help`` as the parser prints it (``<!-- cli-help -->``: the
    top-level ``svccakit --help``).

An unknown request fails the build. On GitHub the comments are invisible; the
built site has the text. Docstrings written with Sphinx roles (``:func:`x```)
render without the role.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import os
import re
import textwrap
import typing

try:
    from mkdocs.exceptions import PluginError
except ImportError:  # the generators also run without MkDocs (tests/test_docs.py)
    class PluginError(Exception):
        """A request the hooks cannot fill (MkDocs' own class when MkDocs is installed)."""

_REQUEST = re.compile(r"^<!--\s*(config-reference|cli-help|api-table)(?::\s*([\w-]+))?\s*-->\s*$",
                      re.M)


# ------------------------------------------------------------------- config reference

def _cell(text: str) -> str:
    """One markdown table cell: no newlines, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _toml(value) -> str:
    from svccakit.experiment.config import toml_value

    return f"`{toml_value(value)}`"


_TYPES = {
    "int": "integer",
    "float": "float",
    "str": "string",
    "bool": "boolean",
    "tuple[str, ...]": "list of strings",
    "tuple[int, ...]": "list of integers",
    "tuple[float, ...]": "list of floats",
}


def _type_name(field: dataclasses.Field) -> str:
    annotation = field.type if isinstance(field.type, str) else getattr(
        field.type, "__name__", str(field.type))
    return _TYPES.get(annotation, annotation)


def _default(field: dataclasses.Field):
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return dataclasses.MISSING


def _attribute_docs(cls) -> dict[str, str]:
    """``name -> description`` from a numpydoc ``Attributes`` section of ``cls.__doc__``."""
    doc = textwrap.dedent("\n".join((cls.__doc__ or "").splitlines()[1:]))
    lines = doc.splitlines()
    try:
        start = next(i for i, line in enumerate(lines)
                     if line.strip() == "Attributes" and lines[i + 1].strip().startswith("---"))
    except StopIteration:
        return {}
    out: dict[str, str] = {}
    names: list[str] = []
    body = lines[start + 2:]
    for i, line in enumerate(body):
        if line and not line[0].isspace():
            if i + 1 < len(body) and body[i + 1].strip().startswith("---"):
                break  # the next section
            names = [n.strip() for n in line.split(" : ")[0].split(",")]
            for name in names:
                out[name] = ""
        elif line.strip():
            for name in names:
                out[name] = f"{out[name]} {line.strip()}".strip()
    return out


def _doc(field: dataclasses.Field, fallback: dict[str, str]) -> str:
    doc = field.metadata.get("doc") or fallback.get(field.name)
    if not doc:
        raise PluginError(f"config reference: field {field.name!r} has no doc "
                          "(metadata['doc'] or an Attributes entry)")
    return doc


def _section_table(cls, prefix: str) -> list[str]:
    fallback = _attribute_docs(cls)
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for field in dataclasses.fields(cls):
        if dataclasses.is_dataclass(_default(field)):
            continue
        rows.append(f"| `{prefix}{field.name}` | {_type_name(field)} | "
                    f"{_toml(_default(field))} | {_cell(_doc(field, fallback))} |")
    return rows


def _first_line(cls) -> str:
    return " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())


def experiment_reference() -> str:
    from svccakit.experiment.config import ExperimentConfig

    out = [_first_line(ExperimentConfig), "", "#### Top-level keys", ""]
    out += _section_table(ExperimentConfig, "")
    for field in dataclasses.fields(ExperimentConfig):
        section = _default(field)
        if not dataclasses.is_dataclass(section):
            continue
        out += ["", f"#### `[{field.name}]`", "", _first_line(type(section)), ""]
        out += _section_table(type(section), f"{field.name}.")
    return "\n".join(out)


def _differences(a, b, prefix: str = "") -> list[tuple[str, object, object]]:
    """``(key, value in a, value in b)`` for every key where two configs differ."""
    rows = []
    for field in dataclasses.fields(a):
        va, vb = getattr(a, field.name), getattr(b, field.name)
        if dataclasses.is_dataclass(va):
            rows += _differences(va, vb, f"{prefix}{field.name}.")
        elif va != vb:
            rows.append((f"{prefix}{field.name}", va, vb))
    return rows


def depth_reference() -> str:
    from svccakit.depth.experiment import DepthConfig, full_config, quick_config
    from svccakit.experiment.config import default_config

    quick, full = quick_config(), full_config()
    fallback = _attribute_docs(DepthConfig)
    out = ["The `[depth_grid]` table (missing keys take the quick preset, "
           "`svccakit depth`; `--full` takes the full one):", "",
           "| key | type | quick | full | meaning |", "|---|---|---|---|---|"]
    for field in dataclasses.fields(DepthConfig):
        if field.name == "experiment":
            continue
        out.append(f"| `{field.name}` | {_type_name(field)} | "
                   f"{_toml(getattr(quick, field.name))} | {_toml(getattr(full, field.name))} | "
                   f"{_cell(_doc(field, fallback))} |")
    exp_doc = _doc(next(f for f in dataclasses.fields(DepthConfig) if f.name == "experiment"),
                   fallback)
    out += ["", f"The rest of the file is an experiment config. {_cell(exp_doc)}", "",
            "The presets differ from the default experiment config in these keys "
            "(see the [experiment config](#the-experiment-config) for their meaning):", "",
            "| key | default config | quick | full |", "|---|---|---|---|"]
    default = default_config()
    keys = dict.fromkeys(k for k, *_ in _differences(default, quick.experiment)
                         + _differences(default, full.experiment))
    for key in keys:
        def value(cfg, key=key):
            obj = cfg
            for part in key.split("."):
                obj = getattr(obj, part)
            return _toml(obj)
        out.append(f"| `{key}` | {value(default)} | {value(quick.experiment)} | "
                   f"{value(full.experiment)} |")
    return "\n".join(out)


def default_toml() -> str:
    from svccakit.experiment.config import default_config

    return f"```toml\n{default_config().to_toml_string().rstrip()}\n```"


# ------------------------------------------------------------------------ CLI help

def cli_help(command: str | None) -> str:
    from svccakit.cli import build_parser

    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "88"
    try:
        parser = build_parser()
        if command is not None:
            subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
            if command not in subs.choices:
                raise PluginError(f"cli-help: no command {command!r}; the commands are "
                                  f"{', '.join(subs.choices)}")
            parser = subs.choices[command]
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            parser.print_help()
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old
    return f"```text\n{buffer.getvalue().rstrip()}\n```"


# ----------------------------------------------------------------------- API table

def api_table() -> str:
    """Every name of ``svccakit.__all__``: a link to its reference entry and one line."""
    import inspect

    import svccakit

    rows = ["| name | defined in | what it is |", "|---|---|---|"]
    for name in svccakit.__all__:
        if name == "__version__":
            continue
        obj = getattr(svccakit, name)
        module = obj.__module__
        summary = (inspect.getdoc(obj) or "").split("\n\n")[0]
        rows.append(f"| [`{name}`][{module}.{name}] | `{module}` | {_cell(summary)} |")
    return "\n".join(rows)


# --------------------------------------------------------------------------- hooks

_CONFIGS: dict[str, typing.Callable[[], str]] = {
    "experiment": experiment_reference,
    "depth": depth_reference,
    "default-toml": default_toml,
}


def generate(kind: str, arg: str | None) -> str:
    """The text for ``<!-- KIND: ARG -->``; a PluginError for an unknown request."""
    if kind == "api-table":
        return api_table()
    if kind == "config-reference":
        if arg not in _CONFIGS:
            raise PluginError(f"config-reference: expected one of {', '.join(_CONFIGS)}, "
                              f"got {arg!r}")
        return _CONFIGS[arg]()
    return cli_help(arg)


def on_page_markdown(markdown: str, page, config, files) -> str:
    def replace(match: re.Match) -> str:
        try:
            return generate(match.group(1), match.group(2))
        except PluginError as err:
            raise PluginError(f"{page.file.src_uri}: {err}") from None

    return _REQUEST.sub(replace, markdown)


_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|data|attr|exc|obj|const|term):"
                   r"<code>(~?)([^<]*)</code>")


def _strip_role(match: re.Match) -> str:
    short, target = match.groups()
    if short:  # Sphinx's ~a.b.c shows c
        target = target.rsplit(".", 1)[-1]
    return f"<code>{target}</code>"


def on_page_content(html: str, page, config, files) -> str:
    return _ROLE.sub(_strip_role, html)
