"""Recording activations during training: the recorder and the run file.

- :mod:`~svccakit.record.recorder`: :class:`Recorder`, a context manager that runs a
  fixed probe batch through the model in eval mode on a schedule and captures chosen
  layers with forward hooks (removed in ``finally``);
- :mod:`~svccakit.record.store`: the HDF5 run file (layout, a background writer
  thread, atomic creation, the crash guarantee) and :func:`open_run`, its reader;
- :mod:`~svccakit.record.reducers`: ``reduce=`` specs (pool, positions:K,
  project:D, callables) and :func:`as_samples`, a stored snapshot as 2-D samples;
- :mod:`~svccakit.record.probe`: :class:`Probe`, probe batches of any structure;
- :mod:`~svccakit.record.outputs`: ``output=`` selectors and
  :func:`transformer_blocks`, the layer preset for transformers.

Names load on first use.
"""

from svccakit import _lazy
from svccakit.exceptions import RunFileError

_EXPORTS = {
    "Recorder": "svccakit.record.recorder",
    "log_schedule": "svccakit.record.recorder",
    "unwrap_model": "svccakit.record.recorder",
    "COMPRESSIONS": "svccakit.record.store",
    "FORMAT_NAME": "svccakit.record.store",
    "FORMAT_VERSION": "svccakit.record.store",
    "LayerInfo": "svccakit.record.store",
    "Run": "svccakit.record.store",
    "open_run": "svccakit.record.store",
    "Probe": "svccakit.record.probe",
    "REDUCER_KINDS": "svccakit.record.reducers",
    "as_samples": "svccakit.record.reducers",
    "transformer_blocks": "svccakit.record.outputs",
}

__getattr__, __dir__, _names = _lazy.attach(__name__, _EXPORTS)
__all__ = ["RunFileError", *_names]
