"""The main job: train the grid, compare it with the optimal solution, report.

:func:`run_experiment` chains the pieces of svccakit:

1. the reference (optimal-solution) run file and the training grid
   {inits} x {activations} x {noises} x {seeds}, recorded by
   :func:`svccakit.train.run_grid` into ``<out>/runs/``;
2. :func:`svccakit.timeline` of every student run against the reference, saved
   as ``<out>/results.csv``;
3. the figures (:func:`svccakit.report.write_figures`) in ``<out>/figures/`` and
   ``<out>/report.md`` (:func:`svccakit.report.write_report`), with the exact
   configuration, also saved as ``<out>/config.toml``.

The output directory follows :mod:`svccakit._outdir`: ``overwrite`` replaces only files
svccakit wrote there (listed in ``.svccakit-manifest.json``), never follows a symbolic
link, and an unreachable ``scheduler`` fails before anything is written or trained.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from svccakit import _outdir as outdir
from svccakit._parallel import connect_scheduler
from svccakit._validate import check_bool

OUTPUTS: tuple[str, ...] = ("runs", "results.csv", "figures", "report.md", "config.toml")
"""What :func:`run_experiment` writes inside its output directory."""


@dataclass(frozen=True)
class ExperimentResult:
    """Where :func:`run_experiment` wrote its outputs.

    Attributes
    ----------
    out_dir : pathlib.Path
        The output directory.
    reference : pathlib.Path
        The optimal solution's run file.
    runs : tuple of pathlib.Path
        The student run files, in grid order.
    results : pathlib.Path
        ``results.csv``, the timeline table.
    figures : tuple of pathlib.Path
        The PNG figures.
    report : pathlib.Path
        ``report.md``.
    config : pathlib.Path
        ``config.toml``, the exact configuration.
    """

    out_dir: Path
    reference: Path
    runs: tuple[Path, ...]
    results: Path
    figures: tuple[Path, ...]
    report: Path
    config: Path


def existing_outputs(out_dir: str | os.PathLike) -> list[Path]:
    """The outputs of :func:`run_experiment` already present in ``out_dir``.

    Parameters
    ----------
    out_dir : path-like

    Returns
    -------
    list of pathlib.Path
    """
    return outdir.existing_outputs(out_dir, OUTPUTS)


def run_experiment(
    config=None,
    out_dir: str | os.PathLike = "svccakit-out",
    *,
    n_jobs: int | None = None,
    scheduler: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> ExperimentResult:
    """Run the whole experiment of a configuration and write its report.

    Parameters
    ----------
    config : svccakit.config.ExperimentConfig, optional
        The experiment; default :func:`svccakit.config.default_config`.
    out_dir : path-like
        Output directory (created if missing); see :data:`OUTPUTS`.
    n_jobs : int, optional
        Parallel workers for training and the timeline (default: the config's
        ``n_jobs``).
    scheduler : str, optional
        Address of an existing Dask scheduler on which the timeline runs (training
        stays local). The workers must see ``out_dir`` at the same path.
    overwrite : bool
        Replace existing outputs; without it, existing outputs raise.
    progress : bool
        Show progress bars (stderr).

    Returns
    -------
    ExperimentResult

    Raises
    ------
    svccakit.exceptions.OutputDirError
        (a FileExistsError) If ``out_dir`` already holds outputs and ``overwrite`` is
        False, or holds files svccakit did not write where it would write, or links.
    svccakit.exceptions.SchedulerError
        If ``scheduler`` is given and does not answer (before any work).
    """
    from svccakit.experiment.config import ExperimentConfig, default_config
    from svccakit.experiment.report import (
        reference_layers,
        training_curves,
        write_figures,
        write_report,
    )
    from svccakit.experiment.timeline import timeline
    from svccakit.experiment.train import run_grid

    if config is None:
        config = default_config()
    if not isinstance(config, ExperimentConfig):
        raise TypeError(f"config must be an ExperimentConfig, got {type(config).__name__}")
    check_bool(overwrite, "overwrite")
    connect_scheduler(scheduler)  # an unreachable cluster fails before any work
    with outdir.open_out_dir(out_dir, OUTPUTS, output_files(config), overwrite=overwrite,
                             what="experiment") as out:
        out_dir = out.path
        if n_jobs is None:
            n_jobs = getattr(config, "n_jobs", None)
        config_path = out_dir / "config.toml"
        config.to_toml(config_path)

        grid = run_grid(config, out_dir, n_jobs=n_jobs, overwrite=overwrite, progress=progress)
        reference, runs = _grid_paths(grid, out_dir)

        settings = config.timeline
        results = timeline(
            runs, reference,
            metrics=tuple(settings.metrics), pairs=settings.pairs, keep=settings.keep,
            baseline_n=settings.baseline_n, baseline_at=settings.baseline_at, n_jobs=n_jobs,
            scheduler=scheduler, progress=progress,
        )
        results_path = out_dir / "results.csv"
        results.to_csv(results_path, index=False)

        curves = training_curves(runs)
        layers = reference_layers(reference)
        informative = [str(n) for n in layers.loc[layers["informative"], "layer"]]
        figures_dir = out_dir / "figures"
        students = [str(n) for n in results["layer"].unique() if n != "out"] or None
        figures = write_figures(results, curves, figures_dir, informative=informative or None,
                                students=students).figures
        report = write_report(
            results, curves, out_dir / "report.md", figures=figures,
            config_toml=config_path.read_text(encoding="utf-8"),
            notes=[f"Task: {config.task.name}; optimum: {_optimum_text(config)}; depth "
                   f"{config.depth}, width {config.width}, {config.steps} training steps "
                   f"({config.optimiser.name}, lr {config.optimiser.lr:g}), probe of "
                   f"{config.task.n_probe} inputs.",
                   f"Reference (optimal solution): `{_rel(reference, out_dir)}`; runs: "
                   f"`{_rel(runs[0].parent, out_dir)}/` ({len(runs)} files); table: "
                   f"`results.csv`."],
            reference_layers=layers, phases=init_phases(config), trivial_loss=_trivial(config),
            keep=settings.keep, steps=config.steps,
        )
    return ExperimentResult(
        out_dir=out_dir, reference=Path(reference), runs=tuple(Path(p) for p in runs),
        results=results_path, figures=tuple(figures), report=report, config=config_path,
    )


def output_files(config) -> list[str]:
    """Every file :func:`run_experiment` may write for ``config``, relative to its output
    directory (the figures: a superset)."""
    from svccakit.experiment.train import grid_runs

    files = ["config.toml", "results.csv", "report.md"]
    if not config.task.reference:
        files.append("runs/reference.h5")
    files += [f"runs/{spec['name']}.h5" for spec in grid_runs(config)]
    if config.timeline.pairs == "all":
        stems = ["best", "layers"]
        files.append("figures/headline.png")
    else:
        stems = ["similarity", "heatmap", "final"]
    files += [f"figures/{stem}_{m}.png" for m in config.timeline.metrics for stem in stems]
    files.append("figures/training.png")
    return files


def init_phases(config):
    """The mean-field phase of every (init, activation, noise) of a config's grid.

    Parameters
    ----------
    config : svccakit.experiment.config.ExperimentConfig

    Returns
    -------
    pandas.DataFrame
        One row per configuration: ``init``, ``activation``, ``noise`` and the fields of
        :class:`svccakit.meanfield.schemes.InitPhase` (for square layers of
        ``config.width`` units; the critical init at ``init.q_star``).
    """
    import pandas as pd

    from svccakit.meanfield.schemes import init_phase

    rows = []
    for init in config.inits:
        for activation in config.activations:
            for noise in config.noises:
                phase = init_phase(init, activation, noise, width=config.width,
                                   q_star=config.init.q_star)
                row = phase.as_dict()
                row.update(activation=activation, noise=noise)
                rows.append(row)
    return pd.DataFrame(rows)


def _trivial(config) -> float | None:
    from svccakit.experiment.tasks import make_task, trivial_loss

    if config.task.reference:
        return None
    return trivial_loss(make_task(config))


def _optimum_text(config) -> str:
    from svccakit.experiment.registry import get_task

    kind = get_task(config.task.name)
    if config.task.reference:
        return f"the run file {config.task.reference!r}"
    if config.task.name == "parity":
        return f"the hand-coded XOR tree for {config.task.n_bits}-bit parity"
    if config.task.name == "teacher":
        return "the teacher network itself"
    return "a trained reference network" if not kind.has_optimum else kind.summary


def _grid_paths(grid, out_dir: Path) -> tuple[Path, list[Path]]:
    """(reference, runs) from what :func:`svccakit.train.run_grid` returned."""
    if hasattr(grid, "reference") and hasattr(grid, "runs"):
        return Path(grid.reference), [Path(p) for p in grid.runs]
    from svccakit.experiment.train import grid_reference_path

    return Path(grid_reference_path(out_dir)), [Path(p) for p in grid]


def _rel(path, base: Path) -> str:
    try:
        return Path(os.path.relpath(path, base)).as_posix()
    except ValueError:  # pragma: no cover - different drives on Windows
        return str(path)
