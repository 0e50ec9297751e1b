"""svccakit.depth.batched: a stack of networks trains like each network on its own."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from svccakit.depth import experiment as dp
from svccakit.depth.batched import (
    _LayerNoise,
    _noise_kind,
    stack_groups,
    train_stack,
)
from svccakit.experiment.train import _evaluate, _fit, build_model, train_run
from svccakit.meanfield.nets import AdditiveNoise
from svccakit.record.store import open_run

NETS = [("dropout:0.5", 0), ("gauss:0.7", 1), ("none", 2), ("dropout:0.9", 3),
        ("dropout:0.3", 0), ("gauss:1.5", 0)]


class UniformDropout(nn.Module):
    """Dropout drawn as ``(u < keep) / keep`` with ``u ~ U[0, 1)`` from the global RNG."""

    def __init__(self, keep: float):
        super().__init__()
        self.keep = keep

    def forward(self, x):
        if not self.training:
            return x
        return x * ((torch.rand_like(x) < self.keep) / self.keep)


def _config(depth=3, steps=40, width=24, optimiser=None):
    exp = dp._experiment(noises=["none"], width=width, steps=steps,
                         task={"name": "digits", "n_train": 200, "n_val": 80, "n_probe": 4},
                         optimiser=optimiser or {"name": "adam", "lr": 3e-3, "batch_size": 64})
    return exp.updated({"depth": depth})


def _one_by_one(config, task, noise, seed, budgets):
    """One network through the experiment package's own training loop, built and seeded
    as train_run does, with dropout drawn as (u < keep) / keep; losses after each budget."""
    out = []
    with torch.random.fork_rng(devices=[]):
        generator = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        model = build_model(config, task, init="critical", activation="relu", noise=noise,
                            generator=generator)
        for name, module in list(model.named_children()):
            if isinstance(module, nn.Dropout):
                setattr(model, name, UniformDropout(1.0 - module.p))

        def on_step(step):
            if step in budgets:  # eval mode draws nothing, so the run goes on unchanged
                m = _evaluate(model, task)
                out.append((m["loss"], m["val_loss"]))

        _fit(model, task, config, steps=max(budgets), generator=generator, on_step=on_step)
    return np.array(out)


@pytest.mark.parametrize("optimiser", [None, {"name": "sgd", "lr": 0.05, "momentum": 0.9,
                                              "batch_size": 50}])
def test_stack_matches_networks_trained_one_by_one(optimiser):
    config = _config(optimiser=optimiser)
    task = dp.reconstruction_task(config)
    budgets = [10, 40]
    stacked = train_stack(config, task, NETS, budgets)
    assert stacked.shape == (len(NETS), 2, 2)
    for i, (noise, seed) in enumerate(NETS):
        alone = _one_by_one(config, task, noise, seed, budgets)
        np.testing.assert_allclose(stacked[i], alone, rtol=1e-5, err_msg=f"{noise} seed {seed}")
    # the networks did train, and differently
    assert np.all(stacked[:, 1, 0] < stacked[:, 0, 0] + 0.05)
    assert np.unique(np.round(stacked[:, 1, 1], 6)).size == len(NETS)


def test_stack_composition_does_not_matter():
    config = _config(depth=2, steps=15)
    task = dp.reconstruction_task(config)
    together = train_stack(config, task, NETS, [15])
    reversed_ = train_stack(config, task, NETS[::-1], [15])[::-1]
    np.testing.assert_allclose(together, reversed_, rtol=1e-5)
    for i in (0, 2, 5):
        np.testing.assert_allclose(together[i], train_stack(config, task, [NETS[i]], [15])[0],
                                   rtol=1e-5)


def test_gaussian_and_noise_free_networks_match_train_run(tmp_path):
    """Without dropout the stack draws exactly what train_run draws: its run file holds
    the same final losses."""
    config = _config(depth=2, steps=30).updated({"schedule": {"kind": "every", "every": 30}})
    task = dp.reconstruction_task(config)
    nets = [("gauss:0.5", 4), ("none", 1)]
    stacked = train_stack(config, task, nets, [30])
    for (noise, seed), res in zip(nets, stacked, strict=True):
        path = tmp_path / f"{noise.replace(':', '')}.h5"
        with torch.random.fork_rng(devices=[]):
            train_run(config, init="critical", activation="relu", noise=noise, seed=seed,
                      path=path, task=task)
        with open_run(path) as run:
            np.testing.assert_allclose(res[0], [run.metrics["loss"][-1], run.metrics["val_loss"][-1]],
                                       rtol=1e-5)


def test_layer_noise_draws_the_right_distribution():
    kinds = [("dropout", 0.3), ("dropout", 0.8), ("gauss", 0.5), ("none", 0.0)]
    noise = _LayerNoise(kinds, (400, 100))
    generators = [torch.Generator().manual_seed(i) for i in range(4)]
    eps = noise.draw(generators)
    for g, keep in ((0, 0.3), (1, 0.8)):
        values = torch.unique(eps[g])
        torch.testing.assert_close(values, torch.tensor([0.0, 1.0 / keep]))
        assert float((eps[g] > 0).float().mean()) == pytest.approx(keep, abs=0.01)
        assert float(eps[g].mean()) == pytest.approx(1.0, abs=0.03)
    assert float(eps[2].mean()) == pytest.approx(1.0, abs=0.01)
    assert float(eps[2].std()) == pytest.approx(0.5, abs=0.01)
    assert bool((eps[3] == 1.0).all())
    # each network's draws come from its own generator only
    again = _LayerNoise(kinds, (400, 100)).draw([torch.Generator().manual_seed(i) for i in range(4)])
    torch.testing.assert_close(eps, again)


def test_noise_kind_refuses_additive_noise():
    assert _noise_kind(None) == ("none", 0.0)
    assert _noise_kind(nn.Dropout(0.25)) == ("dropout", 0.75)
    with pytest.raises(ValueError, match="draws dropout and multiplicative Gaussian noise, got "
                                         "AdditiveNoise"):
        _noise_kind(AdditiveNoise(0.1))


def test_stack_groups_split_by_depth_and_size():
    nets = [("none", d, s) for d in (2, 5) for s in range(6)]
    groups = stack_groups(nets, in_features=64, width=32, out_features=64)
    assert [sorted({nets[i][1] for i in g}) for g in groups] == [[5], [2]]
    assert sorted(i for g in groups for i in g) == list(range(len(nets)))
    # a cap of about two networks' parameters cuts each depth into three stacks of two
    per_net = 64 * 32 + 32 + 4 * (32 * 32 + 32) + 32 * 64 + 64
    small = stack_groups(nets, in_features=64, width=32, out_features=64,
                         max_parameters=2 * per_net)
    assert [len(g) for g in small] == [2, 2, 2, 3, 3]
    one = stack_groups(nets, in_features=64, width=32, out_features=64, max_parameters=1)
    assert len(one) == len(nets)


def test_diverged_networks_give_nan_not_an_error():
    config = _config(depth=2, steps=20, optimiser={"name": "sgd", "lr": 1e3, "batch_size": 64})
    task = dp.reconstruction_task(config)
    res = train_stack(config, task, [("none", 0), ("dropout:0.5", 1)], [5, 20])
    assert np.isnan(res[:, 1]).all()  # a training loss stopped being finite: nan from then on


def test_train_stack_errors():
    config = _config(depth=1, steps=2)
    task = dp.reconstruction_task(config)
    for args, error, match in [
        (({}, task, NETS, [1]), TypeError, "config: expected an ExperimentConfig, got dict"),
        ((config, None, NETS, [1]), TypeError, "task: expected an svccakit Task, got NoneType"),
        ((config, task, [], [1]), ValueError, r"nets: expected a non-empty list of \(noise, seed\)"),
        ((config, task, [("none",)], [1]), ValueError, r"nets: expected \(noise, seed\) pairs"),
        ((config, task, [("none", -1)], [1]), ValueError, "nets: seed: expected an integer >= 0"),
        ((config, task, NETS, []), ValueError, "budgets: expected a non-empty list"),
        ((config, task, NETS, [5, 5]), ValueError, r"budgets: expected increasing step counts, got \[5, 5\]"),
        ((config, task, NETS, [0]), ValueError, "budgets: expected an integer >= 1, got 0"),
    ]:
        with pytest.raises(error, match=match):
            train_stack(*args)
    from svccakit.experiment.tasks import make_task

    digits = make_task(config)  # classification
    with pytest.raises(ValueError, match="fits the mean squared error of a regression task, "
                                         "got kind 'classification'"):
        train_stack(config, digits, NETS, [1])
