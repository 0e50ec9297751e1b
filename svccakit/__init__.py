"""svccakit: watch neural-network representations during training.

The whole public API is listed in ``__all__`` below (one screen); everything else is
private. Names are imported on first use, so ``import svccakit`` is cheap and
``from svccakit import svcca`` needs only numpy and scipy.

=====================  ==================================================================
similarity             ``cca``, ``svcca``, ``svcca_many``, ``pwcca``, ``linear_cka``,
                       ``baseline``, ``decompose``, ``flatten_conv``, ``get_metric``
mean-field theory      ``critical_point``, ``parse_activation``, ``parse_noise``,
                       ``critical_``, ``random_``, ``scheme_sigma_w``, ``mlp``, modules
recording              ``Recorder``, ``log_schedule``, ``open_run``, ``Run``
experiment             ``ExperimentConfig``, ``default_config``, ``run_experiment``,
                       ``train_run``, ``record_reference``, ``run_grid``, ``timeline``,
                       ``custom_task``, ``parity_network``
depth                  ``DepthConfig``, ``run_depth``, ``depth_grid``, ``variance_heatmap``
errors                 ``SvccakitError`` and every subclass, ``SmallSampleWarning``
=====================  ==================================================================
"""

from svccakit import _lazy
from svccakit._version import __version__

_EXPORTS = {
    # similarity
    "BaselineResult": "svccakit.similarity",
    "CCAResult": "svccakit.similarity",
    "Decomposition": "svccakit.similarity",
    "SVCCAResult": "svccakit.similarity",
    "baseline": "svccakit.similarity",
    "cca": "svccakit.similarity",
    "decompose": "svccakit.similarity",
    "flatten_conv": "svccakit.similarity",
    "get_metric": "svccakit.similarity",
    "linear_cka": "svccakit.similarity",
    "pwcca": "svccakit.similarity",
    "svcca": "svccakit.similarity",
    "svcca_many": "svccakit.similarity",
    # exceptions and warnings
    "MissingDependencyError": "svccakit.exceptions",
    "NoCriticalPointError": "svccakit.exceptions",
    "OutputDirError": "svccakit.exceptions",
    "RunFileError": "svccakit.exceptions",
    "RunFileInUseError": "svccakit.exceptions",
    "SchedulerError": "svccakit.exceptions",
    "SizeLimitError": "svccakit.exceptions",
    "SmallSampleWarning": "svccakit.exceptions",
    "SvccakitError": "svccakit.exceptions",
    "TrainingDivergedError": "svccakit.exceptions",
    # mean-field theory, networks, initialisers
    "Activation": "svccakit.meanfield.specs",
    "Noise": "svccakit.meanfield.specs",
    "parse_activation": "svccakit.meanfield.specs",
    "parse_noise": "svccakit.meanfield.specs",
    "CriticalPoint": "svccakit.meanfield.theory",
    "critical_point": "svccakit.meanfield.theory",
    "GaussianNoise": "svccakit.meanfield.nets",
    "ShiftedReLU": "svccakit.meanfield.nets",
    "mlp": "svccakit.meanfield.nets",
    "critical_": "svccakit.meanfield.init",
    "random_": "svccakit.meanfield.init",
    "scheme_sigma_w": "svccakit.meanfield.init",
    # recording
    "Recorder": "svccakit.record.recorder",
    "log_schedule": "svccakit.record.recorder",
    "Run": "svccakit.record.store",
    "open_run": "svccakit.record.store",
    # the experiment
    "ExperimentConfig": "svccakit.experiment.config",
    "default_config": "svccakit.experiment.config",
    "custom_task": "svccakit.experiment.tasks",
    "parity_network": "svccakit.experiment.tasks",
    "GridResult": "svccakit.experiment.train",
    "record_reference": "svccakit.experiment.train",
    "run_grid": "svccakit.experiment.train",
    "train_run": "svccakit.experiment.train",
    "timeline": "svccakit.experiment.timeline",
    "ExperimentResult": "svccakit.experiment.pipeline",
    "run_experiment": "svccakit.experiment.pipeline",
    # noise limits trainable depth
    "DepthConfig": "svccakit.depth.experiment",
    "DepthGrid": "svccakit.depth.theory",
    "depth_grid": "svccakit.depth.experiment",
    "run_depth": "svccakit.depth.experiment",
    "variance_heatmap": "svccakit.depth.variance",
}

__getattr__, __dir__, _names = _lazy.attach(__name__, _EXPORTS)
__all__ = ["__version__", *_names]
