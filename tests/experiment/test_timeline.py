"""svccakit.timeline on small run files written by the real Recorder.

Each synthetic "training run" moves its weights linearly from a random start to the
reference network's weights, so its last snapshot *is* the reference: similarity 1.
"""

from __future__ import annotations

import copy
import importlib
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from svccakit import _parallel as parallel
from svccakit.meanfield.nets import mlp
from svccakit.record.recorder import Recorder
from svccakit.record.store import open_run
from svccakit.similarity import decompose, linear_cka, pwcca, svcca

# the package exports the function ``svccakit.timeline``, which shadows the module
tl = importlib.import_module("svccakit.experiment.timeline")

IN, WIDTH, DEPTH, OUT = 6, 12, 3, 2
N_PROBE = 48
STEPS = (0, 1, 3, 6)
LAYERS = ["act1", "act2", "act3", "out"]


def _net(seed):
    torch.manual_seed(seed)
    return mlp(IN, WIDTH, DEPTH, OUT, activation="relu")


def _probe():
    return torch.randn(N_PROBE, IN, generator=torch.Generator().manual_seed(123))


def _meta(name, role, init, seed):
    return {"run": {"name": name, "role": role, "task": "toy", "init": init,
                    "activation": "relu", "noise": "none", "seed": seed,
                    "depth": DEPTH, "width": WIDTH}}


def _write_reference(path, probe=None):
    model = _net(1000)
    probe = _probe() if probe is None else probe
    with Recorder(model, probe, path, layers=["act*", "out"], steps=[0],
                  config=_meta("reference", "reference", "optimal", 0), seed=0) as rec:
        rec.record(0)
    return model


def _write_run(path, reference, seed, init="pytorch-default", name=None):
    model = _net(seed)
    start = copy.deepcopy(model.state_dict())
    target = reference.state_dict()
    name = name or f"{init}-relu-none-s{seed}"
    with Recorder(model, _probe(), path, layers=["act*", "out"], steps=list(STEPS),
                  config=_meta(name, "student", init, seed), seed=seed) as rec:
        for step in STEPS:
            a = step / STEPS[-1]
            model.load_state_dict({k: (1 - a) * start[k] + a * target[k] for k in start})
            rec.record(step, loss=1.0 - a, accuracy=0.5 + 0.5 * a)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("timeline")
    reference = root / "reference.h5"
    ref_model = _write_reference(reference)
    runs = [_write_run(root / f"run{s}.h5", ref_model, s, init)
            for s, init in [(0, "critical"), (1, "pytorch-default")]]
    return reference, runs


def test_table_layout_and_metadata(files):
    reference, runs = files
    df = tl.timeline(runs, reference, n_jobs=1, progress=False, baseline_n=3)
    assert list(df.columns) == list(tl.COLUMNS)
    assert len(df) == len(runs) * len(STEPS) * len(LAYERS)
    assert list(df["run"].unique()) == ["critical-relu-none-s0", "pytorch-default-relu-none-s1"]
    assert set(df["reference"]) == {"reference"}
    assert set(df["init"]) == {"critical", "pytorch-default"}
    assert set(df["activation"]) == {"relu"}
    assert set(df["noise"]) == {"none"}
    assert list(df["seed"].unique()) == [0, 1]
    assert (df["layer"] == df["ref_layer"]).all()
    # ordered by run, step, layer
    first = df[df["run"] == "critical-relu-none-s0"]
    assert list(first["step"]) == [s for s in STEPS for _ in LAYERS]
    assert list(first["layer"][: len(LAYERS)]) == LAYERS
    # a run that ends at the reference's weights ends at similarity 1
    last = df[df["step"] == STEPS[-1]]
    np.testing.assert_allclose(last["value"], 1.0, atol=1e-6)
    assert (df["value"] >= -1e-9).all()
    assert (df["value"] <= 1 + 1e-9).all()


def test_reference_compared_with_itself_gives_one(files):
    reference, _ = files
    df = tl.timeline([reference], reference, metrics=("svcca", "pwcca", "cka"),
                     n_jobs=1, progress=False, baseline_n=0)
    assert len(df) == len(LAYERS) * 3
    np.testing.assert_allclose(df["value"], 1.0, atol=1e-6)
    assert df["baseline"].isna().all()


def test_values_equal_direct_pairwise_computation(files):
    reference, runs = files
    df = tl.timeline(runs[1], reference, metrics=("svcca", "pwcca", "cka"), pairs="all",
                     n_jobs=1, progress=False, baseline_n=0)
    assert len(df) == len(STEPS) * len(LAYERS) ** 2 * 3
    with open_run(reference) as ref, open_run(runs[1]) as run:
        for row in df.sample(25, random_state=0).itertuples():
            x = np.asarray(run.activations(row.layer, STEPS.index(row.step)))
            y = np.asarray(ref.activations(row.ref_layer, 0))
            if row.metric == "svcca":
                expected = svcca(x, y, keep=0.99).similarity
            elif row.metric == "pwcca":
                expected = pwcca(decompose(x, 1.0), decompose(y, 1.0))
                assert row.value == pytest.approx(pwcca(x, y), abs=1e-6)
            else:
                expected = _scalar(linear_cka(x, y))
            assert row.value == pytest.approx(expected, abs=1e-10)


def _scalar(result):
    return float(getattr(result, "similarity", result))


def test_baseline_final_is_shared_by_group_and_below_trained_value(files):
    reference, runs = files
    df = tl.timeline(runs, reference, n_jobs=1, progress=False, baseline_n=4)
    per_group = df.groupby(["run", "layer", "ref_layer", "metric"])["baseline"].nunique()
    assert (per_group == 1).all()
    final = df[df["step"] == STEPS[-1]]
    assert (final["baseline"] < final["value"] - 0.2).all()
    assert (df["baseline"] > 0).all()


def test_baseline_at_all_steps_matches_final_at_the_last_step(files):
    reference, runs = files
    final = tl.timeline(runs[0], reference, n_jobs=1, progress=False, baseline_n=3)
    every = tl.timeline(runs[0], reference, n_jobs=1, progress=False, baseline_n=3,
                        baseline_at="all")
    np.testing.assert_array_equal(every["value"], final["value"])
    last = every["step"] == STEPS[-1]
    np.testing.assert_array_equal(every.loc[last, "baseline"], final.loc[last, "baseline"])
    assert every.groupby(["layer"])["baseline"].nunique().max() > 1


def test_layers_subset_and_reference_step(files):
    reference, runs = files
    df = tl.timeline(runs, reference, layers=["act2", "out"], reference_step=0, n_jobs=1,
                     progress=False, baseline_n=0)
    assert set(df["layer"]) == {"act2", "out"}


def test_processes_give_the_same_numbers(files):
    reference, runs = files
    serial = tl.timeline(runs, reference, n_jobs=1, progress=False, baseline_n=2)
    parallel = tl.timeline(runs, reference, n_jobs=2, progress=False, baseline_n=2)
    pd.testing.assert_frame_equal(serial, parallel)


def test_run_info_falls_back_to_file_stem(tmp_path):
    path = tmp_path / "mine.h5"
    model = _net(3)
    with Recorder(model, _probe(), path, layers=["act1"], steps=[0]) as rec:
        rec.record(0)
    info = tl.run_info(path)
    assert info.name == "mine"
    assert info.layers == ("act1",)
    assert info.steps == (0,)


def test_input_errors(files, tmp_path):
    reference, runs = files
    with pytest.raises(FileNotFoundError, match="runs: run file '.*nope.h5' does not exist"):
        tl.timeline([tmp_path / "nope.h5"], reference)
    with pytest.raises(FileNotFoundError, match="reference: run file"):
        tl.timeline(runs, tmp_path / "nope.h5")
    with pytest.raises(TypeError, match="runs must be a path or an iterable of paths, got int"):
        tl.timeline(3, reference)
    with pytest.raises(ValueError, match="at least one run file"):
        tl.timeline([], reference)
    with pytest.raises(ValueError, match=r"metrics: expected one of 'svcca', 'pwcca', 'cka', got 'cca'"):
        tl.timeline(runs, reference, metrics=("cca",))
    with pytest.raises(ValueError, match="metrics: expected no repeated metric"):
        tl.timeline(runs, reference, metrics=("svcca", "svcca"))
    with pytest.raises(ValueError, match="pairs: expected one of .* got 'some'"):
        tl.timeline(runs, reference, pairs="some")
    with pytest.raises(ValueError, match="baseline_at: expected one of"):
        tl.timeline(runs, reference, baseline_at="first")
    with pytest.raises(ValueError, match=r"keep: expected a number <= 1, got 1.5"):
        tl.timeline(runs, reference, keep=1.5)
    with pytest.raises(ValueError, match="baseline_n: expected an integer >= 0, got -1"):
        tl.timeline(runs, reference, baseline_n=-1)
    with pytest.raises(TypeError, match="seed: expected an integer, got float"):
        tl.timeline(runs, reference, seed=0.5)
    with pytest.raises(ValueError, match="n_jobs: expected a non-zero integer"):
        tl.timeline(runs, reference, n_jobs=0)
    with pytest.raises(TypeError, match="scheduler must be a Dask scheduler address string"):
        tl.timeline(runs, reference, scheduler=8786)
    with pytest.raises(TypeError, match="layers must be a sequence of layer names"):
        tl.timeline(runs, reference, layers="act1")
    with pytest.raises(ValueError, match=r"layers: \['act9'\] not recorded"):
        tl.timeline(runs, reference, layers=["act9"], progress=False)
    with pytest.raises(ValueError, match="reference_step must be one of the reference's "
                                         r"recorded steps \[0\], got 5"):
        tl.timeline(runs, reference, reference_step=5)


def test_matching_needs_the_layer_in_the_reference(files, tmp_path):
    reference, _ = files
    path = tmp_path / "fc.h5"
    with Recorder(_net(4), _probe(), path, layers=["fc1"], steps=[0]) as rec:
        rec.record(0)
    with pytest.raises(ValueError, match="layer 'fc1' of run file .* has no layer of that name "
                                         "in the reference .* use pairs='all'"):
        tl.timeline(path, reference, progress=False)
    df = tl.timeline(path, reference, pairs="all", n_jobs=1, progress=False, baseline_n=0)
    assert set(df["ref_layer"]) == set(LAYERS)


def test_different_probe_is_refused(files, tmp_path):
    reference, _ = files
    path = tmp_path / "other-probe.h5"
    with Recorder(_net(5), _probe() + 1.0, path, layers=["act*", "out"], steps=[0]) as rec:
        rec.record(0)
    with pytest.raises(ValueError, match="recorded on different probe inputs"):
        tl.timeline(path, reference, progress=False)


def test_scheduler_without_dask_says_how_to_install(files, monkeypatch):
    reference, runs = files
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r"pip install 'svccakit\[dask\]'"):
        tl.timeline(runs, reference, scheduler="tcp://127.0.0.1:8786", progress=False)


def test_unreachable_scheduler_is_a_clear_error(files, monkeypatch):
    reference, runs = files
    monkeypatch.setattr(parallel, "CONNECT_TIMEOUT", "0.5s")
    with pytest.raises(ValueError, match="could not connect to a Dask scheduler at "
                                         "'tcp://127.0.0.1:9'"):
        tl.timeline(runs, reference, scheduler="tcp://127.0.0.1:9", progress=False)


def test_a_dead_layer_gives_nan_rows_not_an_error(tmp_path):
    # a diverged or dead run must not take the whole table down with it
    reference = tmp_path / "reference.h5"
    _write_reference(reference)
    model = _net(3)
    with torch.no_grad():
        model.fc2.weight.zero_()
        model.fc2.bias.fill_(-1.0)  # act2 = relu(-1) = 0 for every input: a dead layer
    with Recorder(model, _probe(), tmp_path / "dead.h5", layers=["act1", "act2"],
                  steps=[0, 5]) as rec:
        rec.record(0)
        rec.record(5)
    df = tl.timeline([tmp_path / "dead.h5"], reference, metrics=("svcca", "cka"),
                     pairs="all", baseline_n=2, n_jobs=1, progress=False)
    dead = df[df["layer"] == "act2"]
    assert len(dead) == 2 * 4 * 2  # steps x reference layers x metrics
    assert dead["value"].isna().all()
    assert dead["baseline"].isna().all()
    alive = df[df["layer"] == "act1"]
    assert alive["value"].notna().all()
    assert alive["baseline"].notna().all()
