"""Over-time comparison of recorded runs with a reference (optimal-solution) run.

:func:`timeline` reads run files written by :class:`svccakit.Recorder` and compares
every recorded snapshot of every layer with the matching layer (or every layer) of
a reference run file, for one or more similarity metrics. The result is one tidy
:class:`pandas.DataFrame` with one row per (run, step, layer, ref_layer, metric)
and the columns :data:`COLUMNS`.

Work is arranged so that nothing is computed twice:

- each reference layer is read and decomposed (:func:`svccakit.decompose`) once,
  in the calling process, and reused for every run, step and layer;
- each run snapshot ``(step, layer)`` is read once and decomposed once, then
  compared with every reference layer it is paired with; for SVCCA one matrix
  product of its orthonormal basis with the reference bases side by side gives
  all the cross matrices, whose singular values are the canonical correlations;
- the work is split into one task per (run, layer), run in parallel by
  :func:`svccakit.parallel.run_jobs` (loky processes locally, or the workers of an
  existing Dask cluster), each task with one BLAS thread so that results do not
  depend on the backend.

The ``baseline`` column is the shuffled chance level of
:func:`svccakit.similarity.baseline`: the mean similarity after the probe rows of
the reference's snapshot are randomly permuted (breaking the correspondence
between the two sides while keeping each side's statistics), over ``baseline_n``
permutations. By default (``baseline_at="final"``) it is computed
once per (run, layer, ref_layer, metric) at the run's last recorded step and the
same value is written on every row of that group; with ``baseline_at="all"`` it
is computed at every step. ``baseline_n=0`` writes NaN.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from svccakit._parallel import check_scheduler, run_jobs
from svccakit._validate import check_choice, check_int, check_n_jobs, check_real
from svccakit.experiment.meta import RunMeta
from svccakit.record.store import open_run
from svccakit.similarity import baseline
from svccakit.similarity.registry import METRIC_NAMES, get_metric

COLUMNS: tuple[str, ...] = (
    "run",
    "reference",
    "init",
    "activation",
    "noise",
    "seed",
    "step",
    "layer",
    "ref_layer",
    "metric",
    "value",
    "baseline",
)
"""The columns of the table returned by :func:`timeline`, in order."""


_PAIRS = ("matching", "all")
_BASELINE_AT = ("final", "all")


@dataclass(frozen=True)
class RunInfo:
    """What :func:`timeline` needs to know about one run file.

    Attributes
    ----------
    path : str
        The run file.
    name, init, activation, noise : str
        From the file's :class:`~svccakit.experiment.meta.RunMeta` (``config["run"]``);
        ``name`` falls back to the file stem and the others to ``""`` when the file has
        no such entry.
    seed : int or None
        From the RunMeta (falling back to the file's seed).
    steps : tuple of int
        The recorded training steps, in order.
    layers : tuple of str
        The recorded layer names, in order.
    reduce : tuple of str
        Each layer's record-time reducer (``"none"``, ``"pool"``, ...), in order.
    """

    path: str
    name: str
    init: str
    activation: str
    noise: str
    seed: int | None
    steps: tuple[int, ...]
    layers: tuple[str, ...]
    reduce: tuple[str, ...] = ()


@dataclass(frozen=True)
class _RefLayer:
    """One reference layer, read and decomposed once."""

    name: str
    sides: dict | None  # metric -> Decomposition of the (n_probe, d) snapshot; None: constant


class _RefSet:
    """The reference layers a task compares with, one object shared by every task that
    uses them: passed to the workers as an argument of its own (``run_jobs(shared=)``),
    so that a Dask cluster receives it once, not once inside every task."""

    def __init__(self, layers: tuple[_RefLayer, ...]):
        self.layers = layers


def run_info(path: str | os.PathLike) -> RunInfo:
    """Read the metadata of one run file (no activations are read).

    Parameters
    ----------
    path : str or path-like
        A run file written by :class:`svccakit.Recorder`.

    Returns
    -------
    RunInfo
    """
    path = _check_path(path, "run")
    with open_run(path) as run:
        config = run.config
        steps = tuple(int(s) for s in np.asarray(run.steps).tolist())
        layers = tuple(str(name) for name in run.layer_names)
        reduce = tuple(run.layer_info(name).reduce for name in layers)
        file_seed = run.attrs.get("seed")
    meta = RunMeta.from_config(config, name=Path(path).stem,
                               seed=None if file_seed is None else int(file_seed))
    return RunInfo(
        path=str(path),
        name=meta.name,
        init=meta.init,
        activation=meta.activation,
        noise=meta.noise,
        seed=meta.seed,
        steps=steps,
        layers=layers,
        reduce=reduce,
    )


def timeline(
    runs: str | os.PathLike | Iterable[str | os.PathLike],
    reference: str | os.PathLike,
    *,
    metrics: Sequence[str] = ("svcca",),
    pairs: str = "matching",
    layers: Sequence[str] | None = None,
    keep: float = 0.99,
    baseline_n: int = 10,
    baseline_at: str = "final",
    reference_step: int | None = None,
    seed: int = 0,
    n_jobs: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
):
    """Compare recorded runs with a reference run, snapshot by snapshot.

    Parameters
    ----------
    runs : path-like or iterable of path-like
        Run files (``svccakit.Recorder`` layout). Each snapshot ``(step, layer)``
        of shape ``(n_probe, d)`` is compared with the reference.
    reference : path-like
        The reference (optimal-solution) run file, recorded on the same probe
        inputs as every run. Its snapshot at ``reference_step`` is used.
    metrics : sequence of {"svcca", "pwcca", "cka"}
        Similarities to compute: SVCCA (mean canonical correlation after keeping
        the directions holding ``keep`` of the variance), PWCCA (on every
        direction of the run's side, weights from the run's neurons) and linear
        CKA.
    pairs : {"matching", "all"}
        ``"matching"`` compares layer ``l`` of a run with layer ``l`` of the
        reference (same name; every compared run layer must exist in the
        reference); ``"all"`` compares every run layer with every reference layer (what
        ``svccakit run`` does: the optimum's layers need not line up with the
        student's, and its report picks each optimum layer's best match).
    layers : sequence of str, optional
        Restrict the comparison to these run layers (default: all recorded ones).
    keep : float in (0, 1]
        Fraction of variance kept by the SVD step of SVCCA.
    baseline_n : int >= 0
        Number of row permutations for the shuffled chance level (0: NaN).
    baseline_at : {"final", "all"}
        Compute the baseline at each run's last recorded step only (one value per
        (run, layer, ref_layer, metric), repeated on its rows) or at every step.
    reference_step : int, optional
        Recorded step of the reference to compare with (default: its last one).
    seed : int
        Seed of the permutations of the baseline.
    n_jobs : int, optional
        Parallel workers (joblib semantics: ``-1`` all CPUs; ``1`` runs in this
        process). Default: all CPUs locally, all workers on a Dask cluster.
    scheduler : str, optional
        Address of an existing Dask scheduler (``"tcp://host:8786"``). Tasks then
        run on its workers through joblib's dask backend; the workers must be able
        to read the run files at the same paths. Needs ``dask[distributed]``.
        (joblib runs the tasks in this process when the cluster offers a single
        worker thread.)
    progress : bool
        Show a tqdm progress bar (stderr) over the (run, layer) tasks.

    Returns
    -------
    pandas.DataFrame
        One row per (run, step, layer, ref_layer, metric), columns
        :data:`COLUMNS`; ``value`` is the similarity and ``baseline`` its shuffled
        chance level (see the module docstring). Rows are ordered by run (as
        given), step, layer, ref_layer and metric. A snapshot whose layer is constant
        over the probe (every unit dead) or not finite (training diverged) has no
        similarity: its rows hold NaN, as do such a reference layer's.
    """
    import pandas as pd

    run_paths = _check_runs(runs)
    reference = _check_path(reference, "reference")
    metrics = _check_metrics(metrics)
    check_choice(pairs, "pairs", _PAIRS)
    check_choice(baseline_at, "baseline_at", _BASELINE_AT)
    keep = check_real(keep, "keep", low=0.0, high=1.0, low_open=True)
    check_int(baseline_n, "baseline_n", 0)
    check_int(seed, "seed", 0)
    check_n_jobs(n_jobs)
    check_scheduler(scheduler)
    if layers is not None:
        if isinstance(layers, str) or not all(isinstance(name, str) for name in layers):
            raise TypeError(f"layers must be a sequence of layer names, got {layers!r}")
        layers = tuple(layers)

    ref_info, ref_layers, ref_probe = _read_reference(reference, reference_step, metrics, float(keep))
    infos = [run_info(p) for p in run_paths]
    tasks = _plan(infos, ref_info, ref_layers, ref_probe, pairs, layers)

    settings = _Settings(
        metrics=metrics, keep=float(keep), baseline_n=int(baseline_n),
        baseline_at=baseline_at, seed=int(seed),
    )
    # the reference layers travel as their own argument (one object per distinct set)
    jobs = [(dataclasses.replace(task, refs=None), settings, task.refs) for task in tasks]
    shared = list({id(task.refs): task.refs for task in tasks}.values())
    results = run_jobs(_run_task, jobs, n_jobs=n_jobs, shared=shared,
                       scheduler=scheduler, progress=progress, desc="timeline", unit="layer")

    rows = []
    run_index = []
    for task, task_rows in zip(tasks, results, strict=True):
        info = task.info
        for step, layer, ref_layer, metric, value, base in task_rows:
            rows.append(
                (info.name, ref_info.name, info.init, info.activation, info.noise,
                 info.seed, step, layer, ref_layer, metric, value, base)
            )
            run_index.append(task.run_index)
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame["seed"] = frame["seed"].astype("Int64")
    frame["step"] = frame["step"].astype("int64")
    frame["value"] = frame["value"].astype("float64")
    frame["baseline"] = frame["baseline"].astype("float64")
    # order: runs as given, then step, layer, ref_layer, metric (stable)
    layer_order = {name: i for i, name in enumerate(_all_layer_names(infos, ref_info))}
    metric_order = {m: i for i, m in enumerate(metrics)}
    key = pd.DataFrame({
        "r": np.asarray(run_index, dtype=np.int64),
        "s": frame["step"],
        "l": frame["layer"].map(layer_order),
        "q": frame["ref_layer"].map(layer_order),
        "m": frame["metric"].map(metric_order),
    })
    order = key.sort_values(["r", "s", "l", "q", "m"], kind="stable").index
    return frame.loc[order].reset_index(drop=True)


# ---------------------------------------------------------------------------
# planning


@dataclass(frozen=True)
class _Settings:
    metrics: tuple[str, ...]
    keep: float
    baseline_n: int
    baseline_at: str
    seed: int


@dataclass(frozen=True)
class _Task:
    run_index: int
    info: RunInfo
    layer: str
    refs: _RefSet | None  # None in the job itself: the set travels as its own argument


def _read_reference(path: str, step: int | None, metrics: tuple[str, ...], keep: float):
    from threadpoolctl import threadpool_limits

    info = run_info(path)
    if not info.steps:
        raise ValueError(f"reference: run file {path!r} has no recorded snapshots")
    if step is None:
        index = len(info.steps) - 1
    else:
        check_int(step, "reference_step")
        if step not in info.steps:
            raise ValueError(
                f"reference_step must be one of the reference's recorded steps "
                f"{list(info.steps)}, got {step!r}"
            )
        index = info.steps.index(step)
    refs = []
    with open_run(path) as run, threadpool_limits(limits=1):
        probe = np.asarray(run.probe)
        for name in info.layers:
            data = _snapshot(run, path, name, index)  # 2-D by the layer's reducer
            sides = None if _constant(data) else _decompose(data, metrics, keep)
            refs.append(_RefLayer(name=name, sides=sides))
    return info, tuple(refs), probe


def _plan(infos, ref_info, ref_layers, ref_probe, pairs, layers) -> list[_Task]:
    every = _RefSet(tuple(ref_layers))
    one = {ref.name: _RefSet((ref,)) for ref in ref_layers}
    tasks = []
    for run_index, info in enumerate(infos):
        if not info.steps:
            raise ValueError(f"runs: run file {info.path!r} has no recorded snapshots")
        with open_run(info.path) as run:
            probe = np.asarray(run.probe)
        if probe.shape != ref_probe.shape or not np.array_equal(probe, ref_probe):
            raise ValueError(
                f"runs: run file {info.path!r} was recorded on different probe inputs "
                f"(shape {probe.shape}) from the reference {ref_info.path!r} "
                f"(shape {ref_probe.shape}); both sides must see the same probe batch"
            )
        names = info.layers
        if layers is not None:
            missing = [name for name in layers if name not in info.layers]
            if missing:
                raise ValueError(
                    f"layers: {missing} not recorded in run file {info.path!r} "
                    f"(recorded: {list(info.layers)})"
                )
            names = layers
        for name in names:
            if pairs == "all":
                refs = every
            else:
                if name not in one:
                    raise ValueError(
                        f"pairs='matching': layer {name!r} of run file {info.path!r} has "
                        f"no layer of that name in the reference {ref_info.path!r} "
                        f"(reference layers: {list(ref_info.layers)}); use pairs='all' "
                        f"or choose layers"
                    )
                refs = one[name]
            _check_reducers(info, name, ref_info, refs.layers)
            tasks.append(_Task(run_index=run_index, info=info, layer=name, refs=refs))
    return tasks


def _check_reducers(info: RunInfo, name: str, ref_info: RunInfo, refs) -> None:
    """Layers stored with different record-time reducers hold different things:
    refuse to compare them."""
    mine = dict(zip(info.layers, info.reduce, strict=True)).get(name, "none")
    theirs = dict(zip(ref_info.layers, ref_info.reduce, strict=True))
    for ref in refs:
        if theirs.get(ref.name, "none") != mine:
            raise ValueError(
                f"layer {name!r} of run file {info.path!r} was recorded with "
                f"reduce={mine!r} but reference layer {ref.name!r} of {ref_info.path!r} with "
                f"reduce={theirs.get(ref.name, 'none')!r}; layers reduced differently cannot be "
                f"compared (record both with the same reduce=)"
            )


def _all_layer_names(infos, ref_info) -> list[str]:
    names = list(ref_info.layers)
    for info in infos:
        names += [name for name in info.layers if name not in names]
    return names


# ---------------------------------------------------------------------------
# execution


def _run_task(task: _Task, settings: _Settings, refs: _RefSet) -> list[tuple]:
    """Compare every recorded snapshot of one run layer with its reference layers."""
    from threadpoolctl import threadpool_limits

    refs = refs.layers
    rows: list[tuple] = []
    steps = task.info.steps
    last = len(steps) - 1
    specs = [get_metric(m) for m in settings.metrics]
    with threadpool_limits(limits=1), open_run(task.info.path) as run:
        for t, step in enumerate(steps):
            data = _snapshot(run, task.info.path, task.layer, t)  # each snapshot read once
            live = [r for r, ref in enumerate(refs) if ref.sides is not None]
            values = {metric: [math.nan] * len(refs) for metric in settings.metrics}
            sides = None
            if not _constant(data) and live:
                sides = _decompose(data, settings.metrics, settings.keep)  # decomposed once
                # each metric against every reference layer at once (SVCCA: one product
                # with the reference bases side by side)
                for spec in specs:
                    found = spec.many(sides[spec.name],
                                      [refs[r].sides[spec.name] for r in live])
                    for r, value in zip(live, found, strict=True):
                        values[spec.name][r] = value
            with_baseline = settings.baseline_n > 0 and (
                settings.baseline_at == "all" or t == last
            )
            for r, ref in enumerate(refs):
                for metric in settings.metrics:
                    value = values[metric][r]
                    base = math.nan
                    if with_baseline and sides is not None and ref.sides is not None:
                        seed = _baseline_seed(settings.seed, task.info.name, task.layer,
                                              ref.name, metric, int(step))
                        base = _baseline(metric, sides[metric], ref.sides[metric],
                                         settings.baseline_n, seed)
                    rows.append((int(step), task.layer, ref.name, metric, value, base))
    if settings.baseline_n > 0 and settings.baseline_at == "final":
        final = {(r[2], r[3]): r[5] for r in rows if r[0] == int(steps[last])}
        rows = [r[:5] + (final[(r[2], r[3])],) for r in rows]
    return rows


def _constant(data: np.ndarray) -> bool:
    """True when a snapshot has no usable similarity: every unit constant over the probe
    (a dead layer), or a value that is not finite (a diverged network). Its rows hold NaN."""
    if not isinstance(data, np.ndarray):  # streamed from the file: too big to screen
        return False
    flat = data.reshape(data.shape[0], -1)
    return bool(np.all(flat == flat[:1])) or not bool(np.isfinite(flat).all())


STREAM_BYTES = 256 * 2**20
"""A snapshot larger than this in float64 is not loaded but streamed from the run file."""


def _snapshot(run, path: str, layer: str, index: int):
    """One snapshot as the 2-D matrix the metrics take (:meth:`~svccakit.Run.samples`):
    loaded, or for a large plain 2-D layer an array-like that the similarity engine
    reads in row blocks (peak memory bounded by its block size)."""
    info = run.layer_info(layer)
    plain = len(info.shape) == 2 and not str(info.reduce).startswith("positions")
    if plain and info.shape[0] * info.shape[1] * 8 > STREAM_BYTES:
        return _LayerRows(path, layer, index, info.shape, np.dtype(info.dtype))
    return np.asarray(run.samples(layer, index))


class _LayerRows:
    """Rows of ``/layers/<layer>[index]`` of a run file, read on demand; picklable (the
    file is opened in whichever process reads, once per process)."""

    def __init__(self, path: str, layer: str, index: int, shape, dtype):
        self.path, self.layer, self.index = path, layer, int(index)
        self.shape, self.dtype = tuple(shape), dtype

    def __getitem__(self, rows):
        return _open_layer(self.path, self.layer)[self.index, rows]


_OPEN: dict = {}


def _open_layer(path: str, layer: str):
    import h5py

    key = (os.getpid(), path)
    if key not in _OPEN or not _OPEN[key].id.valid:
        try:  # as the run reader does: the file may still be written (SWMR)
            _OPEN[key] = h5py.File(path, "r", swmr=True, libver="latest")
        except (OSError, ValueError):
            _OPEN[key] = h5py.File(path, "r")
    return _OPEN[key]["layers"][layer]


def _decompose(data, metrics: tuple[str, ...], keep: float) -> dict:
    """One decomposition per kind of side the metrics need (see
    :meth:`svccakit.similarity.Metric.decompose`): SVCCA keeps ``keep`` of the variance,
    PWCCA every direction, linear CKA reuses whichever was made first."""
    made: dict = {}
    return {metric: get_metric(metric).decompose(data, keep, made) for metric in metrics}


def _baseline(metric: str, run_side, ref_side, n: int, seed: int) -> float:
    return float(baseline(run_side, ref_side, metric=metric, n=n, seed=seed).mean)


def _baseline_seed(seed: int, *parts: object) -> int:
    """A deterministic per-row seed (independent of the backend and task order)."""
    return int(np.random.SeedSequence([seed, _stable_hash(*parts)]).generate_state(1)[0])


def _stable_hash(*parts: object) -> int:
    import zlib

    return zlib.crc32("\x1f".join(str(p) for p in parts).encode())


# ---------------------------------------------------------------------------
# validation


def _check_path(path, name: str) -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path to a run file, got {type(path).__name__}")
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{name}: run file {path!r} does not exist")
    return path


def _check_runs(runs) -> list[str]:
    if isinstance(runs, (str, os.PathLike)):
        runs = [runs]
    if not isinstance(runs, Iterable):
        raise TypeError(f"runs must be a path or an iterable of paths, got {type(runs).__name__}")
    paths = [_check_path(p, "runs") for p in runs]
    if not paths:
        raise ValueError("runs must name at least one run file, got none")
    return paths


def _check_metrics(metrics) -> tuple[str, ...]:
    if isinstance(metrics, str):
        metrics = (metrics,)
    metrics = tuple(metrics)
    if not metrics:
        raise ValueError(f"metrics: expected a non-empty subset of {METRIC_NAMES}, got ()")
    for metric in metrics:
        get_metric(metric, "metrics")
    if len(set(metrics)) != len(metrics):
        raise ValueError(f"metrics: expected no repeated metric, got {metrics!r}")
    return metrics
