"""Nothing lost: SIGKILL at random moments, and following a live run from another process.

The writer subprocess (``_crash_writer.py``) trains deterministically and records
every step; :func:`_crash_writer.replay` repeats the training without a recorder,
so every stored snapshot can be checked bit for bit (sha256 of its bytes).
"""

import math
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import _crash_writer as cw
import h5py
import numpy as np
import pytest
import torch

import svccakit

SCRIPT = Path(__file__).with_name("_crash_writer.py")


class Writer:
    """The writer subprocess, with its stdout read on a thread."""

    def __init__(self, path, n_steps, sleep_s=cw.SLEEP_S):
        self.proc = subprocess.Popen(
            [sys.executable, str(SCRIPT), str(path), str(n_steps), str(sleep_s)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self.ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.strip())
            self.ready.set()
        self.ready.set()

    @property
    def durable(self) -> int:
        """The last step the writer reported as flushed (-1: none)."""
        steps = [int(x.split()[1]) for x in list(self.lines) if x.startswith("DURABLE")]
        return max(steps, default=-1)

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._reader.join(5)
        self.proc.stdout.close()
        self.proc.stderr.close()

    def wait(self, timeout):
        self.proc.wait(timeout)
        self._reader.join(5)
        err = self.proc.stderr.read()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return err


@pytest.fixture(scope="module")
def replay_rows():
    """Replayed per-step hashes, computed once (grown on demand) with 1 torch thread."""
    cache: list[dict] = []

    def get(n):
        if n > len(cache):
            threads = torch.get_num_threads()
            try:
                cache[:] = cw.replay(n)
            finally:
                torch.set_num_threads(threads)
        return cache[:n]

    return get


def check_run(path, rows_for) -> int:
    """Open a (possibly crashed) run and check every snapshot bit for bit; returns T."""
    with svccakit.open_run(path) as run:
        t = len(run)
        np.testing.assert_array_equal(run.steps, np.arange(t))
        rows = rows_for(t)
        losses = run.metrics["loss"]
        for i in range(t):
            for name in run.layer_names:
                assert cw.digest(run.activations(name, i)) == rows[i][name], (name, i)
            assert (math.isnan(losses[i]) and math.isnan(rows[i]["loss"])) or losses[i] == rows[i][
                "loss"
            ]
        return t


def test_sigkill_at_random_moments_loses_no_flushed_snapshot(tmp_path, replay_rows):
    """One launcher imports torch once and forks four writers; each is killed with
    SIGKILL at its own random moment (the first possibly before its file exists)."""
    rng = random.Random(20241129)
    n_trials = 4
    delays = [rng.uniform(0.0, 0.6)] + [rng.uniform(0.05, 0.8) for _ in range(n_trials - 1)]
    err_path = tmp_path / "launcher.err"
    err_file = open(err_path, "w")  # noqa: SIM115  (a file, not a pipe: children inherit it)
    launcher = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--fork", str(tmp_path), str(n_trials)],
        stdout=subprocess.PIPE,
        stderr=err_file,
        text=True,
    )
    lines: list[str] = []
    started = {i: threading.Event() for i in range(n_trials)}
    pids: dict[int, int] = {}

    def read():
        for line in launcher.stdout:
            parts = line.split()
            lines.append(line.strip())
            if len(parts) == 3 and parts[0] == "CHILD":
                pids[int(parts[1])] = int(parts[2])
                if int(parts[1]) == 0:
                    started[0].set()
            elif len(parts) == 3 and parts[1] == "DURABLE" and parts[0].isdigit():
                started[int(parts[0])].set()
        for event in started.values():
            event.set()

    def durable(i):
        steps = [int(x.split()[2]) for x in list(lines) if x.startswith(f"{i} DURABLE")]
        return max(steps, default=-1)

    def kill(i):
        if i in pids:
            try:
                os.kill(pids[i], signal.SIGKILL)
            except ProcessLookupError:
                pass

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    acknowledged = [-1] * n_trials
    timed_out = []

    def kill_later(i):
        try:
            if not started[i].wait(60):
                timed_out.append(i)
            time.sleep(delays[i])
            acknowledged[i] = durable(i)
        finally:
            kill(i)

    killers = [threading.Thread(target=kill_later, args=(i,)) for i in range(n_trials)]
    try:
        for k in killers:
            k.start()
        for k in killers:
            k.join(90)
        launcher.wait(30)
    finally:
        for i in range(n_trials):
            kill(i)
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
        reader.join(5)
        launcher.stdout.close()
        err_file.close()
    err = err_path.read_text()
    assert not timed_out, (timed_out, lines, err)
    assert launcher.returncode == 0, err
    assert not [x for x in lines if x.endswith("DONE")]  # all were killed, none finished
    results = []
    for i in range(n_trials):
        path = tmp_path / f"run{i}.h5"
        if not path.exists():
            assert acknowledged[i] == -1  # nothing was acknowledged, so nothing is lost
            results.append((acknowledged[i], 0))
            continue
        t = check_run(path, replay_rows)
        assert t >= acknowledged[i] + 1  # every snapshot acknowledged as flushed is there
        results.append((acknowledged[i], t))
    print("trials (last acknowledged step, snapshots in file):", results)
    assert sum(t > 0 for _, t in results[1:]) == n_trials - 1, results


def test_another_process_follows_a_live_run(tmp_path, replay_rows):
    path = tmp_path / "live.h5"
    n = 100
    writer = Writer(path, n, sleep_s=0.01)
    try:
        seen = []
        deadline = time.monotonic() + 60
        while not path.exists():
            assert time.monotonic() < deadline, "the run file never appeared"
            assert writer.proc.poll() is None, writer.wait(5)
            time.sleep(0.01)
        rows = replay_rows(n)
        with svccakit.open_run(path) as run:
            names = run.layer_names
            while writer.proc.poll() is None and time.monotonic() < deadline:
                t = len(run)
                if t and (not seen or t != seen[-1]):
                    seen.append(t)
                    assert cw.digest(run.activations(names[-1], t - 1)) == rows[t - 1][names[-1]]
                    steps = run.steps  # may have grown meanwhile
                    np.testing.assert_array_equal(steps, np.arange(len(steps)))
                time.sleep(0.01)
            err = writer.wait(10)
            assert writer.proc.returncode == 0, err
            assert len(run) == n  # the open reader sees the end too
    finally:
        if writer.proc.poll() is None:
            writer.kill()
    assert writer.lines[-1] == "DONE"
    intermediate = [t for t in seen if 0 < t < n]
    assert len(intermediate) >= 3, seen
    assert seen == sorted(seen)
    assert check_run(path, replay_rows) == n
    with h5py.File(path, "r") as f:  # closed cleanly: plain HDF5 readers open it
        assert f["steps"].shape == (n,)


def run_python(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (which exits normally); it must succeed."""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc


def closed_steps(path) -> np.ndarray:
    """``/steps`` of a run file opened by plain h5py: only a cleanly closed file opens so."""
    with h5py.File(path, "r") as f:
        return f["steps"][()]


def test_exit_close_runs_before_h5py_exit_handler(tmp_path):
    # h5py's exit handler unregisters its type converters; a writer thread still
    # appending then races it (CI once saw 7 of 40 snapshots saved). The marker
    # handler stands in for h5py's: registered after torch and h5py are imported,
    # before svccakit. Every append must come before it.
    path = tmp_path / "r.h5"
    code = (
        "import atexit, time, torch, h5py\n"
        "atexit.register(lambda: print('H5PY-EXIT', flush=True))\n"
        "import svccakit\n"
        "from svccakit.record import store\n"
        "append = store.RunWriter.append\n"
        "def slow(self, *a):\n"
        "    time.sleep(0.005)\n"
        "    append(self, *a)\n"
        "    print('APPEND', flush=True)\n"
        "store.RunWriter.append = slow\n"
        f"rec = svccakit.Recorder(torch.nn.Linear(3, 2), torch.ones(4, 3), {str(path)!r})\n"
        "for s in range(30):\n"
        "    rec.record(s)\n"
    )
    proc = run_python(code)
    lines = proc.stdout.split()
    assert lines == ["APPEND"] * 30 + ["H5PY-EXIT"], lines
    np.testing.assert_array_equal(closed_steps(path), np.arange(30))


def test_writer_failure_at_exit_is_reported(tmp_path):
    path = tmp_path / "r.h5"
    code = (
        "import torch, svccakit\n"
        "from svccakit.record import store\n"
        "append = store.RunWriter.append\n"
        "def failing(self, step, *a):\n"
        "    if step == 3:\n"
        "        raise OSError('disk full')\n"
        "    append(self, step, *a)\n"
        "store.RunWriter.append = failing\n"
        f"rec = svccakit.Recorder(torch.nn.Linear(3, 2), torch.ones(4, 3), {str(path)!r})\n"
        "for s in range(6):\n"
        "    try:\n"
        "        rec.record(s)\n"
        "    except RuntimeError:\n"
        "        break\n"
    )
    proc = run_python(code)
    assert "failed after 3 snapshots" in proc.stderr, proc.stderr
    assert "disk full" in proc.stderr, proc.stderr
    np.testing.assert_array_equal(closed_steps(path), np.arange(3))


def test_unclosed_recorder_is_closed_at_interpreter_exit(tmp_path):
    path = tmp_path / "r.h5"
    code = (
        "import torch, svccakit\n"
        "m = torch.nn.Linear(3, 2)\n"
        f"rec = svccakit.Recorder(m, torch.ones(4, 3), {str(path)!r}, queue_size=50)\n"
        "for s in range(40):\n"
        "    rec.record(s)\n"
    )
    run_python(code)
    np.testing.assert_array_equal(closed_steps(path), np.arange(40))
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".partial")]


APPEND_ON_REQUEST = """
import itertools
import sys
import numpy as np
from svccakit.record.store import RunWriter, root_attrs

writer = RunWriter.create(sys.argv[1], overwrite=False, attrs=root_attrs(None, None),
                          probe_inputs=np.zeros((4, 3)), probe_targets=None,
                          layers={"a": ((4, 2), np.dtype("float32")),
                                  "b": ((4, 5), np.dtype("float32"))},
                          metric_names=["loss"], compression=None)
t = 0
for line in itertools.chain(["go", "go"], sys.stdin):
    writer.append(t, [float(t)], [np.full((4, 2), t, "f4"), np.full((4, 5), t, "f4")])
    t += 1
    print("WROTE", t, flush=True)
writer.close()
"""


def test_a_snapshot_published_while_the_reader_opens_the_file(tmp_path, monkeypatch):
    """open_run reads the layers' headers (to check the heaps) before it reads /steps; a
    snapshot published in between must not look like a corrupt file (seen once in CI:
    '/layers/0 has 14 snapshots but /steps lists 15')."""
    from svccakit.record import store

    path = tmp_path / "race.h5"
    proc = subprocess.Popen([sys.executable, "-c", APPEND_ON_REQUEST, str(path)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        for want in (1, 2):
            assert proc.stdout.readline().split() == ["WROTE", str(want)], proc.stderr.read()
        check_heaps = store._check_heaps

        def heaps_then_one_more_snapshot(file, p):
            check_heaps(file, p)  # the layers' headers are now cached with 2 snapshots
            proc.stdin.write("go\n")
            proc.stdin.flush()
            assert proc.stdout.readline().split() == ["WROTE", "3"]

        monkeypatch.setattr(store, "_check_heaps", heaps_then_one_more_snapshot)
        with svccakit.open_run(path) as run:
            assert len(run) == 3
            np.testing.assert_array_equal(run.steps, [0, 1, 2])
            np.testing.assert_array_equal(run.activations("b", 2), np.full((4, 5), 2, "f4"))
            np.testing.assert_array_equal(run.metrics["loss"], [0.0, 1.0, 2.0])
        _, err = proc.communicate(timeout=30)  # closes stdin: the writer ends
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)
