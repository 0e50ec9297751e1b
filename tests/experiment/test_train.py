"""svccakit.train: tiny runs end to end, determinism, the reference, the grid, hooks/train.py."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from svccakit.experiment.config import ExperimentConfig
from svccakit.experiment.tasks import custom_task, make_task
from svccakit.experiment.train import (
    GridResult,
    build_model,
    grid_reference_path,
    grid_runs,
    optimal_network,
    record_reference,
    run_grid,
    run_name,
    train_reference,
    train_run,
)
from svccakit.record.recorder import log_schedule
from svccakit.record.store import open_run

LAYERS = ["act1", "act2", "act3", "out"]


def tiny(**changes) -> ExperimentConfig:
    base = {"depth": 3, "width": 8, "steps": 20, "seeds": [0], "n_jobs": 1,
            "inits": ["critical", "pytorch-default"], "activations": ["relu", "shifted-relu:0.5"],
            "noises": ["none"], "task.name": "parity", "task.n_bits": 4, "task.n_probe": 16,
            "task.n_train": 0, "task.n_val": 0, "schedule.n": 5, "optimiser.batch_size": 8}
    return ExperimentConfig().updated(base | changes)


def snapshot(path):
    with open_run(path) as run:
        return (run.steps.copy(), {k: v.copy() for k, v in run.metrics.items()},
                {name: np.stack([run.activations(name, i) for i in range(len(run))])
                 for name in run.layer_names})


def test_train_run_end_to_end(tmp_path):
    config = tiny(**{"task.n_val": 4})
    path = train_run(config, init="critical", activation="shifted-relu:0.5", seed=3,
                     path=tmp_path / "runs" / "a.h5")
    assert path == tmp_path / "runs" / "a.h5"
    with open_run(path) as run:
        assert list(run.steps) == log_schedule(20, 5)
        assert run.layer_names == LAYERS
        assert set(run.metrics) == {"loss", "accuracy", "val_loss", "val_accuracy"}
        assert np.isfinite(run.metrics["loss"]).all()
        assert ((run.metrics["accuracy"] >= 0) & (run.metrics["accuracy"] <= 1)).all()
        assert run.activations("act2", 0).shape == (16, 8)
        assert run.activations("out", len(run) - 1).shape == (16, 2)
        np.testing.assert_array_equal(run.probe, make_task(config).probe.numpy())
        assert run.config["experiment"] == config.to_dict()
        assert run.config["run"] == {
            "name": "a", "role": "student", "task": "parity", "init": "critical",
            "activation": "shifted-relu:0.5", "noise": "none", "seed": 3, "depth": 3, "width": 8}


def test_training_changes_the_network_and_lowers_the_loss(tmp_path):
    config = tiny(steps=60, **{"optimiser.name": "adam", "optimiser.lr": 0.02})
    steps, metrics, acts = snapshot(train_run(config, init="critical", activation="relu",
                                              path=tmp_path / "r.h5"))
    assert metrics["loss"][-1] < 0.5 * metrics["loss"][0]
    assert not np.array_equal(acts["act1"][0], acts["act1"][-1])


def test_same_seed_same_run_other_seed_other_run(tmp_path):
    config = tiny(noises=["dropout:0.8"], **{"schedule.kind": "every", "schedule.every": 7})
    runs = [snapshot(train_run(config, init="pytorch-default", activation="relu", noise="dropout:0.8",
                               seed=s, path=tmp_path / f"{i}.h5"))
            for i, s in enumerate((1, 1, 2))]
    assert list(runs[0][0]) == [0, 7, 14, 20]
    for a, b in ((runs[0], runs[1]),):
        np.testing.assert_array_equal(a[0], b[0])
        for key in a[1]:
            np.testing.assert_array_equal(a[1][key], b[1][key])
        for key in a[2]:
            np.testing.assert_array_equal(a[2][key], b[2][key])
    assert not np.array_equal(runs[0][2]["act1"], runs[2][2]["act1"])


def test_build_model_inits(tmp_path):
    config = tiny()
    task = make_task(config)
    crit = build_model(config, task, init="critical", activation="relu", generator=0)
    rand = build_model(config, task, init="pytorch-default", activation="relu", generator=0)
    # critical ReLU: sigma_w^2 = 2 (Var W = 2 / fan_in); PyTorch default: 1/3
    assert crit.fc2.weight.var().item() == pytest.approx(2 / 8, rel=0.5)
    assert rand.fc2.weight.var().item() == pytest.approx(1 / 24, rel=0.5)
    assert list(dict(crit.named_children())) == ["fc1", "act1", "fc2", "act2", "fc3", "act3", "out"]
    with pytest.raises(ValueError, match=r"init: expected one of 'critical', 'pytorch-default', "
                                         r"'xavier', 'lecun', 'he', got 'zero'"):
        build_model(config, task, init="zero", activation="relu")


def test_parity_reference_is_exact(tmp_path):
    config = tiny(**{"task.n_val": 3})
    path = record_reference(config, tmp_path / "reference.h5")
    with open_run(path) as run:
        assert list(run.steps) == [0]
        assert run.layer_names == LAYERS
        assert run.metrics["accuracy"][0] == 1.0
        assert run.metrics["val_accuracy"][0] == 1.0
        assert run.metrics["loss"][0] < 1e-3
        assert run.config["run"]["role"] == "reference"
        assert run.config["run"]["init"] == "optimal"
        np.testing.assert_array_equal(run.probe, make_task(config).probe.numpy())
        with torch.no_grad():
            logits = optimal_network(config)(torch.from_numpy(run.probe))
        np.testing.assert_allclose(run.activations("out", 0), logits.numpy())


def test_teacher_reference_and_run(tmp_path):
    config = tiny(**{"task.name": "teacher", "task.n_train": 64, "task.in_features": 5,
                     "task.out_features": 2})
    ref = record_reference(config, tmp_path / "ref.h5", activation="shifted-relu:0.5")
    with open_run(ref) as run:
        assert run.metrics["loss"][0] < 1e-10
        assert "accuracy" not in run.metrics
        assert run.config["run"]["activation"] == "shifted-relu:0.5"
    with open_run(train_run(config, init="critical", activation="relu",
                            path=tmp_path / "s.h5")) as run:
        assert set(run.metrics) == {"loss"}
        assert run.activations("out", 0).shape == (16, 2)


def test_digits_reference_keeps_the_best_of_several(tmp_path):
    config = tiny(**{"task.name": "digits", "task.n_train": 200, "task.n_val": 100,
                     "task.reference_seeds": 2, "task.reference_steps": 20})
    task = make_task(config)

    def val_accuracy(model):
        with torch.no_grad():
            return (model(task.x_val).argmax(1) == task.y_val).float().mean().item()

    acc = val_accuracy(train_reference(config))
    first = val_accuracy(train_reference(config.updated({"task.reference_seeds": 1})))
    assert acc >= first
    assert acc > 0.15
    path = record_reference(config, tmp_path / "ref.h5")
    with open_run(path) as run:
        assert run.config["run"]["init"] == "trained"
        assert run.metrics["val_accuracy"][0] == pytest.approx(acc)


def test_user_task_model_and_reference(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    task = custom_task(x, y, probe=x[:10], probe_y=y[:10])
    config = tiny()

    from svccakit.meanfield.nets import mlp

    path = train_run(config, init="critical", activation="relu", task=task,
                     model=lambda: mlp(3, 6, 2, 2), path=tmp_path / "mine.h5")
    with open_run(path) as run:
        assert run.layer_names == ["act1", "act2", "out"]
        assert run.activations("act1", 0).shape == (10, 6)
    ref = record_reference(config, tmp_path / "ref.h5", task=task, model=mlp(3, 6, 2, 2))
    with open_run(ref) as run:
        assert run.config["run"]["init"] == "trained"
        assert run.config["run"]["task"] == "custom"
    with pytest.raises(TypeError, match=r"model: the factory returned int, expected an nn.Module"):
        train_run(config, init="critical", activation="relu", task=task, model=lambda: 3,
                  path=tmp_path / "bad.h5")


def test_train_run_errors(tmp_path):
    config = tiny()
    existing = tmp_path / "x.h5"
    existing.write_bytes(b"")
    with pytest.raises(FileExistsError, match=r"x.h5' already exists; pass overwrite=True"):
        train_run(config, init="critical", activation="relu", path=existing)
    with pytest.raises(TypeError, match=r"config: expected an svccakit.config.ExperimentConfig, got dict"):
        train_run({}, init="critical", activation="relu", path=tmp_path / "a.h5")
    with pytest.raises(ValueError, match=r"seed: expected an integer >= 0, got -1"):
        train_run(config, init="critical", activation="relu", seed=-1, path=tmp_path / "a.h5")
    with pytest.raises(TypeError, match=r"path: expected a str or path-like, got int"):
        train_run(config, init="critical", activation="relu", path=3)
    with pytest.raises(TypeError, match=r"task: expected an svccakit.tasks.Task or None, got str"):
        train_run(config, init="critical", activation="relu", task="parity", path=tmp_path / "a.h5")
    with pytest.raises(TypeError, match=r"model: expected an nn.Module, a factory or None, got int"):
        train_run(config, init="critical", activation="relu", model=3, path=tmp_path / "a.h5")
    with pytest.raises(FloatingPointError, match=r"training diverged at step \d+ .* lower optimiser.lr"):
        train_run(tiny(**{"optimiser.lr": 1e30, "optimiser.on_divergence": "raise"}),
                  init="critical", activation="relu", path=tmp_path / "a.h5")
    with pytest.raises(ValueError, match=r"task.name: 'digits' has no hand-coded optimal network"):
        optimal_network(tiny(**{"task.name": "digits"}))
    with pytest.raises(TypeError, match=r"model: expected an nn.Module or None, got str"):
        record_reference(config, tmp_path / "r.h5", model="net")


def test_grid_names_and_paths(tmp_path):
    config = tiny(seeds=[0, 2], noises=["none", "dropout:0.9"])
    names = [g["name"] for g in grid_runs(config)]
    assert len(names) == 2 * 2 * 2 * 2
    assert len(set(names)) == 16
    assert names[0] == "critical-relu-none-s0"
    assert run_name("pytorch-default", "shifted-relu:0.5", "dropout:0.9", 1) == "pytorch-default-shifted-relu0.5-dropout0.9-s1"
    assert grid_reference_path(tmp_path) == tmp_path / "runs" / "reference.h5"


def test_run_grid_parallel_and_overwrite(tmp_path):
    config = tiny(steps=10, seeds=[0, 1], activations=["relu"])
    result = run_grid(config, tmp_path, n_jobs=2, progress=False)
    assert isinstance(result, GridResult)
    assert result.reference == tmp_path / "runs" / "reference.h5"
    assert [p.name for p in result.runs] == [
        "critical-relu-none-s0.h5", "critical-relu-none-s1.h5",
        "pytorch-default-relu-none-s0.h5", "pytorch-default-relu-none-s1.h5"]
    for p in (result.reference, *result.runs):
        with open_run(p) as run:
            assert run.layer_names == LAYERS
    serial = tmp_path / "serial"
    run_grid(config.updated({"inits": ["pytorch-default"], "seeds": [1]}), serial, n_jobs=1, progress=False)
    a, b = snapshot(result.runs[3]), snapshot(serial / "runs" / "pytorch-default-relu-none-s1.h5")
    np.testing.assert_array_equal(a[2]["act3"], b[2]["act3"])  # processes == in-process

    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").iterdir()}
    with pytest.raises(FileExistsError, match=r"5 run file\(s\) already exist: .*reference.h5.*"
                                              r"critical-relu-none-s0.h5.*overwrite=True"):
        run_grid(config.updated({"steps": 11}), tmp_path, n_jobs=2, progress=False)
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").iterdir()} == before
    run_grid(config.updated({"steps": 11, "inits": ["critical"], "seeds": [0]}), tmp_path,
             n_jobs=1, overwrite=True, progress=False)
    with open_run(result.runs[0]) as run:
        assert run.steps[-1] == 11


def test_run_grid_with_a_given_reference_and_errors(tmp_path):
    ref = record_reference(tiny(), tmp_path / "mine.h5")
    config = tiny(inits=["critical"], **{"task.reference": str(ref)})
    result = run_grid(config, tmp_path / "out", n_jobs=1, progress=False)
    assert result.reference == ref
    assert not (tmp_path / "out" / "runs" / "reference.h5").exists()
    with pytest.raises(FileNotFoundError, match=r"task.reference: run file '.*nope.h5' does not exist"):
        run_grid(tiny(**{"task.reference": str(tmp_path / "nope.h5")}), tmp_path / "o2")
    with pytest.raises(ValueError, match=r"n_jobs: expected a non-zero integer"):
        run_grid(tiny(), tmp_path / "o3", n_jobs=0)
    with pytest.raises(TypeError, match=r"out_dir: expected a str or path-like, got int"):
        run_grid(tiny(), 5)


def load_hook():
    path = Path(__file__).resolve().parents[2] / "hooks" / "train.py"
    spec = importlib.util.spec_from_file_location("hooks_train", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_hooks_train_script(tmp_path, capsys):
    hook = load_hook()
    common = ["--depth", "3", "--width", "8", "--steps", "5", "--task", "parity",
              "--noise", "none", "--set", "task.n_bits=4", "--set", "task.n_probe=16",
              "--set", "schedule.n=3", "--quiet"]
    out = tmp_path / "o"
    assert hook.main(["--init", "pytorch-default", "--activation", "shifted-relu:0.5", "--seed", "4",
                      "--reference", "--out", str(out), *common]) == 0
    assert (out / "runs" / "pytorch-default-shifted-relu0.5-none-s4.h5").is_file()
    assert (out / "runs" / "reference.h5").is_file()
    with open_run(out / "runs" / "pytorch-default-shifted-relu0.5-none-s4.h5") as run:
        assert run.config["experiment"]["task"]["n_bits"] == 4
        assert run.config["experiment"]["task"]["n_train"] == 0  # --task parity: all inputs
        assert list(run.steps) == log_schedule(5, 3)
    assert hook.main(["--grid", "--seed", "0", "--activation", "relu", "--n-jobs", "1",
                      "--out", str(tmp_path / "g"), *common]) == 0
    assert len(list((tmp_path / "g" / "runs").glob("*.h5"))) == 3  # critical, he, reference
    capsys.readouterr()
    assert hook.main(["--seed", "0", "1", "--out", str(out), *common]) == 1
    assert "--seed: a single run takes one value, got [0, 1]" in capsys.readouterr().err
    assert hook.main(["--set", "depth", *common]) == 1
    assert "--set: expected KEY=VALUE, got 'depth'" in capsys.readouterr().err
    assert hook.main(["--set", "task.n_bitz=3", *common]) == 1
    assert "unknown config key 'task.n_bitz'" in capsys.readouterr().err


def test_a_diverging_run_stops_and_keeps_its_finite_snapshots(tmp_path):
    config = tiny(**{"optimiser.lr": 1e30, "steps": 50})
    assert config.optimiser.on_divergence == "stop"
    path = train_run(config, init="critical", activation="relu", path=tmp_path / "d.h5")
    with open_run(path) as run:
        steps = np.asarray(run.steps)
        assert steps[0] == 0
        assert steps[-1] < 50
        for layer in run.layer_names:
            for t in range(len(steps)):
                assert np.isfinite(np.asarray(run.activations(layer, t))).all()


@pytest.mark.parametrize("task", ["teacher", "parity"])
def test_the_recorded_optimum_is_exact_on_the_probe(tmp_path, task):
    # the reference run file holds the optimum's layers on the probe: its output must be
    # the task's own targets (teacher) or give every probe label (parity)
    from svccakit.experiment.registry import get_task

    config = ExperimentConfig().updated({"depth": 4, "width": 16, **get_task(task).config_changes(),
                                         "task.n_bits": 6, "task.in_features": 5,
                                         "task.n_train": 0 if task == "parity" else 64,
                                         "task.n_val": 0, "task.n_probe": 64})
    probe_task = make_task(config)
    path = record_reference(config, tmp_path / "ref.h5")
    with open_run(path) as run:
        out = np.asarray(run.activations("out", 0), dtype=np.float64)
        np.testing.assert_array_equal(run.probe, probe_task.probe.numpy())
    if task == "teacher":
        np.testing.assert_allclose(out, probe_task.probe_y.numpy(), rtol=1e-5, atol=1e-6)
    else:
        np.testing.assert_array_equal(out.argmax(axis=1), probe_task.probe_y.numpy())
        assert (np.abs(out[:, 1] - out[:, 0]) > 5).all()  # decided by a wide margin
