"""The examples of docs/record.md and docs/record-your-model.md run (each page's
python blocks in order, in one namespace, in a temporary directory; a block after a
``<!-- no-run -->`` line is skipped)."""

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "docs" / "record.md", ROOT / "docs" / "record-your-model.md"]


def python_blocks(page: Path) -> list[str]:
    lines = page.read_text(encoding="utf-8").splitlines()
    out, i = [], 0
    while i < len(lines):
        if re.match(r"^```python\s*$", lines[i]):
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            before = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()),
                          "")
            if before != "<!-- no-run -->":
                out.append("\n".join(lines[i + 1:end]))
            i = end + 1
        else:
            i += 1
    return out


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_page_examples_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    blocks = python_blocks(page)
    assert blocks
    namespace = {"__name__": f"docs_{page.stem}"}
    for block in blocks:
        exec(compile(block, str(page), "exec"), namespace)  # noqa: S102
    assert os.listdir(tmp_path)
