"""The documentation: every example runs, the generated parts cover the code, the
benchmark sections can be rewritten.

Examples: every ```python block of docs/*.md and README.md runs, each page's blocks
in order in one namespace, in a fresh temporary directory, with benchmarks/ importable
as it is for the scripts there (pytest's warnings-as-errors apply). A block preceded by a ``<!-- no-run -->`` line is skipped; keep that for code
that needs the user's own data or a GPU. ``mkdocs build --strict`` itself runs in
.ci/run (broken links and missing references fail it).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md")) + [ROOT / "README.md"]
NO_RUN = "<!-- no-run -->"
_FENCE = re.compile(r"^```(\w*)\s*$")


@dataclasses.dataclass(frozen=True)
class Block:
    page: Path
    line: int  # 1-based line of the first code line
    language: str
    code: str
    run: bool


def blocks(page: Path) -> list[Block]:
    """The fenced code blocks of a page (fences at the start of a line)."""
    lines = page.read_text(encoding="utf-8").splitlines()
    out, i = [], 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if match is None:
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), None)
        if end is None:
            raise AssertionError(f"{page.name}:{i + 1}: unclosed code fence")
        before = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        out.append(Block(page, i + 2, match.group(1), "\n".join(lines[i + 1:end]),
                         run=before != NO_RUN))
        i = end + 1
    return out


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ----------------------------------------------------------------------- examples

def _examples(page: Path) -> list[Block]:
    return [b for b in blocks(page) if b.language == "python" and b.run]


@pytest.mark.parametrize("page", [p for p in PAGES if _examples(p)], ids=lambda p: p.name)
def test_examples_run(page, tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    python = _examples(page)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    try:
        for block in python:
            # padded so tracebacks give the page's own line numbers
            code = compile("\n" * (block.line - 1) + block.code, str(page), "exec")
            exec(code, namespace)  # noqa: S102
    finally:
        plt.close("all")


def test_no_run_markers_are_rare_and_placed():
    # the marker must sit right before a python block; at most a few in the whole site
    marked = 0
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        count = text.count(NO_RUN)
        skipped = [b for b in blocks(page) if not b.run]
        assert len(skipped) == count, f"{page.name}: a {NO_RUN} marker not before a code block"
        assert all(b.language == "python" for b in skipped), page.name
        marked += count
    assert marked <= 3


def test_every_page_has_examples_or_is_reference():
    # the subpackage pages show their API in code that runs
    for name in ("index", "similarity", "meanfield", "record", "experiment", "depth",
                 "guarantees", "record-your-model"):
        assert _examples(DOCS / f"{name}.md"), f"docs/{name}.md has no runnable python example"


def test_block_parser_finds_markers_and_languages(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("text\n```python\na = 1\n```\n\n<!-- no-run -->\n\n```python\n"
                    "gpu()\n```\n```bash\nls\n```\n", encoding="utf-8")
    got = [(b.line, b.language, b.code, b.run) for b in blocks(page)]
    assert got == [(3, "python", "a = 1", True), (9, "python", "gpu()", False),
                   (12, "bash", "ls", True)]
    page.write_text("```python\nx = 1\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="unclosed code fence"):
        blocks(page)


# --------------------------------------------------------------- the site's config

def test_every_page_is_in_the_nav():
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for page in DOCS.glob("*.md"):
        assert f" {page.name}" in nav, f"docs/{page.name} is not in mkdocs.yml's nav"


def test_api_reference_names_existing_modules():
    # mkdocstrings fails the strict build on these too; this says which one, quickly
    for page in DOCS.glob("*.md"):
        for name in re.findall(r"^::: ([\w.]+)", page.read_text(encoding="utf-8"), re.M):
            assert importlib.util.find_spec(name) is not None, f"{page.name}: {name}"


# -------------------------------------------------------------- generated sections

@pytest.fixture(scope="module")
def hooks():
    return _load("docs_hooks", DOCS / "_hooks.py")


def test_config_reference_covers_every_key(hooks):
    from svccakit.experiment.config import ExperimentConfig

    text = hooks.generate("config-reference", "experiment")
    for field in dataclasses.fields(ExperimentConfig):
        section = hooks._default(field)
        if dataclasses.is_dataclass(section):
            assert f"#### `[{field.name}]`" in text
            for sub in dataclasses.fields(section):
                row = next(line for line in text.splitlines()
                           if line.startswith(f"| `{field.name}.{sub.name}` |"))
                assert hooks._cell(sub.metadata["doc"]) in row
        else:
            assert f"| `{field.name}` |" in text
    assert "| `timeline.metrics` | list of strings | `[\"svcca\", \"pwcca\", \"cka\"]` |" in text


def test_depth_reference_covers_every_grid_key(hooks):
    from svccakit.depth.experiment import DepthConfig, full_config, quick_config

    text = hooks.generate("config-reference", "depth")
    for field in dataclasses.fields(DepthConfig):
        if field.name != "experiment":
            assert f"| `{field.name}` |" in text, field.name
    assert hooks._toml(quick_config().depths) in text
    assert hooks._toml(full_config().depths) in text
    assert "| `task.name` | `\"teacher\"` | `\"digits\"` | `\"digits\"` |" in text


def test_attribute_docs_read_numpydoc():
    hooks = _load("docs_hooks_attrs", DOCS / "_hooks.py")

    class Example:
        """Summary.

        Attributes
        ----------
        a : int
            First line
            and second.
        b, c : float
            Shared.

        Notes
        -----
        Not an attribute.
        """

    assert hooks._attribute_docs(Example) == {"a": "First line and second.", "b": "Shared.",
                                              "c": "Shared."}


def test_cli_help_for_every_command(hooks):
    from svccakit.cli import _COMMANDS

    assert "usage: svccakit" in hooks.generate("cli-help", None)
    for command in _COMMANDS:
        assert f"usage: svccakit {command}" in hooks.generate("cli-help", command)
    with pytest.raises(hooks.PluginError, match="no command 'nope'"):
        hooks.generate("cli-help", "nope")
    with pytest.raises(hooks.PluginError, match="expected one of experiment, depth, default-toml"):
        hooks.generate("config-reference", "nope")


def test_requests_in_pages_are_all_known(hooks):
    # on_page_markdown replaces every request; an unknown one fails the build
    class Page:
        class file:  # noqa: N801
            src_uri = "page.md"

    for page in DOCS.glob("*.md"):
        text = page.read_text(encoding="utf-8")
        out = hooks.on_page_markdown(text, Page, None, None)
        assert not re.search(r"<!-- (config-reference|cli-help|api-table)", out)
    with pytest.raises(hooks.PluginError, match="page.md: config-reference"):
        hooks.on_page_markdown("<!-- config-reference: x -->\n", Page, None, None)


def test_sphinx_roles_render_as_code(hooks):
    html = ("see :func:<code>svcca</code> and :class:<code>~svccakit.similarity.Decomposition"
            "</code>, not a:b:<code>c</code>")
    assert hooks.on_page_content(html, None, None, None) == (
        "see <code>svcca</code> and <code>Decomposition</code>, not a:b:<code>c</code>")


# ------------------------------------------------------------ benchmark sections

@pytest.fixture(scope="module")
def bench_docs():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        return _load("bench_docs", ROOT / "benchmarks" / "_docs.py")
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


def test_benchmarks_page_has_a_section_per_script(bench_docs):
    text = bench_docs.PAGE.read_text(encoding="utf-8")
    for script in sorted((ROOT / "benchmarks").glob("[!_]*.py")):
        name = script.stem
        assert text.count(f"<!-- bench:{name} -->") == 1, name
        assert text.count(f"<!-- /bench:{name} -->") == 1, name
        assert "--write-docs" in script.read_text(encoding="utf-8"), script.name


def test_write_section_replaces_only_between_markers(bench_docs, tmp_path):
    page = tmp_path / "b.md"
    page.write_text("# B\nintro\n<!-- bench:x -->\nold\n<!-- /bench:x -->\nafter\n"
                    "<!-- bench:y -->\nkeep\n<!-- /bench:y -->\n", encoding="utf-8")
    bench_docs.write_section("x", "new **numbers**\n", page)
    assert page.read_text(encoding="utf-8") == (
        "# B\nintro\n<!-- bench:x -->\n\nnew **numbers**\n\n<!-- /bench:x -->\nafter\n"
        "<!-- bench:y -->\nkeep\n<!-- /bench:y -->\n")
    bench_docs.write_section("x", "again", page)  # idempotent layout
    assert page.read_text(encoding="utf-8").count("again") == 1


def test_write_section_refuses_bad_markers(bench_docs, tmp_path):
    page = tmp_path / "b.md"
    page.write_text("<!-- /bench:x -->\n<!-- bench:x -->\n", encoding="utf-8")
    with pytest.raises(ValueError, match="once each, in that order"):
        bench_docs.write_section("x", "new", page)
    with pytest.raises(ValueError, match="found 0 and 0"):
        bench_docs.write_section("z", "new", page)
    assert page.read_text(encoding="utf-8") == "<!-- /bench:x -->\n<!-- bench:x -->\n"
    with pytest.raises(ValueError, match="name: expected lower-case"):
        bench_docs.write_section("X y", "new", page)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        bench_docs.write_section("x", "new", tmp_path / "missing.md")
    with pytest.raises(TypeError, match="markdown: expected a str"):
        bench_docs.write_section("x", 3, page)


def test_results_block_names_the_command_and_keeps_the_output(bench_docs):
    text = bench_docs.results_block("a  1.0 s\nb  2.0 s\n", command="python benchmarks/t.py")
    assert text.startswith("Measured by `python benchmarks/t.py` on ")
    assert "CPUs" in text
    assert "```text\na  1.0 s\nb  2.0 s\n```" in text
    argv = [str(ROOT / "benchmarks" / "t.py"), "--quick", "--write-docs", "/tmp/p.md", "--n", "2"]
    assert bench_docs._command(argv) == "python benchmarks/t.py --quick --n 2"
    assert bench_docs._command(["benchmarks/t.py", "--write-docs"]) == "python benchmarks/t.py"


def test_a_benchmark_writes_its_section(bench_docs, tmp_path, monkeypatch):
    # the whole path: a real script (smallest sizes) with --write-docs PAGE
    page = tmp_path / "benchmarks.md"
    page.write_text("<!-- bench:timeline -->\nold\n<!-- /bench:timeline -->\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    script = _load("bench_timeline", ROOT / "benchmarks" / "timeline.py")
    monkeypatch.setattr(sys, "argv", ["benchmarks/timeline.py", "--steps", "2", "--layers",
                                      "2", "--width", "8", "--probe", "64", "--write-docs",
                                      str(page)])
    script.main()
    text = page.read_text(encoding="utf-8")
    assert "old" not in text
    assert ("Measured by `python benchmarks/timeline.py --steps 2 --layers 2 --width 8 "
            "--probe 64`") in text
    assert "timeline / floor" in text
