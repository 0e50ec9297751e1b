"""svccakit.similarity: properties, agreement with tests/similarity/reference_cca.py, frozen values,
reuse of decompositions, the chance level, and every error path."""

from __future__ import annotations

import pathlib
import re
import warnings

import numpy as np
import pytest
import reference_cca as ref  # tests/similarity/reference_cca.py (pytest puts tests/ on sys.path)
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import svccakit as sk
from svccakit import similarity as sim

DATA = pathlib.Path(__file__).parent / "data" / "reference_values.npz"
PROPS = settings(max_examples=25, deadline=None)


# ---------------------------------------------------------------------------
# data


def related(seed: int, n: int = 200, dx: int = 8, dy: int = 6, noise: float = 0.5):
    """Two representations sharing a few latent factors."""
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n, 4))
    x = latent @ rng.standard_normal((4, dx)) + noise * rng.standard_normal((n, dx))
    y = latent @ rng.standard_normal((4, dy)) + noise * rng.standard_normal((n, dy))
    return x + rng.normal(size=dx) * 3, y - rng.normal(size=dy)


def orthogonal(rng, d: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def invertible(rng, d: int, cond: float = 30.0) -> np.ndarray:
    return orthogonal(rng, d) @ np.diag(np.geomspace(1.0, 1.0 / cond, d)) @ orthogonal(rng, d)


def ill_conditioned(seed: int, n: int, d: int, cond: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = orthogonal(rng, n)[:, :d]  # orthonormal columns, exact singular values below
    return base @ np.diag(np.geomspace(1.0, 1.0 / cond, d)) @ orthogonal(rng, d) * 10.0


shapes = st.tuples(
    st.integers(0, 2**32 - 1),  # seed
    st.integers(40, 90),  # n
    st.integers(2, 8),  # dx
    st.integers(2, 8),  # dy
)


# ---------------------------------------------------------------------------
# properties (hypothesis)


@PROPS
@given(shapes)
def test_cca_invariant_to_invertible_maps_of_either_side(shape):
    seed, n, dx, dy = shape
    x, y = related(seed, n, dx, dy)
    rng = np.random.default_rng(seed + 1)
    base = sk.cca(x, y).rho
    np.testing.assert_allclose(sk.cca(x @ invertible(rng, dx), y).rho, base, atol=1e-8)
    np.testing.assert_allclose(sk.cca(x, y @ invertible(rng, dy)).rho, base, atol=1e-8)


@PROPS
@given(shapes, st.floats(1e-3, 1e3))
def test_svcca_invariant_to_orthogonal_maps_scaling_and_permutation(shape, scale):
    seed, n, dx, dy = shape
    x, y = related(seed, n, dx, dy)
    rng = np.random.default_rng(seed + 2)
    base = sk.svcca(x, y)
    for x2, y2 in [
        (x @ orthogonal(rng, dx), y),
        (x, y @ orthogonal(rng, dy)),
        (scale * x, y),
        (x, y / scale),
        (x[:, rng.permutation(dx)], y[:, rng.permutation(dy)]),
    ]:
        other = sk.svcca(x2, y2)
        assert other.dims == base.dims
        assert other.similarity == pytest.approx(base.similarity, abs=1e-9)


@PROPS
@given(shapes)
def test_symmetry_and_bounds(shape):
    seed, n, dx, dy = shape
    x, y = related(seed, n, dx, dy)
    a, b = sk.svcca(x, y), sk.svcca(y, x)
    assert a.dims == b.dims[::-1]
    np.testing.assert_allclose(a.rho, b.rho, atol=1e-10)
    np.testing.assert_allclose(sk.cca(x, y).rho, sk.cca(y, x).rho, atol=1e-10)
    assert sk.linear_cka(x, y) == pytest.approx(sk.linear_cka(y, x), abs=1e-12)
    for rho in (a.rho, sk.cca(x, y).rho):
        assert np.all((rho >= 0) & (rho <= 1))
        assert np.all(np.diff(rho) <= 0)
    for value in (a.similarity, sk.pwcca(x, y), sk.pwcca(y, x), sk.linear_cka(x, y)):
        assert 0.0 <= value <= 1.0


@PROPS
@given(shapes)
def test_self_similarity_is_one(shape):
    seed, n, dx, _ = shape
    x, _ = related(seed, n, dx, 2)
    np.testing.assert_allclose(sk.cca(x, x).rho, 1.0, atol=1e-10)
    assert sk.svcca(x, x).similarity == pytest.approx(1.0, abs=1e-10)
    assert sk.pwcca(x, x) == pytest.approx(1.0, abs=1e-10)
    assert sk.linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)
    assert sk.linear_cka(x, x, debiased=True) == pytest.approx(1.0, abs=1e-10)


@PROPS
@given(shapes)
def test_linear_image_gives_all_rho_one(shape):
    seed, n, dx, dy = shape
    x, _ = related(seed, n, dx, dy)
    rng = np.random.default_rng(seed + 3)
    y = x @ rng.standard_normal((dx, dy))  # rank min(dx, dy)
    res = sk.cca(x, y)
    assert res.rho.size == min(dx, dy)
    np.testing.assert_allclose(res.rho, 1.0, atol=1e-8)


# ---------------------------------------------------------------------------
# agreement with the independent reference


@pytest.mark.parametrize("method", ["auto", "fast", "accurate"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cca_matches_reference_well_conditioned(method, seed):
    x, y = related(seed, n=300, dx=12, dy=9)
    res = sk.cca(x, y, method=method)
    np.testing.assert_allclose(res.rho, ref.cca_rho(x, y), atol=1e-8)
    assert res.routes == ({"accurate": ("qr", "qr")}.get(method, ("gram", "gram")))


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.99, 1.0, 3, 6])
def test_svcca_matches_reference(keep):
    x, y = related(4, n=300, dx=12, dy=9)
    value, dims = ref.svcca_value(x, y, keep)
    res = sk.svcca(x, y, keep=keep)
    assert res.dims == dims
    assert res.similarity == pytest.approx(value, abs=1e-8)


def test_pwcca_and_cka_match_reference():
    x, y = related(5, n=150, dx=10, dy=4)
    assert sk.pwcca(x, y) == pytest.approx(ref.pwcca_value(x, y), abs=1e-8)
    assert sk.pwcca(y, x) == pytest.approx(ref.pwcca_value(y, x), abs=1e-8)
    assert sk.pwcca(x, y) != pytest.approx(sk.pwcca(y, x), abs=1e-3)  # not symmetric
    for debiased in (False, True):
        assert sk.linear_cka(x, y, debiased=debiased) == pytest.approx(
            ref.linear_cka_value(x, y, debiased=debiased), abs=1e-10
        )


def test_cka_sample_space_route_matches_reference():
    x, y = related(6, n=30, dx=50, dy=40)  # more features than samples: n x n kernels
    for debiased in (False, True):
        assert sk.linear_cka(x, y, debiased=debiased) == pytest.approx(
            ref.linear_cka_value(x, y, debiased=debiased), abs=1e-10
        )


@pytest.mark.parametrize("method", ["auto", "accurate"])
def test_cca_matches_reference_at_condition_1e6(method):
    n = 400
    x = ill_conditioned(7, n, 10, 1e6)
    rng = np.random.default_rng(8)
    y = x @ rng.standard_normal((10, 6)) + ill_conditioned(9, n, 6, 1e6) * 1e-6
    res = sk.cca(x, y, method=method)
    assert res.routes[0] == "qr"  # auto detects the ill-conditioning
    assert np.linalg.cond(ref.centre(x)) > 1e5
    np.testing.assert_allclose(res.rho, ref.cca_rho(x, y), atol=1e-6)


def rank_deficient_cases(seed: int = 10, n: int = 250):
    x, y = related(seed, n=n, dx=8, dy=6)
    rng = np.random.default_rng(seed)
    scales = np.geomspace(1e-4, 1e4, 8)
    return {
        "duplicated": np.hstack([x, x[:, :3]]),
        "dead": np.hstack([x, np.zeros((n, 2)), np.full((n, 1), 123.456)]),
        "dead_large_offset": np.hstack([x, np.full((n, 1), 1e8 / 3)]),  # mean not exact
        "combination": np.hstack([x, x[:, :3] @ rng.standard_normal((3, 4))]),
        "scales_1e8": x * scales,
        "everything": np.hstack([x * scales, x[:, :2] * 5.0, np.ones((n, 2)),
                                 x[:, 2:5] @ rng.standard_normal((3, 2)) * 1e-3]),
    }, y


@pytest.mark.parametrize("case", list(rank_deficient_cases()[0]))
def test_cca_rank_deficient_cases_match_reference(case):
    xs, y = rank_deficient_cases()
    x = xs[case]
    expected = ref.cca_rho(x, y)
    for method in ("auto", "accurate"):
        res = sk.cca(x, y, method=method)
        assert res.ranks[0] == 8  # the true rank
        assert np.all(np.isfinite(res.rho))
        np.testing.assert_allclose(res.rho, expected, atol=1e-6)
    # and it is the CCA of the underlying full-rank neurons
    np.testing.assert_allclose(sk.cca(x, y).rho, sk.cca(xs["scales_1e8"], y).rho, atol=1e-6)


@pytest.mark.parametrize("case", list(rank_deficient_cases()[0]))
def test_svcca_and_pwcca_rank_deficient_cases_match_reference(case):
    xs, y = rank_deficient_cases()
    x = xs[case]
    for keep in (0.99, 1.0):
        value, dims = ref.svcca_value(x, y, keep)
        res = sk.svcca(x, y, keep=keep)
        assert res.dims == dims
        assert res.similarity == pytest.approx(value, abs=1e-6)
    assert sk.pwcca(x, y) == pytest.approx(ref.pwcca_value(x, y), abs=1e-6)
    assert sk.pwcca(y, x) == pytest.approx(ref.pwcca_value(y, x), abs=1e-6)


def test_fast_method_on_rank_deficient_data_uses_true_rank():
    xs, y = rank_deficient_cases()
    res = sk.cca(xs["duplicated"], y, method="fast")
    assert res.routes == ("gram", "gram")
    assert res.ranks == (8, 6)
    np.testing.assert_allclose(res.rho, ref.cca_rho(xs["duplicated"], y), atol=1e-8)


def test_svcca_ill_conditioned_keep_all_uses_svd_route():
    x = ill_conditioned(11, 300, 8, 1e6)
    y = related(11, n=300)[1]
    dec = sk.decompose(x, keep=1.0)
    assert dec.method == "svd"
    assert dec.dims == 8
    value, dims = ref.svcca_value(x, y, 1.0)
    assert sk.svcca(dec, y).similarity == pytest.approx(value, abs=1e-6)
    assert sk.decompose(x, keep=0.99).method == "gram"


@pytest.mark.parametrize("factor", [1e-200, 1e200])
def test_extreme_magnitudes_and_offsets(factor):
    x, y = related(20, n=150)
    base_cca, base_svcca = sk.cca(x, y).rho, sk.svcca(x, y).similarity
    np.testing.assert_allclose(sk.cca(x * factor, y).rho, base_cca, atol=1e-10)
    np.testing.assert_allclose(sk.cca(x, y + 1e7).rho, base_cca, atol=1e-8)  # huge offset
    assert sk.svcca(x * factor, y).similarity == pytest.approx(base_svcca, abs=1e-10)
    assert sk.pwcca(x, y * factor) == pytest.approx(sk.pwcca(x, y), abs=1e-10)
    assert sk.linear_cka(x * factor, y) == pytest.approx(sk.linear_cka(x, y), abs=1e-10)
    dec = sk.decompose(x * factor)
    assert dec.scale != 1.0
    np.testing.assert_allclose(dec.centred / dec.scale, (x - x.mean(0)) * factor, rtol=1e-9)
    assert sk.decompose(x).scale == 1.0


# ---------------------------------------------------------------------------
# frozen values (computed by tests/similarity/data/make_reference.py from reference_cca.py)


def test_frozen_reference_values():
    d = np.load(DATA)
    x, y, xd = d["x"], d["y"], d["xd"]
    np.testing.assert_allclose(sk.cca(x, y).rho, d["cca_rho"], atol=1e-10)
    np.testing.assert_allclose(sk.cca(xd, y).rho, d["cca_rho_xd"], atol=1e-8)
    res = sk.svcca(x, y)
    assert res.similarity == pytest.approx(float(d["svcca_099"]), abs=1e-10)
    assert res.dims == tuple(d["svcca_099_dims"])
    assert float(sk.svcca(x, y, keep=5)) == pytest.approx(float(d["svcca_5"]), abs=1e-10)
    assert sk.pwcca(x, y) == pytest.approx(float(d["pwcca_xy"]), abs=1e-10)
    assert sk.pwcca(y, x) == pytest.approx(float(d["pwcca_yx"]), abs=1e-10)
    assert sk.linear_cka(x, y) == pytest.approx(float(d["cka"]), abs=1e-10)
    assert sk.linear_cka(x, y, debiased=True) == pytest.approx(float(d["cka_debiased"]), abs=1e-10)


# ---------------------------------------------------------------------------
# decompositions are reusable and give identical numbers


def test_decomposition_reuse_gives_the_same_numbers():
    x, y = related(12, n=200, dx=10, dy=7)
    for keep in (0.99, 1.0, 4):
        dx, dy = sk.decompose(x, keep), sk.decompose(y, keep)
        direct = sk.svcca(x, y, keep=keep)
        for a, b in [(dx, y), (x, dy), (dx, dy)]:
            res = sk.svcca(a, b, keep=keep)
            assert res.similarity == pytest.approx(direct.similarity, abs=1e-13)
            np.testing.assert_allclose(res.rho, direct.rho, atol=1e-13)
            assert res.dims == direct.dims
        # keep=None: their own keep; an array takes the decomposition's keep
        assert sk.svcca(dx, dy).similarity == pytest.approx(direct.similarity, abs=1e-13)
        assert sk.svcca(dx, y).similarity == pytest.approx(direct.similarity, abs=1e-13)
        assert sk.svcca(x, dy).dims == direct.dims
    for metric in ("svcca", "pwcca", "cka"):
        a = sk.baseline(x, y, metric=metric, n=4, seed=3)
        b = sk.baseline(sk.decompose(x, 1.0), y, metric=metric, n=4, seed=3, keep=1.0) \
            if metric != "svcca" else sk.baseline(sk.decompose(x), sk.decompose(y), n=4, seed=3)
        if metric == "svcca":
            np.testing.assert_array_equal(a.values, b.values)
        else:  # decomposition with keep=1.0 = full rank: the same numbers up to rounding
            np.testing.assert_allclose(a.values, b.values, atol=1e-10)
    dec = sk.decompose(x, keep=1.0)
    assert sk.linear_cka(dec, y) == pytest.approx(sk.linear_cka(x, y), abs=1e-13)
    np.testing.assert_allclose(sk.cca(dec, y).rho, sk.cca(x, y).rho, atol=1e-10)
    assert sk.pwcca(dec, y) == pytest.approx(sk.pwcca(x, y), abs=1e-10)


def test_decomposition_attributes():
    x, _ = related(13, n=120, dx=9)
    dec = sk.decompose(x, keep=0.9)
    assert dec.n_samples == 120
    assert dec.n_features == 9
    np.testing.assert_allclose(dec.mean, x.mean(axis=0))
    np.testing.assert_allclose(dec.centred, x - x.mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(dec.basis.T @ dec.basis, np.eye(dec.dims), atol=1e-10)
    np.testing.assert_allclose(dec.basis, dec.centred @ dec.transform)
    assert dec.variance_kept >= 0.9
    s = np.linalg.svd(x - x.mean(axis=0), compute_uv=False)
    np.testing.assert_allclose(dec.singular_values, s, rtol=1e-8)
    frac = np.cumsum(s**2) / np.sum(s**2)
    assert frac[dec.dims - 2] < 0.9 <= frac[dec.dims - 1]


def test_torch_tensors_give_the_same_numbers():
    x, y = related(14, n=150)
    tx = torch.tensor(x, dtype=torch.float32, requires_grad=True)
    ty = torch.tensor(y, dtype=torch.float64)
    x32 = tx.detach().numpy().astype(np.float64)
    assert sk.svcca(tx, ty).similarity == pytest.approx(sk.svcca(x32, y).similarity, abs=1e-13)
    np.testing.assert_allclose(sk.cca(tx, ty).rho, sk.cca(x32, y).rho, atol=1e-13)
    assert sk.pwcca(tx, ty) == pytest.approx(sk.pwcca(x32, y), abs=1e-13)
    assert sk.linear_cka(tx, ty) == pytest.approx(sk.linear_cka(x32, y), abs=1e-13)
    assert sk.decompose(tx).dims == sk.decompose(x32).dims


@pytest.fixture
def on_device(monkeypatch):
    """CPU tensors take the path of tensors on a GPU (float64 products on the device)."""
    from svccakit.similarity import _source

    monkeypatch.setattr(_source, "_on_device", lambda t: True)


def test_device_tensors_computed_on_their_device_agree_with_numpy(on_device):
    from svccakit.similarity._source import as_source

    x, y = related(21, n=300, dx=9, dy=7)
    for dtype in (torch.float64, torch.float32, torch.float16):
        tx, ty = torch.tensor(x, dtype=dtype), torch.tensor(y, dtype=dtype)
        assert as_source(tx, "X").kind == "device"
        ax, ay = tx.double().numpy(), ty.double().numpy()
        assert sk.svcca(tx, ty).similarity == pytest.approx(sk.svcca(ax, ay).similarity,
                                                            abs=1e-10)
        assert sk.svcca(tx, ay, keep=1.0).dims == sk.svcca(ax, ay, keep=1.0).dims
        np.testing.assert_allclose(sk.cca(tx, ty).rho, sk.cca(ax, ay).rho, atol=1e-10)
        np.testing.assert_allclose(sk.cca(tx, ty, method="accurate").rho,
                                   sk.cca(ax, ay).rho, atol=1e-10)
        assert sk.pwcca(tx, ty) == pytest.approx(sk.pwcca(ax, ay), abs=1e-10)
        for debiased in (False, True):
            assert sk.linear_cka(tx, ty, debiased=debiased) == pytest.approx(
                sk.linear_cka(ax, ay, debiased=debiased), abs=1e-10)
        dec = sk.decompose(tx)
        assert sk.svcca(dec, ty).similarity == pytest.approx(sk.svcca(ax, ay).similarity,
                                                             abs=1e-10)
        np.testing.assert_allclose(dec.centred, ax - ax.mean(0), atol=1e-12)
    bad = torch.tensor(y)
    bad[4, 2] = float("inf")
    with pytest.raises(ValueError, match=r"Y must contain only finite values, got 0 NaN and 1 Inf"):
        sk.svcca(torch.tensor(x), bad)
    big = torch.tensor(x) * 1e300  # rescaled on the device too
    assert sk.svcca(big, torch.tensor(y)).similarity == pytest.approx(
        sk.svcca(x, y).similarity, abs=1e-12)


def test_inputs_are_not_modified():
    x, y = related(15, n=100)
    x0, y0 = x.copy(), y.copy()
    sk.svcca(x, y)
    sk.cca(x, y, method="accurate")
    sk.pwcca(x, y)
    sk.baseline(x, y, n=2)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(y, y0)


# ---------------------------------------------------------------------------
# chance level


@pytest.mark.parametrize("metric", ["svcca", "pwcca", "cka"])
def test_baseline_values_are_the_metric_on_permuted_rows(metric):
    x, y = related(16, n=120)
    res = sk.baseline(x, y, metric=metric, n=3, seed=5)
    rng = np.random.default_rng(5)
    fn = {"svcca": lambda a, b: sk.svcca(a, b).similarity, "pwcca": sk.pwcca,
          "cka": sk.linear_cka}[metric]
    expected = [fn(x, y[rng.permutation(120)]) for _ in range(3)]
    np.testing.assert_allclose(res.values, expected, atol=1e-10)
    assert res.metric == metric
    assert res.mean == pytest.approx(np.mean(expected))
    assert float(res) == res.mean
    assert res.std == pytest.approx(np.std(expected))
    assert res.mean < fn(x, y)  # the real pairing beats chance


def test_baseline_is_deterministic_and_matches_theory():
    rng = np.random.default_rng(17)
    n, d1, d2 = 400, 20, 10
    x, y = rng.standard_normal((n, d1)), rng.standard_normal((n, d2))
    a = sk.baseline(x, y, n=30, seed=1, keep=1.0)
    np.testing.assert_array_equal(a.values, sk.baseline(x, y, n=30, seed=1, keep=1.0).values)
    assert not np.array_equal(a.values, sk.baseline(x, y, n=30, seed=2, keep=1.0).values)
    # independent data: mean rho^2 ~ d1 d2 / ((n - 1) min(d1, d2)), so mean rho ~ its sqrt
    expected = np.sqrt(d1 * d2 / ((n - 1) * min(d1, d2)))
    assert a.mean == pytest.approx(expected, rel=0.25)


def test_small_sample_warning():
    rng = np.random.default_rng(18)
    x, y = rng.standard_normal((10, 20)), rng.standard_normal((10, 5))
    with pytest.warns(sk.SmallSampleWarning, match=r"5 canonical correlation\(s\) are 1 by construction"):
        res = sk.cca(x, y)
    np.testing.assert_allclose(res.rho, 1.0, atol=1e-8)
    with pytest.warns(sk.SmallSampleWarning, match="trivially 1"):
        sk.svcca(x, y, keep=1.0)
    with pytest.warns(sk.SmallSampleWarning, match="pwcca"):
        sk.pwcca(x, y)
    with pytest.warns(sk.SmallSampleWarning, match=r"baseline\(svcca\)"):
        sk.baseline(x, y, n=2, keep=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sk.svcca(x, y, keep=2)  # 2 + 2 <= 9: no warning
    assert issubclass(sk.SmallSampleWarning, UserWarning)


# ---------------------------------------------------------------------------
# conv activations


def test_flatten_conv_positions_and_pool():
    a = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    pos = sk.flatten_conv(a)
    assert pos.shape == (2 * 4 * 5, 3)
    assert pos.dtype == np.float64
    # row (image i, row r, column c) holds that position's channel vector
    i, r, c = 1, 2, 3
    np.testing.assert_array_equal(pos[(i * 4 + r) * 5 + c], a[i, :, r, c])
    pool = sk.flatten_conv(torch.tensor(a), mode="pool")
    assert pool.shape == (2, 3)
    np.testing.assert_allclose(pool, a.mean(axis=(2, 3)))


# ---------------------------------------------------------------------------
# error paths


@pytest.fixture
def xy():
    return related(19, n=60)


@pytest.mark.parametrize(
    ("keep", "exc", "match"),
    [
        (0, ValueError, r"keep as an int is a number of directions and must be >= 1, got 0"),
        (-3, ValueError, r"must be >= 1, got -3"),
        (0.0, ValueError, r"keep as a float is a fraction of variance and must be in \(0, 1\], got 0.0"),
        (1.5, ValueError, r"must be in \(0, 1\], got 1.5"),
        (float("nan"), ValueError, r"must be in \(0, 1\], got nan"),
        (True, TypeError, r"keep must be a float in \(0, 1\] or an int >= 1, got bool True"),
        ("0.9", TypeError, r"keep must be a float in \(0, 1\] or an int >= 1, got str '0.9'"),
        (20, ValueError, r"keep=20 directions requested for X, but it has only 8 features"),
    ],
)
def test_bad_keep(xy, keep, exc, match):
    x, y = xy
    with pytest.raises(exc, match=match):
        sk.svcca(x, y, keep=keep)
    with pytest.raises(exc, match=match):
        sk.decompose(x, keep=keep)


def test_keep_above_numerical_rank(xy):
    x, y = xy
    xr = np.hstack([x[:, :3], x[:, :3] * 2.0])
    with pytest.raises(ValueError, match=r"keep=4 directions requested for X, but its numerical rank is only 3 \(6 features, 60 samples\)"):
        sk.svcca(xr, y, keep=4)


def test_keep_conflicting_with_decomposition(xy):
    x, y = xy
    dec = sk.decompose(x, keep=0.9)
    with pytest.raises(ValueError, match=r"keep=0.99 conflicts with keep=0.9 that the decomposition X was made with"):
        sk.svcca(dec, y, keep=0.99)
    with pytest.raises(ValueError, match=r"keep=1 conflicts with keep=1.0 that the decomposition Y"):
        sk.svcca(x, sk.decompose(y, keep=1.0), keep=1)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda x, y: sk.cca(x, y, method="qr"), r"method: expected one of 'auto', 'fast', 'accurate', got 'qr'"),
        (lambda x, y: sk.pwcca(x, y, method=None), r"method: expected one of .* got None"),
        (lambda x, y: sk.baseline(x, y, metric="cca"), r"metric: expected one of 'svcca', 'pwcca', 'cka', got 'cca'"),
        (lambda x, y: sk.baseline(x, y, n=0), r"n: expected an integer >= 1, got 0"),
        (lambda x, y: sk.baseline(x, y, seed=-1), r"seed: expected an integer >= 0, got -1"),
        (lambda x, y: sk.baseline(x, y, keep=2.0), r"must be in \(0, 1\], got 2.0"),
        (lambda x, y: sk.linear_cka(x[:3], y[:3], debiased=True), r"debiased linear CKA needs n_samples >= 4, got 3"),
        (lambda x, y: sk.flatten_conv(np.zeros((2, 3, 4, 4)), mode="mean"), r"mode: expected one of 'positions', 'pool', got 'mean'"),
        (lambda x, y: sk.flatten_conv(x), r"A must be 4-D conv activations \(n, c, h, w\), got a 2-D array of shape \(60, 8\)"),
    ],
)
def test_bad_parameters(xy, call, match):
    with pytest.raises(ValueError, match=match):
        call(*xy)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda x, y: sk.baseline(x, y, n=2.0), r"n: expected an integer, got float 2.0"),
        (lambda x, y: sk.baseline(x, y, seed=None), r"seed: expected an integer, got NoneType None"),
    ],
)
def test_parameters_of_the_wrong_type(xy, call, match):
    with pytest.raises(TypeError, match=match):
        call(*xy)


def test_debiased_must_be_bool(xy):
    with pytest.raises(TypeError, match=r"debiased: expected a bool, got str 'yes'"):
        sk.linear_cka(*xy, debiased="yes")


def test_debiased_cka_degenerate_data():
    x = np.array([[1.0], [0.0], [0.0], [0.0], [0.0]])  # a single spike
    y = np.arange(5.0)[:, None]
    with pytest.raises(ValueError, match=r"debiased linear CKA is undefined: the unbiased HSIC of X with itself"):
        sk.linear_cka(x, y, debiased=True)


ALL_CALLS = {
    "cca": lambda x, y: sk.cca(x, y),
    "cca_accurate": lambda x, y: sk.cca(x, y, method="accurate"),
    "svcca": lambda x, y: sk.svcca(x, y),
    "pwcca": lambda x, y: sk.pwcca(x, y),
    "linear_cka": lambda x, y: sk.linear_cka(x, y),
    "baseline": lambda x, y: sk.baseline(x, y, n=2),
    "baseline_pwcca": lambda x, y: sk.baseline(x, y, metric="pwcca", n=2),
    "baseline_cka": lambda x, y: sk.baseline(x, y, metric="cka", n=2),
}


@pytest.mark.parametrize("name", list(ALL_CALLS))
def test_bad_arrays_in_every_function(xy, name):
    call = ALL_CALLS[name]
    x, y = xy
    with pytest.raises(ValueError, match=r"X and Y must have the same number of samples \(rows\), got 60 for X and 59 for Y"):
        call(x, y[:-1])
    bad = y.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"Y must contain only finite values, got 1 NaN and 0 Inf"):
        call(x, bad)
    with pytest.raises(ValueError, match=r"X must be 2-D \(n_samples, n_features\), got a 1-D array"):
        call(x[:, 0], y)
    with pytest.raises(ValueError, match=r"Y must not be empty"):
        call(x, y[:, :0])
    with pytest.raises(TypeError, match=r"X must be a numeric array \(bool, integer or float\), got dtype <U"):
        call(x.astype(str), y)
    with pytest.raises(ValueError, match=r"Y has no variance: all 3 of its neurons are constant over the 60 samples"):
        call(x, np.full((60, 3), 2.5))


def test_decomposition_sample_count_must_match(xy):
    x, y = xy
    dec = sk.decompose(x)
    for call in (lambda: sk.svcca(dec, y[:50]), lambda: sk.cca(y[:50], dec),
                 lambda: sk.pwcca(dec, y[:50]), lambda: sk.linear_cka(dec, y[:50]),
                 lambda: sk.baseline(dec, y[:50], n=2)):
        with pytest.raises(ValueError, match=re.escape("got 60 for X and 50 for Y") + "|"
                           + re.escape("got 50 for X and 60 for Y")):
            call()


def test_decompose_no_variance():
    with pytest.raises(ValueError, match=r"X has no variance: all 4 of its neurons are constant over the 30 samples"):
        sk.decompose(np.ones((30, 4)) * 7.0)
    with pytest.raises(ValueError, match=r"X has no variance: all 40 of its neurons"):
        sk.decompose(np.ones((30, 40)))  # the SVD route (more features than samples)


def test_public_names_exported():
    for name in sim.__all__:
        if name in sk.__all__:
            assert getattr(sk, name) is getattr(sim, name)
    for name in ("svcca", "svcca_many", "cca", "pwcca", "linear_cka", "baseline", "decompose"):
        assert name in sk.__all__


def test_one_pass_finds_exactly_constant_columns_only():
    from svccakit.similarity._moments import centred_copy, moments
    from svccakit.similarity._source import as_source

    n = 1000
    rng = np.random.default_rng(3)
    a = np.maximum(rng.standard_normal((n, 6)) - 1.0, 0.0)
    a[:, 0] = 1e8 / 3  # constant, mean not exact: a rounding residue unless zeroed
    a[:, 1] = 0.0
    a[:, 2] = 0.0
    a[7, 2] = 1.0  # differs on one row only
    a[:, 3] = 0.0
    a[-1, 3] = -2.0  # differs on the last row only
    for data in (a, a.astype(np.float32)):
        src = as_source(data, "X")
        mom = moments([src])
        assert mom.exps == (0,)
        np.testing.assert_array_equal(mom.live, [False, False, True, True, True, True])
        assert np.all(mom.gram[:2] == 0.0)
        assert np.all(mom.gram[:, :2] == 0.0)
        c = centred_copy(src, mom.mean, 0, mom.live)
        assert np.all(c[:, :2] == 0.0)
        ref64 = data.astype(np.float64)
        for j in range(2, 6):
            np.testing.assert_allclose(c[:, j], ref64[:, j] - ref64[:, j].mean(), atol=1e-15)
        np.testing.assert_allclose(mom.gram[2:, 2:], c[:, 2:].T @ c[:, 2:], rtol=1e-12,
                                   atol=1e-12)
    one_row = moments([as_source(a[:1], "X")])
    assert not one_row.live.any()


def test_svcca_many_equals_svcca_pair_by_pair():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((120, 9))
    refs = [x @ rng.standard_normal((9, 6)) + 0.1 * rng.standard_normal((120, 6)),
            rng.standard_normal((120, 4)),
            np.hstack([x[:, :3], rng.standard_normal((120, 2))])]
    for keep in (None, 0.9, 3):
        many = sk.svcca_many(x, refs, keep=keep)
        for result, y in zip(many, refs, strict=True):
            pair = sk.svcca(x, y, keep=keep)
            assert result.dims == pair.dims
            np.testing.assert_allclose(result.rho, pair.rho, atol=1e-13)
            assert abs(result.similarity - pair.similarity) < 1e-13
    decs = [sk.decompose(y, 0.9) for y in refs]
    from_decs = sk.svcca_many(sk.decompose(x, 0.9), decs)
    assert [r.similarity for r in from_decs] == pytest.approx(
        [sk.svcca(x, y, keep=0.9).similarity for y in refs], abs=1e-13)
    assert sk.svcca_many(x, []) == []


def test_svcca_many_errors():
    x = np.random.default_rng(0).standard_normal((30, 4))
    with pytest.raises(TypeError, match="references: expected a sequence of arrays or "
                                        "Decompositions, got ndarray"):
        sk.svcca_many(x, x)
    with pytest.raises(ValueError, match="X and Y must have the same number of samples"):
        sk.svcca_many(x, [x, x[:20]])
    with pytest.raises(ValueError, match="keep=0.5 conflicts with keep=0.9"):
        sk.svcca_many(x, [sk.decompose(x, 0.9)], keep=0.5)
