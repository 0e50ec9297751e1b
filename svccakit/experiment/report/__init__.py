"""Tables, figures and the Markdown report of an experiment.

- :mod:`~svccakit.experiment.report.tables`: training curves from run files, final
  similarities summarised over seeds;
- :mod:`~svccakit.experiment.report.figures`: the figures (matplotlib, no pyplot state);
- :mod:`~svccakit.experiment.report.conclusions`: closeness to the optimum and the
  report's conclusions, computed from the measured tables;
- :mod:`~svccakit.experiment.report.markdown`: ``report.md``.
"""

from svccakit import _lazy

_EXPORTS = {
    "CURVE_COLUMNS": "svccakit.experiment.report.tables",
    "READOUT_RANK": "svccakit.experiment.report.tables",
    "best_matches": "svccakit.experiment.report.tables",
    "chance_corrected": "svccakit.experiment.report.tables",
    "reference_layers": "svccakit.experiment.report.tables",
    "THRESHOLDS": "svccakit.experiment.report.tables",
    "final_similarity": "svccakit.experiment.report.tables",
    "final_training": "svccakit.experiment.report.tables",
    "training_curves": "svccakit.experiment.report.tables",
    "DPI": "svccakit.experiment.report.figures",
    "ReportFiles": "svccakit.experiment.report.figures",
    "plot_best_matches": "svccakit.experiment.report.figures",
    "plot_final": "svccakit.experiment.report.figures",
    "plot_headline": "svccakit.experiment.report.figures",
    "plot_layer_pairs": "svccakit.experiment.report.figures",
    "plot_heatmaps": "svccakit.experiment.report.figures",
    "plot_pairs": "svccakit.experiment.report.figures",
    "plot_similarity": "svccakit.experiment.report.figures",
    "plot_training": "svccakit.experiment.report.figures",
    "write_figures": "svccakit.experiment.report.figures",
    "write_report": "svccakit.experiment.report.markdown",
    "Comparison": "svccakit.experiment.report.conclusions",
    "closeness": "svccakit.experiment.report.conclusions",
    "compare": "svccakit.experiment.report.conclusions",
    "conclusions": "svccakit.experiment.report.conclusions",
    "run_summary": "svccakit.experiment.report.conclusions",
}

__getattr__, __dir__, __all__ = _lazy.attach(__name__, _EXPORTS)
