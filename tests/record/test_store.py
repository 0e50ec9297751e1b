"""Run file layout, the read side, compression and bad-file errors."""

import builtins
import json

import h5py
import numpy as np
import pytest
import torch
from torch import nn

import svccakit
from svccakit.record import store


def write_run(path, n=3, compression=None, **kw):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))
    x = torch.randn(5, 4)
    with svccakit.Recorder(model, (x, torch.arange(5)), path, compression=compression, **kw) as rec:
        for step in range(n):
            with torch.no_grad():
                model[0].bias.add_(1.0)
            rec.record(10 * step, loss=float(step))
    return model, x


def test_layout_is_plain_hdf5(tmp_path):
    path = tmp_path / "r.h5"
    write_run(path, config={"a": [1, 2]}, seed=5)
    with h5py.File(path, "r") as f:  # a cleanly closed file opens in any tool
        assert f.attrs["format"] == store.FORMAT_NAME
        assert f.attrs["format_version"] == store.FORMAT_VERSION
        assert json.loads(f.attrs["config"]) == {"a": [1, 2]}
        assert f.attrs["seed"] == 5
        for key in ("svccakit_version", "torch_version", "h5py_version", "hdf5_version", "created"):
            assert isinstance(f.attrs[key], str)
        assert f["probe/inputs"].shape == (5, 4)
        assert f["probe/targets"].shape == (5,)
        assert f["steps"].dtype == np.int64
        np.testing.assert_array_equal(f["steps"][()], [0, 10, 20])
        assert f["metrics/loss"].shape == (3,)
        ds = f["layers/0"]
        assert ds.shape == (3, 5, 6)
        assert ds.chunks == (1, 5, 6)
        assert ds.maxshape == (None, 5, 6)
        assert ds.compression is None
        assert sorted(f["layers"]) == ["0", "1", "2"]


def test_run_reader_api(tmp_path):
    path = tmp_path / "r.h5"
    model, x = write_run(path)
    run = svccakit.open_run(path)
    assert len(run) == 3
    assert run.refresh() == 3
    assert run.n_probe == 5
    assert run.metric_names == ["loss"]
    assert run.layer_shape("0") == (5, 6)
    assert run.index_of_step(20) == 2
    with torch.no_grad():
        np.testing.assert_array_equal(run.activations("2", -1), model(x).numpy())
    assert run.config is None
    assert "seed" not in run.attrs
    assert repr(run).endswith("(open)>")
    with pytest.raises(
        KeyError, match=r"layer 'nope' is not in .*recorded layers: \['0', '1', '2'\]"
    ):
        run.activations("nope", 0)
    with pytest.raises(IndexError, match="snapshot 3 out of range for a run with 3 snapshots"):
        run.activations("0", 3)
    with pytest.raises(IndexError, match="snapshot -4 out of range"):
        run.activations("0", -4)
    with pytest.raises(TypeError, match="index: expected an integer, got float"):
        run.activations("0", 1.0)
    with pytest.raises(TypeError, match="layer: expected a layer name"):
        run.activations(0, 1)
    with pytest.raises(KeyError, match="no snapshot at step 5"):
        run.index_of_step(5)
    run.close()
    run.close()
    assert repr(run).endswith("(closed)>")


def test_open_run_is_lazy(tmp_path, monkeypatch):
    path = tmp_path / "r.h5"
    write_run(path, n=2)
    reads = []
    original = h5py.Dataset.__getitem__

    def spy(self, key):
        reads.append(self.name)
        return original(self, key)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", spy)
    with svccakit.open_run(path) as run:
        assert run.layer_names == ["0", "1", "2"]
        assert reads == []
        run.activations("1", 0)
        assert reads == ["/layers/1"]


@pytest.mark.parametrize("compression", ["lzf", "gzip", "blosc"])
def test_compression_roundtrip(tmp_path, compression):
    plain, packed = tmp_path / "plain.h5", tmp_path / "packed.h5"
    write_run(plain)
    write_run(packed, compression=compression)
    with svccakit.open_run(plain) as a, svccakit.open_run(packed) as b:
        for name in a.layer_names:
            for i in range(len(a)):
                np.testing.assert_array_equal(a.activations(name, i), b.activations(name, i))
    with h5py.File(packed, "r") as f:
        assert f["layers/0"].compression is not None or f["layers/0"]._filters


def test_blosc_without_hdf5plugin_is_a_clear_error(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_plugin(name, *args, **kwargs):
        if name == "hdf5plugin":
            raise ImportError("no hdf5plugin")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_plugin)
    with pytest.raises(ValueError, match="compression='blosc' needs the hdf5plugin package"):
        svccakit.Recorder(
            nn.Linear(2, 2), torch.zeros(1, 2), tmp_path / "r.h5", compression="blosc"
        )


def test_missing_and_non_hdf5_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such run file"):
        svccakit.open_run(tmp_path / "missing.h5")
    (tmp_path / "empty.h5").write_bytes(b"")
    with pytest.raises(svccakit.RunFileError, match=r"is empty \(0 bytes\)"):
        svccakit.open_run(tmp_path / "empty.h5")
    (tmp_path / "text.h5").write_text("hello, not hdf5\n")
    with pytest.raises(svccakit.RunFileError, match="is not an HDF5 file"):
        svccakit.open_run(tmp_path / "text.h5")
    with pytest.raises(svccakit.RunFileError, match="is a directory"):
        svccakit.open_run(tmp_path)
    assert issubclass(svccakit.RunFileError, ValueError)


@pytest.mark.parametrize("keep", [0.5, 0.1, 0.02])
def test_truncated_file(tmp_path, keep):
    path = tmp_path / "r.h5"
    write_run(path)
    data = path.read_bytes()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(svccakit.RunFileError, match="truncated or corrupt|could not"):  # noqa: PT012
        with svccakit.open_run(cut) as run:
            for name in run.layer_names:
                for i in range(len(run)):
                    run.activations(name, i)


def test_corrupt_bytes_in_data(tmp_path):
    path = tmp_path / "r.h5"
    write_run(path)
    data = bytearray(path.read_bytes())
    data[8:64] = b"\xff" * 56  # clobber the superblock after the signature
    bad = tmp_path / "bad.h5"
    bad.write_bytes(bytes(data))
    with pytest.raises(svccakit.RunFileError, match=r"could not be opened|truncated or corrupt"):
        svccakit.open_run(bad)


def test_other_layout_and_version(tmp_path):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["weights"] = np.zeros(3)
        f.attrs["creator"] = "keras"
    with pytest.raises(
        svccakit.RunFileError,
        match=r"not an svccakit run file: expected root attribute format='svccakit-run', found None "
        r"\(root groups/datasets: \['weights'\], root attributes: \['creator'\]\)",
    ):
        svccakit.open_run(other)
    with h5py.File(other, "a") as f:
        f.attrs["format"] = "someone-else"
    with pytest.raises(svccakit.RunFileError, match="found 'someone-else'"):
        svccakit.open_run(other)
    newer = tmp_path / "newer.h5"
    write_run(newer)
    with h5py.File(newer, "a") as f:
        f.attrs["format_version"] = 99
    with pytest.raises(
        svccakit.RunFileError, match="format_version 99; this svccakit reads format_version 1"
    ):
        svccakit.open_run(newer)
    partial = tmp_path / "partial.h5"
    with h5py.File(partial, "w") as f:
        f.attrs["format"] = store.FORMAT_NAME
        f.attrs["format_version"] = store.FORMAT_VERSION
        f.create_group("probe")
    with pytest.raises(
        svccakit.RunFileError,
        match=r"incomplete svccakit run file: missing \['steps', 'metrics', 'layers'\]",
    ):
        svccakit.open_run(partial)


def test_follow_a_run_being_written_in_this_process(tmp_path):
    path = tmp_path / "r.h5"
    model = nn.Sequential(nn.Linear(3, 4))
    x = torch.randn(5, 3)
    with svccakit.Recorder(model, x, path) as rec:
        rec.record(0, loss=1.0)
        rec.flush()
        with svccakit.open_run(path) as run:
            assert len(run) == 1
            for step in range(1, 4):
                with torch.no_grad():
                    model[0].weight.mul_(2)
                rec.record(step, loss=float(step))
                rec.flush()
                assert len(run) == step + 1
                np.testing.assert_array_equal(run.steps, np.arange(step + 1))
                np.testing.assert_array_equal(run.metrics["loss"][-1], float(step))
                with torch.no_grad():
                    np.testing.assert_array_equal(run.activations("0", -1), model(x).numpy())


def test_writer_order_steps_last(tmp_path, monkeypatch):
    """/steps is extended only after every layer and metric holds the snapshot."""
    path = tmp_path / "r.h5"
    seen = []
    original = h5py.Dataset.resize

    def spy(self, size, axis=None):
        seen.append(self.name)
        return original(self, size, axis)

    monkeypatch.setattr(h5py.Dataset, "resize", spy)
    write_run(path, n=2)
    per_snapshot = seen[: len(seen) // 2]
    assert per_snapshot[-1] == "/steps"
    assert set(per_snapshot[:-1]) == {"/layers/0", "/layers/1", "/layers/2", "/metrics/loss"}


def test_stale_partial_of_a_dead_process_is_removed(tmp_path):
    import os
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / store._partial_name("r.h5", dead_pid)
    live = tmp_path / store._partial_name("r.h5", os.getppid())  # a live process
    other_host = tmp_path / f".r.h5.some-other-host.{dead_pid}.partial"
    other_run = tmp_path / store._partial_name("other.h5", dead_pid)
    for p in (stale, live, other_host, other_run):
        p.write_bytes(b"half-built")
    with svccakit.Recorder(nn.Linear(3, 2), torch.ones(4, 3), tmp_path / "r.h5") as rec:
        rec.record(0)
    assert not stale.exists()
    assert live.exists()
    assert other_host.exists()
    assert other_run.exists()
    with svccakit.open_run(tmp_path / "r.h5") as run:
        assert len(run) == 1
