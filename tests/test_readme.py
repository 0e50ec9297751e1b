"""The README's set-up commands and what CI runs stay the same commands."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _command_after(marker: str) -> str:
    lines = (ROOT / "README.md").read_text().splitlines()
    start = lines.index(marker)
    fence = next(i for i in range(start, len(lines)) if lines[i].startswith("```"))
    return lines[fence + 1].strip()


def test_ci_runs_the_readme_test_command():
    command = _command_after("<!-- test-command -->")
    assert "pytest" in command
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert command in ci_lines


def test_readme_commands_pin_the_cpu_torch_build():
    for marker in ("<!-- main-command -->", "<!-- test-command -->"):
        assert "torch==2.13.0" in _command_after(marker)
