"""Recorder callbacks for training frameworks (optional extras).

- :mod:`svccakit.integrations.lightning`: ``RecorderCallback`` for PyTorch
  Lightning (``pip install svccakit[lightning]``);
- :mod:`svccakit.integrations.hf`: ``RecorderCallback`` for the Hugging Face
  ``Trainer`` (``pip install svccakit[hf]``).

Both record the probe at the schedule's global steps (optimizer steps, so
gradient accumulation does not shift them), store the training loss as the
metric ``loss``, close the run file when training ends or fails, and write only
from the global-zero process under DDP. Import the submodule you need; this
package imports neither framework.
"""
