"""Noise limits trainable depth: the depth x noise boundary at ``6 xi_c``.

Pretorius, van Biljon, Kroon & Kamper (2018), "Critical initialisation for deep signal
propagation in noisy rectifier neural networks": a critically initialised noisy ReLU
network (``sigma_w^2 = 2 / mu2``, ``sigma_b = 0``) keeps the *variance* of its signal
constant with depth, but the noise drives the *correlation* between two inputs to a fixed
point ``c* < 1`` at the rate ``xi_c = -1 / ln chi(c*)`` (Schoenholz et al. 2017). Deeper than
about ``6 xi_c`` the output no longer depends on which input went in and the network cannot
be trained; the paper shows it with heatmaps of the final loss of input reconstruction (MSE)
over depth x dropout keep rate, with ``6 xi_c`` drawn over them, and with the variance
``q^L`` over depth x ``sigma_w^2``, which leaves float32's range (overflow/underflow) off
criticality at a depth the theory predicts.

This module reproduces both on scikit-learn's digits and puts the boundary to a test:

* :func:`depth_grid` trains critically initialised noisy ReLU networks over (noise, depth,
  seed), many at once (:func:`svccakit.depth.batched.train_stack`: one stacked model per
  depth, batched matrix products, each network with its own initialisation, noise and
  batch order), and returns a :class:`DepthGrid`: training and validation loss after each
  training budget (``checkpoints`` and ``steps``) next to ``xi_c`` and ``6 xi_c``;
* :func:`svccakit.depth.scan.boundary_test` scores ``depth <= k xi_c`` for k = 1..12
  against the trivial predictors ("nothing trains", "everything trains") and fitted
  noise-blind and depth-blind boundaries, per seed and per budget;
* :func:`variance_heatmap` runs real float32 forward passes over depth x ``sigma_w^2`` at fixed
  noise and returns :class:`VarianceMap` (``log10 q^L``, the theory's float32 boundary);
* :func:`run_depth` does everything and writes ``grid.csv``, ``kscan.csv``,
  ``predictors.csv``, ``boundaries.csv``, ``variance.csv``, ``figures/*.png`` and
  ``report.md`` (``svccakit depth``).

Trainability criterion. A network the theory calls untrainable has forgotten which input it
saw, so the best it can do is the *trivial predictor*, the mean training image, whose
validation MSE is ``trivial_loss``. A cell is *trainable* when its relative validation loss
``val_loss / trivial_loss`` is below ``threshold`` (default 0.9, i.e. it explains at least
10% of the pixel variance the mean image leaves). Untrainable networks sit at a relative
loss of 1 (within a few per cent, from the finite validation set and the readout's bias),
so 0.9 is clear of that plateau without being tuned to the theory; the report also gives the
agreement at other thresholds. The theory calls a cell trainable when ``depth <= 6 xi_c``,
where ``depth`` is the number of hidden layers (noise sits before each of the
``depth + 1`` linear layers, the input's included).

Where things live: the theory, the criterion and :class:`DepthGrid` in
:mod:`svccakit.depth.theory`; the batched trainer in :mod:`svccakit.depth.batched`; the
k-scan in :mod:`svccakit.depth.scan`; the variance heatmap in
:mod:`svccakit.depth.variance`; the figures and the report in :mod:`svccakit.depth.report`;
this module holds the experiment's configuration, the training grid and :func:`run_depth`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from svccakit import _outdir as outdir
from svccakit._parallel import connect_scheduler, run_jobs
from svccakit._validate import check_int, check_n_jobs
from svccakit.depth.figures import budget_figure, families, kscan_figure, loss_figure
from svccakit.depth.report import depth_report
from svccakit.depth.scan import BoundaryTest, boundary_test
from svccakit.depth.theory import (
    DEFAULT_THRESHOLD,
    GRID_COLUMNS,
    DepthGrid,
    check_threshold,
    multiplicative_noise,
    noise_axis,
    noise_spec,
    theory_depth,
    trivial_loss,
)
from svccakit.depth.variance import VarianceMap, variance_figure, variance_heatmap
from svccakit.experiment._limits import check_depth_limits

__all__ = [
    "BoundaryTest",
    "DepthConfig",
    "DepthGrid",
    "DepthResult",
    "GRID_COLUMNS",
    "VarianceMap",
    "boundary_test",
    "depth_grid",
    "depth_report",
    "existing_outputs",
    "full_config",
    "loss_figure",
    "quick_config",
    "reconstruction_task",
    "run_depth",
    "theory_depth",
    "trivial_loss",
    "variance_figure",
    "variance_heatmap",
]



# ------------------------------------------------------------------ training grid


def reconstruction_task(config):
    """The digits of an experiment config as a reconstruction task (targets = inputs).

    Parameters
    ----------
    config : svccakit.config.ExperimentConfig
        With ``task.name = "digits"``: :func:`svccakit.tasks.make_task` gives the
        standardised pixels (training-split mean 0, variance 1 per pixel; constant border
        pixels 0), the validation split and the probe batch.

    Returns
    -------
    svccakit.tasks.Task
        ``kind="regression"``, ``name="digits-reconstruction"``, targets equal to inputs
        (shape (n, 64)), trained with the mean squared error.
    """
    from svccakit.experiment.tasks import custom_task, make_task

    t = make_task(config)
    return custom_task(t.x_train, t.x_train, probe=t.probe, x_val=t.x_val, y_val=t.x_val,
                       probe_y=t.probe, kind="regression", name="digits-reconstruction")


def _train_stack_job(experiment, depth: int, nets: list[tuple[str, int]],
                     budgets: list[int]) -> tuple[np.ndarray, float]:
    """Train one stack of networks of one depth (a worker's job; see
    :func:`svccakit.depth.batched.train_stack`) with one torch/BLAS thread: many small
    parallel regions are slower with two threads than with one, and much slower when
    another process holds the other core. Returns the losses and the job's CPU seconds."""
    import time

    from svccakit.depth.batched import train_stack

    start = time.process_time()
    with _one_thread():
        config = experiment.updated({"depth": depth})
        losses = train_stack(config, reconstruction_task(config), nets, budgets)
    return losses, time.process_time() - start


@contextmanager
def _one_thread():
    """One torch and one BLAS thread inside, the previous settings restored after."""
    import torch
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        torch.set_num_threads(threads)


# ------------------------------------------------------------------------ config

_GRID_KEYS = ("depths", "checkpoints", "threshold", "variance_noise", "variance_max_depth",
              "variance_width", "variance_n_sigma")
_LIST_KEYS = ("depths", "checkpoints")


@dataclass(frozen=True)
class DepthConfig:
    """The depth x noise experiment: an experiment config plus the grid's depths.

    The TOML file is the :class:`svccakit.config.ExperimentConfig` format with one more
    table, ``[depth_grid]`` (the keys below but ``experiment``); keys missing from a file
    take the values of :func:`quick_config`.

    Attributes
    ----------
    experiment : svccakit.config.ExperimentConfig
        Everything but the depths: ``noises`` (``"none"``, ``"dropout:P"``,
        ``"gauss:SIGMA"``; one heatmap per family), ``width``, ``steps`` (the final
        training budget), ``seeds``, ``optimiser`` (``"adam"`` or ``"sgd"``), ``n_jobs``,
        ``init`` (``q_star``, ``weights``), and ``task`` (must be ``"digits"``: its images
        are reconstructed). ``activations`` must be ``["relu"]`` and ``inits``
        ``["critical"]``; ``depth`` is replaced by each of ``depths``; ``schedule`` is not
        used (no run files are written).
    depths : tuple of int
        Numbers of hidden layers.
    checkpoints : tuple of int
        Earlier training budgets: the losses are also taken after these many steps (each
        below ``steps``) of the same runs. The optimiser's learning rate is constant, so a
        run stopped at a checkpoint is the run with that budget.
    threshold : float
        Relative validation loss below which a cell counts as trainable.
    variance_noise : str
        Noise of the variance heatmap.
    variance_max_depth, variance_width, variance_n_sigma : int
        Variance heatmap: depth, width, number of ``sigma_w^2`` values (``0.1 .. 2 x 2/mu2``).
    """

    experiment: object
    depths: tuple[int, ...]
    checkpoints: tuple[int, ...] = ()
    threshold: float = DEFAULT_THRESHOLD
    variance_noise: str = "dropout:0.6"
    variance_max_depth: int = 200
    variance_width: int = 256
    variance_n_sigma: int = 41

    def __post_init__(self):
        from svccakit.experiment.config import ExperimentConfig

        exp = self.experiment
        if not isinstance(exp, ExperimentConfig):
            raise TypeError(f"experiment: expected an ExperimentConfig, got {type(exp).__name__}")
        if exp.task.name != "digits":
            raise ValueError(f"task.name: the depth experiment reconstructs digits, expected "
                             f"'digits', got {exp.task.name!r}")
        if exp.task.n_val < 1:
            raise ValueError(f"task.n_val: the depth experiment needs a validation split, got {exp.task.n_val}")
        if tuple(exp.activations) != ("relu",):
            raise ValueError(f"activations: the depth experiment uses ReLU, expected ['relu'], "
                             f"got {list(exp.activations)}")
        if tuple(exp.inits) != ("critical",):
            raise ValueError(f"inits: the depth experiment uses the critical initialisation, "
                             f"expected ['critical'], got {list(exp.inits)}")
        for n in exp.noises:
            multiplicative_noise(n, "noises")
        if isinstance(self.depths, (str, bytes)) or not isinstance(self.depths, Sequence) or not self.depths:
            raise ValueError(f"depths: expected a non-empty list of integers >= 1, got {self.depths!r}")
        for d in self.depths:
            check_int(d, "depths", 1)
        if (isinstance(self.checkpoints, (str, bytes))
                or not isinstance(self.checkpoints, Sequence)):
            raise ValueError(f"checkpoints: expected a list of step counts below steps "
                             f"({exp.steps}), got {self.checkpoints!r}")
        for c in self.checkpoints:
            check_int(c, "checkpoints", 1, exp.steps - 1)
        if exp.optimiser.name not in ("adam", "sgd"):
            raise ValueError(f"optimiser.name: the depth experiment trains with 'adam' or "
                             f"'sgd', got {exp.optimiser.name!r}")
        for name in ("variance_max_depth", "variance_width"):
            check_int(getattr(self, name), name, 1)
        check_int(self.variance_n_sigma, "variance_n_sigma", 2)
        check_threshold(self.threshold)
        multiplicative_noise(self.variance_noise, "variance_noise")
        check_depth_limits(self)  # memory and time the request implies

    def cells(self) -> list[tuple[str, int, int]]:
        """``(noise, depth, seed)`` of every network, in grid order."""
        e = self.experiment
        return [(n, d, s) for n in e.noises for d in self.depths for s in e.seeds]

    def budgets(self) -> tuple[int, ...]:
        """Every training budget, ascending: the checkpoints and ``steps``."""
        return tuple(sorted(set(self.checkpoints) | {self.experiment.steps}))

    def grid_dict(self) -> dict:
        """The ``[depth_grid]`` table as a dict (lists for tuples)."""
        return {k: list(getattr(self, k)) if k in _LIST_KEYS else getattr(self, k)
                for k in _GRID_KEYS}

    def to_toml(self, path: str | os.PathLike) -> Path:
        """Write the experiment's TOML plus the ``[depth_grid]`` table; returns the path."""
        from svccakit.experiment.config import toml_value

        lines = [self.experiment.to_toml_string().rstrip("\n"), "",
                 "# --- depth x noise grid (`svccakit depth`): depths replace `depth` above",
                 "[depth_grid]"]
        for key, value in self.grid_dict().items():
            lines.append(f"{key} = {toml_value(tuple(value) if isinstance(value, list) else value)}")
        path = Path(path)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    @classmethod
    def from_toml(cls, path: str | os.PathLike) -> DepthConfig:
        """Read a depth config; missing keys take :func:`quick_config`'s values."""
        from svccakit.experiment.config import read_toml

        return cls.from_dict(read_toml(path))

    @classmethod
    def from_dict(cls, data: dict) -> DepthConfig:
        """Build from the TOML's dict (experiment keys and a ``depth_grid`` table);
        missing keys take :func:`quick_config`'s values."""
        from svccakit.experiment.config import ExperimentConfig

        if not isinstance(data, dict):
            raise TypeError(f"config: expected a dict, got {type(data).__name__}")
        data = dict(data)
        grid = data.pop("depth_grid", {})
        if not isinstance(grid, dict):
            raise ValueError(f"depth_grid: expected a table, got {grid!r}")
        unknown = sorted(set(grid) - set(_GRID_KEYS))
        if unknown:
            raise ValueError(f"unknown config key(s) {['depth_grid.' + k for k in unknown]}; "
                             f"[depth_grid] has {', '.join(_GRID_KEYS)}")
        base = quick_config()
        merged = base.experiment.to_dict()
        for key, value in data.items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
        kw = {**base.grid_dict(), **grid}
        if "checkpoints" not in grid:
            kw["checkpoints"] = default_checkpoints(int(merged.get("steps", 1)))
        for key in _LIST_KEYS:
            kw[key] = tuple(kw[key]) if isinstance(kw[key], list) else kw[key]
        return cls(experiment=ExperimentConfig.from_dict(merged), **kw)


def default_checkpoints(steps: int) -> tuple[int, ...]:
    """The presets' earlier budget: a quarter of ``steps`` (none below 4 steps)."""
    return (steps // 4,) if isinstance(steps, int) and steps >= 4 else ()


def _experiment(**changes):
    from svccakit.experiment.config import ExperimentConfig

    base = {
        "depth": 2, "width": 128, "activations": ["relu"], "inits": ["critical"],
        "steps": 1000, "seeds": [0], "n_jobs": -1,
        "task": {"name": "digits", "n_train": 0, "n_val": 360, "n_probe": 32},
        "optimiser": {"name": "adam", "lr": 1e-3, "batch_size": 128},
    }
    base.update(changes)
    # two snapshots per run file: the start and the final step
    base.setdefault("schedule", {"kind": "every", "every": base["steps"]})
    return ExperimentConfig.from_dict(base)


QUICK_DROPOUT = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98)
QUICK_GAUSS = (0.15, 0.35, 0.6, 1.0, 1.5)


def quick_config() -> DepthConfig:
    """The quick default (minutes on 2 cores): width 64, depth 2..20, dropout keep rate
    0.1..0.98 (denser towards no noise), Gaussian sigma 0.15..1.5 (between the dropout
    levels' ``mu2``), no noise, 3 seeds, Adam lr 1e-3 with batch 64, losses after 250 and
    1000 steps: 510 networks."""
    noises = [f"dropout:{p:g}" for p in QUICK_DROPOUT] + ["none"]
    noises += [f"gauss:{s:g}" for s in QUICK_GAUSS]
    exp = _experiment(noises=noises, width=64, seeds=[0, 1, 2],
                      optimiser={"name": "adam", "lr": 1e-3, "batch_size": 64})
    return DepthConfig(experiment=exp, depths=(2, 3, 4, 5, 6, 8, 10, 12, 15, 20),
                       checkpoints=default_checkpoints(exp.steps))


def full_config() -> DepthConfig:
    """Closer to the paper's grid: width 1000, depth 2..40 (step 2), dropout keep rate
    0.1..1 (step 0.1) and Gaussian sigma 0.1..2, 3 seeds, losses after 500 and 2000 Adam
    steps: 1080 networks, far beyond a laptop (see ``docs/depth.md`` for the measured cost
    per layer and step), so run it on a cluster (``--scheduler``). Variance heatmap: width
    512, depth 1..300."""
    noises = [f"dropout:{p / 10:g}" for p in range(1, 10)] + ["none"]
    noises += [f"gauss:{s:g}" for s in (0.1, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)]
    exp = _experiment(noises=noises, width=1000, steps=2000, seeds=[0, 1, 2])
    return DepthConfig(
        experiment=exp, depths=tuple(range(2, 41, 2)), checkpoints=default_checkpoints(exp.steps),
        variance_max_depth=300, variance_width=512, variance_n_sigma=61,
    )


def depth_grid(
    config: DepthConfig,
    *,
    n_jobs: int | None = None,
    scheduler: str | None = None,
    progress: bool = False,
) -> DepthGrid:
    """Train every (noise, depth, seed) network of ``config`` and tabulate its losses after
    each training budget.

    Each network is :func:`svccakit.experiment.train.build_model` of ``config.experiment``
    with its ``depth`` replaced, ``init="critical"``, ``activation="relu"``, trained on
    :func:`reconstruction_task`: :func:`svccakit.meanfield.nets.mlp` (64 -> width x depth ->
    64, the noise before every linear layer), :func:`svccakit.meanfield.init.critical_`, the
    config's optimiser on the MSE. Networks of one depth are trained together by
    :func:`svccakit.depth.batched.train_stack`, each with its own initialisation, batch
    order and noise drawn from its seed; after each budget of :meth:`DepthConfig.budgets`
    the table takes ``train_loss`` (whole training set) and ``val_loss``, both in eval mode
    (noise off).

    Parameters
    ----------
    config : DepthConfig
    n_jobs : int, optional
        Worker processes, one torch/BLAS thread each, each training whole stacks (default
        ``experiment.n_jobs``; -1: all CPUs; 1: in this process, with its torch threads).
    scheduler : str, optional
        Address of a Dask scheduler to train the stacks on instead.
    progress : bool
        A progress bar over finished stacks (stderr).

    Returns
    -------
    DepthGrid
        One row per network and budget.
    """
    import pandas as pd

    from svccakit.depth.batched import stack_groups

    if not isinstance(config, DepthConfig):
        raise TypeError(f"config: expected a DepthConfig, got {type(config).__name__}")
    if n_jobs is None:
        n_jobs = config.experiment.n_jobs
    check_n_jobs(n_jobs)
    e = config.experiment
    nets = config.cells()
    budgets = list(config.budgets())
    groups = stack_groups(nets, in_features=64, width=e.width, out_features=64)
    jobs = [(e, nets[g[0]][1], [(nets[i][0], nets[i][2]) for i in g], budgets) for g in groups]
    costs = [len(g) * (nets[g[0]][1] + 1) for g in groups]
    results = run_jobs(_train_stack_job, jobs, n_jobs=n_jobs, scheduler=scheduler,
                       progress=progress, desc="depth", unit="stack", costs=costs)
    losses = np.full((len(nets), len(budgets), 2), np.nan)
    cpu_seconds = 0.0
    for g, (res, cpu) in zip(groups, results, strict=True):
        losses[g] = res
        cpu_seconds += cpu
    task = reconstruction_task(e)
    trivial = trivial_loss(task.x_train.numpy(), task.x_val.numpy())
    trivial_train = trivial_loss(task.x_train.numpy(), task.x_train.numpy())
    rows = []
    for b, steps in enumerate(budgets):
        for i, (noise, depth, seed) in enumerate(nets):
            nz = multiplicative_noise(noise)
            kind, (value,) = noise_axis([noise])
            sigma_w, xi, six = theory_depth(nz)
            rows.append({
                "noise": noise_spec(kind, value), "noise_kind": kind, "noise_value": value,
                "depth": depth, "seed": seed, "width": e.width, "steps": steps,
                "sigma_w": sigma_w, "mu2": nz.mu2, "xi_c": xi, "six_xi_c": six,
                "train_loss": losses[i, b, 0], "val_loss": losses[i, b, 1],
                "trivial_loss": trivial, "trivial_train_loss": trivial_train,
            })
    table = pd.DataFrame(rows)
    table["rel_train_loss"] = table["train_loss"] / table["trivial_train_loss"]
    table["rel_val_loss"] = table["val_loss"] / table["trivial_loss"]
    table["trainable_theory"] = table["depth"] <= table["six_xi_c"]
    table["trainable"] = table["rel_val_loss"] < config.threshold
    table["agrees"] = table["trainable"] == table["trainable_theory"]
    table = table[list(GRID_COLUMNS)]
    # CPU time of the training jobs (process time, summed over workers), for the report
    table.attrs["train_cpu_seconds"] = cpu_seconds
    return DepthGrid(table=table, threshold=config.threshold)


# ------------------------------------------------------------------------ outputs

OUTPUTS = ("config.toml", "grid.csv", "kscan.csv", "predictors.csv", "boundaries.csv",
           "variance.csv", "report.md", "figures")


@dataclass(frozen=True)
class DepthResult:
    """What :func:`run_depth` wrote.

    Attributes
    ----------
    out_dir, config, grid_csv, kscan_csv, predictors_csv, boundaries_csv, variance_csv, \
report : pathlib.Path
    figures : tuple of pathlib.Path
    grid : DepthGrid
    test : BoundaryTest
        The k-scan, the trivial and fitted predictors, the measured boundaries.
    variance : VarianceMap
    agreement : float
        Fraction of (noise, depth) cells whose measured split agrees with ``6 xi_c`` at the
        largest budget.
    seconds : float
        Wall-clock time of the whole run.
    train_cpu_seconds : float
        CPU time of the training, summed over the workers.
    """

    out_dir: Path
    config: Path
    grid_csv: Path
    kscan_csv: Path
    predictors_csv: Path
    boundaries_csv: Path
    variance_csv: Path
    report: Path
    figures: tuple[Path, ...]
    grid: DepthGrid
    test: BoundaryTest
    variance: VarianceMap
    agreement: float
    seconds: float
    train_cpu_seconds: float


def existing_outputs(out_dir: str | os.PathLike) -> list[Path]:
    """The :data:`OUTPUTS` of :func:`run_depth` already present in ``out_dir``."""
    return outdir.existing_outputs(out_dir, OUTPUTS)


def run_depth(
    config: DepthConfig | None = None,
    out_dir: str | os.PathLike = "svccakit-depth",
    *,
    n_jobs: int | None = None,
    scheduler: str | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> DepthResult:
    """Run the depth x noise experiment, test the boundary, and write the outputs.

    Writes to ``out_dir``: ``config.toml``; ``grid.csv`` (one row per network and
    training budget, :data:`GRID_COLUMNS`); ``kscan.csv``, ``predictors.csv`` and
    ``boundaries.csv`` (:func:`svccakit.depth.scan.boundary_test`: the agreement of
    ``depth <= k xi_c`` for k = 1..12, the trivial and fitted predictors, the measured
    boundary of each noise level, at every budget); ``variance.csv`` (``sigma_w2, depth,
    log10_q, theory_log10_q``); ``figures/loss-<family>.png``, ``figures/kscan.png``,
    ``figures/budget.png`` (with two or more budgets), ``figures/variance.png``; and
    ``report.md``.

    Parameters
    ----------
    config : DepthConfig, optional
        Default :func:`quick_config`.
    out_dir : path-like
    n_jobs : int, optional
        Worker processes (default ``config.n_jobs``; -1: all CPUs).
    scheduler : str, optional
        Dask scheduler address to train on.
    overwrite : bool
        Replace svccakit's own earlier outputs (see :mod:`svccakit._outdir`); without it
        existing outputs raise :class:`~svccakit.exceptions.OutputDirError` (a
        FileExistsError).
    progress : bool
        Progress bar on stderr.

    Returns
    -------
    DepthResult
    """
    import time

    start = time.perf_counter()
    load_start = _load_average()
    if config is None:
        config = quick_config()
    if not isinstance(config, DepthConfig):
        raise TypeError(f"config: expected a DepthConfig, got {type(config).__name__}")
    connect_scheduler(scheduler)  # an unreachable cluster fails before any work
    with outdir.open_out_dir(out_dir, OUTPUTS, output_files(config), overwrite=overwrite,
                             what="depth") as out:
        return _run_depth(config, out.path, start, load_start, n_jobs=n_jobs,
                          scheduler=scheduler, progress=progress)


def output_files(config: DepthConfig) -> list[str]:
    """Every file :func:`run_depth` may write for ``config``, relative to its output
    directory (the loss figures: one per noise family, a superset)."""
    return [*OUTPUTS[:-1], "figures/loss-dropout.png", "figures/loss-gauss.png",
            "figures/kscan.png", "figures/budget.png", "figures/variance.png"]


def _run_depth(config, out_dir, start, load_start, *, n_jobs, scheduler,
               progress) -> DepthResult:
    import time

    import pandas as pd

    config_path = out_dir / "config.toml"
    config.to_toml(config_path)

    grid = depth_grid(config, n_jobs=n_jobs, scheduler=scheduler, progress=progress)
    train_cpu = float(grid.table.attrs.get("train_cpu_seconds", float("nan")))
    test = boundary_test(grid)
    csvs = {}
    for name, table in (("grid", grid.table), ("kscan", test.scan),
                        ("predictors", test.predictors), ("boundaries", test.boundaries)):
        csvs[name] = out_dir / f"{name}.csv"
        table.to_csv(csvs[name], index=False)

    nz = multiplicative_noise(config.variance_noise)
    with _one_thread():  # many small products: one thread is faster, and robust to load
        vmap = variance_heatmap(
            nz, np.linspace(0.1, 2.0 * 2.0 / nz.mu2, config.variance_n_sigma),
            max_depth=config.variance_max_depth, width=config.variance_width,
            seed=config.experiment.seeds[0],
        )
    s2, dd = np.meshgrid(vmap.sigma_w2, vmap.depths, indexing="ij")
    variance_csv = out_dir / "variance.csv"
    pd.DataFrame({
        "noise": vmap.noise, "sigma_w2": s2.ravel(), "depth": dd.ravel(),
        "log10_q": vmap.log10_q.ravel(), "theory_log10_q": vmap.theory_log10_q.ravel(),
    }).to_csv(variance_csv, index=False)

    fig_dir = out_dir / "figures"
    fig_dir.mkdir(exist_ok=True)
    figures = []

    def save(fig, name):
        figures.append(fig_dir / name)
        fig.savefig(figures[-1], dpi=110)

    for kind in families(grid.cells()):
        save(loss_figure(grid, kind), f"loss-{kind}.png")
    save(kscan_figure(test), "kscan.png")
    if len(grid.budgets) > 1:
        save(budget_figure(grid, test), "budget.png")
    save(variance_figure(vmap), "variance.png")

    seconds = time.perf_counter() - start
    report = out_dir / "report.md"
    report.write_text(depth_report(grid, vmap, config, test=test, figures=figures, base=out_dir,
                                   seconds=seconds, train_cpu_seconds=train_cpu,
                                   load=(load_start, _load_average())), encoding="utf-8")
    return DepthResult(
        out_dir=out_dir, config=config_path, grid_csv=csvs["grid"], kscan_csv=csvs["kscan"],
        predictors_csv=csvs["predictors"], boundaries_csv=csvs["boundaries"],
        variance_csv=variance_csv, report=report, figures=tuple(figures), grid=grid, test=test,
        variance=vmap, agreement=grid.agreement(), seconds=seconds, train_cpu_seconds=train_cpu,
    )


def _load_average() -> float | None:
    """The 1-minute load average (None where the OS has none)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None
