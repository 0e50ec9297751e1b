"""The Jacobian spectrum of a critical noisy network (free probability): closed forms,
independent references (Fuss-Catalan, free projections, sampled moments), errors.

The comparisons with simulated networks are in test_dynamics.py.
"""

import math

import numpy as np
import pytest

import svccakit.meanfield as mf
from svccakit.exceptions import NoCriticalPointError
from svccakit.meanfield.expectations import derivative_fourth_moment

# ------------------------------------------------------------------------- moments


@pytest.mark.parametrize("depth", [1, 4, 8, 16])
def test_relu_dropout_closed_form(depth):
    # p_eff = p(q*) k = 0.4 per layer, input dropout (1 - k) / k = 0.25; readout adds nothing
    # (orthogonal), the mean is sigma_w^2 mu2 = 1 / p(q*) = 2
    m = mf.jacobian_moments("relu", "dropout:0.8", depth=depth, weights="orthogonal")
    assert m.mean == pytest.approx(2.0, rel=1e-12)
    assert m.variance / m.mean**2 == pytest.approx(1.5 * depth + 0.25, rel=1e-12)
    # without the readout the last layer has no noise: 1.5 L - 0.25 (the p_eff sum)
    h = mf.jacobian_moments("relu", "dropout:0.8", depth=depth, weights="orthogonal",
                            readout=False)
    assert h.mean == pytest.approx(1.0, rel=1e-12)
    assert h.variance == pytest.approx(1.5 * depth - 0.25, rel=1e-12)
    # Gaussian weights: each of the L + 1 Marchenko-Pastur factors adds 1
    g = mf.jacobian_moments("relu", "dropout:0.8", depth=depth, weights="gaussian")
    assert g.variance / g.mean**2 == pytest.approx(2.5 * depth + 1.25, rel=1e-12)


@pytest.mark.parametrize("activation", ["relu", "shifted-relu:0.7", "shifted-relu:2"])
@pytest.mark.parametrize("weights", ["orthogonal", "gaussian"])
def test_noise_free_hidden_jacobian_is_the_old_formula(activation, weights):
    p = mf.critical_point(activation).p
    for depth in (1, 5, 12):
        new = mf.jacobian_moments(activation, depth=depth, weights=weights, readout=False)
        old = mf.jacobian_spectrum_moments(depth, p, weights)
        assert new.mean == pytest.approx(old.mean, rel=1e-12)
        assert new.variance == pytest.approx(old.variance, rel=1e-12)


def _sampled_factor_spread(activation, noise, q, n=2_000_000, seed=0):
    """E[x^2] / E[x]^2 - 1 for x = (phi'(h) eps)^2, by sampling (independent of the code)."""
    rng = np.random.default_rng(seed)
    act, nz = mf.parse_activation(activation), mf.parse_noise(noise)
    h = math.sqrt(q) * rng.standard_normal(n)
    if nz.kind == "dropout":
        eps = (rng.random(n) < nz.p) / nz.p
    elif nz.kind == "gauss":
        eps = 1.0 + nz.sigma * rng.standard_normal(n)
    else:
        eps = np.ones(n)
    x = (act.dphi(h) * eps) ** 2
    ex = (eps**2)
    return x.mean(), x.var() / x.mean() ** 2, ex.var() / ex.mean() ** 2


@pytest.mark.parametrize(
    ("activation", "noise", "q_star"),
    [("relu", "gauss:0.5", 1.0), ("shifted-relu:1", "dropout:0.7", 1.0), ("tanh", None, 1.0),
     ("tanh", "gauss:0.5", 0.1), ("erf", "dropout:0.8", 1.0)],
)
def test_moments_match_sampled_factors(activation, noise, q_star):
    mean_x, spread_x, spread_e = _sampled_factor_spread(activation, noise, q_star)
    cp = mf.critical_point(activation, noise, q_star=q_star)
    assert cp.sigma_w**2 * mean_x == pytest.approx(1.0, rel=3e-3)  # each layer's gain: 1
    for depth in (3, 10):
        m = mf.jacobian_moments(activation, noise, depth=depth, weights="orthogonal",
                                q_star=q_star)
        # mean: sigma_w^(2L + 2) E[x]^L mu2, with sigma_w^2 E[x] = 1 at criticality
        assert m.mean == pytest.approx(cp.sigma_w**2 * cp.mu2, rel=1e-12)
        assert m.variance / m.mean**2 == pytest.approx(depth * spread_x + spread_e, rel=1e-2)


def test_fourth_moment_of_the_derivative():
    z = np.polynomial.hermite_e.hermegauss(200)
    for name in ("tanh", "erf"):
        act = mf.parse_activation(name)
        ref = np.sum(z[1] * act.dphi(math.sqrt(0.7) * z[0]) ** 4) / math.sqrt(2 * math.pi)
        assert derivative_fourth_moment(name, 0.7) == pytest.approx(ref, rel=1e-7)
    assert derivative_fourth_moment("shifted-relu:0.5", 2.0) == mf.derivative_second_moment(
        "shifted-relu:0.5", 2.0)


def test_smooth_activation_near_isometry_at_small_q():
    # Pennington et al. 2017: tanh at small q* is almost linear, so the spectrum concentrates
    spreads = [mf.jacobian_moments("tanh", depth=16, weights="orthogonal", q_star=q)
               for q in (1.0, 0.1, 0.01)]
    rel = [s.variance / s.mean**2 for s in spreads]
    assert rel[0] > 5 * rel[1] > 25 * rel[2]
    assert rel[2] < 0.02
    # noise breaks it: each layer's eps adds mu4 / mu2^2 - 1 = 0.25 at keep rate 0.8
    noisy = mf.jacobian_moments("tanh", "dropout:0.8", depth=16, weights="orthogonal",
                                q_star=0.01)
    assert noisy.variance / noisy.mean**2 > 17 * 0.25


# ------------------------------------------------------------------------- density


def _fuss_catalan_2(x):
    """Density of the product of two free Marchenko-Pastur(1) laws (Penson & Zyczkowski
    2011, "Product of Ginibre matrices: Fuss-Catalan and Raney distributions")."""
    r = 27.0 + 3.0 * np.sqrt(81.0 - 12.0 * x)
    return (2 ** (1 / 3) * math.sqrt(3) / (12 * math.pi)
            * (2 ** (1 / 3) * r ** (2 / 3) - 6 * x ** (1 / 3)) / (x ** (2 / 3) * r ** (1 / 3)))


def test_density_is_fuss_catalan_for_a_linear_gaussian_network():
    # linear, no noise, Gaussian weights, depth 1: J J^T = W2 W1 W1^T W2^T
    # agreement 1e-7 in the bulk; 1e-4 near the edge at 27/4, where the density's square
    # root is smoothed over the solver's eta = 1e-3 lambda
    x = np.linspace(0.05, 6.6, 40)
    d = mf.jacobian_density("linear", depth=1, weights="gaussian", eigenvalues=x)
    np.testing.assert_allclose(d.density[:30], _fuss_catalan_2(x[:30]), rtol=1e-6)
    np.testing.assert_allclose(d.density, _fuss_catalan_2(x), rtol=1e-3)
    assert d.zero_mass == 0.0
    assert d.atoms == ()


@pytest.mark.parametrize("activation", ["relu", "shifted-relu:0.5"])
def test_density_of_two_free_projections(activation):
    # no noise, orthogonal weights, no readout, depth 2: J J^T = sigma_w^4 P1 P2 P1 with two
    # free projections of trace p; Voiculescu: density sqrt((l - a)(b - l)) / (2 pi l (1 - l))
    # on [a, b] = p (2 - 2 p) -+ 2 p (1 - p)... written through alpha = beta = p
    p = mf.critical_point(activation).p
    s4 = mf.critical_point(activation).sigma_w ** 4
    lo = 2 * p - 2 * p * p - math.sqrt(4 * p * p * (1 - p) ** 2)
    hi = 2 * p - 2 * p * p + math.sqrt(4 * p * p * (1 - p) ** 2)
    u = np.linspace(lo, hi, 52)[1:-1]
    free = np.sqrt((u - lo) * (hi - u)) / (2 * math.pi * u * (1 - u))
    d = mf.jacobian_density(activation, depth=2, weights="orthogonal", readout=False,
                            eigenvalues=s4 * u)
    np.testing.assert_allclose(d.density * s4, free, rtol=2e-3, atol=1e-3 * free.max())
    assert d.zero_mass == pytest.approx(1 - p)
    if p > 0.5:  # the directions both projections keep: mass 2p - 1 at sigma_w^4
        assert d.atoms == (pytest.approx((s4, 2 * p - 1)),)
    else:
        assert d.atoms == ()


@pytest.mark.parametrize(
    ("activation", "noise", "depth", "weights", "q_star", "decades"),
    [("relu", "dropout:0.8", 4, "orthogonal", None, (-30, 2.5)),
     ("shifted-relu:1", None, 4, "orthogonal", None, (-30, 2.5)),
     ("tanh", "gauss:0.5", 3, "orthogonal", 0.1, (-12, 1.5)),
     ("erf", "dropout:0.8", 2, "orthogonal", None, (-20, 1.5))],
)
def test_density_integrates_to_one_with_the_right_moments(activation, noise, depth, weights,
                                                          q_star, decades):
    m = mf.jacobian_moments(activation, noise, depth=depth, weights=weights, q_star=q_star)
    lam = m.mean * np.logspace(*decades, int(25 * (decades[1] - decades[0])))
    d = mf.jacobian_density(activation, noise, depth=depth, weights=weights, q_star=q_star,
                            eigenvalues=lam)
    assert np.all(d.density >= 0)
    log_lam = np.log(lam)

    def moment(k):
        cont = np.trapezoid(d.density * lam ** (k + 1), log_lam)
        return cont + sum(a**k * w for a, w in d.atoms) + (d.zero_mass if k == 0 else 0.0)

    # the mass below the grid is under 2 %; moments to 2-3 % (grid of 25 points a decade)
    assert moment(0) == pytest.approx(1.0, abs=0.02)
    assert moment(1) == pytest.approx(m.mean, rel=0.02)
    assert moment(2) - moment(1) ** 2 == pytest.approx(m.variance, rel=0.03)
    assert d.moments == m


def test_density_atoms_of_shifted_relu():
    # 1 - L (1 - p) of the singular values sit at sigma_w^(L+1) when p > (L - 1) / L
    cp = mf.critical_point("shifted-relu:1")
    d = mf.jacobian_density("shifted-relu:1", depth=4, weights="orthogonal",
                            eigenvalues=[1.0])
    ((loc, mass),) = d.atoms
    assert loc == pytest.approx(cp.sigma_w ** 10)
    assert mass == pytest.approx(1 - 4 * (1 - cp.p))
    assert mf.jacobian_density("shifted-relu:1", depth=8, weights="orthogonal",
                               eigenvalues=[1.0]).atoms == ()
    assert mf.jacobian_density("shifted-relu:1", depth=4, weights="gaussian",
                               eigenvalues=[1.0]).atoms == ()


def test_log10_singular_value_density_is_the_same_mass():
    lam = np.logspace(-8, 2, 800)
    d = mf.jacobian_density("relu", "dropout:0.8", depth=3, eigenvalues=lam)
    y = d.log10_singular_values
    np.testing.assert_allclose(y, 0.5 * np.log10(lam))
    assert np.trapezoid(d.log10_singular_value_density, y) == pytest.approx(
        np.trapezoid(d.density, lam), rel=1e-2)


# -------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: mf.jacobian_moments("relu", "mu2:1.5", depth=3), ValueError,
         r"needs the law of the noise .* got 'mu2:1.5'"),
        (lambda: mf.jacobian_moments("relu", "additive-gauss:0.1", depth=3),
         NoCriticalPointError, "no critical point with additive noise"),
        (lambda: mf.jacobian_moments("relu", depth=0), ValueError,
         "depth: expected an integer >= 1, got 0"),
        (lambda: mf.jacobian_moments("relu", depth=2.0), TypeError,
         "depth: expected an integer, got float 2.0"),
        (lambda: mf.jacobian_moments("relu", depth=2, weights="uniform"), ValueError,
         "weights: expected one of 'gaussian', 'orthogonal', got 'uniform'"),
        (lambda: mf.jacobian_density("relu", depth=2, eigenvalues=[1.0, -1.0]), ValueError,
         "eigenvalues: expected a non-empty 1-D array of positive finite numbers"),
        (lambda: mf.jacobian_density("relu", depth=2, eigenvalues=[]), ValueError,
         "eigenvalues: expected a non-empty 1-D array"),
        (lambda: mf.jacobian_density("relu", depth=2, n_atoms=2), ValueError,
         "n_atoms: expected an integer >= 8, got 2"),
    ],
)
def test_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
