"""Validation shared by the library (private): arrays and scalars.

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
``check_int``, ``check_real``, ``check_bool``, ``check_choice``, ``check_n_jobs``
    the one set of scalar checks, in the manner of scikit-learn's
    ``check_scalar``: a ``TypeError`` for the wrong type, a ``ValueError`` for the
    wrong range or an unknown name, each message of the form
    ``"<name>: expected <what>, got <received>"``.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "as_2d_float64",
    "check_bool",
    "check_choice",
    "check_int",
    "check_n_jobs",
    "check_real",
    "check_same_samples",
    "to_float64",
]


def _received(value) -> str:
    return f"{type(value).__name__} {value!r}"


def check_int(value, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an ``int`` in ``[minimum, maximum]`` (either bound optional).

    Raises
    ------
    TypeError
        Unless ``value`` is an integer (``bool`` is not one).
    ValueError
        If it is out of range. Both messages name ``name`` and show ``value``.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an integer, got {_received(value)}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        if maximum is None:
            what = f"an integer >= {minimum}"
        elif minimum is None:
            what = f"an integer <= {maximum}"
        else:
            what = f"an integer in [{minimum}, {maximum}]"
        raise ValueError(f"{name}: expected {what}, got {value!r}")
    return int(value)


def check_real(value, name: str, *, low: float | None = None, high: float | None = None,
               low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a finite ``float`` within the given bounds.

    ``low``/``high`` are inclusive unless ``low_open``/``high_open``.

    Raises
    ------
    TypeError
        Unless ``value`` is a real number (``bool`` is not one).
    ValueError
        If it is NaN, infinite or out of range.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a number, got {_received(value)}")
    try:
        out = float(value)
    except OverflowError:  # an int beyond float range
        raise ValueError(f"{name}: expected a finite number, got {value!r}") from None
    if not math.isfinite(out):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    if low is not None and (out <= low if low_open else out < low):
        raise ValueError(f"{name}: expected a number {'>' if low_open else '>='} {low:g}, "
                         f"got {value!r}")
    if high is not None and (out >= high if high_open else out > high):
        raise ValueError(f"{name}: expected a number {'<' if high_open else '<='} {high:g}, "
                         f"got {value!r}")
    return out


def check_bool(value, name: str) -> bool:
    """``value`` as a ``bool``; a ``TypeError`` unless it is one."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected a bool, got {_received(value)}")
    return bool(value)


def check_choice(value, name: str, choices):
    """``value``; a ``ValueError`` listing ``choices`` unless it is one of them."""
    try:
        known = value in choices
    except TypeError:  # unhashable value against a dict or set
        known = False
    if not known:
        raise ValueError(f"{name}: expected one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def check_n_jobs(n_jobs, name: str = "n_jobs"):
    """``n_jobs`` with joblib's meaning: ``None`` (the default), a positive count, or a
    negative number counting back from all CPUs (``-1`` all, ``-2`` all but one).

    Raises
    ------
    TypeError
        Unless ``n_jobs`` is ``None`` or an integer.
    ValueError
        If it is 0.
    """
    if n_jobs is None:
        return None
    n_jobs = check_int(n_jobs, name)
    if n_jobs == 0:
        raise ValueError(f"{name}: expected a non-zero integer (joblib: -1 = all CPUs, "
                         f"-2 = all but one) or None, got 0")
    return n_jobs


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
