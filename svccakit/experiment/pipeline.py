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
    from svccakit.experiment.report import training_curves, write_figures, write_report
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
            baseline_n=settings.baseline_n, n_jobs=n_jobs, scheduler=scheduler,
            progress=progress,
        )
        results_path = out_dir / "results.csv"
        results.to_csv(results_path, index=False)

        curves = training_curves(runs)
        figures = write_figures(results, curves, out_dir / "figures").figures
        report = write_report(
            results, curves, out_dir / "report.md", figures=figures,
            config_toml=config_path.read_text(encoding="utf-8"),
            notes=[f"Reference (optimal solution): `{_rel(reference, out_dir)}`; runs: "
                   f"`{_rel(runs[0].parent, out_dir)}/` ({len(runs)} files); table: "
                   f"`results.csv`."],
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
    stems = ["similarity", "heatmap", "final"] + (["pairs"] if config.timeline.pairs == "all"
                                                   else [])
    files += [f"figures/{stem}_{m}.png" for m in config.timeline.metrics for stem in stems]
    files.append("figures/training.png")
    return files


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
