"""svccakit._validate: conversion to float64 and every error message."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from svccakit._validate import as_2d_float64, check_same_samples, to_float64


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int8, np.int64, np.uint16, bool])
def test_numeric_dtypes_become_float64(dtype):
    a = np.arange(6).reshape(3, 2).astype(dtype)
    out = as_2d_float64(a, "X")
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, a.astype(np.float64))


def test_float64_input_is_not_copied_and_list_is_accepted():
    a = np.ones((3, 2))
    assert as_2d_float64(a, "X") is a
    np.testing.assert_array_equal(as_2d_float64([[1, 2], [3, 4]], "X"), [[1.0, 2.0], [3.0, 4.0]])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.int32])
def test_torch_tensors_are_detached_and_converted(dtype):
    t = torch.arange(6, dtype=torch.float32).reshape(3, 2)
    t = t.to(dtype)
    if dtype.is_floating_point:
        t = t.clone().requires_grad_(True)
    out = as_2d_float64(t, "X")
    assert isinstance(out, np.ndarray)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, np.arange(6.0).reshape(3, 2))


def test_torch_complex_rejected():
    with pytest.raises(TypeError, match=r"X must be a real numeric array, got a complex Tensor"):
        as_2d_float64(torch.zeros((2, 2), dtype=torch.complex64), "X")


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (np.array([["a", "b"], ["c", "d"]]), r"Y must be a numeric array \(bool, integer or float\), got dtype <U1"),
        (np.array([[object(), 1]], dtype=object), r"Y must be a numeric array .* got dtype object"),
        (np.zeros((2, 2), dtype=complex), r"Y must be a real numeric array, got complex dtype complex128"),
        ("abc", r"Y must be a numeric array, got str"),
        (None, r"Y must be a numeric array, got NoneType"),
        ([[1, 2], [3]], r"Y must be a numeric array, got list"),
    ],
)
def test_non_numeric_rejected(value, match):
    with pytest.raises(TypeError, match=match):
        as_2d_float64(value, "Y")


def test_nan_and_inf_counted_with_side():
    a = np.zeros((4, 3))
    a[0, 0] = np.nan
    a[1, 1] = np.nan
    a[2, 2] = np.inf
    with pytest.raises(ValueError, match=r"Y must contain only finite values, got 2 NaN and 1 Inf among its 12 entries"):
        as_2d_float64(a, "Y")
    with pytest.raises(ValueError, match=r"X must contain only finite values, got 0 NaN and 1 Inf"):
        as_2d_float64(torch.tensor([[1.0, float("-inf")]]), "X")


@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (0,)])
def test_empty_rejected(shape):
    with pytest.raises(ValueError, match=r"X must not be empty, got an array of shape"):
        as_2d_float64(np.zeros(shape), "X")


@pytest.mark.parametrize(
    ("shape", "match"),
    [
        ((5,), r"X must be 2-D \(n_samples, n_features\), got a 1-D array of shape \(5,\)$"),
        ((2, 3, 4), r"got a 3-D array of shape \(2, 3, 4\)$"),
        ((2, 3, 4, 4), r"got a 4-D array .*see svccakit.flatten_conv"),
    ],
)
def test_wrong_ndim_rejected(shape, match):
    with pytest.raises(ValueError, match=match):
        as_2d_float64(np.zeros(shape), "X")


def test_scalar_rejected_as_not_2d():
    with pytest.raises(ValueError, match=r"got a 0-D array"):
        as_2d_float64(3.0, "X")


def test_to_float64_keeps_shape():
    assert to_float64(np.zeros((2, 3, 4, 5), dtype=np.float32), "A").shape == (2, 3, 4, 5)


def test_check_same_samples():
    check_same_samples(5, 5)
    with pytest.raises(ValueError, match=r"X and Y must have the same number of samples \(rows\), got 5 for X and 4 for Y"):
        check_same_samples(5, 4)
    with pytest.raises(ValueError, match=r"got 1 for A and 2 for B"):
        check_same_samples(1, 2, names=("A", "B"))
