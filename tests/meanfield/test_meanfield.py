"""Mean-field theory: closed forms vs numerical integration, critical points, errors."""

import math

import numpy as np
import pytest
from scipy import integrate, stats

import svccakit.meanfield as mf

# ------------------------------------------------------------------ numerical references


def _phi(alpha):
    return lambda x: max(0.0, x + alpha) - alpha


_LIM = 11.0  # the Gaussian weight beyond 11 standard deviations is below 1e-27


def _quad(f, points, eps=1e-12):
    """Integral over R of f, split at the kinks in ``points``."""
    edges = [-_LIM, *sorted(p for p in points if -_LIM < p < _LIM), _LIM]
    return sum(
        integrate.quad(f, a, b, epsabs=eps, epsrel=eps, limit=200)[0]
        for a, b in zip(edges[:-1], edges[1:], strict=True)
    )


def _pdf(z):
    return math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def _num_second(alpha, q):
    s = math.sqrt(q)
    return _quad(lambda z: _phi(alpha)(s * z) ** 2 * _pdf(z), [-alpha / s])


def _num_cross(f1, f2, q1, q2, c, kink1, kink2):
    """E[f1(u1) f2(u2)] by nested adaptive quadrature (z1 outer, z2 inner), split at kinks."""
    s1, s2, r = math.sqrt(q1), math.sqrt(q2), math.sqrt(1 - c * c)

    def inner(z1):
        g = lambda z2: f2(s2 * (c * z1 + r * z2)) * _pdf(z2)  # noqa: E731
        k2 = [] if kink2 is None else [(kink2 / s2 - c * z1) / r]
        return f1(s1 * z1) * _quad(g, k2, eps=1e-11)

    return _quad(lambda z1: inner(z1) * _pdf(z1), [] if kink1 is None else [kink1 / s1])


# ------------------------------------------------------------------------------ parsing


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("relu", mf.Activation("relu")),
        ("ReLU", mf.Activation("relu")),
        ("shifted-relu:0.5", mf.Activation("shifted-relu", 0.5)),
        ("shifted-relu:-1", mf.Activation("shifted-relu", -1.0)),
        ("tanh", mf.Activation("tanh")),
    ],
)
def test_parse_activation(spec, expected):
    assert mf.parse_activation(spec) == expected
    assert mf.parse_activation(expected.spec) == expected


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("gelu", "expected one of relu, shifted-relu:ALPHA, tanh, erf, linear, got 'gelu'"),
        ("relu:1", "got 'relu:1'"),
        ("shifted-relu", "needs a shift"),
        ("shifted-relu:abc", "expected a number after ':', got 'abc'"),
        ("shifted-relu:nan", "expected a finite number"),
    ],
)
def test_parse_activation_errors(spec, match):
    with pytest.raises(ValueError, match=match):
        mf.parse_activation(spec)


def test_parse_activation_type_error():
    with pytest.raises(TypeError, match="activation: expected a string or Activation, got int"):
        mf.parse_activation(3)
    with pytest.raises(ValueError, match="only shifted-relu takes alpha"):
        mf.Activation("relu", 0.5)


@pytest.mark.parametrize(
    ("spec", "kind", "mu2", "var"),
    [
        (None, "none", 1.0, 0.0),
        ("none", "none", 1.0, 0.0),
        ("dropout:0.5", "dropout", 2.0, 0.0),
        ("dropout:1", "dropout", 1.0, 0.0),
        ("gauss:0.5", "gauss", 1.25, 0.0),
        ("mu2:3", "mu2", 3.0, 0.0),
        ("additive-gauss:0.5", "additive-gauss", 1.0, 0.25),
        ("additive-laplace:0.5", "additive-laplace", 1.0, 0.5),
    ],
)
def test_parse_noise(spec, kind, mu2, var):
    nz = mf.parse_noise(spec)
    assert (nz.kind, nz.mu2, nz.additive_variance) == (kind, pytest.approx(mu2), pytest.approx(var))
    assert mf.parse_noise(nz.spec) == nz


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("dropout:0", r"keep rate p: expected 0 < p <= 1, got 0.0"),
        ("dropout:1.5", r"keep rate p: expected 0 < p <= 1, got 1.5"),
        ("dropout:-0.2", r"keep rate p: expected 0 < p <= 1, got -0.2"),
        ("gauss:-1", r"gauss noise sigma: expected a number >= 0, got -1.0"),
        ("additive-gauss:-1", r"expected a number >= 0, got -1.0"),
        ("mu2:0.5", r"mu2: expected a finite number >= 1, got 0.5"),
        ("salt:1", r"expected none, dropout:P, .*got 'salt:1'"),
        ("dropout", r"dropout needs a parameter"),
        ("dropout:x", r"expected a number after ':', got 'x'"),
    ],
)
def test_parse_noise_errors(spec, match):
    with pytest.raises(ValueError, match=match):
        mf.parse_noise(spec)


def test_parse_noise_type_error():
    with pytest.raises(TypeError, match="noise: expected a string, Noise or None, got float"):
        mf.parse_noise(0.5)
    with pytest.raises(TypeError, match="dropout keep rate p: expected a number, got str"):
        mf.Noise.dropout("0.5")


# ------------------------------------------------------------------------ closed forms


@pytest.mark.parametrize("alpha", [0.0, 0.5, 2.0, -1.0])
@pytest.mark.parametrize("q", [0.3, 1.0, 4.0])
def test_second_moment_matches_quadrature(alpha, q):
    act = mf.Activation("shifted-relu", alpha)
    assert mf.second_moment(act, q) == pytest.approx(_num_second(alpha, q), abs=1e-9)
    assert mf.derivative_second_moment(act, q) == pytest.approx(
        _quad(lambda z: float(math.sqrt(q) * z > -alpha) * _pdf(z), [-alpha / math.sqrt(q)]),
        abs=1e-9,
    )
    assert mf.p_active(alpha, q) == pytest.approx(stats.norm.cdf(alpha / math.sqrt(q)), abs=1e-14)


@pytest.mark.parametrize(
    ("alpha", "q1", "q2", "c"),
    [
        (0.0, 1.0, 1.0, 0.3),
        (0.5, 1.0, 1.0, 0.3),
        (1.0, 0.7, 1.3, -0.5),
        (-0.4, 1.0, 2.0, 0.9),
        (2.0, 1.0, 1.0, 0.99),
        (0.5, 2.0, 2.0, 0.0),
    ],
)
def test_cross_moments_match_quadrature(alpha, q1, q2, c):
    act = mf.Activation("shifted-relu", alpha)
    phi = _phi(alpha)
    step = lambda x: float(x > -alpha)  # noqa: E731
    ref = _num_cross(phi, phi, q1, q2, c, -alpha, -alpha)
    assert mf.cross_moment(act, q1, q2, c) == pytest.approx(ref, abs=1e-8)
    ref_d = _num_cross(step, step, q1, q2, c, -alpha, -alpha)
    assert mf.derivative_cross_moment(act, q1, q2, c) == pytest.approx(ref_d, abs=1e-8)


@pytest.mark.parametrize("alpha", [0.0, 0.7, -0.3])
def test_cross_moment_is_continuous_at_c_equal_plus_minus_one(alpha):
    act = mf.Activation("shifted-relu", alpha)
    assert mf.cross_moment(act, 1.0, 1.0, 1.0) == pytest.approx(mf.second_moment(act, 1.0), abs=1e-14)
    for q2 in (1.0, 2.0):
        assert mf.cross_moment(act, 1.0, q2, 1.0) == pytest.approx(
            mf.cross_moment(act, 1.0, q2, 1.0 - 1e-10), abs=1e-6
        )
        assert mf.cross_moment(act, 1.0, q2, -1.0) == pytest.approx(
            mf.cross_moment(act, 1.0, q2, -1.0 + 1e-10), abs=1e-6
        )


@pytest.mark.parametrize("c", [-1.0, -0.3, 0.0, 0.6, 1.0])
def test_relu_cross_moment_is_the_arccosine_kernel(c):
    q = 1.7
    expected = q / (2 * math.pi) * (math.sqrt(1 - c * c) + (math.pi - math.acos(c)) * c)
    assert mf.cross_moment("relu", q, q, c) == pytest.approx(expected, abs=1e-14)
    assert mf.derivative_cross_moment("relu", q, q, c) == pytest.approx(
        0.25 + math.asin(c) / (2 * math.pi), abs=1e-14
    )


def test_smooth_activations_by_gauss_hermite_match_quadrature():
    q = 1.3
    ref = _quad(lambda z: math.tanh(math.sqrt(q) * z) ** 2 * _pdf(z), [])
    assert mf.second_moment("tanh", q) == pytest.approx(ref, abs=1e-9)
    ref = _num_cross(math.tanh, math.tanh, q, q, 0.4, None, None)
    assert mf.cross_moment("tanh", q, q, 0.4) == pytest.approx(ref, abs=1e-8)
    assert mf.second_moment("linear", q) == pytest.approx(q, abs=1e-12)


def test_expectation_errors():
    with pytest.raises(ValueError, match="q: expected a number > 0, got 0.0"):
        mf.second_moment("relu", 0.0)
    with pytest.raises(ValueError, match=r"c: expected a number <= 1, got 1.5"):
        mf.cross_moment("relu", 1.0, 1.0, 1.5)


# ------------------------------------------------------------------------------ maps


def test_relu_variance_iteration_is_geometric():
    sw, mu2 = 1.3, 1.25
    q = mf.variance_iteration(0.8, 10, activation="relu", noise="gauss:0.5", sigma_w=sw)
    r = sw**2 * mu2 / 2
    expected = sw**2 * mu2 * 0.8 * r ** np.arange(10)
    np.testing.assert_allclose(q, expected, rtol=1e-12)


def test_additive_noise_grows_the_variance_linearly_at_relu_criticality():
    q = mf.variance_iteration(1.0, 6, activation="relu", noise="additive-gauss:0.5", sigma_w=math.sqrt(2))
    np.testing.assert_allclose(np.diff(q), 2 * 0.25, rtol=1e-12)
    lap = mf.variance_map(1.0, activation="relu", noise="additive-laplace:0.5", sigma_w=1.0)
    assert lap == pytest.approx(0.5 + 2 * 0.25)


def test_variance_fixed_point_and_chi1_shifted_relu():
    cp = mf.critical_point("shifted-relu:0.8", "dropout:0.7", q_star=1.5)
    kw = dict(activation="shifted-relu:0.8", noise="dropout:0.7", sigma_w=cp.sigma_w)
    assert mf.variance_map(1.5, sigma_b=cp.sigma_b, **kw) == pytest.approx(1.5, rel=1e-12)
    assert mf.chi_1(1.5, **kw) == pytest.approx(1.0, rel=1e-12)
    assert cp.p == pytest.approx(0.5 * math.erfc(-0.8 / math.sqrt(2 * 1.5)), rel=1e-14)


def test_variance_fixed_point_phases():
    assert mf.variance_fixed_point(activation="relu", sigma_w=1.0, sigma_b=0.5) == pytest.approx(0.5)
    assert mf.variance_fixed_point(activation="relu", sigma_w=1.5) == math.inf
    assert mf.variance_fixed_point(activation="tanh", sigma_w=0.5) == 0.0
    assert mf.phase(activation="relu", noise="dropout:0.5", sigma_w=1.0) == "critical"
    assert mf.phase(activation="relu", noise="dropout:0.5", sigma_w=math.sqrt(2)) == "chaotic"
    assert mf.phase(activation="relu", sigma_w=1.0, sigma_b=0.1) == "ordered"


def test_correlation_map_relu_without_noise_keeps_c_equal_one():
    c = mf.correlation_iteration(1.0, 20, activation="relu", sigma_w=math.sqrt(2))
    np.testing.assert_allclose(c, 1.0, atol=1e-12)
    c = mf.correlation_iteration(0.2, 50, activation="relu", sigma_w=math.sqrt(2))
    assert np.all(np.diff(c) > 0)
    assert c[-1] < 1.0


def test_correlation_first_layer_sees_the_noise():
    c = mf.correlation_iteration(1.0, 1, activation="relu", noise="dropout:0.6", sigma_w=1.0)
    assert c[0] == pytest.approx(0.6)


# ---------------------------------------------------------------------- critical points


@pytest.mark.parametrize("p", [0.3, 0.6, 0.9, 1.0])
def test_dropout_critical_point_is_sqrt_2p(p):
    cp = mf.critical_point("relu", f"dropout:{p}")
    assert (cp.sigma_w, cp.sigma_b, cp.mu2) == (
        pytest.approx(math.sqrt(2 * p)), 0.0, pytest.approx(1 / p)
    )
    assert cp.p == 0.5


@pytest.mark.parametrize("sigma", [0.0, 0.25, 0.8, 2.0])
def test_gauss_critical_point(sigma):
    cp = mf.critical_point("relu", f"gauss:{sigma}")
    assert cp.sigma_w == pytest.approx(math.sqrt(2 / (sigma**2 + 1)))
    assert cp.sigma_b == 0.0


@pytest.mark.parametrize(
    ("activation", "noise"),
    [("relu", "dropout:0.6"), ("relu", "gauss:0.8"), ("shifted-relu:1", "dropout:0.8"), ("tanh", "gauss:0.3")],
)
def test_noise_gives_c_star_below_one_and_a_finite_depth_scale(activation, noise):
    cp = mf.critical_point(activation, noise)
    assert 0.0 < cp.c_star < 1.0
    kw = dict(activation=activation, noise=noise, sigma_w=cp.sigma_w, sigma_b=cp.sigma_b)
    assert mf.correlation_map(cp.c_star, cp.q_star, **kw) == pytest.approx(cp.c_star, abs=1e-12)
    assert 0.0 < cp.chi_c < 1.0
    assert cp.xi_c == pytest.approx(-1 / math.log(cp.chi_c))
    assert cp.trainable_depth == pytest.approx(6 * cp.xi_c)
    # the fixed point attracts: iterate from far away
    c = mf.correlation_iteration(0.95, 60, **kw)
    assert c[-1] == pytest.approx(cp.c_star, abs=1e-6)


def test_more_noise_means_shallower_trainable_depth():
    depths = [mf.critical_point("relu", f"dropout:{p}").trainable_depth for p in (0.3, 0.6, 0.9)]
    assert depths[0] < depths[1] < depths[2]


def test_relu_without_noise_has_c_star_one_and_infinite_depth():
    cp = mf.critical_point("relu")
    assert (cp.c_star, cp.chi_c, cp.xi_c, cp.trainable_depth) == (1.0, 1.0, math.inf, math.inf)
    assert mf.critical_point("relu", q_star=3.0).q_star == 3.0


def test_critical_point_as_dict_keys():
    d = mf.critical_point("relu", "dropout:0.5").as_dict()
    assert list(d) == [
        "sigma_w", "sigma_b", "mu2", "q_star", "c_star", "chi_c", "xi_c", "trainable_depth", "p"
    ]


def test_shifted_relu_bias_is_independent_of_noise():
    a = mf.critical_point("shifted-relu:0.5")
    b = mf.critical_point("shifted-relu:0.5", "gauss:1.0")
    assert a.sigma_b == pytest.approx(b.sigma_b, rel=1e-12)
    assert a.sigma_w**2 == pytest.approx(2.0 * b.sigma_w**2, rel=1e-12)


@pytest.mark.parametrize(
    ("activation", "noise", "match"),
    [
        ("relu", "additive-gauss:0.1", "additive noise .* grows without bound"),
        ("shifted-relu:0.5", "additive-laplace:0.1", "additive noise"),
        ("shifted-relu:-0.5", None, r"sigma_b\^2 = .* < 0 \(a shifted ReLU needs alpha > 0\)"),
    ],
)
def test_no_critical_point(activation, noise, match):
    with pytest.raises(mf.NoCriticalPointError, match=match):
        mf.critical_point(activation, noise)
    assert issubclass(mf.NoCriticalPointError, ValueError)


def test_critical_point_bad_q_star():
    with pytest.raises(ValueError, match="q_star: expected a number > 0, got -1.0"):
        mf.critical_point("relu", q_star=-1.0)


# ---------------------------------------------------------------------- depth limits


def test_float32_depth_relu_closed_form_agrees_with_iteration():
    sw = math.sqrt(2.0) * 1.1
    depth = mf.float32_depth(activation="relu", sigma_w=sw)
    q = mf.variance_iteration(1.0, depth, activation="relu", sigma_w=sw)
    assert q[-2] <= np.finfo(np.float32).max < q[-1]
    depth = mf.float32_depth(activation="relu", sigma_w=math.sqrt(2.0) * 0.9)
    q = mf.variance_iteration(1.0, depth, activation="relu", sigma_w=math.sqrt(2.0) * 0.9)
    assert q[-1] < np.finfo(np.float32).tiny <= q[-2]
    assert mf.float32_depth(activation="relu", sigma_w=math.sqrt(2.0)) is None
    # iterated path (bias present) for the shifted ReLU
    d = mf.float32_depth(activation="shifted-relu:0.5", sigma_w=2.0, sigma_b=0.1)
    q = mf.variance_iteration(1.0, d, activation="shifted-relu:0.5", sigma_w=2.0, sigma_b=0.1)
    assert q[-2] <= np.finfo(np.float32).max < q[-1]


# ---------------------------------------------------------------------------- Jacobian


def test_jacobian_moments():
    g = mf.jacobian_spectrum_moments(10, 0.5, "gaussian")
    o = mf.jacobian_spectrum_moments(10, 0.5, "orthogonal")
    assert (g.mean, g.variance, o.variance) == (1.0, pytest.approx(20.0), pytest.approx(10.0))
    assert mf.jacobian_spectrum_moments(10, 1.0, "orthogonal").variance == 0.0
    assert mf.jacobian_spectrum_moments(3, 0.5, "orthogonal", chi=2.0).mean == 8.0


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((0, 0.5), "depth: expected an integer >= 1, got 0"),
        ((5, 0.0), r"p: expected 0 < p <= 1, got 0.0"),
        ((5, 0.5, "uniform"), "weights: expected 'gaussian' or 'orthogonal', got 'uniform'"),
    ],
)
def test_jacobian_moments_errors(args, match):
    with pytest.raises(ValueError, match=match):
        mf.jacobian_spectrum_moments(*args)


def test_meanfield_does_not_import_torch():
    import subprocess
    import sys

    # the front doors load names lazily: the theory needs numpy and scipy only
    code = (
        "import sys, svccakit, svccakit.meanfield as mf; mf.critical_point('relu', 'dropout:0.8'); "
        "mf.random_phase('he', 'relu', 'dropout:0.8'); "
        "print('torch' in sys.modules, 'svccakit.meanfield.expectations' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False True"
