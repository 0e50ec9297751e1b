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


def test_theory_label_for_smooth_activations(capsys):
    # E[phi'^2] is the fraction of active units only for the (shifted) ReLU
    assert main(["theory", "--activation", "tanh"]) == 0
    labels = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert labels[-1] == "E[phi'^2]"
    assert "p(q*)" not in labels


@pytest.mark.parametrize(
    ("activation", "noise", "weights"),
    [("relu", "dropout:0.8", "orthogonal"), ("shifted-relu:1", "dropout:0.8", "orthogonal"),
     ("relu", "gauss:0.5", "orthogonal"), ("tanh", "none", "gaussian")],
)
def test_theory_json_jacobian(capsys, activation, noise, weights):
    args = ["theory", "--activation", activation, "--noise", noise, "--depth", "16",
            "--weights", weights, "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out) == [*KEYS, "jacobian"]
    m = mf.jacobian_moments(activation, noise, depth=16, weights=weights)
    assert out["jacobian"] == {"mean": pytest.approx(m.mean), "var": pytest.approx(m.variance),
                               "var_over_mean2": pytest.approx(m.variance / m.mean**2),
                               "depth": 16, "weights": weights}
    if (activation, noise) == ("relu", "dropout:0.8"):  # 1.5 L + 0.25, mean 1 / p(q*)
        assert out["jacobian"]["mean"] == pytest.approx(2.0)
        assert out["jacobian"]["var"] == pytest.approx(4.0 * 24.25)


def test_theory_text_jacobian(capsys):
    assert main(["theory", "--noise", "dropout:0.8", "--depth", "4", "--weights",
                 "orthogonal"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-4] == "eigenvalues of J J^T (depth 4, orthogonal weights):"
    assert lines[-1].split() == ["var/mean^2", "6.25"]


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--depth", "0"], r"--depth: expected an integer >= 1, got 0"),
        (["--noise", "mu2:1.5", "--depth", "3"], r"needs the law of the noise"),
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
                           jacobian_depths=(2, 3), jacobian_networks=2, c0s=(0.0, 1.0),
                           spectrum_activations=("relu", "tanh"), spectrum_q_stars=(1.0, 0.1),
                           jacobian_noises=("dropout:0.8",), density_depths=(3,),
                           density_points=80, map_cs=(0.0, 1.0), map_networks=2)
    monkeypatch.setattr(dy.FigureConfig, "quick", classmethod(lambda cls, seed=0: tiny))
    assert main(["dynamics", "--out", str(tmp_path / "figs"), "--quick", "--quiet"]) == 0
    headers = {
        "variance": list(dy.CSV_COLUMNS), "correlation": list(dy.CSV_COLUMNS),
        "jacobian": list(dy.CSV_COLUMNS), "correlation_map": list(dy.MAP_CSV_COLUMNS),
        "density": list(dy.DENSITY_CSV_COLUMNS),
    }
    for name, header in headers.items():
        assert (tmp_path / "figs" / f"{name}.png").stat().st_size > 1000
        with open(tmp_path / "figs" / f"{name}.csv") as fh:
            rows = list(csv.reader(fh))
        assert rows[0] == header
        assert len(rows) > 2
    assert headers["variance"][-2:] == ["simulation sem", "n networks"]
    with open(tmp_path / "figs" / "correlation.csv") as fh:
        settings = {r["setting"] for r in csv.DictReader(fh)}
    assert "relu, dropout:0.6, c0=1" in settings
    with open(tmp_path / "figs" / "jacobian.csv") as fh:
        settings = {r["setting"] for r in csv.DictReader(fh)}
    assert settings == {"relu, none, orthogonal", "relu, dropout:0.8, orthogonal",
                        "relu, none, gaussian", "tanh, q*=0.1, none, orthogonal",
                        "tanh, q*=0.1, dropout:0.8, orthogonal", "tanh, q*=0.1, none, gaussian"}
    with open(tmp_path / "figs" / "density.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["setting"] for r in rows} == {"relu, none", "relu, dropout:0.8",
                                            "tanh, q*=0.1, none", "tanh, q*=0.1, dropout:0.8"}
    for setting in {r["setting"] for r in rows}:  # each histogram accounts for every value
        mine = [r for r in rows if r["setting"] == setting]
        assert sum(float(r["simulation fraction"]) for r in mine) == pytest.approx(1.0)
        assert sum(float(r["theory fraction"]) for r in mine) == pytest.approx(1.0, abs=0.01)
    with open(tmp_path / "figs" / "correlation_map.csv") as fh:
        settings = {r["setting"] for r in csv.DictReader(fh)}
    assert settings == {"none", "dropout:0.6", "gauss:0.8"}
