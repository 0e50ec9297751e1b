"""Recording activations during training: the recorder and the run file.

- :mod:`~svccakit.record.recorder`: :class:`Recorder`, a context manager that runs a
  fixed probe batch through the model in eval mode on a schedule and captures chosen
  layers with forward hooks (removed in ``finally``);
- :mod:`~svccakit.record.store`: the HDF5 run file (layout, a background writer
  thread, atomic creation, the crash guarantee) and :func:`open_run`, its reader.

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
}

__getattr__, __dir__, _names = _lazy.attach(__name__, _EXPORTS)
__all__ = ["RunFileError", *_names]
