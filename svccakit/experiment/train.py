"""Training runs with the recorder attached, the reference run, and the grid.

* :func:`train_run` trains one network of an experiment config and writes one run file
  (:class:`svccakit.Recorder`, layers ``act*`` and ``out``, on the task's probe batch).
* :func:`record_reference` writes the optimal solution's run file: one snapshot (step 0)
  of the same layers on the same probe batch, ``role = "reference"``.
* :func:`run_grid` does both for the whole grid {inits} x {activations} x {noises} x
  {seeds} in parallel (:func:`svccakit.parallel.run_jobs`, loky processes) into ``<out_dir>/runs/``.

Training: minibatches drawn by reshuffling the training set every epoch
(``batch_size >= n_train``: full batch), SGD (with momentum) or Adam,
cross-entropy on logits (classification) or mean squared error (regression).
Everything random comes from the run's seed: one ``torch.Generator`` seeded with it
draws the initialisation and then the batch order, and ``torch.manual_seed(seed)`` drives
the noise modules, so the same seed gives the same run file.

Metrics at every snapshot, computed in eval mode (no noise) on the **whole training set**:
``loss`` and, for classification, ``accuracy``; with a validation split also
``val_loss`` and ``val_accuracy``.

Every run file's ``config`` attribute is ``{"experiment": config.to_dict(), "run": {...}}``,
the run entry being a :class:`svccakit.experiment.meta.RunMeta` (``name, role, task, init,
activation, noise, seed, depth, width``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from svccakit._validate import check_bool, check_choice, check_int, check_n_jobs
from svccakit.exceptions import TrainingDivergedError
from svccakit.experiment.config import ExperimentConfig
from svccakit.experiment.meta import RunMeta
from svccakit.experiment.registry import get_task
from svccakit.experiment.tasks import Task, make_task

__all__ = [
    "GridResult",
    "LAYERS",
    "build_model",
    "grid_reference_path",
    "grid_runs",
    "optimal_network",
    "record_reference",
    "run_grid",
    "run_name",
    "train_reference",
    "train_run",
]

LAYERS = ("act*", "out")
"""The layers every run and reference records (recorder glob patterns)."""

REFERENCE_SEED_OFFSET = 10_000
"""Digits reference network ``i`` is trained with seed ``REFERENCE_SEED_OFFSET + i``."""


@dataclass(frozen=True)
class GridResult:
    """What :func:`run_grid` wrote.

    Attributes
    ----------
    reference : pathlib.Path
        The reference run file (``<out>/runs/reference.h5``, or ``task.reference``).
    runs : tuple of pathlib.Path
        The student run files in grid order (inits, activations, noises, seeds).
    """

    reference: Path
    runs: tuple[Path, ...]


# ------------------------------------------------------------------------ helpers


def _slug(spec: str) -> str:
    return spec.replace(":", "")


def run_name(init: str, activation: str, noise: str, seed: int) -> str:
    """The file stem of a run: ``"critical-relu-none-s0"``, ``"he-shifted-relu0.5-dropout0.8-s1"``
    (``:`` dropped from specs)."""
    return f"{init}-{_slug(activation)}-{_slug(noise)}-s{seed}"


def grid_runs(config: ExperimentConfig) -> list[dict]:
    """The grid of a config, in order: dicts with keys ``init, activation, noise, seed, name``."""
    return [
        {"init": i, "activation": a, "noise": n, "seed": s, "name": run_name(i, a, n, s)}
        for i in config.inits for a in config.activations for n in config.noises
        for s in config.seeds
    ]


def grid_reference_path(out_dir: str | os.PathLike) -> Path:
    """Where :func:`run_grid` records the reference: ``<out_dir>/runs/reference.h5``."""
    return Path(out_dir) / "runs" / "reference.h5"


def _check_config(config):
    if not isinstance(config, ExperimentConfig):
        raise TypeError(f"config: expected an svccakit.config.ExperimentConfig, got {type(config).__name__}")


def _check_task(task, config):
    if task is None:
        return make_task(config)
    if not isinstance(task, Task):
        raise TypeError(f"task: expected an svccakit.tasks.Task or None, got {type(task).__name__}")
    return task


def build_model(
    config: ExperimentConfig, task: Task, *, init: str, activation: str, noise: str = "none",
    generator: torch.Generator | int = 0,
) -> nn.Sequential:
    """A student: :func:`svccakit.meanfield.nets.mlp` of the config's depth/width for
    ``task``, initialised by ``init``.

    ``"critical"``: :func:`svccakit.meanfield.init.critical_` for the activation and noise
    (``init.q_star``, ``init.weights``); a scheme name (``"he"``, ``"pytorch-default"``,
    ...): :func:`svccakit.meanfield.init.random_` with that scheme.
    """
    from svccakit.meanfield.init import critical_, random_
    from svccakit.meanfield.nets import mlp
    from svccakit.meanfield.schemes import INIT_NAMES

    check_choice(init, "init", INIT_NAMES)
    model = mlp(task.in_features, config.width, config.depth, task.out_features,
                activation=activation, noise=None if noise == "none" else noise)
    if init == "critical":
        critical_(model, q_star=config.init.q_star, weights=config.init.weights, generator=generator)
    else:
        random_(model, init, generator=generator)
    return model


def _loss_fn(task):
    return nn.functional.cross_entropy if task.kind == "classification" else nn.functional.mse_loss


@torch.no_grad()
def _evaluate(model, task) -> dict[str, float]:
    was_training = model.training
    model.eval()
    try:
        out = {}
        splits = [("", task.x_train, task.y_train)]
        if task.x_val is not None:
            splits.append(("val_", task.x_val, task.y_val))
        for prefix, x, y in splits:
            z = model(x)
            out[f"{prefix}loss"] = float(_loss_fn(task)(z, y))
            if task.kind == "classification":
                out[f"{prefix}accuracy"] = float((z.argmax(dim=1) == y).float().mean())
        return out
    finally:
        model.train(was_training)


def _schedule(config) -> list[int]:
    from svccakit.record.recorder import log_schedule

    total = config.steps
    if config.schedule.kind == "log":
        return log_schedule(total, min(config.schedule.n, total + 1))
    return sorted(set(range(0, total + 1, config.schedule.every)) | {total})


def _optimiser(config, params):
    o = config.optimiser
    if o.name == "sgd":
        return torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)
    return torch.optim.Adam(params, lr=o.lr, weight_decay=o.weight_decay)


def _fit(model, task, config, *, steps, generator, on_step=None, progress=False, desc=None):
    """Train ``model`` for ``steps`` updates; ``on_step(step)`` is called before the first
    update (step 0) and after each update (step t = t updates done)."""
    optimiser = _optimiser(config, model.parameters())
    loss_fn = _loss_fn(task)
    n = task.x_train.shape[0]
    batch = min(config.optimiser.batch_size, n)
    order, pos = torch.randperm(n, generator=generator), 0
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, desc=desc, unit="step", leave=False)
    model.train()
    try:
        if on_step is not None:
            on_step(0)
        for step in range(1, steps + 1):
            if pos + batch > n:
                order, pos = torch.randperm(n, generator=generator), 0
            idx = order[pos: pos + batch]
            pos += batch
            optimiser.zero_grad(set_to_none=True)
            loss = loss_fn(model(task.x_train[idx]), task.y_train[idx])
            if not torch.isfinite(loss):
                if config.optimiser.on_divergence == "stop":
                    break
                raise TrainingDivergedError(
                    f"training diverged at step {step} (loss {loss.item()}); lower optimiser.lr "
                    f"(now {config.optimiser.lr}), or set optimiser.on_divergence = \"stop\" "
                    f"to keep the snapshots recorded so far"
                )
            loss.backward()
            optimiser.step()
            if on_step is not None:
                try:
                    on_step(step)
                except _Diverged:
                    if config.optimiser.on_divergence == "stop":
                        break
                    raise TrainingDivergedError(
                        f"training diverged at step {step} (non-finite weights); lower "
                        f"optimiser.lr (now {config.optimiser.lr})") from None
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    model.eval()
    return model


def _compression(config):
    kind = config.schedule.compression
    return None if kind == "none" else kind


class _Diverged(Exception):
    """Raised by a snapshot callback when the model's weights are no longer finite."""


def _finite(model) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


def _run_meta(config, task, *, name, role, init, activation, noise, seed):
    meta = RunMeta(name=name, role=role, task=task.name, init=init, activation=activation,
                   noise=noise, seed=seed, depth=config.depth, width=config.width)
    return meta.to_config(config.to_dict())


def _check_path(path, overwrite):
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a str or path-like, got {type(path).__name__}")
    check_bool(overwrite, "overwrite")
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{str(path)!r} already exists; pass overwrite=True to replace it")
    return path


def _check_seed(seed):
    return check_int(seed, "seed", 0)


# ------------------------------------------------------------------------- public


def train_run(
    config: ExperimentConfig,
    *,
    init: str,
    activation: str,
    noise: str = "none",
    seed: int = 0,
    path: str | os.PathLike,
    overwrite: bool = False,
    progress: bool = False,
    task: Task | None = None,
    model: Callable[[], nn.Module] | nn.Module | None = None,
) -> Path:
    """Train one network with the recorder attached and write its run file.

    Parameters
    ----------
    config : ExperimentConfig
        Depth, width, optimiser, steps, schedule; the task unless ``task`` is given.
    init : str
        ``"critical"`` or a random scheme (``"he"``, ``"xavier"``, ``"lecun"``,
        ``"pytorch-default"``). Ignored when ``model`` is given (stored in the run metadata
        as given).
    activation : str
        ``"relu"`` or ``"shifted-relu:ALPHA"``.
    noise : str
        ``"none"``, ``"dropout:P"``, ``"gauss:SIGMA"``.
    seed : int
        Initialisation, batch order and noise.
    path : path-like
        The run file to write.
    overwrite : bool
        Replace an existing file (otherwise FileExistsError before training).
    progress : bool
        A tqdm bar over the training steps (stderr).
    task : Task, optional
        Your own data (:func:`svccakit.tasks.custom_task`); default ``make_task(config)``.
    model : nn.Module or callable, optional
        Your own network (or a factory called with no arguments), already initialised;
        its layers named ``act*`` and ``out`` are recorded. Default: :func:`build_model`.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    from svccakit.record.recorder import Recorder

    _check_config(config)
    path = _check_path(path, overwrite)
    seed = _check_seed(seed)
    task = _check_task(task, config)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    if model is None:
        model = build_model(config, task, init=init, activation=activation, noise=noise,
                            generator=generator)
    elif not isinstance(model, nn.Module):
        if not callable(model):
            raise TypeError(f"model: expected an nn.Module, a factory or None, got {type(model).__name__}")
        model = model()
        if not isinstance(model, nn.Module):
            raise TypeError(f"model: the factory returned {type(model).__name__}, expected an nn.Module")
    schedule = set(_schedule(config))
    name = path.stem
    meta = _run_meta(config, task, name=name, role="student", init=init, activation=activation,
                     noise=noise, seed=seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with Recorder(model, _probe(task), path, layers=list(LAYERS),
                  compression=_compression(config),
                  overwrite=overwrite, config=meta, seed=seed) as recorder:

        def on_step(step):
            if step in schedule:
                metrics = _evaluate(model, task) if _finite(model) else None
                if metrics is None or not all(math.isfinite(v) for v in metrics.values()):
                    raise _Diverged(step)
                recorder.record(step, **metrics)

        _fit(model, task, config, steps=config.steps, generator=generator, on_step=on_step,
             progress=progress, desc=name)
    return path


def _probe(task):
    """The recorder's probe: the inputs, with their targets where the task has them."""
    return task.probe if task.probe_y is None else (task.probe, task.probe_y)


def train_reference(
    config: ExperimentConfig, *, task: Task | None = None, activation: str = "relu",
    progress: bool = False,
) -> nn.Sequential:
    """The reference network for tasks without a hand-coded optimum (digits, your data).

    Trains ``task.reference_seeds`` critically initialised networks of the config's
    architecture (no noise) for ``task.reference_steps`` steps (0: 4 x ``steps``) with the
    config's optimiser, seeds ``10000 + i``, and keeps the one with the best validation
    accuracy (classification; ties and regression: lowest validation loss; no validation
    split: training loss).

    Returns
    -------
    nn.Sequential
        In eval mode.
    """
    _check_config(config)
    task = _check_task(task, config)
    t = config.task
    steps = t.reference_steps or 4 * config.steps
    best, best_key = None, None
    for i in range(t.reference_seeds):
        seed = REFERENCE_SEED_OFFSET + i
        generator = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        model = build_model(config, task, init="critical", activation=activation,
                            generator=generator)
        _fit(model, task, config, steps=steps, generator=generator, progress=progress,
             desc=f"reference {i + 1}/{t.reference_seeds}")
        m = _evaluate(model, task)
        prefix = "val_" if task.x_val is not None else ""
        key = (-m.get(f"{prefix}accuracy", 0.0), m[f"{prefix}loss"])
        if best_key is None or key < best_key:
            best, best_key = model, key
    return best.eval()


def optimal_network(config: ExperimentConfig, *, activation: str = "relu") -> nn.Sequential:
    """The hand-coded optimal network of the config's task (parity: XOR tree; teacher: the
    teacher), with the config's depth and width, in eval mode.

    Raises
    ------
    ValueError
        For tasks without one (digits: see :func:`train_reference`).
    """
    _check_config(config)
    kind = get_task(config.task.name)
    if not kind.has_optimum:
        raise ValueError(f"task.name: {kind.name!r} has no hand-coded optimal network; train "
                         "one with train_reference")
    return kind.optimum_builder()(config, activation).eval()


def record_reference(
    config: ExperimentConfig,
    path: str | os.PathLike,
    *,
    activation: str = "relu",
    overwrite: bool = False,
    task: Task | None = None,
    model: nn.Module | None = None,
    progress: bool = False,
) -> Path:
    """Write the reference run file: one snapshot (step 0) of the optimal solution's layers
    ``act*`` and ``out`` on the task's probe batch, with its metrics.

    The optimal solution is :func:`optimal_network` (parity, teacher; ``init="optimal"``),
    a network from :func:`train_reference` (digits; ``init="trained"``), or ``model``
    (yours, already trained; ``init="trained"``).

    Parameters
    ----------
    config : ExperimentConfig
    path : path-like
    activation : str
        Activation of the optimal network (``"relu"`` or ``"shifted-relu:ALPHA"``; the
        shifted one records the ReLU one's hidden activations minus ALPHA, equivalent for
        SVCCA/PWCCA/CKA).
    overwrite : bool
    task : Task, optional
        Default ``make_task(config)``.
    model : nn.Module, optional
        Your trained reference network.
    progress : bool

    Returns
    -------
    pathlib.Path
    """
    from svccakit.record.recorder import Recorder

    _check_config(config)
    path = _check_path(path, overwrite)
    task = _check_task(task, config)
    if model is not None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model: expected an nn.Module or None, got {type(model).__name__}")
        init = "trained"
    elif config.task.name == task.name and get_task(task.name).has_optimum:
        model, init = optimal_network(config, activation=activation), "optimal"
    else:
        model = train_reference(config, task=task, activation=activation, progress=progress)
        init = "trained"
    model.eval()
    meta = _run_meta(config, task, name=path.stem, role="reference", init=init,
                     activation=activation, noise="none", seed=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    with Recorder(model, _probe(task), path, layers=list(LAYERS),
                  compression=_compression(config),
                  overwrite=overwrite, config=meta, seed=0) as recorder:
        recorder.record(0, **_evaluate(model, task))
    return path


# --------------------------------------------------------------------------- grid


def _job(kind, config, path, overwrite, spec):
    if kind == "reference":
        return record_reference(config, path, overwrite=overwrite)
    return train_run(config, init=spec["init"], activation=spec["activation"],
                     noise=spec["noise"], seed=spec["seed"], path=path, overwrite=overwrite)


def run_grid(
    config: ExperimentConfig,
    out_dir: str | os.PathLike,
    *,
    n_jobs: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    backend: str = "loky",
) -> GridResult:
    """Record the reference and train the whole grid into ``<out_dir>/runs/``.

    Runs are ``<out_dir>/runs/<run_name(...)>.h5``; the reference is
    ``<out_dir>/runs/reference.h5`` (ReLU optimal network) unless ``task.reference`` names
    an existing run file, which is then used as is.

    Parameters
    ----------
    config : ExperimentConfig
    out_dir : path-like
    n_jobs : int, optional
        Worker processes (default ``config.n_jobs``; -1: all cores; 1: in this process).
        Each worker uses one torch/BLAS thread (:func:`svccakit.parallel.run_jobs`).
    overwrite : bool
        Replace existing run files. Without it, any existing target raises
        FileExistsError naming them, before any training starts.
    progress : bool
        A tqdm bar over finished runs (stderr).
    backend : str
        joblib backend (``"loky"`` processes by default).

    Returns
    -------
    GridResult
    """
    from svccakit._parallel import run_jobs

    _check_config(config)
    if not isinstance(out_dir, (str, os.PathLike)):
        raise TypeError(f"out_dir: expected a str or path-like, got {type(out_dir).__name__}")
    check_bool(overwrite, "overwrite")
    n_jobs = config.n_jobs if n_jobs is None else n_jobs
    check_n_jobs(n_jobs)
    runs_dir = Path(out_dir) / "runs"
    specs = grid_runs(config)
    paths = [runs_dir / f"{s['name']}.h5" for s in specs]
    jobs = [("run", p, s) for p, s in zip(paths, specs, strict=True)]
    if config.task.reference:
        reference = Path(config.task.reference)
        if not reference.is_file():
            raise FileNotFoundError(f"task.reference: run file {str(reference)!r} does not exist")
    else:
        reference = grid_reference_path(out_dir)
        jobs.insert(0, ("reference", reference, None))
    if not overwrite:
        existing = [str(p) for _, p, _ in jobs if p.exists()]
        if existing:
            raise FileExistsError(
                f"{len(existing)} run file(s) already exist: {', '.join(existing)}; "
                "pass overwrite=True (--overwrite) to replace them"
            )
    runs_dir.mkdir(parents=True, exist_ok=True)
    run_jobs(_job, [(kind, config, p, overwrite, s) for kind, p, s in jobs], n_jobs=n_jobs,
             progress=progress, desc="training", unit="run", backend=backend)
    return GridResult(reference=reference, runs=tuple(paths))
