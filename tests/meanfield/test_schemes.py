"""svccakit.meanfield.schemes: the random schemes and the mean-field phase of every init."""

from __future__ import annotations

import math

import pytest

from svccakit.meanfield.schemes import INIT_NAMES, SCHEMES, get_scheme, init_phase


def test_the_table_names_every_scheme_once():
    assert tuple(SCHEMES) == ("pytorch-default", "xavier", "lecun", "he")
    assert INIT_NAMES == ("critical", *SCHEMES)
    assert get_scheme("default") is SCHEMES["pytorch-default"]  # the old name
    with pytest.raises(ValueError, match="scheme: expected one of pytorch-default, xavier, "
                                         "lecun, he, got 'glorot'"):
        get_scheme("glorot")


@pytest.mark.parametrize(("init", "noise", "phase", "chi_1"), [
    ("pytorch-default", "none", "ordered", None),        # sigma_w^2 = 1/3: the signal vanishes
    ("he", "none", "critical", 1.0),                     # He is critical without noise...
    ("he", "dropout:0.8", "chaotic", 1.25),              # ...and chaotic with it: 2 * 1.25 / 2
    ("he", "gauss:1.0", "chaotic", 2.0),
    ("xavier", "none", "ordered", 0.5),
    ("lecun", "dropout:0.8", "ordered", 0.625),
    ("critical", "dropout:0.8", "critical", 1.0),
    ("critical", "none", "critical", 1.0),
])
def test_phase_of_known_cases(init, noise, phase, chi_1):
    got = init_phase(init, "relu", noise, width=64)
    assert got.phase == phase
    if chi_1 is not None:
        assert got.chi_1 == pytest.approx(chi_1, rel=1e-9)
    if phase == "critical":
        assert got.variance_depth == math.inf
    elif chi_1 is not None:
        assert got.variance_depth == pytest.approx(1 / abs(math.log(chi_1)))


def test_relu_correlation_map_does_not_depend_on_the_weight_scale():
    # without bias the ReLU correlation map is the same for every sigma_w, so the
    # schemes share c* and xi_c under noise and differ only in chi_1
    crit, he = init_phase("critical", "relu", "dropout:0.8"), init_phase("he", "relu", "dropout:0.8")
    assert he.c_star == pytest.approx(crit.c_star, abs=1e-9)
    assert he.xi_c == pytest.approx(crit.xi_c, rel=1e-9)
    assert crit.xi_c == pytest.approx(1.55, abs=0.01)


def test_shifted_relu_he_under_dropout_has_no_finite_fixed_point():
    got = init_phase("he", "shifted-relu:0.5", "dropout:0.8")
    assert got.phase == "chaotic"
    assert math.isinf(got.q_star)
    assert math.isnan(got.chi_1)
    assert math.isnan(got.xi_c)


def test_unknown_init_lists_the_known_ones():
    with pytest.raises(ValueError, match="init: expected one of critical, pytorch-default, "
                                         "xavier, lecun, he, got 'random'"):
        init_phase("random", "relu")
