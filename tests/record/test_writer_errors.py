"""Error paths of the writer: step range, leftovers, the error close() reports, and two
recorders on one path."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest
import torch
from torch import nn

import svccakit
from svccakit.record import store


def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


def probe():
    return torch.ones(2, 3)


# -------------------------------------------------------------- item 8: the step range


def test_a_step_beyond_int64_is_refused_before_anything_is_written(tmp_path):
    path = tmp_path / "r.h5"
    rec = svccakit.Recorder(mlp(), probe(), path)
    rec.record(0, loss=1.0)
    with pytest.raises(ValueError, match=r"step: expected an integer in \[0, "
                                         r"9223372036854775807\], got 9223372036854775808"):
        rec.record(2**63, loss=2.0)
    rec.close()  # nothing failed in the writer
    with svccakit.open_run(path) as run:
        np.testing.assert_array_equal(run.steps, [0])
        np.testing.assert_array_equal(run.metrics["loss"], [1.0])
    with pytest.raises(ValueError, match=r"steps: expected an integer in \[0, "):
        svccakit.Recorder(mlp(), probe(), tmp_path / "s.h5", steps=[0, 2**63])


def test_a_failed_step_write_publishes_no_snapshot(tmp_path):
    path = tmp_path / "r.h5"
    rec = svccakit.Recorder(mlp(), probe(), path)
    rec.record(0, loss=1.0)
    rec.flush()
    writer = rec._writer._writer
    real = writer._steps

    class FailingWrites:
        """/steps whose element writes fail (disk full), the rest passed through."""

        def __getattr__(self, name):
            return getattr(real, name)

        def __setitem__(self, key, value):
            raise OSError(28, "No space left on device (simulated)")

    writer._steps = FailingWrites()
    rec.record(5, loss=2.0)
    with pytest.raises(RuntimeError, match="No space left on device"):
        rec.flush()
    writer._steps = real
    with pytest.raises(RuntimeError, match="No space left on device"):
        rec.close()
    with svccakit.open_run(path) as run:  # the failed snapshot is not published
        np.testing.assert_array_equal(run.steps, [0])
        np.testing.assert_array_equal(run.metrics["loss"], [1.0])


def test_the_writer_refuses_a_step_beyond_int64_itself(tmp_path):
    path = tmp_path / "r.h5"
    with svccakit.Recorder(mlp(), probe(), path) as rec:
        rec.record(0)
        rec.flush()
        writer = rec._writer._writer
        arrays = [np.zeros(ds.shape[1:], ds.dtype) for ds in writer._layers]
        with pytest.raises(ValueError, match="step: expected an integer in"):
            writer.append(2**63, [], arrays)
    with h5py.File(path, "r") as f:
        assert f["steps"][()].tolist() == [0]


# ------------------------------------------------------------ item 9: error leftovers


def test_no_partial_file_is_left_when_creating_the_file_fails(tmp_path, monkeypatch):
    real_file = h5py.File

    def create_then_fail(name, mode="r", *args, **kwargs):
        if mode == "w":
            real_file(name, mode, *args, **kwargs).close()  # the file exists, half made
            raise OSError(28, "Unable to synchronously create file (No space left on device)")
        return real_file(name, mode, *args, **kwargs)

    monkeypatch.setattr(store.h5py, "File", create_then_fail)
    rec = svccakit.Recorder(mlp(), probe(), tmp_path / "r.h5")
    with pytest.raises(OSError, match="No space left on device"):
        rec.record(0)
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == []


def test_close_reports_the_writers_error_not_the_close_failure(tmp_path, monkeypatch):
    def disk_full(self, step, metrics, layers):
        raise OSError(28, "No space left on device (simulated)")

    real_close = store.RunWriter.close

    def close_after_failure(self):
        real_close(self)  # HDF5 then fails to close a file whose flush failed:
        raise RuntimeError("Can't decrement id ref count (file write failed)")

    monkeypatch.setattr(store.RunWriter, "append", disk_full)
    monkeypatch.setattr(store.RunWriter, "close", close_after_failure)
    rec = svccakit.Recorder(mlp(), probe(), tmp_path / "r.h5")
    rec.record(0)
    with pytest.raises(RuntimeError, match=r"writer thread failed: OSError\(28, 'No space "
                                           r"left on device \(simulated\)'\) \(closing the "
                                           r"file then failed too: Can't decrement") as info:
        rec.close()
    assert isinstance(info.value.__cause__, OSError)


def test_a_close_failure_without_a_writer_error_is_raised(tmp_path, monkeypatch):
    real_close = store.RunWriter.close

    def failing_close(self):
        real_close(self)
        raise RuntimeError("close failed (simulated)")

    monkeypatch.setattr(store.RunWriter, "close", failing_close)
    rec = svccakit.Recorder(mlp(), probe(), tmp_path / "r.h5")
    rec.record(0)
    with pytest.raises(RuntimeError, match=r"close failed \(simulated\)"):
        rec.close()


def test_a_second_recorder_cannot_overwrite_a_file_being_written(tmp_path):
    path = tmp_path / "r.h5"
    first = svccakit.Recorder(mlp(), probe(), path, overwrite=True)
    first.record(0, loss=1.0)
    second = svccakit.Recorder(mlp(), probe(), path, overwrite=True)
    with pytest.raises(FileExistsError, match="is being written by another Recorder in this "
                                              "process; overwrite=True replaces only a "
                                              "finished run file"):
        second.record(0, loss=9.0)
    first.record(1, loss=2.0)
    first.close()
    with svccakit.open_run(path) as run:  # nothing of the first one's data was lost
        np.testing.assert_array_equal(run.steps, [0, 1])
        np.testing.assert_array_equal(run.metrics["loss"], [1.0, 2.0])
    # once the first is closed, overwrite=True replaces the finished file
    third = svccakit.Recorder(mlp(), probe(), path, overwrite=True)
    third.record(7, loss=3.0)
    third.close()
    with svccakit.open_run(path) as run:
        np.testing.assert_array_equal(run.steps, [7])
    assert sorted(os.listdir(tmp_path)) == ["r.h5"]


_LIVE_WRITER = textwrap.dedent("""
    import sys, time, torch, svccakit
    from torch import nn
    rec = svccakit.Recorder(nn.Linear(3, 2), torch.ones(2, 3), sys.argv[1])
    rec.record(0, loss=1.0)
    rec.flush()
    print("ready", flush=True)
    time.sleep(120)
""")


def test_a_live_writer_in_another_process_is_detected(tmp_path):
    path = tmp_path / "r.h5"
    with subprocess.Popen([sys.executable, "-c", _LIVE_WRITER, str(path)],
                          stdout=subprocess.PIPE, text=True) as child:
        try:
            assert child.stdout.readline().strip() == "ready"
            rec = svccakit.Recorder(mlp(), probe(), path, overwrite=True)
            with pytest.raises(FileExistsError, match=rf"is being written by process "
                                                      rf"{child.pid} on this host"):
                rec.record(0)
        finally:
            child.kill()
    # its writer is dead now: the file (flagged open for writing) may be replaced
    with svccakit.Recorder(mlp(), probe(), path, overwrite=True) as rec:
        rec.record(3)
    with svccakit.open_run(path) as run:
        assert run.closed_cleanly
        np.testing.assert_array_equal(run.steps, [3])
