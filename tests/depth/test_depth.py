"""svccakit.depth: the depth x noise grid (issues 6 and 12), end to end on a tiny grid."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from svccakit.cli import main  # noqa: E402
from svccakit.depth import experiment as dp  # noqa: E402


def _arccos_xi(mu2: float) -> float:
    """6 xi_c of critical noisy ReLU from the arc-cosine kernel, computed independently:
    c' = (sqrt(1 - c^2) + (pi - arccos c) c) / (pi mu2), chi = (pi - arccos c*) / (pi mu2)."""
    c = 0.0
    for _ in range(10_000):
        c = (math.sqrt(1 - c * c) + (math.pi - math.acos(c)) * c) / (math.pi * mu2)
    chi = (math.pi - math.acos(c)) / (math.pi * mu2)
    return -6.0 / math.log(chi)


def _tiny(**grid):
    exp = dp._experiment(noises=["dropout:0.2", "none"], width=16, steps=40, seeds=[0, 1],
                         task={"name": "digits", "n_train": 300, "n_val": 100, "n_probe": 8})
    kw = {"depths": (1, 5), "checkpoints": (10,), "variance_max_depth": 20,
          "variance_width": 16, "variance_n_sigma": 4}
    return dp.DepthConfig(experiment=exp, **{**kw, **grid})


# ----------------------------------------------------------------------- theory


@pytest.mark.parametrize(("spec", "mu2"), [("dropout:0.1", 10.0), ("dropout:0.5", 2.0),
                                           ("dropout:0.9", 1 / 0.9), ("gauss:1", 2.0),
                                           ("gauss:0.5", 1.25)])
def test_theory_depth_matches_arccos_kernel(spec, mu2):
    sigma_w, xi, six = dp.theory_depth(spec)
    assert sigma_w == pytest.approx(math.sqrt(2 / mu2))
    assert six == pytest.approx(6 * xi)
    assert six == pytest.approx(_arccos_xi(mu2), rel=1e-6)


def test_theory_depth_grows_as_noise_shrinks_and_is_infinite_without():
    six = [dp.theory_depth(f"dropout:{p}")[2] for p in (0.1, 0.3, 0.5, 0.7, 0.9, 0.99)]
    assert np.all(np.diff(six) > 0)
    assert dp.theory_depth("none")[2] == math.inf
    # equal mu2 -> equal depth scale, whatever the noise's distribution
    assert dp.theory_depth("gauss:1")[2] == pytest.approx(dp.theory_depth("dropout:0.5")[2])


def test_theory_depth_rejects_additive_noise():
    with pytest.raises(ValueError, match="noise: expected 'none', 'dropout:P' or 'gauss:SIGMA'"):
        dp.theory_depth("additive-gauss:0.1")


# ----------------------------------------------------------------- variance map


def test_variance_map_boundary_follows_theory():
    vm = dp.variance_heatmap("dropout:0.5", [0.3, 1.0, 4.0], max_depth=80, width=64, n_inputs=32)
    assert vm.log10_q.shape == (3, 80)
    assert vm.critical_sigma_w2 == pytest.approx(1.0)
    # at criticality the variance only random-walks (finite width), far from float32's
    # limits (+-38), while off criticality it moves ~0.5 decades per layer
    assert np.all(np.abs(vm.log10_q[1]) < 4)
    # off criticality it leaves float32 where the theory says, within 10% (the finite-width
    # random walk of log q shifts the crossing by a few layers)
    for i in (0, 2):
        assert np.isfinite(vm.theory_boundary[i])
        assert vm.measured_boundary[i] == pytest.approx(vm.theory_boundary[i], rel=0.1)
    assert np.isnan(vm.theory_boundary[1])
    assert np.isnan(vm.measured_boundary[1])
    # the slope of log q with depth is log10(sigma_w^2 mu2 / 2)
    slope = np.polyfit(vm.depths[:30], vm.log10_q[0, :30], 1)[0]
    assert slope == pytest.approx(math.log10(0.3), abs=0.02)
    assert vm.agreement > 0.95


def test_variance_map_is_deterministic():
    a = dp.variance_heatmap("gauss:1", [0.5, 2.0], max_depth=10, width=8, seed=3)
    b = dp.variance_heatmap("gauss:1", [0.5, 2.0], max_depth=10, width=8, seed=3)
    np.testing.assert_array_equal(a.log10_q, b.log10_q)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"sigma_w2": [0.5, -1.0]}, "sigma_w2: expected a non-empty 1-D sequence of numbers > 0"),
    ({"sigma_w2": []}, "sigma_w2: expected a non-empty 1-D sequence"),
    ({"max_depth": 0}, "max_depth: expected an integer >= 1, got 0"),
    ({"width": 2.5}, "width: expected an integer, got float 2.5"),
    ({"noise": "additive-laplace:1"}, "noise: expected 'none', 'dropout:P'"),
])
def test_variance_map_errors(kwargs, match):
    with pytest.raises((TypeError, ValueError), match=match):
        dp.variance_heatmap(**{"noise": "dropout:0.5", **kwargs})


def test_variance_figure():
    vm = dp.variance_heatmap("dropout:0.5", [0.3, 1.0, 3.0], max_depth=40, width=16)
    fig = dp.variance_figure(vm)
    assert fig.axes[0].get_xlabel().startswith("depth")
    plt.close(fig)
    with pytest.raises(TypeError, match="vmap: expected a VarianceMap, got dict"):
        dp.variance_figure({})


# ------------------------------------------------------------------- the grid


def test_trivial_loss_is_variance_around_training_mean():
    rng = np.random.default_rng(0)
    train, val = rng.normal(2.0, 1.0, (500, 3)), rng.normal(2.0, 1.0, (400, 3))
    assert dp.trivial_loss(train, val) == pytest.approx(np.mean((val - train.mean(0)) ** 2))
    assert dp.trivial_loss(train, val) == pytest.approx(1.0, abs=0.1)


def test_reconstruction_task_targets_are_inputs():
    task = dp.reconstruction_task(_tiny().experiment)
    assert task.kind == "regression"
    assert task.x_train.shape == (300, 64)
    assert task.x_val.shape == (100, 64)
    assert bool((task.y_train == task.x_train).all())
    assert bool((task.y_val == task.x_val).all())


def test_tiny_grid_end_to_end(tmp_path):
    config = _tiny()
    result = dp.run_depth(config, tmp_path / "out", n_jobs=1)
    out = tmp_path / "out"
    for name in ("config.toml", "grid.csv", "kscan.csv", "predictors.csv", "boundaries.csv",
                 "variance.csv", "report.md", "figures/loss-dropout.png",
                 "figures/kscan.png", "figures/budget.png", "figures/variance.png"):
        assert (out / name).is_file(), name
    assert not (out / "figures" / "loss-gauss.png").exists()  # no Gaussian noise in the grid
    assert not (out / "runs").exists()  # the batched trainer writes no run files
    table = pd.read_csv(out / "grid.csv")
    for col in ("noise", "depth", "seed", "steps", "sigma_w", "train_loss", "val_loss", "xi_c",
                "six_xi_c", "trainable", "agrees"):
        assert col in table.columns
    assert len(table) == 2 * 2 * 2 * 2  # noises x depths x seeds x budgets
    assert set(table["steps"]) == {10, 40}
    assert set(table["depth"]) == {1, 5}
    assert np.all(np.isfinite(table["train_loss"]))
    assert np.all(table["val_loss"] > 0)
    last = table[table["steps"] == 40]
    np.testing.assert_allclose(last["sigma_w"], [math.sqrt(0.4)] * 4 + [math.sqrt(2)] * 4)
    # six_xi_c from the theory, agrees = (measured == theory)
    assert table["six_xi_c"].iloc[0] == pytest.approx(dp.theory_depth("dropout:0.2")[2])
    assert np.all(table["agrees"] == ((table["val_loss"] / table["trivial_loss"] < 0.9)
                                      == (table["depth"] <= table["six_xi_c"])))
    # the grid's losses are the batched trainer's for those networks
    from svccakit.depth.batched import train_stack

    exp = config.experiment.updated({"depth": 5})
    direct = train_stack(exp, dp.reconstruction_task(exp), [("dropout:0.2", 1)], [10, 40])
    row = table[(table["noise"] == "dropout:0.2") & (table["depth"] == 5) & (table["seed"] == 1)]
    np.testing.assert_allclose(row.sort_values("steps")["val_loss"], direct[0, :, 1], rtol=1e-6)
    assert result.agreement == pytest.approx(result.grid.cells()["agrees"].mean())
    assert result.train_cpu_seconds > 0
    # the k-scan: 12 k per budget, the six predictors per budget, one boundary per noise
    kscan = pd.read_csv(out / "kscan.csv")
    assert len(kscan) == 12 * 2
    assert list(kscan["k"][:12]) == list(range(1, 13))
    predictors = pd.read_csv(out / "predictors.csv")
    assert set(predictors["predictor"]) == {"nothing trains", "everything trains", "6 xi_c",
                                            "best k xi_c", "best fixed depth",
                                            "best noise cut-off"}
    assert len(pd.read_csv(out / "boundaries.csv")) == 2 * 2
    report = (out / "report.md").read_text()
    assert f"**{result.agreement:.1%}**" in report
    assert "## Which boundary fits: depth <= k xi_c for k = 1..12" in report
    assert "Floor: nothing trains" in report
    assert "## Noise-free column" in report
    assert "## Training budget" in report
    assert "CPU time of the training" in report
    assert "![kscan](figures/kscan.png)" in report
    assert "![loss-dropout](figures/loss-dropout.png)" in report
    # config round trip and the analysis reader
    assert dp.DepthConfig.from_toml(out / "config.toml") == config
    grid = dp.DepthGrid.from_csv(out / "grid.csv", threshold=10.0)
    assert grid.budgets == (10, 40)
    assert grid.cells()["trainable"].all()
    assert grid.cells(10)["steps"].eq(10).all()
    with pytest.raises(FileExistsError, match="already holds depth outputs"):
        dp.run_depth(config, out, n_jobs=1)


def test_noise_limits_depth_directionally():
    """The effect itself, cheaply: heavy noise deep learns nothing, no noise shallow learns."""
    exp = dp._experiment(noises=["dropout:0.1", "none"], width=32, steps=300,
                         task={"name": "digits", "n_train": 600, "n_val": 200, "n_probe": 4})
    grid = dp.depth_grid(dp.DepthConfig(experiment=exp, depths=(2, 12)), n_jobs=1)
    t = grid.table.set_index(["noise", "depth"])["rel_val_loss"]
    assert t[("dropout:0.1", 12)] == pytest.approx(1.0, abs=0.05)
    assert t[("none", 2)] < 0.7


def test_cells_average_seeds_and_loss_figure():
    rows = []
    for noise, value in (("dropout:0.3", 0.3), ("dropout:0.9", 0.9)):
        _, xi, six = dp.theory_depth(noise)
        for depth in (2, 8):
            for seed, rel in ((0, 0.5 if depth <= six else 1.0), (1, 0.7 if depth <= six else 1.02)):
                rows.append({"noise": noise, "noise_kind": "dropout", "noise_value": value,
                             "depth": depth, "seed": seed, "width": 8, "steps": 1,
                             "sigma_w": 1.0, "mu2": 1 / value, "xi_c": xi, "six_xi_c": six,
                             "train_loss": rel, "val_loss": rel, "trivial_loss": 1.0,
                             "trivial_train_loss": 1.0,
                             "rel_train_loss": rel, "rel_val_loss": rel,
                             "trainable_theory": depth <= six, "trainable": rel < 0.9,
                             "agrees": (rel < 0.9) == (depth <= six)})
    grid = dp.DepthGrid(pd.DataFrame(rows), threshold=0.9)
    cells = grid.cells()
    assert len(cells) == 4
    assert set(cells["n_seeds"]) == {2}
    assert grid.agreement() == 1.0
    assert grid.agreement(0.55) == 0.25  # the three cells at mean 0.6 now count as untrainable
    fig = dp.loss_figure(grid)
    assert len(fig.axes) == 3  # two heatmaps and a colour bar
    plt.close(fig)
    with pytest.raises(ValueError, match=r"kind: expected one of \['dropout'\].*got 'gauss'"):
        dp.loss_figure(grid, "gauss")
    with pytest.raises(TypeError, match="grid: expected a DepthGrid, got list"):
        dp.loss_figure([])
    with pytest.raises(ValueError, match=r"steps: expected one of the grid's budgets \[1\], got 5"):
        dp.loss_figure(grid, steps=5)
    with pytest.raises(TypeError, match="steps: expected an integer"):
        grid.cells(steps=1.5)
    with pytest.raises(ValueError, match="threshold: expected a number > 0, got 0"):
        grid.agreement(0)


# ------------------------------------------------------------------ config errors


@pytest.mark.parametrize(("change", "match"), [
    ({"depths": ()}, r"depths: expected a non-empty list of integers >= 1, got \(\)"),
    ({"depths": (2, 0)}, "depths: expected an integer >= 1, got 0"),
    ({"threshold": -1.0}, "threshold: expected a number > 0, got -1.0"),
    ({"variance_noise": "additive-gauss:1"}, "variance_noise: expected 'none', 'dropout:P'"),
    ({"variance_n_sigma": 1}, "variance_n_sigma: expected an integer >= 2, got 1"),
    ({"checkpoints": (40,)}, r"checkpoints: expected an integer in \[1, 39\], got 40"),
    ({"checkpoints": "10"}, "checkpoints: expected a list of step counts below steps"),
])
def test_depth_config_errors(change, match):
    with pytest.raises(ValueError, match=match):
        _tiny(**change)


@pytest.mark.parametrize(("exp", "match"), [
    ({"task": {"name": "teacher", "n_train": 64, "n_val": 8}},
     "task.name: the depth experiment reconstructs digits"),
    ({"activations": ["shifted-relu:0.5"]}, r"activations: the depth experiment uses ReLU"),
    ({"inits": ["pytorch-default"]}, "inits: the depth experiment uses the critical initialisation"),
    ({"noises": ["additive-gauss:0.1"]}, "noises: expected 'none', 'dropout:P' or 'gauss:SIGMA'"),
    ({"task": {"name": "digits", "n_val": 0}}, "task.n_val: the depth experiment needs a validation"),
])
def test_depth_config_rejects_other_experiments(exp, match):
    with pytest.raises(ValueError, match=match):
        dp.DepthConfig(experiment=dp._experiment(**exp), depths=(2,))


def test_depth_config_type_and_toml_errors(tmp_path):
    with pytest.raises(TypeError, match="experiment: expected an ExperimentConfig, got dict"):
        dp.DepthConfig(experiment={}, depths=(2,))
    bad = tmp_path / "bad.toml"
    bad.write_text("[depth_grid]\ndepthz = [2]\n")
    with pytest.raises(ValueError, match=r"unknown config key\(s\) \['depth_grid.depthz'\]"):
        dp.DepthConfig.from_toml(bad)
    bad.write_text("depth_grid = [")
    with pytest.raises(ValueError, match="is not valid TOML"):
        dp.DepthConfig.from_toml(bad)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        dp.DepthConfig.from_toml(tmp_path / "missing.toml")
    # missing keys take the quick default's values
    partial = tmp_path / "partial.toml"
    partial.write_text("width = 32\n[depth_grid]\ndepths = [3, 4]\n")
    cfg = dp.DepthConfig.from_toml(partial)
    assert cfg.experiment.width == 32
    assert cfg.depths == (3, 4)
    assert cfg.experiment.noises == dp.quick_config().experiment.noises
    assert cfg.checkpoints == dp.quick_config().checkpoints
    # the default checkpoint follows steps: a quarter of them
    partial.write_text("steps = 200\n")
    assert dp.DepthConfig.from_toml(partial).budgets() == (50, 200)


def test_depth_grid_errors(tmp_path):
    config = _tiny()
    with pytest.raises(TypeError, match="config: expected a DepthConfig, got str"):
        dp.depth_grid("x")
    with pytest.raises(ValueError, match="n_jobs: expected a non-zero integer"):
        dp.depth_grid(config, n_jobs=0)
    with pytest.raises(TypeError, match="config: expected a DepthConfig, got int"):
        dp.run_depth(3, tmp_path / "o")
    bad = tmp_path / "grid.csv"
    pd.DataFrame({"noise": ["none"]}).to_csv(bad, index=False)
    with pytest.raises(ValueError, match=r"grid table .* missing columns \['noise_kind'"):
        dp.DepthGrid.from_csv(bad)


def test_presets():
    quick, full = dp.quick_config(), dp.full_config()
    assert full.experiment.width == 1000
    assert full.depths == tuple(range(2, 41, 2))
    kinds = {dp.noise_axis([n])[0] for n in full.experiment.noises}
    assert kinds == {"dropout", "gauss"}
    for preset in (quick, full):
        e = preset.experiment
        assert len(e.seeds) >= 3
        assert "none" in e.noises  # the noise-free column
        assert len(preset.budgets()) == 2
    # the quick grid brackets the boundary: for every noise level some depth is above
    # 6 xi_c, except at the low-noise end, which is sampled densely (three levels with
    # 6 xi_c beyond the deepest network) to test the small k
    six = {n: dp.theory_depth(n)[2] for n in quick.experiment.noises}
    beyond = [n for n, v in six.items() if v >= max(quick.depths)]
    assert "none" in beyond
    assert len(beyond) >= 3
    assert all(min(quick.depths) <= v for n, v in six.items())


# -------------------------------------------------------------------------- CLI


def test_cli_runs_a_config(tmp_path, capsys):
    cfg = tmp_path / "depth.toml"
    _tiny(depths=(1,)).to_toml(cfg)
    out = tmp_path / "cli"
    assert main(["depth", "--config", str(cfg), "--out", str(out), "--n-jobs", "1"]) == 0
    printed = capsys.readouterr().out
    assert "steps: 6 xi_c agrees in" in printed
    assert "best k = " in printed
    assert (out / "report.md").is_file()
    assert main(["depth", "--config", str(cfg), "--out", str(out), "--quiet"]) == 1
    assert "already holds depth outputs" in capsys.readouterr().err
    assert main(["depth", "--out", str(out), "--n-jobs", "0"]) == 1
    assert "--n-jobs must be a non-zero integer" in capsys.readouterr().err


def test_cli_help_lists_depth(capsys):
    with pytest.raises(SystemExit):
        main(["depth", "--help"])
    text = capsys.readouterr().out
    assert "--full" in text
    assert "--scheduler" in text


def test_dask_scheduler_gives_the_same_grid():
    import distributed  # the [test] extra installs dask[distributed]

    config = _tiny(depths=(2,))
    local = dp.depth_grid(config, n_jobs=1)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        remote = dp.depth_grid(config, scheduler=cluster.scheduler_address)
    np.testing.assert_allclose(remote.table["val_loss"], local.table["val_loss"], rtol=1e-6)
