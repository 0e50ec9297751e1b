"""``svccakit demo`` through the real dispatcher, with few epochs."""

from __future__ import annotations

import re

import pytest

from svccakit.cli import main


def _rows(out: str) -> dict[tuple[str, str], tuple[float, float, float]]:
    rows = {}
    for line in out.splitlines():
        m = re.match(r"(\w+)\s+(\w+)\s+([\d.]+)\s+([\d.]+) \+- ([\d.]+)\s+\d+/\d+$", line)
        if m:
            rows[(m[1], m[2])] = (float(m[3]), float(m[4]), float(m[5]))
    return rows


def test_demo_prints_every_pair_with_its_baseline(capsys):
    assert main(["demo", "--epochs", "2", "--quiet", "--baseline-n", "3", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out
    rows = _rows(out)
    names = ["input", "h1", "h2", "h3"]
    assert set(rows) == {(a, b) for i, a in enumerate(names) for b in names[i + 1:]}
    for value, base, std in rows.values():
        assert 0.0 <= base < value <= 1.0  # trained layers beat their shuffled chance level
        assert std >= 0.0


def test_demo_is_deterministic(capsys):
    args = ["demo", "--epochs", "1", "--quiet", "--baseline-n", "2", "--seed", "2"]
    main(args)
    first = capsys.readouterr().out
    main(args)
    assert capsys.readouterr().out == first


@pytest.mark.parametrize(
    ("flag", "value", "match"),
    [("--epochs", "0", "--epochs must be >= 1, got 0"),
     ("--seed", "-1", "--seed must be >= 0, got -1"),
     ("--baseline-n", "0", "--baseline-n must be >= 1, got 0")],
)
def test_demo_bad_arguments(capsys, flag, value, match):
    assert main(["demo", "--quiet", flag, value]) == 1
    assert f"svccakit demo: error: {match}" in capsys.readouterr().err
