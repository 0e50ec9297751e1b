"""Array validation shared by the library (private).

Every public function that takes activations converts them here, once, at the
boundary. The helpers raise ``TypeError`` / ``ValueError`` that name the
parameter, say what was expected and show what was received.

API
---
``to_float64(x, name)``
    any numeric array-like or torch tensor (any device) -> float64 ndarray of
    any shape (no NaN/Inf, not empty).
``as_2d_float64(x, name)``
    the same, and the result must be 2-D ``(n_samples, n_features)``.
``check_same_samples(n_x, n_y, names=("X", "Y"))``
    equal sample counts, or a ``ValueError`` naming both.
``check_int(value, name, minimum)`` / ``check_choice(value, name, choices)``
    a non-bool integer ``>= minimum`` (returned as ``int``) / a member of
    ``choices``, or a ``ValueError`` naming the parameter and the value.
"""

from __future__ import annotations

import numpy as np

__all__ = ["as_2d_float64", "check_choice", "check_int", "check_same_samples", "to_float64"]


def check_int(value, name: str, minimum: int) -> int:
    """``value`` as an ``int``; a ``ValueError`` unless it is a non-bool integer ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    return int(value)


def check_choice(value, name: str, choices):
    """``value``; a ``ValueError`` listing ``choices`` unless it is one of them."""
    if value not in choices:
        raise ValueError(f"{name}: expected one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def _describe(x) -> str:
    shape = getattr(x, "shape", None)
    dtype = getattr(x, "dtype", None)
    desc = type(x).__name__
    if shape is not None:
        desc += f" of shape {tuple(shape)}"
    if dtype is not None:
        desc += f" and dtype {dtype}"
    return desc


def _torch_to_numpy(x, name: str) -> np.ndarray:
    """A torch tensor on any device -> numpy array (detached, on the CPU)."""
    if x.is_complex():
        raise TypeError(f"{name} must be a real numeric array, got a complex {_describe(x)}")
    t = x.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    if t.dtype.is_floating_point and t.dtype not in (_torch_dtype("float32"), _torch_dtype("float64")):
        t = t.double()  # float16 / bfloat16: numpy has no bfloat16
    return t.numpy()


def _torch_dtype(name: str):
    import torch

    return getattr(torch, name)


def _is_torch_tensor(x) -> bool:
    mod = type(x).__module__
    if not mod.startswith("torch"):
        return False
    import torch

    return isinstance(x, torch.Tensor)


def to_float64(x, name: str) -> np.ndarray:
    """Convert ``x`` to a finite, non-empty float64 numpy array.

    Parameters
    ----------
    x : array-like or torch.Tensor
        Numeric data of any shape; torch tensors may live on any device (they
        are detached and copied to the CPU).
    name : str
        Parameter name used in error messages.

    Returns
    -------
    numpy.ndarray of dtype float64 (a new array unless ``x`` already was one).

    Raises
    ------
    TypeError
        Non-numeric (string, object, complex) data.
    ValueError
        Empty arrays, NaN or Inf (with their counts).
    """
    if _is_torch_tensor(x):
        arr = _torch_to_numpy(x, name)
    elif isinstance(x, np.ndarray):
        arr = x
    else:
        if isinstance(x, (str, bytes)) or x is None:
            raise TypeError(f"{name} must be a numeric array, got {_describe(x)}")
        try:
            arr = np.asarray(x)
        except (ValueError, TypeError) as exc:
            raise TypeError(f"{name} must be a numeric array, got {_describe(x)} ({exc})") from exc
    if arr.dtype.kind == "c":
        raise TypeError(f"{name} must be a real numeric array, got complex dtype {arr.dtype}")
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must be a numeric array (bool, integer or float), got dtype {arr.dtype}"
        )
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty, got an array of shape {arr.shape}")
    arr = np.asarray(arr, dtype=np.float64)
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        n_nan = int(np.isnan(arr).sum())
        n_inf = int(np.isinf(arr).sum())
        raise ValueError(
            f"{name} must contain only finite values, got {n_nan} NaN and {n_inf} Inf "
            f"among its {arr.size} entries"
        )
    return arr


def as_2d_float64(x, name: str) -> np.ndarray:
    """Convert activations ``x`` to a 2-D float64 array ``(n_samples, n_features)``.

    As :func:`to_float64`, and additionally ``ValueError`` unless ``x`` is 2-D.
    """
    arr = to_float64(x, name)
    if arr.ndim != 2:
        hint = " (conv activations (n, c, h, w): see svccakit.flatten_conv)" if arr.ndim == 4 else ""
        raise ValueError(
            f"{name} must be 2-D (n_samples, n_features), got a {arr.ndim}-D array of shape "
            f"{arr.shape}{hint}"
        )
    return arr


def check_same_samples(n_x: int, n_y: int, names: tuple[str, str] = ("X", "Y")) -> None:
    """Raise ``ValueError`` unless both sides have the same number of samples (rows)."""
    if n_x != n_y:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same number of samples (rows), got "
            f"{n_x} for {names[0]} and {n_y} for {names[1]}"
        )
