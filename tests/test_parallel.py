"""svccakit.parallel: local jobs (in process, loky workers) and the Dask path's errors."""

from __future__ import annotations

import os
import sys

import pytest
import torch

from svccakit import _parallel as parallel


def _square(x, offset=0):
    return x * x + offset


def _worker_state(x):
    """(x, pid, torch threads, BLAS threads) as seen inside the job."""
    from threadpoolctl import threadpool_info

    blas = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    return x, os.getpid(), torch.get_num_threads(), max(blas, default=1)


def test_in_process_keeps_order_and_thread_settings():
    threads = torch.get_num_threads()
    results = parallel.run_jobs(_worker_state, [(i,) for i in range(4)], n_jobs=1)
    assert [r[0] for r in results] == [0, 1, 2, 3]
    assert {r[1] for r in results} == {os.getpid()}
    assert {r[2] for r in results} == {threads}  # n_jobs=1 leaves this process alone
    assert torch.get_num_threads() == threads


def test_in_process_runs_most_costly_first():
    seen = []

    def record(x):
        seen.append(x)
        return -x

    results = parallel.run_jobs(record, [(1,), (2,), (3,)], n_jobs=1, costs=[1.0, 3.0, 2.0])
    assert seen == [2, 3, 1]
    assert results == [-1, -2, -3]  # still in job order


def test_two_workers_give_the_same_results_single_threaded():
    jobs = [(i, 10) for i in range(6)]
    assert parallel.run_jobs(_square, jobs, n_jobs=2) == [i * i + 10 for i in range(6)]
    states = parallel.run_jobs(_worker_state, [(i,) for i in range(4)], n_jobs=2,
                               costs=[1, 2, 3, 4])
    assert [s[0] for s in states] == [0, 1, 2, 3]
    assert os.getpid() not in {s[1] for s in states}  # in loky worker processes
    assert {s[2] for s in states} == {1}  # one torch thread
    assert {s[3] for s in states} == {1}  # one BLAS thread


def test_a_single_job_runs_here_and_no_jobs_give_nothing():
    assert parallel.run_jobs(_worker_state, [(7,)], n_jobs=2)[0][1] == os.getpid()
    assert parallel.run_jobs(_square, [], n_jobs=2) == []


def test_progress_bar_on_stderr(capsys):
    parallel.run_jobs(_square, [(1,), (2,)], n_jobs=1, progress=True, desc="squares",
                      unit="sq")
    assert "squares" in capsys.readouterr().err
    parallel.run_jobs(_square, [(1,)], n_jobs=1)
    assert "squares" not in capsys.readouterr().err


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="n_jobs: expected a non-zero integer"):
        parallel.run_jobs(_square, [(1,)], n_jobs=0)
    with pytest.raises(TypeError, match="n_jobs: expected an integer, got float 1.5"):
        parallel.run_jobs(_square, [(1,)], n_jobs=1.5)
    with pytest.raises(TypeError, match="scheduler must be a Dask scheduler address string"):
        parallel.run_jobs(_square, [(1,)], scheduler=8786)
    with pytest.raises(ValueError, match=r"costs: expected one value per job \(2\), got 1"):
        parallel.run_jobs(_square, [(1,), (2,)], costs=[1.0])


def test_missing_dask_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` fails
    with pytest.raises(ImportError, match=r"needs dask.distributed.*pip install 'svccakit\[dask\]'"):
        parallel.run_jobs(_square, [(1,)], scheduler="tcp://127.0.0.1:8786")


def test_unreachable_scheduler_is_a_one_line_error(monkeypatch):
    monkeypatch.setattr(parallel, "CONNECT_TIMEOUT", "0.5s")
    with pytest.raises(ValueError, match="could not connect to a Dask scheduler at "
                                         "'tcp://127.0.0.1:9'") as info:
        parallel.run_jobs(_square, [(1,)], scheduler="tcp://127.0.0.1:9")
    assert "\n" not in str(info.value)


def test_dask_cluster_runs_the_jobs_in_order():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster:
        results = parallel.run_jobs(_square, [(i, 1) for i in range(5)],
                                    scheduler=cluster.scheduler_address, costs=[1, 5, 2, 4, 3])
        assert any("_square" in name for name in cluster.scheduler.task_prefixes)
    assert results == [i * i + 1 for i in range(5)]
