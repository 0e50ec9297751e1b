"""Torch modules and the MLP builder."""

import pytest
import torch
from torch import nn

import svccakit.meanfield as mf
from svccakit.meanfield import nets


def test_shifted_relu_values_and_repr():
    m = nets.ShiftedReLU(0.5)
    x = torch.tensor([-2.0, -0.5, 0.0, 1.0])
    torch.testing.assert_close(m(x), torch.tensor([-0.5, -0.5, 0.0, 1.0]))
    assert m.alpha == 0.5
    assert "alpha=0.5" in repr(m)
    torch.testing.assert_close(nets.ShiftedReLU(0.0)(x), torch.relu(x))


@pytest.mark.parametrize(("alpha", "exc", "match"), [
    (float("nan"), ValueError, "ShiftedReLU alpha: expected a finite number, got nan"),
    ("1", TypeError, "ShiftedReLU alpha: expected a number, got str '1'"),
    (None, TypeError, "ShiftedReLU alpha: expected a number, got NoneType None"),
])
def test_shifted_relu_bad_alpha(alpha, exc, match):
    with pytest.raises(exc, match=match):
        nets.ShiftedReLU(alpha)


def test_gaussian_noise_moments_train_and_eval():
    torch.manual_seed(0)
    m = nets.GaussianNoise(0.5)
    x = torch.ones(200_000)
    eps = m(x)
    assert abs(eps.mean().item() - 1.0) < 0.01
    assert abs((eps**2).mean().item() - 1.25) < 0.02  # mu2 = 1 + sigma^2
    m.eval()
    assert torch.equal(m(x), x)
    assert "sigma=0.5" in repr(m)


def test_additive_noise_variances():
    torch.manual_seed(0)
    x = torch.zeros(200_000)
    assert abs(nets.AdditiveNoise(0.5)(x).var().item() - 0.25) < 0.01
    lap = nets.AdditiveNoise(0.5, "laplace")(x)
    assert abs(lap.var().item() - 0.5) < 0.02
    assert abs(lap.mean().item()) < 0.01


@pytest.mark.parametrize("sigma", [-0.1, float("inf")])
def test_noise_bad_sigma(sigma):
    with pytest.raises(ValueError, match="GaussianNoise sigma: expected a"):
        nets.GaussianNoise(sigma)


def test_additive_noise_bad_distribution():
    with pytest.raises(ValueError, match="distribution: expected one of 'gauss', 'laplace', got 'cauchy'"):
        nets.AdditiveNoise(1.0, "cauchy")


def test_mlp_names_and_shapes_with_noise():
    m = nets.mlp(7, 11, 3, 2, activation="shifted-relu:0.5", noise="dropout:0.8")
    names = [n for n, _ in m.named_children()]
    assert names == [
        "noise0", "fc1", "act1", "noise1", "fc2", "act2", "noise2", "fc3", "act3", "noise3", "out"
    ]
    assert isinstance(m.noise1, nn.Dropout)
    assert m.noise1.p == pytest.approx(0.2)
    assert isinstance(m.act2, nets.ShiftedReLU)
    assert m.act2.alpha == 0.5
    assert (m.fc1.in_features, m.fc1.out_features, m.out.out_features) == (7, 11, 2)
    assert m(torch.randn(5, 7)).shape == (5, 2)


def test_mlp_without_noise_and_depth_zero():
    m = nets.mlp(4, 8, 2, 1)
    assert [n for n, _ in m.named_children()] == ["fc1", "act1", "fc2", "act2", "out"]
    assert isinstance(m.act1, nn.ReLU)
    m0 = nets.mlp(4, 8, 0, 3, noise="gauss:0.1")
    assert [n for n, _ in m0.named_children()] == ["noise0", "out"]
    assert m0.out.in_features == 4
    assert nets.mlp(4, 8, 1, 1, bias=False).fc1.bias is None


def test_mlp_module_instances_are_copied_per_layer():
    act, noise = nets.ShiftedReLU(0.3), nets.GaussianNoise(0.2)
    m = nets.mlp(3, 5, 2, 1, activation=act, noise=noise)
    assert m.act1 is not m.act2
    assert m.act1 is not act
    assert m.noise0 is not m.noise1
    assert isinstance(m.noise2, nets.GaussianNoise)
    assert isinstance(nets.mlp(3, 5, 1, 1, activation="tanh").act1, nn.Tanh)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        (dict(activation="gelu"), ValueError, "expected one of relu, shifted-relu:ALPHA, tanh, erf, linear, got 'gelu'"),
        (dict(activation="linear"), ValueError, "no torch module for 'linear'"),
        (dict(noise="salt:1"), ValueError, "got 'salt:1'"),
        (dict(noise="dropout:0"), ValueError, "keep rate p: expected 0 < p <= 1, got 0.0"),
        (dict(noise="mu2:2"), ValueError, "a bare mu2 has no distribution"),
        (dict(width=0), ValueError, "width: expected an integer >= 1, got 0"),
        (dict(depth=-1), ValueError, "depth: expected an integer >= 0, got -1"),
        (dict(activation=3), TypeError, "activation: expected a string or Activation, got int"),
    ],
)
def test_mlp_errors(kwargs, exc, match):
    args = dict(in_features=3, width=4, depth=2, out_features=1)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        nets.mlp(**args)


@pytest.mark.parametrize(
    ("spec", "cls"),
    [("dropout:0.7", nn.Dropout), ("gauss:0.4", nets.GaussianNoise),
     ("additive-gauss:0.4", nets.AdditiveNoise), ("additive-laplace:0.4", nets.AdditiveNoise)],
)
def test_noise_round_trip(spec, cls):
    module = nets.noise_module(spec)
    assert isinstance(module, cls)
    described = nets.describe_noise(module)
    assert described.kind == mf.parse_noise(spec).kind
    assert described.mu2 == pytest.approx(mf.parse_noise(spec).mu2)
    assert described.additive_variance == pytest.approx(mf.parse_noise(spec).additive_variance)
    assert nets.noise_module("none") is None
    assert nets.noise_module("dropout:1") is None


@pytest.mark.parametrize("spec", ["relu", "shifted-relu:0.25", "tanh", "erf"])
def test_activation_round_trip(spec):
    assert nets.describe_activation(nets.activation_module(spec)) == mf.parse_activation(spec)
    assert nets.describe_activation(nn.GELU()) is None
