"""svccakit.tasks: exact optimal networks, deterministic task data, user tasks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from svccakit.experiment.config import ExperimentConfig
from svccakit.experiment.tasks import (
    _parity_inputs,
    custom_task,
    make_task,
    parity_labels,
    parity_network,
    teacher_network,
    to_shifted_relu,
)
from svccakit.meanfield.nets import ShiftedReLU, mlp


def all_inputs(n, encoding):
    x, _ = _parity_inputs(n, 2**n, encoding, torch.Generator().manual_seed(0))
    return x


def hidden(model, x):
    """Every act* output of ``model`` on ``x``: {name: (n_samples, width)}."""
    out, handles = {}, []
    for name, m in model.named_children():
        if name.startswith("act"):
            handles.append(m.register_forward_hook(lambda _m, _i, o, n=name: out.__setitem__(n, o)))
    try:
        with torch.no_grad():
            out["out"] = model(x)
    finally:
        for h in handles:
            h.remove()
    return out


def test_all_inputs_enumerates_the_cube():
    x = all_inputs(6, "pm1")
    assert x.shape == (64, 6)
    assert len({tuple(r) for r in x.tolist()}) == 64
    assert set(x.unique().tolist()) == {-1.0, 1.0}
    assert set(all_inputs(3, "01").unique().tolist()) == {0.0, 1.0}


def test_parity_labels():
    x = torch.tensor([[1.0, 1.0, -1.0], [-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]])
    assert parity_labels(x).tolist() == [0, 0, 1]
    assert parity_labels((x > 0).float(), "01").tolist() == [0, 0, 1]


CASES = [(n, enc, act) for n in (2, 3, 5, 8, 16) for enc in ("pm1", "01")
         for act in ("relu", "shifted-relu:0.5")]
CASES += [(n, "pm1", "shifted-relu:1.3") for n in (3, 8)]


@pytest.mark.parametrize(("n", "encoding", "activation"), CASES)
def test_parity_network_is_exact_on_every_input(n, encoding, activation):
    x = all_inputs(n, encoding)
    y = parity_labels(x, encoding)
    levels = (n - 1).bit_length()
    width = 2**levels
    for depth, pad in ((levels, "end"), (levels + 3, "end"), (levels + 2, "start")):
        model = parity_network(n, depth, width + 3, encoding=encoding, activation=activation,
                               pad=pad, gain=6.0)
        with torch.no_grad():
            z = model(x)
        rows = torch.arange(len(y))
        margin = z[rows, y] - z[rows, 1 - y]
        assert (z.argmax(dim=1) == y).all()
        # exact for ReLU and dyadic shifts; alpha = 1.3 is not a float32, so round-off
        atol = 1e-4 if activation.endswith("1.3") else 0.0
        torch.testing.assert_close(margin, torch.full_like(margin, 6.0), rtol=0, atol=atol)


def test_parity_network_has_mlp_child_names():
    model = parity_network(8, 6, 16)
    assert list(dict(model.named_children())) == list(dict(mlp(8, 16, 6, 2).named_children()))
    assert isinstance(model.act1, nn.ReLU)
    shifted = parity_network(8, 6, 16, activation="shifted-relu:0.5")
    assert all(isinstance(getattr(shifted, f"act{i}"), ShiftedReLU) for i in range(1, 7))


def test_parity_padding_layers_carry_the_parity_or_the_bits():
    x = all_inputs(8, "pm1")
    y = parity_labels(x).float()
    acts = hidden(parity_network(8, 6, 16, pad="end"), x)
    for layer in ("act4", "act5", "act6"):  # identity layers after the 3-level tree
        torch.testing.assert_close(acts[layer][:, 0], y)
        assert (acts[layer][:, 1:] == 0).all()
    acts = hidden(parity_network(8, 6, 16, pad="start"), x)
    for layer in ("act1", "act2", "act3"):  # identity layers on the input bits
        torch.testing.assert_close(acts[layer][:, :8], (x + 1) / 2)


def test_shifted_parity_hidden_layers_are_relu_ones_minus_alpha():
    x = all_inputs(8, "01")
    relu = hidden(parity_network(8, 5, 12, encoding="01"), x)
    shifted = hidden(parity_network(8, 5, 12, encoding="01", activation="shifted-relu:0.7"), x)
    for name in relu:
        expected = relu[name] if name == "out" else relu[name] - 0.7
        torch.testing.assert_close(shifted[name], expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_bits": 1}, r"n_bits: expected an integer >= 2, got 1"),
        ({"depth": 2}, r"depth: 8-bit parity needs at least .* = 3 hidden layers.*depth=2"),
        ({"width": 7}, r"width: .* needs at least 8 units .*width=7"),
        ({"encoding": "bits"}, r"encoding: expected one of 'pm1', '01', got 'bits'"),
        ({"pad": "middle"}, r"pad: expected one of 'end', 'start', got 'middle'"),
        ({"gain": 0.0}, r"gain: expected a number > 0, got 0.0"),
        ({"activation": "tanh"}, r"activation: the optimal networks exist for relu and "
                                 r"shifted-relu:ALPHA, got 'tanh'"),
    ],
)
def test_parity_network_errors(kwargs, match):
    args = {"n_bits": 8, "depth": 4, "width": 8} | kwargs
    with pytest.raises(ValueError, match=match):
        parity_network(args.pop("n_bits"), args.pop("depth"), args.pop("width"), **args)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_to_shifted_relu_computes_the_same_function(seed):
    torch.manual_seed(seed)
    model = mlp(5, 7, 4, 3)
    x = torch.randn(50, 5)
    shifted = to_shifted_relu(model, 0.4)
    torch.testing.assert_close(shifted(x), model(x), rtol=1e-5, atol=1e-5)
    assert isinstance(model.act1, nn.ReLU)  # input left alone


def test_to_shifted_relu_errors():
    with pytest.raises(TypeError, match=r"model: expected an nn.Sequential, got Linear"):
        to_shifted_relu(nn.Linear(2, 2), 0.5)
    with pytest.raises(ValueError, match=r"alpha: expected a finite number, got nan"):
        to_shifted_relu(mlp(2, 3, 1, 1), float("nan"))
    with pytest.raises(ValueError, match=r"cannot rewrite module 'noise0' \(Dropout\)"):
        to_shifted_relu(mlp(2, 3, 1, 1, noise="dropout:0.9"), 0.5)
    with pytest.raises(ValueError, match=r"Linear 'fc1' has no bias"):
        to_shifted_relu(mlp(2, 3, 1, 1, bias=False), 0.5)
    with pytest.raises(ValueError, match=r"ReLU '0' is not preceded by a Linear"):
        to_shifted_relu(nn.Sequential(nn.ReLU()), 0.5)


def test_teacher_network_is_deterministic_and_shiftable():
    a = teacher_network(6, 10, 3, 2, seed=4)
    b = teacher_network(6, 10, 3, 2, seed=4)
    c = teacher_network(6, 10, 3, 2, seed=5)
    s = teacher_network(6, 10, 3, 2, seed=4, activation="shifted-relu:0.5")
    x = torch.randn(20, 6)
    with torch.no_grad():
        assert torch.equal(a(x), b(x))
        assert not torch.equal(a(x), c(x))
        torch.testing.assert_close(s(x), a(x), rtol=1e-5, atol=1e-5)


def config(**task):
    task = {"name": "parity", "n_train": 0, "n_val": 0, **task}
    return ExperimentConfig(depth=4, width=16).updated({f"task.{k}": v for k, v in task.items()})


def test_parity_task_is_deterministic_with_disjoint_splits():
    t1 = make_task(config(n_bits=6, n_train=40, n_val=20, n_probe=30))
    t2 = make_task(config(n_bits=6, n_train=40, n_val=20, n_probe=30))
    t3 = make_task(config(n_bits=6, n_train=40, n_val=20, n_probe=30, data_seed=1))
    assert torch.equal(t1.x_train, t2.x_train)
    assert torch.equal(t1.probe, t2.probe)
    assert not torch.equal(t1.x_train, t3.x_train)
    assert torch.equal(t1.probe, t3.probe)  # the probe depends on probe_seed only
    assert t1.x_train.shape == (40, 6)
    assert t1.x_val.shape == (20, 6)
    assert t1.probe.shape == (30, 6)
    train = {tuple(r) for r in t1.x_train.tolist()}
    assert len(train) == 40
    assert not train & {tuple(r) for r in t1.x_val.tolist()}
    assert torch.equal(t1.y_train, parity_labels(t1.x_train))
    assert torch.equal(t1.probe_y, parity_labels(t1.probe))
    assert (t1.kind, t1.in_features, t1.out_features) == ("classification", 6, 2)


def test_parity_task_without_validation_and_large_n():
    c = ExperimentConfig().updated({"width": 32, "depth": 5, "task.name": "parity",
                                    "task.n_bits": 24, "task.n_train": 50, "task.n_val": 0,
                                    "task.n_probe": 10})
    t = make_task(c)
    assert t.x_val is None
    assert t.y_val is None
    assert t.x_train.shape == (50, 24)


def test_teacher_task_labels_are_the_teacher():
    c = config(name="teacher", in_features=5, out_features=3, n_train=30, n_val=10, n_probe=12)
    t = make_task(c)
    teacher = teacher_network(5, c.width, c.depth, 3, seed=c.task.teacher_seed)
    with torch.no_grad():
        torch.testing.assert_close(t.y_train, teacher(t.x_train))
        torch.testing.assert_close(t.probe_y, teacher(t.probe))
    assert t.kind == "regression"
    assert t.y_val.shape == (10, 3)


def test_digits_task():
    t = make_task(config(name="digits", n_train=0, n_val=300, n_probe=100))
    assert t.x_train.shape == (1797 - 300, 64)
    assert t.x_val.shape == (300, 64)
    assert t.probe.shape == (100, 64)
    assert t.probe_y.shape == (100,)
    np.testing.assert_allclose(t.x_train.mean(0).numpy(), 0.0, atol=1e-5)
    assert set(t.y_train.unique().tolist()) == set(range(10))
    assert make_task(config(name="digits", n_train=500, n_val=300)).x_train.shape == (500, 64)


def test_digits_task_errors():
    with pytest.raises(ValueError, match=r"task.n_val: digits has 1797 examples, got n_val=1797"):
        make_task(config(name="digits", n_train=0, n_val=1797))
    with pytest.raises(ValueError, match=r"task.n_train: digits has 1697 examples after the "
                                         r"validation split, got n_train=1700"):
        make_task(config(name="digits", n_train=1700, n_val=100))
    with pytest.raises(ValueError, match=r"task.n_probe: digits has 1797 examples, got n_probe=1800"):
        make_task(config(name="digits", n_train=0, n_val=100, n_probe=1800))


def test_custom_task():
    x, y = np.random.default_rng(0).normal(size=(20, 3)), np.arange(20) % 4
    t = custom_task(x, y, probe=x[:5], probe_y=y[:5], x_val=x[:4], y_val=y[:4])
    assert (t.in_features, t.out_features, t.kind) == (3, 4, "classification")
    assert t.x_train.dtype == torch.float32
    assert t.y_train.dtype == torch.int64
    r = custom_task(x, x[:, :2], probe=x[:5], kind="regression")
    assert (r.out_features, r.kind, r.probe_y) == (2, "regression", None)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"kind": "ranking"}, ValueError, r"kind: expected one of 'classification', 'regression', got 'ranking'"),
        ({"x_train": [[1.0]]}, TypeError, r"x_train: expected a numpy array or torch tensor, got list"),
        ({"x_train": np.zeros(20)}, ValueError, r"x_train: expected shape \(n_train, in_features\), got \(20,\)"),
        ({"y_train": np.zeros(19)}, ValueError, r"y_train: expected 20 rows like x_train, got shape \(19,\)"),
        ({"probe": np.zeros((5, 2))}, ValueError, r"probe: expected shape \(n_probe, 3\), got \(5, 2\)"),
        ({"x_val": np.zeros((4, 3))}, ValueError, r"x_val, y_val: give both or neither"),
        ({"x_val": np.zeros((4, 2)), "y_val": np.zeros(4)}, ValueError, r"x_val, y_val: expected \(n_val, 3\)"),
        ({"y_train": np.zeros((20, 2))}, ValueError, r"y_train: expected integer labels of shape \(n_train,\)"),
        ({"kind": "regression"}, ValueError, r"y_train: expected targets of shape \(n_train, out_features\)"),
        ({"probe_y": np.zeros(4)}, ValueError, r"probe_y: expected 5 rows like probe, got shape \(4,\)"),
    ],
)
def test_custom_task_errors(kwargs, exc, match):
    args = {"x_train": np.zeros((20, 3)), "y_train": np.zeros(20), "probe": np.zeros((5, 3))} | kwargs
    with pytest.raises(exc, match=match):
        custom_task(args.pop("x_train"), args.pop("y_train"), **args)


def test_no_student_seed_draws_the_teachers_weights():
    # a critical student with noise seeded like the teacher would be the teacher up to a
    # scale; the teacher has its own seed stream
    import svccakit as sk

    teacher = teacher_network(8, 16, 3, 2, seed=0)
    w = teacher.fc2.weight.detach().flatten()
    for seed in range(4):
        student = sk.mlp(8, 16, 3, 2, activation="relu", noise="dropout:0.8")
        sk.critical_(student, generator=seed)
        v = student.fc2.weight.detach().flatten()
        assert abs(float(torch.nn.functional.cosine_similarity(v, w, dim=0))) < 0.5
