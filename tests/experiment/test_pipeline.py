"""The main job end to end on a tiny configuration (seconds), the CLI, and Dask."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from svccakit.cli import main
from svccakit.experiment.config import ExperimentConfig, default_config
from svccakit.experiment.pipeline import OUTPUTS, existing_outputs, run_experiment
from svccakit.experiment.timeline import COLUMNS, timeline

TINY = {
    "depth": 3, "width": 8, "steps": 24, "seeds": [0, 1], "n_jobs": 1,
    "inits": ["critical", "he"], "activations": ["relu", "shifted-relu:0.5"],
    "noises": ["dropout:0.9"], "task.name": "parity", "task.n_bits": 6, "task.n_train": 48,
    "task.n_val": 0, "task.n_probe": 64, "optimiser.batch_size": 16, "schedule.n": 5,
    "timeline.baseline_n": 3, "timeline.metrics": ["svcca", "pwcca", "cka"],
    "timeline.pairs": "all", "timeline.baseline_at": "all",
}
LAYERS = ["act1", "act2", "act3", "out"]
METRICS = ["svcca", "pwcca", "cka"]


def _tiny() -> ExperimentConfig:
    return default_config().updated(TINY)


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    """`svccakit run --config tiny.toml --out DIR --quiet` once for the whole module."""
    root = tmp_path_factory.mktemp("pipeline")
    config_path = _tiny().to_toml(root / "tiny.toml")
    out = root / "out"
    assert main(["run", "--config", str(config_path), "--out", str(out), "--quiet"]) == 0
    return out


def test_writes_every_output(experiment):
    out = experiment
    assert sorted(p.name for p in existing_outputs(out)) == sorted(OUTPUTS)
    runs = sorted(p.name for p in (out / "runs").glob("*.h5"))
    assert "reference.h5" in runs
    assert len(runs) == 2 * 2 * 2 + 1  # inits x activations x seeds + reference
    figures = {p.name for p in (out / "figures").glob("*.png")}
    assert figures == {"headline.png", "training.png", *(f"best_{m}.png" for m in METRICS),
                       *(f"layers_{m}.png" for m in METRICS)}
    assert ExperimentConfig.from_toml(out / "config.toml") == _tiny()


def test_results_table_has_a_row_per_run_step_layer_metric(experiment):
    results = pd.read_csv(experiment / "results.csv", keep_default_na=False, na_values=[""])
    assert list(results.columns) == list(COLUMNS)
    n_runs = results["run"].nunique()
    assert n_runs == 8
    # every (student layer, optimum layer) pair, for every metric, at every step
    per_run = results.groupby("run").size()
    n_steps = results.groupby("run")["step"].nunique()
    assert (per_run == n_steps * len(LAYERS) * len(LAYERS) * len(METRICS)).all()
    assert not results.duplicated(["run", "step", "layer", "ref_layer", "metric"]).any()
    pairs = results.groupby(["run", "step", "metric"])[["layer", "ref_layer"]].apply(
        lambda g: set(zip(g["layer"], g["ref_layer"], strict=True)))
    assert all(p == {(a, b) for a in LAYERS for b in LAYERS} for p in pairs)
    assert set(results["init"]) == {"critical", "he"}
    assert set(results["activation"]) == {"relu", "shifted-relu:0.5"}
    assert results["value"].between(0, 1).all()
    assert results["baseline"].between(0, 1).all()  # every value next to its baseline
    assert (results.groupby("run")["step"].min() == 0).all()
    assert (results.groupby("run")["step"].max() == _tiny().steps).all()


def test_report_has_ranks_phases_conclusions_figures_and_config(experiment):
    text = (experiment / "report.md").read_text()
    assert "![Closeness to the optimum during training](figures/headline.png)" in text
    assert "## Conclusions" in text
    assert "### Does a critical initialisation get closer to the optimum, sooner?" in text
    assert "### Does the shifted ReLU differ from the ReLU?" in text
    assert "### Do the networks learn the optimum's intermediate layers?" in text
    # the XOR tree for 6 bits: its last level (one XOR, two units) has rank 2 and the two
    # logits move together (rank 1): read-out only
    layers = text.split("## The optimum's layers")[1].split("##")[0]
    assert "| act3 | 8 | 2 | read-out only |" in layers
    assert "| out | 2 | 1 | read-out only |" in layers
    assert "| act1 | 8 |" in layers
    assert "informative" in layers
    phases = text.split("## Initialisations and their mean-field phase")[1].split("\n## ")[0]
    assert "| he | relu | dropout:0.9 | 1.414 | 0.000 | chaotic | 1.000 | 1.111 |" in phases
    assert "| critical | relu | dropout:0.9 | 1.342 | 0.000 | critical | 1.000 | 1.000 |" in phases
    # He with the shifted ReLU under dropout has no variance fixed point: said, not a bare dash
    assert "| he | shifted-relu:0.5 | dropout:0.9 | 1.414 | 0.000 | chaotic | ∞ | — |" in phases
    assert "q* = ∞ for he (shifted-relu:0.5, dropout:0.9): " in phases
    assert "grows without bound" in phases
    for name in ("SVCCA", "PWCCA", "linear CKA"):
        assert f"### {name}" in text
    assert "## Chance levels, keep and probe size" in text
    assert (experiment / "config.toml").read_text().strip() in text


def test_optimal_solution_compared_with_itself_gives_one(experiment):
    reference = experiment / "runs" / "reference.h5"
    df = timeline(reference, reference, metrics=("svcca", "pwcca", "cka"), n_jobs=1,
                  progress=False, baseline_n=0, pairs="matching")
    assert len(df) == len(LAYERS) * 3
    np.testing.assert_allclose(df["value"], 1.0, atol=1e-9)


def test_dask_local_cluster_gives_the_same_numbers(experiment, monkeypatch):
    distributed = pytest.importorskip("distributed")
    runs = sorted(p for p in (experiment / "runs").glob("*.h5") if p.name != "reference.h5")
    reference = experiment / "runs" / "reference.h5"
    kwargs = {"metrics": ("svcca", "cka"), "baseline_n": 2, "progress": False,
              "pairs": "all", "baseline_at": "all"}
    local = timeline(runs[:3], reference, n_jobs=1, **kwargs)
    scattered = []
    scatter = distributed.Client.scatter

    def counting_scatter(self, data, *args, **kw):
        items = data if isinstance(data, list | tuple) else [data]
        scattered.extend(type(item).__name__ for item in items)
        return scatter(self, data, *args, **kw)

    monkeypatch.setattr(distributed.Client, "scatter", counting_scatter)
    # two worker threads: with a single one joblib would run the tasks in this thread
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster:
        remote = timeline(runs[:3], reference, scheduler=cluster.scheduler_address, **kwargs)
        # the tasks went through the Dask scheduler
        assert any("_run_task" in name for name in cluster.scheduler.task_prefixes)
    # the reference layers went to the cluster once, as data of their own, not inside
    # each of the 3 x 4 tasks
    assert scattered.count("_RefSet") == 1, scattered
    pd.testing.assert_frame_equal(local, remote)
    saved = pd.read_csv(experiment / "results.csv", keep_default_na=False, na_values=[""])
    mine = saved[saved["run"].isin(set(local["run"])) & (saved["metric"] == "svcca")]
    np.testing.assert_allclose(
        mine["value"].to_numpy(), local[local["metric"] == "svcca"]["value"].to_numpy(),
        rtol=0, atol=1e-12)


def test_refuses_to_overwrite(experiment, capsys):
    with pytest.raises(FileExistsError, match="already holds experiment outputs .*overwrite"):
        run_experiment(_tiny(), experiment, progress=False)
    assert main(["run", "--out", str(experiment), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "svccakit run: error:" in err
    assert "pass --overwrite to replace them" in err


def test_input_errors(tmp_path, capsys):
    with pytest.raises(TypeError, match="config must be an ExperimentConfig, got dict"):
        run_experiment({"depth": 3}, tmp_path / "x")
    with pytest.raises(TypeError, match="out_dir must be a path, got int"):
        run_experiment(_tiny(), 3)
    with pytest.raises(TypeError, match="overwrite: expected a bool, got str"):
        run_experiment(_tiny(), tmp_path / "x", overwrite="yes")
    (tmp_path / "file").write_text("")
    with pytest.raises(FileExistsError, match="exists and is not a directory"):
        run_experiment(_tiny(), tmp_path / "file")
    assert main(["run", "--config", str(tmp_path / "missing.toml"), "--out",
                 str(tmp_path / "y")]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert main(["run", "--n-jobs", "0", "--out", str(tmp_path / "z")]) == 1
    assert "--n-jobs must be a non-zero integer" in capsys.readouterr().err
    assert not (tmp_path / "y").exists()
    assert not (tmp_path / "z").exists()
