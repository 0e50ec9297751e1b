"""The main experiment: tasks with known optima, training with the recorder attached,
the timeline of similarities to the optimum, and the report.

- :mod:`~svccakit.experiment.config`: :class:`ExperimentConfig` (TOML, every key documented);
- :mod:`~svccakit.experiment.registry`: the one table of tasks;
- :mod:`~svccakit.experiment.tasks`: task data and the optimal networks;
- :mod:`~svccakit.experiment.meta`: :class:`RunMeta`, what a run file says about its run;
- :mod:`~svccakit.experiment.train`: one run, the reference, the grid;
- :mod:`~svccakit.experiment.timeline`: every snapshot against the reference;
- :mod:`~svccakit.experiment.pipeline`: all of it, as ``svccakit run`` does;
- :mod:`~svccakit.experiment.report`: tables, figures, ``report.md``.

Names load on first use. The function :func:`svccakit.timeline` lives in the module
:mod:`svccakit.experiment.timeline`; this package does not re-export it under the
module's name.
"""

from svccakit import _lazy

_EXPORTS = {
    "ExperimentConfig": "svccakit.experiment.config",
    "default_config": "svccakit.experiment.config",
    "DEFAULT_CONFIG_PATH": "svccakit.experiment.config",
    "TASKS": "svccakit.experiment.registry",
    "TaskKind": "svccakit.experiment.registry",
    "get_task": "svccakit.experiment.registry",
    "RunMeta": "svccakit.experiment.meta",
    "Task": "svccakit.experiment.tasks",
    "custom_task": "svccakit.experiment.tasks",
    "make_task": "svccakit.experiment.tasks",
    "parity_network": "svccakit.experiment.tasks",
    "teacher_network": "svccakit.experiment.tasks",
    "to_shifted_relu": "svccakit.experiment.tasks",
    "GridResult": "svccakit.experiment.train",
    "build_model": "svccakit.experiment.train",
    "optimal_network": "svccakit.experiment.train",
    "record_reference": "svccakit.experiment.train",
    "run_grid": "svccakit.experiment.train",
    "train_reference": "svccakit.experiment.train",
    "train_run": "svccakit.experiment.train",
    "COLUMNS": "svccakit.experiment.timeline",
    "RunInfo": "svccakit.experiment.timeline",
    "run_info": "svccakit.experiment.timeline",
    "ExperimentResult": "svccakit.experiment.pipeline",
    "run_experiment": "svccakit.experiment.pipeline",
}

__getattr__, __dir__, __all__ = _lazy.attach(__name__, _EXPORTS)
