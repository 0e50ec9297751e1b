"""Issue 10 (items 2 and 3): any finite magnitude, and offsets that cannot change a rank.

Regression tests for the reported cases, then one hypothesis property over
inputs of any magnitude (near the float64 limits and subnormal), offsets, rank
deficiency, duplicated and dead neurons, for cca, svcca, pwcca and linear_cka.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import reference_cca as ref  # tests/similarity/reference_cca.py
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import svccakit as sk

# ---------------------------------------------------------------------------
# item 2: extreme magnitudes


def test_column_sums_that_overflow_keep_a_live_neuron():
    x = np.linspace(1e308, 1.7e308, 50)[:, None]  # the column sum overflows
    assert sk.svcca(x, x).similarity == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(sk.cca(x, x).rho, [1.0], atol=1e-12)
    assert sk.linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)
    assert sk.pwcca(x, x) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("factor", [1e307, 1e-310, 1e-315, 4.9e-324 * 2**40])
def test_any_finite_magnitude_gives_the_unit_size_result(factor):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((100, 10)), rng.standard_normal((100, 10))
    big = x * factor  # subnormal factors round x: compare with that input rescaled
    unit = np.ldexp(big, -math.frexp(float(np.abs(big).max()))[1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning either
        for fn in (lambda a, b: sk.svcca(a, b).similarity, sk.linear_cka, sk.pwcca,
                   lambda a, b: sk.pwcca(b, a), lambda a, b: sk.cca(a, b).rho.mean()):
            assert fn(big, y) == pytest.approx(fn(unit, y), abs=1e-12)
            assert fn(y, big) == pytest.approx(fn(y, unit), abs=1e-12)
    if factor > 1e-300:  # no precision lost: the same as x itself
        assert sk.svcca(big, y).similarity == pytest.approx(sk.svcca(x, y).similarity, abs=1e-12)


def test_decomposition_reports_the_power_of_two_it_applied():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((60, 4))
    for factor in (1e-310, 1e300):
        dec = sk.decompose(x * factor)
        assert math.frexp(dec.scale)[0] == 0.5  # an exact power of two
        # the largest |x| is brought to [0.5, 1), or as close as a float's 2**1023 allows
        assert 2.0**-52 <= float(np.abs(x * factor * dec.scale).max()) < 1.0
        np.testing.assert_allclose(dec.mean * dec.scale, (x * factor).mean(0) * dec.scale,
                                   rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------------------
# item 3: a constant offset cannot change the rank (shifted-ReLU layers carry one)


def issue_case(seed: int = 0):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((200, 1))
    x = z @ rng.standard_normal((1, 8))  # rank 1
    y = np.hstack([z, rng.standard_normal((200, 3))])
    return x, y


@pytest.mark.parametrize("offset", [0.0, 100.0, 1000.0, -1e5, 1e7])
def test_cca_rank_of_rank_deficient_data_ignores_a_constant_offset(offset):
    x, y = issue_case()
    res = sk.cca(x + offset, y)
    assert res.ranks == (1, 4)
    assert res.rho.mean() == pytest.approx(1.0, abs=1e-8)
    assert sk.pwcca(x + offset, y) == pytest.approx(1.0, abs=1e-8)
    assert sk.pwcca(y, x + offset) == pytest.approx(sk.pwcca(y, x), abs=1e-8)
    assert sk.cca(y, x + offset, method="accurate").ranks == (4, 1)
    assert sk.svcca(x + offset, y, keep=1.0).dims == (1, 4)


def test_shift_invariance_over_many_random_rank_deficient_cases():
    # the issue's 400 random cases: 70 changed under a shift
    rng = np.random.default_rng(2)
    for _ in range(60):
        n = int(rng.integers(12, 80))
        r, dx, dy = int(rng.integers(1, 4)), int(rng.integers(2, 9)), int(rng.integers(1, 6))
        x = rng.standard_normal((n, r)) @ rng.standard_normal((r, dx))
        y = rng.standard_normal((n, dy))
        shift = rng.normal(size=dx) * 10.0 ** rng.uniform(0, 4)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", sk.SmallSampleWarning)
            a, b = sk.cca(x, y), sk.cca(x + shift, y)
            assert a.ranks == b.ranks
            np.testing.assert_allclose(a.rho, b.rho, atol=1e-8)
            assert sk.pwcca(x, y) == pytest.approx(sk.pwcca(x + shift, y), abs=1e-8)


# ---------------------------------------------------------------------------
# the property


@st.composite
def representations(draw):
    """``(x, y, ref_ok)``: unit-size data with latent structure, rank deficiency,
    duplicated and dead neurons; ``ref_ok`` when the nonzero spectrum of each side is
    well conditioned (the float64 reference then agrees within 1e-8)."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n = draw(st.integers(25, 70))
    shared = draw(st.integers(1, 4))
    latent = rng.standard_normal((n, shared))

    def side(rank, extra_dup, extra_comb, n_dead):
        z = np.hstack([latent, rng.standard_normal((n, rank))])
        a = z @ rng.standard_normal((z.shape[1], z.shape[1])) + 0.3 * rng.standard_normal(z.shape)
        cols = [a]
        if extra_dup:
            cols.append(a[:, rng.integers(0, a.shape[1], extra_dup)])  # duplicated neurons
        if extra_comb:
            cols.append(a @ rng.standard_normal((a.shape[1], extra_comb)))  # rank deficient
        for _ in range(n_dead):
            cols.append(np.full((n, 1), rng.choice([0.0, -0.7, 1e8 / 3])))  # dead neurons
        out = np.hstack(cols)
        return out[:, rng.permutation(out.shape[1])]

    x = side(draw(st.integers(0, 3)), draw(st.integers(0, 2)), draw(st.integers(0, 2)),
             draw(st.integers(0, 2)))
    y = side(draw(st.integers(0, 3)), draw(st.integers(0, 2)), draw(st.integers(0, 2)),
             draw(st.integers(0, 2)))
    ok = all(_well_conditioned(a) for a in (x, y)) and x.shape[1] + y.shape[1] < n - 1
    return x, y, ok


def _well_conditioned(a: np.ndarray) -> bool:
    c = ref.centre(a)
    norms = np.linalg.norm(c, axis=0)
    s = np.linalg.svd(c[:, norms > 0] / norms[norms > 0], compute_uv=False)
    live = s[s > 1e-9 * s[0]]
    # nonzero part conditioned, and a clean gap to the exact zeros
    return live[-1] >= 1e-3 * s[0] and (live.size == s.size or s[live.size] < 1e-12 * s[0])


def _scaled(a: np.ndarray, offset: np.ndarray, mantissa: float, exponent: int) -> np.ndarray:
    """``(a + offset) * mantissa`` with its largest |value| moved to about ``2**exponent``."""
    b = (a + offset) * mantissa
    top = math.frexp(float(np.abs(b).max()))[1]
    return np.ldexp(b, exponent - top)


def _spread(a: np.ndarray) -> np.ndarray:
    std = a.std(axis=0)
    return np.where(std > 0, std, 1.0)


def _values(x, y) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sk.SmallSampleWarning)
        return {
            "cca": sk.cca(x, y).rho,
            "svcca": sk.svcca(x, y).similarity,
            "svcca_all": sk.svcca(x, y, keep=1.0).similarity,
            "pwcca": sk.pwcca(x, y),
            "pwcca_yx": sk.pwcca(y, x),
            "cka": sk.linear_cka(x, y),
        }


def _assert_close(a: dict, b: dict, atol: float, what: str) -> None:
    for key in a:
        np.testing.assert_allclose(b[key], a[key], atol=atol, rtol=0, err_msg=f"{what}: {key}")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(representations(),
       st.floats(-1e4, 1e4),  # offset, in units of the data's spread
       st.floats(1.0, 1.99),  # mantissa of the scale
       st.integers(-1070, 1020),  # exponent of the largest |value| after scaling
       st.integers(-1070, 1020))
def test_every_metric_on_any_finite_input(data, offset, mantissa, ex, ey):
    x, y, ref_ok = data
    rng = np.random.default_rng(abs(int(offset * 1000)) % 2**32)
    base = _values(x, y)
    for key, value in base.items():
        value = np.atleast_1d(value)
        assert not np.isnan(value).any(), key
        assert np.all((value >= 0.0) & (value <= 1.0)), key

    # symmetric where the metric is
    swapped = _values(y, x)
    for key in ("cca", "svcca", "svcca_all", "cka"):
        np.testing.assert_allclose(swapped[key], base[key], atol=1e-10, err_msg=key)
    assert swapped["pwcca"] == pytest.approx(base["pwcca_yx"], abs=1e-10)

    # a constant offset on either side: a different one per neuron, up to ~3e4 times
    # its spread (the input's own rounding is then ~7e-12 of the spread)
    ox = offset * rng.standard_normal(x.shape[1]) * _spread(x)
    oy = offset * rng.standard_normal(y.shape[1]) * _spread(y)
    _assert_close(base, _values(x + ox, y), 1e-8, "offset on X")
    _assert_close(base, _values(x, y + oy), 1e-8, "offset on Y")

    # any positive rescaling, down to subnormal and up to the float64 limit
    xs, ys = _scaled(x, ox, mantissa, ex), _scaled(y, oy, mantissa, ey)
    assert np.isfinite(xs).all()
    assert np.isfinite(ys).all()
    for name, a in (("X", xs), ("Y", ys)):
        if np.ptp(a, axis=0).max() == 0.0:  # subnormal rounding left no variation at all
            with pytest.raises(ValueError, match=f"{name} has no variance"):
                sk.svcca(xs, ys)
            return
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no overflow or invalid value
        got = _values(xs, ys)
    # the same input brought to unit size by a power of two (exact)
    unit = _values(np.ldexp(xs, -ex), np.ldexp(ys, -ey))
    _assert_close(unit, got, 1e-12, "scaled vs the same data at unit size")
    if ex > -1020 + 53 and ey > -1020 + 53:  # no digit lost to subnormal rounding
        _assert_close(base, got, 1e-8, "scaled and offset")

    # the float64 reference (two-pass centring + SVD), where well conditioned
    if ref_ok:
        np.testing.assert_allclose(base["cca"], ref.cca_rho(x, y), atol=1e-8)
        assert base["svcca"] == pytest.approx(ref.svcca_value(x, y, 0.99)[0], abs=1e-8)
        assert base["svcca_all"] == pytest.approx(ref.svcca_value(x, y, 1.0)[0], abs=1e-8)
        assert base["pwcca"] == pytest.approx(ref.pwcca_value(x, y), abs=1e-8)
        assert base["pwcca_yx"] == pytest.approx(ref.pwcca_value(y, x), abs=1e-8)
        assert base["cka"] == pytest.approx(ref.linear_cka_value(x, y), abs=1e-8)
