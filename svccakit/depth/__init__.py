"""Noise limits trainable depth: the depth x noise experiment against ``6 xi_c``.

- :mod:`~svccakit.depth.experiment`: :class:`DepthConfig`, the grid, :func:`run_depth`;
- :mod:`~svccakit.depth.theory`: the theory's trainable depth and the agreement of a grid;
- :mod:`~svccakit.depth.variance`: where float32 forward passes over- or underflow;
- :mod:`~svccakit.depth.report`: figures and ``report.md``.

Names load on first use.
"""

from svccakit import _lazy

_EXPORTS = {
    "DepthConfig": "svccakit.depth.experiment",
    "DepthResult": "svccakit.depth.experiment",
    "depth_grid": "svccakit.depth.experiment",
    "full_config": "svccakit.depth.experiment",
    "quick_config": "svccakit.depth.experiment",
    "reconstruction_task": "svccakit.depth.experiment",
    "run_depth": "svccakit.depth.experiment",
    "DepthGrid": "svccakit.depth.theory",
    "GRID_COLUMNS": "svccakit.depth.theory",
    "theory_depth": "svccakit.depth.theory",
    "trivial_loss": "svccakit.depth.theory",
    "VarianceMap": "svccakit.depth.variance",
    "variance_heatmap": "svccakit.depth.variance",
    "depth_report": "svccakit.depth.report",
    "loss_figure": "svccakit.depth.report",
}

__getattr__, __dir__, __all__ = _lazy.attach(__name__, _EXPORTS)
