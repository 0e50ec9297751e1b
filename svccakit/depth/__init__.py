"""Noise limits trainable depth: the depth x noise experiment against ``6 xi_c``.

- :mod:`~svccakit.depth.experiment`: :class:`DepthConfig`, the grid, :func:`run_depth`;
- :mod:`~svccakit.depth.batched`: many small networks trained as one stacked model;
- :mod:`~svccakit.depth.theory`: the theory's trainable depth and the agreement of a grid;
- :mod:`~svccakit.depth.scan`: ``depth <= k xi_c`` for k = 1..12 against the trivial
  predictors;
- :mod:`~svccakit.depth.variance`: where float32 forward passes over- or underflow;
- :mod:`~svccakit.depth.figures` and :mod:`~svccakit.depth.report`: figures and
  ``report.md``.

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
    "train_stack": "svccakit.depth.batched",
    "KS": "svccakit.depth.scan",
    "BoundaryTest": "svccakit.depth.scan",
    "boundary_test": "svccakit.depth.scan",
    "depth_report": "svccakit.depth.report",
    "budget_figure": "svccakit.depth.figures",
    "kscan_figure": "svccakit.depth.figures",
    "loss_figure": "svccakit.depth.figures",
}

__getattr__, __dir__, __all__ = _lazy.attach(__name__, _EXPORTS)
