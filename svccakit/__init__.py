"""svccakit: watch neural-network representations during training.

The whole public API is listed in ``__all__`` below; everything else is private.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("svccakit")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]

# --- similarity (SVCCA engine) -----------------------------------------------
from svccakit.similarity import (  # noqa: E402
    BaselineResult,
    CCAResult,
    Decomposition,
    SmallSampleWarning,
    SVCCAResult,
    baseline,
    cca,
    decompose,
    flatten_conv,
    linear_cka,
    pwcca,
    svcca,
)

__all__ += [
    "BaselineResult",
    "CCAResult",
    "Decomposition",
    "SVCCAResult",
    "SmallSampleWarning",
    "baseline",
    "cca",
    "decompose",
    "flatten_conv",
    "linear_cka",
    "pwcca",
    "svcca",
]
# --- end similarity ------------------------------------------------------------

# --- meanfield / nets / init ---------------------------------------------------
from svccakit.init import critical_, random_, scheme_sigma_w  # noqa: E402
from svccakit.meanfield import (  # noqa: E402
    Activation,
    CriticalPoint,
    NoCriticalPointError,
    Noise,
    critical_point,
    parse_activation,
    parse_noise,
)
from svccakit.nets import GaussianNoise, ShiftedReLU, mlp  # noqa: E402

__all__ += [
    "Activation",
    "CriticalPoint",
    "GaussianNoise",
    "NoCriticalPointError",
    "Noise",
    "ShiftedReLU",
    "critical_",
    "critical_point",
    "mlp",
    "parse_activation",
    "parse_noise",
    "random_",
    "scheme_sigma_w",
]
# --- end meanfield -------------------------------------------------------------

# --- record / store ------------------------------------------------------------
from svccakit.record import Recorder, log_schedule  # noqa: E402
from svccakit.store import Run, RunFileError, open_run  # noqa: E402

__all__ += ["Recorder", "Run", "RunFileError", "log_schedule", "open_run"]
# --- end record ----------------------------------------------------------------

# --- depth (issue 6: noise limits trainable depth) ----------------------------
from svccakit.depth import DepthConfig, DepthGrid, depth_grid, run_depth, variance_heatmap  # noqa: E402

__all__ += ["DepthConfig", "DepthGrid", "depth_grid", "run_depth", "variance_heatmap"]
# --- end depth ----------------------------------------------------------------

# --- experiment (tasks, timeline, pipeline) -----------------------------------
from svccakit.config import ExperimentConfig, default_config  # noqa: E402
from svccakit.tasks import custom_task, parity_network  # noqa: E402
from svccakit.train import GridResult, record_reference, run_grid, train_run  # noqa: E402

__all__ += [
    "ExperimentConfig",
    "GridResult",
    "custom_task",
    "default_config",
    "parity_network",
    "record_reference",
    "run_grid",
    "train_run",
]
from svccakit.pipeline import ExperimentResult, run_experiment  # noqa: E402
from svccakit.timeline import timeline  # noqa: E402

__all__ += ["timeline", "run_experiment", "ExperimentResult"]
# --- end experiment -----------------------------------------------------------
