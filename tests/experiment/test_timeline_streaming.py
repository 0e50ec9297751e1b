"""svccakit.timeline streams large layers from the run files: the same table as loading them."""

from __future__ import annotations

import importlib

import numpy as np
import pandas as pd
import torch

from svccakit.meanfield.nets import mlp
from svccakit.record.recorder import Recorder

tl = importlib.import_module("svccakit.experiment.timeline")


def _write(path, seed, steps):
    torch.manual_seed(seed)
    model = mlp(5, 16, 2, 2, activation="relu")
    probe = torch.randn(64, 5, generator=torch.Generator().manual_seed(7))
    meta = {"run": {"name": path.stem, "role": "student", "init": "random",
                    "activation": "relu", "noise": "none", "seed": seed}}
    with Recorder(model, probe, path, layers=["act*"], steps=list(steps), config=meta,
                  seed=seed) as rec:
        for step in steps:
            with torch.no_grad():
                for p in model.parameters():
                    p.mul_(0.9)
            rec.record(step)


def test_large_layers_are_streamed_with_the_same_numbers(tmp_path, monkeypatch):
    reference, run = tmp_path / "reference.h5", tmp_path / "run.h5"
    _write(reference, 0, [0])
    _write(run, 1, [0, 1, 2])
    kwargs = dict(metrics=("svcca", "pwcca", "cka"), pairs="all", baseline_n=2, n_jobs=1,
                  progress=False)
    loaded = tl.timeline(run, reference, **kwargs)
    streamed_snapshots = []
    original = tl._snapshot

    def spy(*args):
        out = original(*args)
        streamed_snapshots.append(isinstance(out, tl._LayerRows))
        return out

    monkeypatch.setattr(tl, "STREAM_BYTES", 1)  # every layer counts as large
    monkeypatch.setattr(tl, "_snapshot", spy)
    streamed = tl.timeline(run, reference, **kwargs)
    assert streamed_snapshots
    assert all(streamed_snapshots)
    pd.testing.assert_frame_equal(streamed.drop(columns=["value", "baseline"]),
                                  loaded.drop(columns=["value", "baseline"]))
    np.testing.assert_allclose(streamed["value"], loaded["value"], atol=1e-10)
    np.testing.assert_allclose(streamed["baseline"], loaded["baseline"], atol=1e-10)


def test_layer_rows_pickle_and_read_rows(tmp_path):
    import pickle

    from svccakit.record.store import open_run

    path = tmp_path / "r.h5"
    _write(path, 2, [0, 5])
    with open_run(path) as run:
        rows = tl._snapshot(run, str(path), "act1", 1)
        assert isinstance(rows, np.ndarray)  # small: loaded
        full = run.activations("act1", 1)
    lazy = pickle.loads(pickle.dumps(tl._LayerRows(str(path), "act1", 1, full.shape, full.dtype)))
    np.testing.assert_array_equal(lazy[3:9], full[3:9])
