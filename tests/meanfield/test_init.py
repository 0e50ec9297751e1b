"""Critical and random initialisers."""

import math

import pytest
import torch
from torch import nn

import svccakit.meanfield as mf
from svccakit.meanfield import init, nets


def _hidden(model):
    return [m for n, m in model.named_children() if n.startswith("fc")]


def test_critical_relu_dropout_gaussian_weights():
    model = nets.mlp(300, 400, 3, 10, noise="dropout:0.6")
    cp = init.critical_(model, generator=1)
    assert cp == mf.critical_point("relu", "dropout:0.6")
    assert cp.sigma_w == pytest.approx(math.sqrt(1.2))
    for lin in [*_hidden(model), model.out]:
        fan_in = lin.in_features
        std = lin.weight.std().item() * math.sqrt(fan_in)
        assert std == pytest.approx(cp.sigma_w, rel=0.02)
        assert abs(lin.weight.mean().item()) < 0.01
        assert torch.count_nonzero(lin.bias) == 0


def test_critical_shifted_relu_biases_and_readout():
    model = nets.mlp(500, 500, 2, 5, activation="shifted-relu:1", noise="gauss:0.3")
    cp = init.critical_(model, q_star=2.0, generator=0)
    assert cp == mf.critical_point("shifted-relu:1", "gauss:0.3", q_star=2.0)
    assert cp.sigma_b > 0
    for lin in _hidden(model):
        assert lin.bias.std().item() == pytest.approx(cp.sigma_b, rel=0.1)
    assert torch.count_nonzero(model.out.bias) == 0


def test_critical_orthogonal_rows_have_norm_sigma_w():
    model = nets.mlp(100, 200, 2, 3, activation="shifted-relu:0.5")
    cp = init.critical_(model, weights="orthogonal", generator=3)
    w = model.fc2.weight.detach().double()  # square
    torch.testing.assert_close(w @ w.T, cp.sigma_w**2 * torch.eye(200, dtype=torch.float64), atol=1e-5, rtol=0)
    wide = model.out.weight.detach().double()  # 3 x 200: orthonormal rows times sigma_w
    torch.testing.assert_close(wide @ wide.T, cp.sigma_w**2 * torch.eye(3, dtype=torch.float64), atol=1e-5, rtol=0)
    tall = model.fc1.weight.detach().double()  # 200 x 100: orthogonal columns, mean row norm^2 = sigma_w^2
    torch.testing.assert_close(
        tall.T @ tall, 2 * cp.sigma_w**2 * torch.eye(100, dtype=torch.float64), atol=1e-5, rtol=0
    )
    assert (tall**2).sum(1).mean().item() == pytest.approx(cp.sigma_w**2)


def test_initialisers_are_deterministic_and_leave_global_rng_alone():
    a, b, c, d, e = (nets.mlp(5, 6, 2, 1) for _ in range(5))  # nn.Linear uses the global RNG
    state = torch.random.get_rng_state()
    init.critical_(a, generator=7)
    init.critical_(b, generator=torch.Generator().manual_seed(7))
    init.critical_(c, generator=8)
    assert torch.equal(a.fc2.weight, b.fc2.weight)
    assert not torch.equal(a.fc2.weight, c.fc2.weight)
    init.random_(d, "xavier")
    init.random_(e, "xavier")
    assert torch.equal(d.fc1.weight, e.fc1.weight)  # generator=None means seed 0
    assert torch.equal(torch.random.get_rng_state(), state)


def test_bad_generator():
    with pytest.raises(TypeError, match="generator: expected None, an int seed or a torch.Generator, got str"):
        init.critical_(nets.mlp(3, 4, 1, 1), generator="seed")


def test_bad_weights_kind():
    with pytest.raises(ValueError, match="weights: expected one of 'gaussian', 'orthogonal', got 'uniform'"):
        init.critical_(nets.mlp(3, 4, 1, 1), weights="uniform")


@pytest.mark.parametrize(
    ("model", "match"),
    [
        (nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 1)),
         "found mixed: relu at 1; tanh at 3"),
        (nn.Sequential(nn.Dropout(0.2), nn.Linear(3, 4), nets.GaussianNoise(0.1), nn.ReLU(), nn.Linear(4, 1)),
         "expected one kind of noise, found mixed: dropout:0.8 at 0; gauss:0.1 at 2"),
        (nn.Sequential(nn.Linear(3, 4), nn.GELU(), nn.Linear(4, 1)), r"unknown module\(s\) 1 \(GELU\)"),
        (nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 1)), "expected one kind of activation module, found none"),
        (nn.Sequential(nn.ReLU()), "expected at least one nn.Linear, found none"),
        (nets.mlp(3, 4, 2, 1, activation="shifted-relu:0.5", noise=None).append(nets.ShiftedReLU(0.7)),
         "found mixed: shifted-relu:0.5 at act1, act2; shifted-relu:0.7 at 5"),
    ],
)
def test_critical_inference_errors(model, match):
    with pytest.raises(ValueError, match=match):
        init.critical_(model)


def test_critical_no_critical_point_errors():
    with pytest.raises(mf.NoCriticalPointError, match="additive noise"):
        init.critical_(nets.mlp(3, 4, 2, 1, noise="additive-gauss:0.1"))
    with pytest.raises(mf.NoCriticalPointError, match="needs alpha > 0"):
        init.critical_(nets.mlp(3, 4, 2, 1, activation="shifted-relu:-0.5"))
    with pytest.raises(TypeError, match="model: expected a torch.nn.Module, got list"):
        init.critical_([])


def test_nested_containers_are_walked():
    model = nn.Sequential(nn.Sequential(nn.Linear(3, 4), nn.Tanh()), nn.Flatten(), nn.Linear(4, 1))
    assert init.infer_activation_noise(model) == (mf.Activation("tanh"), mf.Noise.none())


@pytest.mark.parametrize("scheme", ["pytorch-default", "xavier", "lecun", "he"])
def test_random_schemes_match_their_documented_sigma(scheme):
    model = nets.mlp(300, 600, 2, 10)
    result = init.random_(model, scheme, generator=0)
    assert result.layers == ("fc1", "fc2", "out")
    for lin, sw, sb in zip([*_hidden(model), model.out], result.sigma_w, result.sigma_b, strict=True):
        fan_out, fan_in = lin.weight.shape
        assert sw == init.scheme_sigma_w(scheme, fan_in, fan_out)
        assert lin.weight.std().item() * math.sqrt(fan_in) == pytest.approx(sw, rel=0.05)
        if sb == 0.0:
            assert torch.count_nonzero(lin.bias) == 0
        else:
            assert lin.bias.std().item() == pytest.approx(sb, rel=0.2)


def test_scheme_values():
    assert init.scheme_sigma_w("pytorch-default", 10, 10) ** 2 == pytest.approx(1 / 3)
    assert init.scheme_sigma_w("default", 10, 10) ** 2 == pytest.approx(1 / 3)  # alias
    assert init.scheme_sigma_w("xavier", 100, 300) ** 2 == pytest.approx(0.5)
    assert init.scheme_sigma_w("lecun", 100, 300) ** 2 == pytest.approx(1.0)
    assert init.scheme_sigma_w("he", 7, 9) ** 2 == pytest.approx(2.0)
    assert init.scheme_sigma_b("pytorch-default", 12) == pytest.approx(1 / 6)
    with pytest.raises(ValueError, match="scheme: expected one of pytorch-default, xavier, "
                                         "lecun, he, got 'glorot'"):
        init.random_(nets.mlp(3, 4, 1, 1), "glorot")


def test_random_phase_places_schemes():
    assert init.random_phase("he", "relu") == "critical"
    assert init.random_phase("he", "relu", "dropout:0.8") == "chaotic"
    assert init.random_phase("xavier", "relu", "dropout:0.8") == "ordered"
    assert init.random_phase("default", "relu") == "ordered"
