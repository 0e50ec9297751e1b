"""Conv activations ``(n, c, h, w)`` as 2-D ``(samples, channels)``: the one rule."""

from __future__ import annotations

import numpy as np

from svccakit._validate import check_choice, to_float64

__all__ = ["FLATTEN_MODES", "flatten_conv"]

FLATTEN_MODES = ("positions", "pool")
"""The ways :func:`flatten_conv` turns a conv layer into a matrix."""


def flatten_conv(A, mode: str = "positions") -> np.ndarray:
    """Turn conv activations ``(n, c, h, w)`` into 2-D ``(samples, channels)``: THE rule.

    Channels are the neurons. ``mode="positions"`` (default) folds every spatial
    position into the samples, giving ``(n * h * w, c)`` with rows ordered by
    image, then row, then column; ``mode="pool"`` averages over positions,
    giving ``(n, c)``. Compare two layers only when both were flattened the same
    way (with ``"positions"`` they also need the same ``h, w``).

    Parameters
    ----------
    A : array-like or torch.Tensor of shape (n, c, h, w)
    mode : {"positions", "pool"}

    Returns
    -------
    ndarray of float64, shape (n * h * w, c) or (n, c)
    """
    mode = check_choice(mode, "mode", FLATTEN_MODES)
    a = to_float64(A, "A")
    if a.ndim != 4:
        raise ValueError(f"A must be 4-D conv activations (n, c, h, w), got a {a.ndim}-D array "
                         f"of shape {a.shape}")
    n, c, h, w = a.shape
    if mode == "pool":
        return a.mean(axis=(2, 3))
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1)).reshape(n * h * w, c)
