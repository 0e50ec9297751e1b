"""Inputs read in row blocks (h5py datasets, memmaps, Streamed): the same numbers as in memory."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import svccakit as sk
from svccakit.similarity import Streamed


def layers(seed: int = 0, n: int = 500):
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n, 5))
    x = np.maximum(latent @ rng.standard_normal((5, 12)) + 0.5, 0.0) + 0.1 * rng.standard_normal(
        (n, 12))
    y = latent @ rng.standard_normal((5, 9)) + 0.2 * rng.standard_normal((n, 9)) + 3.0
    x[:, 3] = -0.7  # a dead shifted-ReLU neuron
    return x.astype(np.float32), y.astype(np.float32)


def all_metrics(x, y) -> dict:
    return {
        "svcca": sk.svcca(x, y).similarity,
        "svcca_dims": sk.svcca(x, y).dims,
        "svcca_3": sk.svcca(x, y, keep=3).similarity,
        "cca": sk.cca(x, y).rho,
        "cca_accurate": sk.cca(x, y, method="accurate").rho,
        "pwcca": sk.pwcca(x, y),
        "cka": sk.linear_cka(x, y),
        "cka_debiased": sk.linear_cka(x, y, debiased=True),
    }


def assert_same(a: dict, b: dict) -> None:
    for key in a:
        if key.endswith("_dims"):
            assert a[key] == b[key]
        else:
            np.testing.assert_allclose(b[key], a[key], atol=1e-10, err_msg=key)


@pytest.fixture
def stored(tmp_path):
    x, y = layers()
    path = tmp_path / "acts.h5"
    with h5py.File(path, "w") as f:
        f["x"] = x
        f["y"] = y
        stack = np.stack([x * 0.5, x, y[:, :5].repeat(3, axis=1)[:, :12]])
        f["stacked"] = stack  # (T, n, d): a run file's layer over its snapshots
    return path, x, y


def test_h5py_datasets_stream_to_the_in_memory_numbers(stored):
    path, x, y = stored
    expected = all_metrics(x, y)
    with h5py.File(path, "r") as f:
        assert_same(expected, all_metrics(f["x"], f["y"]))
        assert_same(expected, all_metrics(Streamed(f["x"], block_rows=37), f["y"]))
        assert_same(expected, all_metrics(Streamed(f["stacked"], index=1, block_rows=64),
                                          Streamed(f["y"], block_rows=100)))
        assert_same(expected, all_metrics(x, f["y"]))  # mixed


def test_memmap_and_streamed_arrays(tmp_path):
    x, y = layers(1)
    mm = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.float32,
                                   shape=x.shape)
    mm[:] = x
    mm.flush()
    expected = all_metrics(x, y)
    assert_same(expected, all_metrics(np.load(tmp_path / "x.npy", mmap_mode="r"), y))
    assert_same(expected, all_metrics(Streamed(x, block_rows=50), Streamed(y, block_rows=7)))


def test_decompositions_and_baselines_of_streamed_inputs(stored):
    path, x, y = stored
    with h5py.File(path, "r") as f:
        dx, dy = sk.decompose(Streamed(f["x"], block_rows=40)), sk.decompose(f["y"])
        assert dx.dims == sk.decompose(x).dims
        np.testing.assert_allclose(dx.singular_values, sk.decompose(x).singular_values,
                                   rtol=1e-10)
        assert sk.svcca(dx, dy).similarity == pytest.approx(sk.svcca(x, y).similarity, abs=1e-10)
        assert sk.svcca(dx, y).similarity == pytest.approx(sk.svcca(x, y).similarity, abs=1e-10)
        many = sk.svcca_many(dx, [dy, f["x"]])
        assert many[0].similarity == pytest.approx(sk.svcca(x, y).similarity, abs=1e-10)
        assert many[1].similarity == pytest.approx(1.0, abs=1e-10)
        np.testing.assert_allclose(dx.basis.T @ dx.basis, np.eye(dx.dims), atol=1e-10)
        for metric in ("svcca", "pwcca", "cka"):
            np.testing.assert_allclose(sk.baseline(f["x"], f["y"], metric=metric, n=3).values,
                                       sk.baseline(x, y, metric=metric, n=3).values, atol=1e-10)


def test_ill_conditioned_streamed_data_takes_the_tsqr_route(tmp_path):
    rng = np.random.default_rng(4)
    n = 400
    q, _ = np.linalg.qr(rng.standard_normal((n, 6)))
    x = q @ np.diag(np.geomspace(1.0, 1e-7, 6)) @ np.linalg.qr(rng.standard_normal((6, 6)))[0]
    y = x[:, :3] @ rng.standard_normal((3, 4)) + 1e-3 * rng.standard_normal((n, 4))
    x = np.hstack([x, x[:, :2] + x[:, 2:4]])  # rank deficient too
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f["x"] = x
        res = sk.cca(Streamed(f["x"], block_rows=64), y)
        ref = sk.cca(x, y)
        assert res.routes[0] == "qr"
        assert res.ranks == ref.ranks == (6, 4)
        np.testing.assert_allclose(res.rho, ref.rho, atol=1e-9)
        assert sk.svcca(f["x"], y, keep=1.0).dims == sk.svcca(x, y, keep=1.0).dims
        assert sk.pwcca(f["x"], y) == pytest.approx(sk.pwcca(x, y), abs=1e-9)


def test_streamed_input_errors(stored, tmp_path):
    path, x, y = stored
    with h5py.File(path, "r") as f:
        with pytest.raises(ValueError, match=r"X: index=1 selects one item of a stacked \(T, n, d\) source, but it has shape \(500, 12\)"):
            sk.svcca(Streamed(f["x"], index=1), y)
        with pytest.raises(ValueError, match=r"X: index 5 out of range for a stacked source of 3 items"):
            sk.svcca(Streamed(f["stacked"], index=5), y)
        with pytest.raises(ValueError, match=r"X must be 2-D \(n_samples, n_features\), got a 3-D array"):
            sk.svcca(f["stacked"], y)
        with pytest.raises(ValueError, match="must have the same number of samples"):
            sk.svcca(f["x"], y[:10])
    with pytest.raises(TypeError, match=r"index: expected an integer or None, got str '1'"):
        Streamed(x, index="1")
    with pytest.raises(ValueError, match=r"block_rows: expected an integer >= 1, got 0"):
        Streamed(x, block_rows=0)
    with pytest.raises(TypeError, match=r"block_rows: expected an integer or None, got float 2.0"):
        Streamed(x, block_rows=2.0)
    bad = x.copy()
    bad[7, 1] = np.nan
    with h5py.File(tmp_path / "bad.h5", "w") as f:
        f["x"] = bad
        with pytest.raises(ValueError, match=r"X must contain only finite values, got 1 NaN and 0 Inf"):
            sk.linear_cka(f["x"], y)
    assert "Streamed(ndarray of shape (500, 12)" in repr(Streamed(x, index=None, block_rows=3))
