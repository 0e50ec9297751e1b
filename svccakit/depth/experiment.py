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

This module reproduces both on scikit-learn's digits:

* :func:`depth_grid` trains one critically initialised noisy ReLU network per
  (noise, depth) cell with the pipeline's runner and returns a :class:`DepthGrid`: final
  training and validation loss next to ``xi_c`` and ``6 xi_c``, and whether the measured
  trainable/untrainable split agrees with the theory;
* :func:`variance_heatmap` runs real float32 forward passes over depth x ``sigma_w^2`` at fixed
  noise and returns :class:`VarianceMap` (``log10 q^L``, the theory's float32 boundary);
* :func:`loss_figure` and :func:`variance_figure` draw them (matplotlib Figures, Agg);
* :func:`run_depth` does everything and writes ``grid.csv``, ``variance.csv``,
  ``figures/*.png`` and ``report.md`` (``svccakit depth``).

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
:mod:`svccakit.trainability`; the variance heatmap in :mod:`svccakit.variance`; the loss
figure and the report in :mod:`svccakit.depthreport`; this module holds the experiment's
configuration, the training grid and :func:`run_depth`, and re-exports the others' public
names.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from svccakit import _outdir as outdir
from svccakit._parallel import connect_scheduler, run_jobs
from svccakit._validate import check_int, check_n_jobs
from svccakit.depth.report import depth_report, loss_figure
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
    "DepthConfig",
    "DepthGrid",
    "DepthResult",
    "GRID_COLUMNS",
    "VarianceMap",
    "depth_grid",
    "depth_report",
    "existing_outputs",
    "full_config",
    "loss_figure",
    "quick_config",
    "reconstruction_task",
    "run_depth",
    "run_file_name",
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


def _train_cell(experiment, noise: str, depth: int, seed: int, path: str, overwrite: bool) -> dict:
    """Train one cell with :func:`svccakit.train.train_run` and read its final losses back
    from the run file. Runs in a worker with one BLAS/torch thread."""
    import torch
    from threadpoolctl import threadpool_limits

    from svccakit.experiment.train import train_run
    from svccakit.record.store import open_run

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1), torch.random.fork_rng(devices=[]):
            config = experiment.updated({"depth": depth})
            task = reconstruction_task(config)
            train_run(config, init="critical", activation="relu", noise=noise, seed=seed,
                      path=path, overwrite=overwrite, task=task)
    finally:
        torch.set_num_threads(threads)
    with open_run(path) as run:
        last = int(run.steps[-1])
        metrics = run.metrics
        train_loss, val_loss = float(metrics["loss"][-1]), float(metrics["val_loss"][-1])
    if last != config.steps:
        raise ValueError(
            f"schedule: the last snapshot of {path!r} is step {last}, not the final step "
            f"{config.steps}; use a schedule that ends at the final step (kind = \"every\")"
        )
    return {"train_loss": train_loss, "val_loss": val_loss,
            "trivial_loss": trivial_loss(task.x_train.numpy(), task.x_val.numpy()),
            "trivial_train_loss": trivial_loss(task.x_train.numpy(), task.x_train.numpy()),
            "run": str(path)}


# ------------------------------------------------------------------------ config

_GRID_KEYS = ("depths", "threshold", "variance_noise", "variance_max_depth", "variance_width",
              "variance_n_sigma")


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
        ``"gauss:SIGMA"``; one heatmap per family), ``width``, ``steps``, ``seeds``,
        ``optimiser``, ``schedule`` (snapshots in each run file), ``n_jobs``, and ``task``
        (must be ``"digits"``: its images are reconstructed). ``activations`` must be
        ``["relu"]`` and ``inits`` ``["critical"]``; ``depth`` is replaced by each of
        ``depths``.
    depths : tuple of int
        Numbers of hidden layers.
    threshold : float
        Relative validation loss below which a cell counts as trainable.
    variance_noise : str
        Noise of the variance heatmap.
    variance_max_depth, variance_width, variance_n_sigma : int
        Variance heatmap: depth, width, number of ``sigma_w^2`` values (``0.1 .. 2 x 2/mu2``).
    """

    experiment: object
    depths: tuple[int, ...]
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
        for name in ("variance_max_depth", "variance_width"):
            check_int(getattr(self, name), name, 1)
        check_int(self.variance_n_sigma, "variance_n_sigma", 2)
        check_threshold(self.threshold)
        multiplicative_noise(self.variance_noise, "variance_noise")
        check_depth_limits(self)

    def cells(self) -> list[tuple[str, int, int]]:
        """``(noise, depth, seed)`` of every network, in grid order."""
        e = self.experiment
        return [(n, d, s) for n in e.noises for d in self.depths for s in e.seeds]

    def grid_dict(self) -> dict:
        """The ``[depth_grid]`` table as a dict (lists for tuples)."""
        return {k: list(getattr(self, k)) if k == "depths" else getattr(self, k) for k in _GRID_KEYS}

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
        kw["depths"] = tuple(kw["depths"]) if isinstance(kw["depths"], list) else kw["depths"]
        return cls(experiment=ExperimentConfig.from_dict(merged), **kw)


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


def quick_config() -> DepthConfig:
    """The quick default (minutes on 2 cores): the noisy end, where ``6 xi_c`` crosses
    depths 2..20 (dropout keep rate 0.1..0.95, Gaussian sigma 0.25..2), width 128, 1000
    Adam steps."""
    noises = [f"dropout:{p:g}" for p in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)]
    noises += [f"gauss:{s:g}" for s in (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)]
    return DepthConfig(experiment=_experiment(noises=noises),
                       depths=(2, 3, 4, 5, 6, 8, 10, 12, 15, 20))


def full_config() -> DepthConfig:
    """Closer to the paper's grid: width 1000, depth 2..40 (step 2), dropout keep rate
    0.1..1 (step 0.1) and Gaussian sigma 0.1..2, 2000 Adam steps: 360 networks, about 45
    CPU-core hours (measured: 10.7 ms per layer and step at width 1000, single thread), so
    run it on a cluster (``--scheduler``). Variance heatmap: width 512, depth 1..300."""
    noises = [f"dropout:{p / 10:g}" for p in range(1, 10)] + ["none"]
    noises += [f"gauss:{s:g}" for s in (0.1, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)]
    return DepthConfig(
        experiment=_experiment(noises=noises, width=1000, steps=2000),
        depths=tuple(range(2, 41, 2)), variance_max_depth=300, variance_width=512,
        variance_n_sigma=61,
    )


def run_file_name(noise: str, depth: int, seed: int) -> str:
    """Run file name of one grid cell: ``critical-relu-<noise>-L<depth>-s<seed>.h5``."""
    slug = noise.replace(":", "")
    return f"critical-relu-{slug}-L{depth}-s{seed}.h5"


def depth_grid(
    config: DepthConfig,
    runs_dir: str | os.PathLike,
    *,
    n_jobs: int | None = None,
    scheduler: str | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> DepthGrid:
    """Train every (noise, depth, seed) network of ``config`` and tabulate its final losses.

    Each cell is one :func:`svccakit.train.train_run` of ``config.experiment`` with its
    ``depth`` replaced, ``init="critical"``, ``activation="relu"``, on
    :func:`reconstruction_task`: :func:`svccakit.nets.mlp` (64 -> width x depth -> 64, the
    noise before every linear layer), :func:`svccakit.init.critical_`, the config's
    optimiser on the MSE. Its run file holds the losses at the scheduled snapshots; the last
    snapshot (after the final step) gives ``train_loss`` (whole training set) and
    ``val_loss``, both in eval mode (noise off).

    Parameters
    ----------
    config : DepthConfig
    runs_dir : path-like
        Where the run files go (:func:`run_file_name`).
    n_jobs : int, optional
        Worker processes, one torch/BLAS thread each (default ``experiment.n_jobs``; -1:
        all CPUs; 1: in this process).
    scheduler : str, optional
        Address of a Dask scheduler to train on instead (workers must see ``runs_dir``).
    overwrite : bool
        Replace existing run files; otherwise they raise ``FileExistsError`` before any
        training.
    progress : bool
        A progress bar over finished networks (stderr).

    Returns
    -------
    DepthGrid
    """
    import pandas as pd

    if not isinstance(config, DepthConfig):
        raise TypeError(f"config: expected a DepthConfig, got {type(config).__name__}")
    if not isinstance(runs_dir, (str, os.PathLike)):
        raise TypeError(f"runs_dir: expected a path, got {type(runs_dir).__name__}")
    if n_jobs is None:
        n_jobs = config.experiment.n_jobs
    check_n_jobs(n_jobs)
    runs_dir = Path(runs_dir)
    cells = config.cells()
    paths = [runs_dir / run_file_name(n, d, s) for n, d, s in cells]
    if not overwrite:
        existing = [str(p) for p in paths if p.exists()]
        if existing:
            raise FileExistsError(
                f"{len(existing)} run file(s) already exist: {', '.join(existing[:3])}"
                f"{' ...' if len(existing) > 3 else ''}; pass overwrite=True (--overwrite)"
            )
    runs_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(config.experiment, n, d, s, str(p), overwrite)
            for (n, d, s), p in zip(cells, paths, strict=True)]
    results = run_jobs(_train_cell, jobs, n_jobs=n_jobs, scheduler=scheduler, progress=progress,
                       desc="depth", unit="net", costs=[d for _, d, _ in cells])
    rows = []
    for (noise, depth, seed), res in zip(cells, results, strict=True):
        nz = multiplicative_noise(noise)
        kind, (value,) = noise_axis([noise])
        sigma_w, xi, six = theory_depth(nz)
        rows.append({
            "noise": noise_spec(kind, value), "noise_kind": kind, "noise_value": value,
            "depth": depth, "seed": seed, "width": config.experiment.width,
            "steps": config.experiment.steps, "sigma_w": sigma_w, "mu2": nz.mu2, "xi_c": xi,
            "six_xi_c": six, **res,
        })
    table = pd.DataFrame(rows)
    table["rel_train_loss"] = table["train_loss"] / table["trivial_train_loss"]
    table["rel_val_loss"] = table["val_loss"] / table["trivial_loss"]
    table["trainable_theory"] = table["depth"] <= table["six_xi_c"]
    table["trainable"] = table["rel_val_loss"] < config.threshold
    table["agrees"] = table["trainable"] == table["trainable_theory"]
    return DepthGrid(table=table[list(GRID_COLUMNS)], threshold=config.threshold)


# ------------------------------------------------------------------------ outputs

OUTPUTS = ("config.toml", "grid.csv", "variance.csv", "report.md", "figures", "runs")


@dataclass(frozen=True)
class DepthResult:
    """What :func:`run_depth` wrote.

    Attributes
    ----------
    out_dir, config, grid_csv, variance_csv, report : pathlib.Path
    figures : tuple of pathlib.Path
    grid : DepthGrid
    variance : VarianceMap
    agreement : float
        Fraction of (noise, depth) cells whose measured split agrees with ``6 xi_c``.
    seconds : float
        Wall-clock time of the whole run.
    """

    out_dir: Path
    config: Path
    grid_csv: Path
    variance_csv: Path
    report: Path
    figures: tuple[Path, ...]
    grid: DepthGrid
    variance: VarianceMap
    agreement: float
    seconds: float


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
    """Run the depth x noise experiment and write its outputs to ``out_dir``.

    Writes ``config.toml``, ``runs/*.h5`` (one run file per network), ``grid.csv`` (one
    row per network, :data:`GRID_COLUMNS`), ``variance.csv`` (``sigma_w2, depth,
    log10_q, theory_log10_q``), ``figures/loss-<family>.png``, ``figures/variance.png``
    and ``report.md``.

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
    if config is None:
        config = quick_config()
    if not isinstance(config, DepthConfig):
        raise TypeError(f"config: expected a DepthConfig, got {type(config).__name__}")
    connect_scheduler(scheduler)  # an unreachable cluster fails before any work
    with outdir.open_out_dir(out_dir, OUTPUTS, output_files(config), overwrite=overwrite,
                             what="depth") as out:
        return _run_depth(config, out.path, start, n_jobs=n_jobs, scheduler=scheduler,
                          overwrite=overwrite, progress=progress)


def output_files(config: DepthConfig) -> list[str]:
    """Every file :func:`run_depth` may write for ``config``, relative to its output
    directory."""
    kinds = dict.fromkeys(noise_axis([n])[0] for n in config.experiment.noises)
    return ["config.toml", "grid.csv", "variance.csv", "report.md",
            *(f"runs/{run_file_name(n, d, s)}" for n, d, s in config.cells()),
            *(f"figures/loss-{kind}.png" for kind in kinds), "figures/variance.png"]


def _run_depth(config, out_dir, start, *, n_jobs, scheduler, overwrite, progress) -> DepthResult:
    import time

    import pandas as pd

    config_path = out_dir / "config.toml"
    config.to_toml(config_path)

    grid = depth_grid(config, out_dir / "runs", n_jobs=n_jobs, scheduler=scheduler,
                      overwrite=overwrite, progress=progress)
    grid_csv = out_dir / "grid.csv"
    grid.table.to_csv(grid_csv, index=False)

    nz = multiplicative_noise(config.variance_noise)
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
    for kind in dict.fromkeys(grid.table["noise_kind"]):
        fig = loss_figure(grid, kind)
        figures.append(fig_dir / f"loss-{kind}.png")
        fig.savefig(figures[-1], dpi=110)
    fig = variance_figure(vmap)
    figures.append(fig_dir / "variance.png")
    fig.savefig(figures[-1], dpi=110)

    seconds = time.perf_counter() - start
    report = out_dir / "report.md"
    report.write_text(depth_report(grid, vmap, config, figures=figures, base=out_dir,
                                   seconds=seconds), encoding="utf-8")
    return DepthResult(
        out_dir=out_dir, config=config_path, grid_csv=grid_csv, variance_csv=variance_csv,
        report=report, figures=tuple(figures), grid=grid, variance=vmap,
        agreement=grid.agreement(), seconds=seconds,
    )
