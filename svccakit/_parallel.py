"""Run a list of independent jobs locally or on an existing Dask cluster.

:func:`run_jobs` calls ``fn(*args)`` for every ``args`` of a list and returns the
results in list order, with a tqdm progress bar (stderr) over finished jobs:

- locally (``scheduler=None``): in joblib's loky worker processes, each limited to one
  torch thread and one BLAS thread (so that jobs do not oversubscribe the cores and give
  the same numbers whatever the number of workers); with one worker, or a single job,
  in this process, without touching its thread settings;
- on a Dask cluster (``scheduler="tcp://host:8786"``): through joblib's dask backend on
  the cluster's workers, whose thread settings are the cluster's. ``distributed`` is
  imported only then (``pip install 'svccakit[dask]'``).

``fn`` and the arguments must be picklable (module-level functions, plain data) and,
on a cluster, whatever files they read must be visible to the workers at the same paths.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from svccakit._validate import check_n_jobs
from svccakit.exceptions import MissingDependencyError, SchedulerError

__all__ = ["CONNECT_TIMEOUT", "check_scheduler", "connect_scheduler", "run_jobs"]

CONNECT_TIMEOUT = "10s"
"""How long :func:`run_jobs` waits for a Dask scheduler to answer."""

_DASK_HINT = "pip install 'svccakit[dask]'"


def check_scheduler(scheduler) -> None:
    """Raise unless ``scheduler`` is None or an address string."""
    if scheduler is not None and not isinstance(scheduler, str):
        raise TypeError(
            f"scheduler must be a Dask scheduler address string such as "
            f"'tcp://127.0.0.1:8786', got {type(scheduler).__name__}"
        )


def connect_scheduler(scheduler) -> None:
    """Connect to the Dask scheduler at ``scheduler`` and disconnect: fail before any work.

    Raises
    ------
    TypeError
        If ``scheduler`` is not an address string.
    MissingDependencyError
        If ``distributed`` is not installed (an ImportError; says how to install it).
    SchedulerError
        If no scheduler answers within :data:`CONNECT_TIMEOUT` (a ValueError).
    """
    check_scheduler(scheduler)
    if scheduler is not None:
        with _dask_client(scheduler):
            pass


def run_jobs(
    fn: Callable[..., Any],
    jobs: Sequence[tuple],
    *,
    n_jobs: int | None = None,
    scheduler: str | None = None,
    progress: bool = False,
    desc: str | None = None,
    unit: str = "job",
    costs: Sequence[float] | None = None,
    backend: str = "loky",
    shared: Sequence[Any] = (),
) -> list:
    """Call ``fn(*args)`` for every ``args`` in ``jobs``; results in the order of ``jobs``.

    Parameters
    ----------
    fn : callable
        A picklable (module-level) function.
    jobs : sequence of tuple
        The positional arguments of each call.
    n_jobs : int, optional
        Workers, joblib semantics (``-1``: all CPUs, ``-2``: all but one; ``1``: in this
        process). Default: all CPUs locally, all worker threads on a Dask cluster.
        Locally never more workers than jobs.
    scheduler : str, optional
        Address of an existing Dask scheduler (``"tcp://host:8786"``); the jobs then run
        on its workers through joblib's dask backend. Needs ``distributed``.
    progress : bool
        Show a tqdm progress bar (stderr) over finished jobs.
    desc, unit : str
        The progress bar's label and unit.
    costs : sequence of float, optional
        Expected cost of each job; jobs are started most costly first (better packing
        of uneven jobs). Default: in order.
    backend : str
        joblib backend of local runs with more than one worker (``"loky"``: processes).
    shared : sequence, optional
        Argument objects that many jobs pass (the same object, by identity). On a Dask
        cluster they are sent to every worker once, before the jobs, instead of with
        each job; locally they change nothing.

    Returns
    -------
    list
        ``fn(*jobs[i])`` at index ``i``.

    Raises
    ------
    ImportError
        With ``scheduler`` when ``distributed`` is not installed (says how to install it).
    ValueError
        When no Dask scheduler answers at ``scheduler`` within :data:`CONNECT_TIMEOUT`,
        or ``n_jobs`` is 0, or ``costs`` does not have one value per job.
    """
    from tqdm.auto import tqdm

    check_n_jobs(n_jobs)
    check_scheduler(scheduler)
    jobs = [tuple(args) for args in jobs]
    if costs is None:
        order = list(range(len(jobs)))
    else:
        if len(costs) != len(jobs):
            raise ValueError(f"costs: expected one value per job ({len(jobs)}), got {len(costs)}")
        order = sorted(range(len(jobs)), key=lambda i: -costs[i])
    results: list = [None] * len(jobs)
    bar = tqdm(total=len(jobs), desc=desc, unit=unit, disable=not progress)
    try:
        if scheduler is not None:
            _on_dask(fn, jobs, order, results, bar, n_jobs=n_jobs, scheduler=scheduler,
                     shared=shared)
        else:
            _locally(fn, jobs, order, results, bar, n_jobs=n_jobs, backend=backend)
    finally:
        bar.close()
    return results


def _locally(fn, jobs, order, results, bar, *, n_jobs, backend) -> None:
    from joblib import Parallel, cpu_count, delayed, parallel_config

    workers = -1 if n_jobs is None else int(n_jobs)
    if workers < 0:
        workers = max(cpu_count() + 1 + workers, 1)
    workers = min(workers, len(jobs))
    if workers <= 1:
        for i in order:
            results[i] = fn(*jobs[i])
            bar.update(1)
        return
    extra = {"inner_max_num_threads": 1} if backend == "loky" else {}
    calls = (delayed(_single_threaded)(i, fn, jobs[i]) for i in order)
    with parallel_config(backend=backend, n_jobs=workers, **extra):
        for i, result in Parallel(return_as="generator_unordered")(calls):
            results[i] = result
            bar.update(1)


def _single_threaded(index: int, fn, args: tuple) -> tuple[int, Any]:
    """``(index, fn(*args))`` with one torch thread and one BLAS thread (in a worker)."""
    import torch
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            return index, fn(*args)
    finally:
        torch.set_num_threads(threads)


def _on_dask(fn, jobs, order, results, bar, *, n_jobs, scheduler, shared=()) -> None:
    from joblib import Parallel, delayed, parallel_config

    # fn itself is submitted (not wrapped) so the cluster's tasks carry its name;
    # results then come back in submission order
    calls = (delayed(fn)(*jobs[i]) for i in order)
    # shared objects are broadcast once; joblib then passes their futures, by identity
    extra = {"scatter": list(shared)} if shared else {}
    with _dask_client(scheduler) as client, parallel_config(
        backend="dask", n_jobs=-1 if n_jobs is None else n_jobs, client=client, **extra,
    ):
        for i, result in zip(order, Parallel(return_as="generator")(calls), strict=True):
            results[i] = result
            bar.update(1)


def _dask_client(address: str):
    """A ``distributed.Client`` connected to ``address`` (a clear error if it cannot be)."""
    try:
        from distributed import Client
    except ImportError as exc:
        raise MissingDependencyError(
            f"scheduler={address!r} needs dask.distributed, which is not installed: {_DASK_HINT}"
        ) from exc
    try:
        return Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        reason = " ".join(str(exc).split())
        raise SchedulerError(
            f"scheduler: could not connect to a Dask scheduler at {address!r} ({reason})"
        ) from exc
