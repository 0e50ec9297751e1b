"""``svccakit theory`` and ``svccakit dynamics`` command lines."""

import csv
import json
import math
import re

import pytest

import svccakit.meanfield as mf
from svccakit.cli import main

KEYS = ["sigma_w", "sigma_b", "mu2", "q_star", "c_star", "chi_c", "xi_c", "trainable_depth", "p"]


def test_theory_json_keys_and_values(capsys):
    assert main(["theory", "--activation", "relu", "--noise", "dropout:0.6", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out) == KEYS
    assert out["sigma_w"] == pytest.approx(math.sqrt(1.2))
    assert out["sigma_b"] == 0.0
    assert out["c_star"] == pytest.approx(mf.critical_point("relu", "dropout:0.6").c_star)


def test_theory_json_shifted_relu_q_star(capsys):
    args = ["theory", "--activation", "shifted-relu:0.5", "--noise", "gauss:0.3", "--q-star", "2", "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == pytest.approx(mf.critical_point("shifted-relu:0.5", "gauss:0.3", 2.0).as_dict())


def test_theory_json_infinite_depth_is_null(capsys):
    assert main(["theory", "--json"]) == 0
    text = capsys.readouterr().out
    assert "Infinity" not in text
    out = json.loads(text)
    assert out["xi_c"] is None
    assert out["trainable_depth"] is None
    assert out["c_star"] == 1.0


def test_theory_text(capsys):
    assert main(["theory", "--noise", "gauss:0.5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    labels = [line.split()[0] for line in lines]
    assert labels == ["activation", "noise", "sigma_w", "sigma_b", "mu2", "q*", "c*", "chi(c*)", "xi_c", "6", "p(q*)"]
    assert lines[2].split()[1] == f"{math.sqrt(2 / 1.25):.6g}"


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--noise", "additive-gauss:0.1"], "no critical point with additive noise"),
        (["--activation", "shifted-relu:-1"], r"needs alpha > 0"),
        (["--noise", "dropout:1.5"], r"keep rate p: expected 0 < p <= 1, got 1.5"),
        (["--noise", "gauss:-0.5"], r"gauss noise sigma: expected a number >= 0, got -0.5"),
        (["--activation", "swish"], r"got 'swish'"),
        (["--q-star", "0"], r"q_star: expected a number > 0, got 0.0"),
    ],
)
def test_theory_errors_are_one_line(capsys, args, match):
    assert main(["theory", *args]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1
    assert captured.err.startswith("svccakit theory: error: ")
    assert "Traceback" not in captured.err
    assert re.search(match, captured.err)


def test_dynamics_refuses_to_overwrite(tmp_path, capsys):
    (tmp_path / "variance.csv").write_text("x")
    assert main(["dynamics", "--out", str(tmp_path), "--quick", "--quiet"]) == 1
    assert "pass overwrite=True (--overwrite) to replace them" in capsys.readouterr().err


def test_dynamics_quick_writes_png_and_csv(tmp_path, monkeypatch):
    from svccakit.meanfield import dynamics as dy

    tiny = dy.FigureConfig(width=40, depth=4, n_inputs=4, n_networks=2, jacobian_width=30,
                           jacobian_depths=(2, 3), jacobian_networks=1, c0s=(0.0, 1.0))
    monkeypatch.setattr(dy.FigureConfig, "quick", classmethod(lambda cls, seed=0: tiny))
    assert main(["dynamics", "--out", str(tmp_path / "figs"), "--quick", "--quiet"]) == 0
    for name in ("variance", "correlation", "jacobian"):
        assert (tmp_path / "figs" / f"{name}.png").stat().st_size > 1000
        with open(tmp_path / "figs" / f"{name}.csv") as fh:
            rows = list(csv.reader(fh))
        assert rows[0] == ["setting", "layer", "theory", "simulation mean", "simulation std"]
        assert len(rows) > 2
    with open(tmp_path / "figs" / "correlation.csv") as fh:
        settings = {r["setting"] for r in csv.DictReader(fh)}
    assert "relu, dropout:0.6, c0=1" in settings
