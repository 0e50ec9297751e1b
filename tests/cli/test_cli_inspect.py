"""``svccakit inspect``."""

import h5py
import numpy as np
import torch
from torch import nn

import svccakit
from svccakit.cli import main


def make_run(path, **kw):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(8, 3))
    x = torch.randn(5, 1, 4, 4)
    rec = svccakit.Recorder(
        model, (x, torch.arange(5)), path, config={"lr": 0.25, "task": "parity"}, seed=11, **kw
    )
    for step in (0, 10, 100):
        rec.record(step, loss=1.0 / (step + 1), acc=0.5)
    return rec


def test_inspect_prints_everything(tmp_path, capsys):
    path = tmp_path / "run.h5"
    make_run(path, compression="gzip").close()
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"run:      {path}" in out
    assert "svccakit-run v1" in out
    assert '"lr": 0.25' in out
    assert '"task": "parity"' in out
    assert "seed:     11" in out
    assert "state:    closed cleanly" in out
    assert "probe:    inputs (5, 1, 4, 4) float32, targets (5,) int64" in out
    assert "steps:    3 snapshots: 0, 10, 100" in out
    assert "layers:   3" in out
    assert "0  (5, 2, 2, 2) float32, compression gzip" in out
    assert "2  (5, 3) float32" in out
    assert "loss  first 1, last 0.00990099" in out
    assert "size:" in out
    assert "KiB" in out


def test_inspect_live_run_and_long_step_lists(tmp_path, capsys):
    path = tmp_path / "run.h5"
    model = nn.Sequential(nn.Linear(3, 2))
    with svccakit.Recorder(model, torch.ones(2, 3), path) as rec:
        for step in range(20):
            rec.record(step)
        rec.flush()
        assert main(["inspect", str(path)]) == 0
        out = capsys.readouterr().out
    assert "open for writing" in out
    assert "steps:    20 snapshots: 0, 1, 2, 3, 4, 5, ..., 17, 18, 19" in out
    assert "config:   none" in out
    assert "metrics:  0" in out


def test_inspect_bad_files_one_line_error(tmp_path, capsys):
    (tmp_path / "text.h5").write_text("nope")
    assert main(["inspect", str(tmp_path / "text.h5")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("svccakit inspect: error: ")
    assert "is not an HDF5 file" in err
    assert main(["inspect", str(tmp_path / "missing.h5")]) == 1
    assert "no such run file" in capsys.readouterr().err

    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = np.zeros(2)
    assert main(["inspect", str(tmp_path / "other.h5")]) == 1
    err = capsys.readouterr().err
    assert "not an svccakit run file" in err
    assert err.count("\n") == 1
