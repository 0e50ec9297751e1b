"""Numerical ranks use the precision the data were given in (float32, float16, bfloat16).

Activations recorded from PyTorch are float32: their rounding (relative ~1e-7) must not
count as rank. The reproduction: two float32 matrices of true rank 8 spanning the same
8-dimensional space gave ranks (16, 16) and a mean canonical correlation of 0.60.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

import svccakit as sk
from svccakit.similarity import Streamed, _source


def same_span(seed: int = 0, n: int = 200):
    """``(X, Y)`` float64 of shape (n, 16), both of rank 8, spanning the same 8 dims."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 8))
    return x @ rng.standard_normal((8, 16)), x @ rng.standard_normal((8, 16))


def spread(n: int, d: int, low: float, seed: int = 0) -> np.ndarray:
    """Full-rank (n, d) float64 data, centred, singular values log-spaced from 1 to ``low``
    (times sqrt(n))."""
    rng = np.random.default_rng(seed)
    u = np.linalg.qr(rng.standard_normal((n, d)))[0]
    u -= u.mean(axis=0)
    v = np.linalg.qr(rng.standard_normal((d, d)))[0]
    return (u * np.logspace(0, np.log10(low), d)) @ v * np.sqrt(n)


@pytest.fixture
def on_device(monkeypatch):
    """CPU tensors take the path of tensors on a GPU (float64 products on the device)."""
    monkeypatch.setattr(_source, "_on_device", lambda t: True)


# (form, tolerance on 1 - similarity): the rounding of the dtype limits the agreement
FORMS = {
    "numpy float32": (lambda a: a.astype(np.float32), 1e-6),
    "torch float32": (lambda a: torch.tensor(a, dtype=torch.float32), 1e-6),
    "torch float16": (lambda a: torch.tensor(a, dtype=torch.float16), 1e-5),
    "torch bfloat16": (lambda a: torch.tensor(a, dtype=torch.bfloat16), 1e-4),
    "numpy float16": (lambda a: a.astype(np.float16), 1e-5),
    "Streamed torch bfloat16": (lambda a: Streamed(torch.tensor(a, dtype=torch.bfloat16),
                                                   block_rows=37), 1e-4),
}


def assert_rank_8(X, Y, tol: float) -> None:
    res = sk.cca(X, Y)
    assert res.ranks == (8, 8)
    assert res.rho.mean() == pytest.approx(1.0, abs=tol)
    assert sk.cca(X, Y, method="fast").ranks == (8, 8)
    assert sk.cca(X, Y, method="accurate").ranks == (8, 8)
    full = sk.svcca(X, Y, keep=1.0)
    assert full.dims == (8, 8)
    assert full.similarity == pytest.approx(1.0, abs=tol)
    assert sk.decompose(X, keep=1.0).dims == 8
    assert sk.pwcca(X, Y) == pytest.approx(1.0, abs=tol)
    assert sk.pwcca(Y, X) == pytest.approx(1.0, abs=tol)


@pytest.mark.parametrize("form", list(FORMS))
def test_rounding_of_reduced_precision_data_is_not_rank(form):
    make, tol = FORMS[form]
    x, y = same_span()
    assert_rank_8(make(x), make(y), tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_device_tensors_use_their_dtypes_precision(on_device, dtype):
    x, y = same_span(1)
    tx, ty = torch.tensor(x, dtype=dtype), torch.tensor(y, dtype=dtype)
    assert _source.as_source(tx, "X").kind == "device"
    assert_rank_8(tx, ty, 1e-4)
    # streamed from the device in row blocks
    assert sk.cca(Streamed(tx, block_rows=50), ty).ranks == (8, 8)


def test_h5py_float32_dataset_streamed(tmp_path):
    x, y = same_span(2, n=300)
    with h5py.File(tmp_path / "acts.h5", "w") as f:
        f["x"], f["y"] = x.astype(np.float32), y.astype(np.float32)
        f["stacked"] = np.stack([y, x]).astype(np.float32)
    with h5py.File(tmp_path / "acts.h5", "r") as f:
        assert _source.as_source(f["x"], "X").kind == "rows"
        assert_rank_8(f["x"], f["y"], 1e-6)
        res = sk.cca(Streamed(f["stacked"], index=1, block_rows=64), Streamed(f["y"],
                                                                             block_rows=17))
        assert res.ranks == (8, 8)
        assert res.rho.mean() == pytest.approx(1.0, abs=1e-6)


def test_float32_memmap_read_in_row_blocks(tmp_path):
    x, y = same_span(3)
    mx = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.float32,
                                   shape=x.shape)
    mx[:] = x
    mx.flush()
    mx = np.load(tmp_path / "x.npy", mmap_mode="r")
    assert _source.as_source(mx, "X").kind == "rows"
    assert_rank_8(mx, y.astype(np.float32), 1e-6)


def test_float64_input_is_taken_at_its_precision():
    # float64 rounding is tiny: the same rank-deficient data give rank 8 ...
    x, y = same_span()
    assert_rank_8(x, y, 1e-12)
    # ... and float64 data are trusted to float64's eps: the float32-rounded values,
    # handed over as float64, are full rank (their rounding is data then)
    x32 = x.astype(np.float32).astype(np.float64)
    assert sk.cca(x32, y).ranks == (16, 8)


def test_a_decomposition_remembers_its_precision():
    x, y = same_span(4)
    x32, y32 = x.astype(np.float32), y.astype(np.float32)
    dec = sk.decompose(x32, keep=1.0)
    assert dec.precision == float(np.finfo(np.float32).eps)
    assert sk.decompose(torch.tensor(x, dtype=torch.bfloat16)).precision == 2.0**-7
    assert sk.decompose(x).precision == float(np.finfo(np.float64).eps)
    assert sk.decompose(np.rint(x * 10).astype(np.int64)).precision == float(
        np.finfo(np.float64).eps)
    assert dec.dims == 8
    assert dec.singular_values.size == 8
    res = sk.cca(dec, y32)
    assert res.ranks == (8, 8)
    assert res.rho.mean() == pytest.approx(1.0, abs=1e-6)
    assert sk.pwcca(dec, y32) == pytest.approx(sk.pwcca(x32, y32), abs=1e-10)
    assert sk.svcca(dec, sk.decompose(y32, keep=1.0)).similarity == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize(("n", "d"), [(200, 16), (10000, 32)])
def test_full_rank_float32_keeps_every_direction(n, d):
    # singular values spread over 1e-3: every direction is far above float32 rounding
    # (at n=10000, max(n, d) * eps32 = 1.2e-3 would already drop some)
    x = spread(n, d, 1e-3).astype(np.float32)
    y = np.random.default_rng(1).standard_normal((n, 5))
    assert sk.cca(x, y).ranks == (d, 5)
    assert sk.cca(x, y, method="accurate").ranks == (d, 5)
    assert sk.svcca(x, y, keep=1.0).dims == (d, 5)
    assert sk.decompose(x, keep=1.0).dims == d


def test_full_rank_float32_spread_to_1e_4_keeps_every_direction():
    x = spread(5000, 64, 1e-4).astype(np.float32)
    assert sk.decompose(x, keep=1.0).dims == 64
    assert sk.cca(x, x[:, :3]).ranks == (64, 3)


def test_half_precision_directions_below_rounding_are_dropped_on_every_route():
    # six directions well above float16's rounding (relative 1e-3), four far below it:
    # those four are indistinguishable from rounding, whichever route is taken
    rng = np.random.default_rng(5)
    u, s, vt = np.linalg.svd(spread(400, 10, 1e-1, seed=6), full_matrices=False)
    tiny = rng.standard_normal((400, 4)) @ rng.standard_normal((4, 10)) * 1e-6
    x = (u[:, :6] * s[:6]) @ vt[:6] + tiny  # rank 6, plus 4 directions at ~1e-6
    y = rng.standard_normal((400, 3))
    x16 = torch.tensor(x, dtype=torch.float16)
    for method in ("auto", "fast", "accurate"):
        assert sk.cca(x16, y, method=method).ranks == (6, 3), method
    assert sk.svcca(x16, y, keep=1.0).dims == (6, 3)
    assert sk.decompose(x16, keep=1.0).dims == 6


def test_full_rank_float16_within_its_precision_keeps_the_gram_route():
    x = spread(300, 8, 0.3)
    x16 = torch.tensor(x, dtype=torch.float16)
    res = sk.cca(x16, x[:, :2])
    assert res.ranks == (8, 2)
    assert res.routes == ("gram", "gram")


def test_variation_only_at_the_rounding_of_its_dtype_is_an_error():
    # bfloat16 spaces values near 1000 by 4: a spread of a few units is its rounding
    rng = np.random.default_rng(7)
    x = torch.tensor(1000 + 3 * rng.standard_normal((100, 4)), dtype=torch.bfloat16)
    y = rng.standard_normal((100, 3))
    for fn in (sk.cca, lambda a, b: sk.svcca(a, b, keep=1.0), sk.pwcca):
        with pytest.raises(ValueError, match=r"X has no variance above the rounding of its "
                                             r"dtype \(eps 0\.00781\)"):
            fn(x, y)
    with pytest.raises(ValueError, match="no variance above the rounding"):
        sk.decompose(x, keep=1.0)


def test_streamed_complex_device_tensor_is_a_type_error(on_device):
    with pytest.raises(TypeError, match=r"X must be a real numeric array, got complex dtype "
                                        r"torch\.complex64"):
        sk.svcca(Streamed(torch.zeros((10, 3), dtype=torch.complex64)), np.ones((10, 2)))


def test_rank_ratio_is_the_float64_rule_for_float64_and_the_input_term_otherwise():
    from svccakit.similarity._linalg import rank_ratio

    eps64, eps32 = np.finfo(np.float64).eps, np.finfo(np.float32).eps
    assert rank_ratio((200, 16)) == 200 * eps64
    assert rank_ratio((200, 16), eps32) == pytest.approx(np.sqrt(216) * eps32)
    assert rank_ratio((3, 2), eps64) == 3 * eps64
