"""Train many small noisy MLPs at once: stacked weights and batched matrix products.

The depth x noise grid is hundreds of small networks (width ~100, a few thousand
parameters per layer) that differ only in depth, noise and seed. Trained one per process,
most of the time goes to Python and to matrix products too small to keep a core busy.
:func:`train_stack` trains a *stack* of networks of the same depth and width as one
model: layer ``l``'s weights of all ``G`` networks are one tensor of shape
``(G, fan_in, fan_out)``, a minibatch is ``(G, batch, features)``, and each layer is one
:func:`torch.baddbmm`. Adam and SGD update every element on its own, so the stacked update
is the per-network update; the loss is the sum of the networks' mean squared errors, whose
gradient with respect to one network's weights is that network's own gradient.

Each network keeps everything random of its own, drawn exactly as
:func:`svccakit.experiment.train.train_run` draws it for that network's seed:

* the initialisation from :func:`svccakit.experiment.train.build_model` with a
  ``torch.Generator`` seeded with the seed, built while the global torch RNG is seeded with
  the seed (``nn.Linear``'s default initialisation consumes it, as in ``train_run``);
* the batch order from the same generator (a fresh permutation per epoch);
* the noise masks from a generator holding the global RNG's state after the build, drawn
  with the same calls as :class:`torch.nn.Dropout` (``bernoulli_`` then ``div_`` by the
  keep rate) and :class:`svccakit.meanfield.nets.GaussianNoise`.

So a network trained in a stack of any size and composition gives the losses of its
``train_run``, up to float rounding (``baddbmm`` sums in another order than ``addmm``);
``tests/depth/test_batched.py`` checks this.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

__all__ = ["MAX_STACK_PARAMETERS", "stack_groups", "train_stack"]

MAX_STACK_PARAMETERS = 2**25
"""Most parameters in one stack (33.5 M floats: with gradients and Adam's two moments about
0.5 GB). Larger groups are split by :func:`stack_groups`."""


def _parameters(in_features: int, width: int, depth: int, out_features: int) -> int:
    fans = [in_features] + [width] * depth + [out_features]
    return sum(a * b + b for a, b in zip(fans[:-1], fans[1:], strict=True))


def stack_groups(nets: Sequence[tuple[str, int, int]], *, in_features: int, width: int,
                 out_features: int, max_parameters: int = MAX_STACK_PARAMETERS) -> list[list[int]]:
    """Split ``(noise, depth, seed)`` networks into stacks of one depth each.

    Parameters
    ----------
    nets : sequence of (str, int, int)
    in_features, width, out_features : int
    max_parameters : int
        Most parameters per stack; a depth's networks are cut into the fewest stacks of
        near-equal size that respect it (at least one network per stack).

    Returns
    -------
    list of list of int
        Indices into ``nets``, one list per stack, deepest first.
    """
    by_depth: dict[int, list[int]] = {}
    for i, (_, depth, _) in enumerate(nets):
        by_depth.setdefault(depth, []).append(i)
    groups = []
    for depth in sorted(by_depth, reverse=True):
        members = by_depth[depth]
        per_net = _parameters(in_features, width, depth, out_features)
        n_stacks = max(1, -(-len(members) * per_net // max_parameters))
        n_stacks = min(n_stacks, len(members))
        groups += [list(part) for part in np.array_split(members, n_stacks)]
    return [[int(i) for i in g] for g in groups]


def _noise_kind(module: nn.Module | None) -> tuple[str, float]:
    """``(kind, value)`` of a network's noise module before one layer: ``("none", 0)``,
    ``("dropout", keep rate)`` or ``("gauss", sigma)``."""
    from svccakit.meanfield.nets import GaussianNoise

    if module is None:
        return "none", 0.0
    if isinstance(module, nn.Dropout):
        return "dropout", 1.0 - module.p
    if isinstance(module, GaussianNoise):
        return ("gauss", module.sigma) if module.sigma != 0.0 else ("none", 0.0)
    raise ValueError(f"noise module: the batched trainer draws dropout and multiplicative "
                     f"Gaussian noise, got {type(module).__name__}")


class _LayerNoise:
    """The noise before one layer for every network of a stack whose networks are ordered
    dropout first, then Gaussian, then none.

    Each network draws from its own generator into its slice of one buffer: dropout a
    uniform ``u`` (the mask is ``(u < keep) / keep``), Gaussian noise a standard normal
    ``z`` (the factor is ``1 + sigma z``); the transforms then run in place, once per kind.
    """

    def __init__(self, kinds: list[tuple[str, float]], shape: tuple[int, int]):
        self.kinds = [kind for kind, _ in kinds]
        self.buffer = torch.ones(len(kinds), *shape)
        n_drop = self.kinds.count("dropout")
        n_gauss = self.kinds.count("gauss")
        self.drop = slice(0, n_drop)
        self.gauss = slice(n_drop, n_drop + n_gauss)
        self.keep = torch.tensor([v for _, v in kinds[self.drop]]).reshape(-1, 1, 1)
        self.sigma = torch.tensor([v for _, v in kinds[self.gauss]]).reshape(-1, 1, 1)

    def draw(self, generators: list[torch.Generator]) -> torch.Tensor:
        u = self.buffer
        for g, kind in enumerate(self.kinds):
            if kind == "dropout":
                u[g].uniform_(generator=generators[g])
            elif kind == "gauss":
                u[g].normal_(generator=generators[g])
        if self.keep.numel():
            u[self.drop].lt_(self.keep).div_(self.keep)
        if self.sigma.numel():
            u[self.gauss].mul_(self.sigma).add_(1.0)
        return u


_KIND_ORDER = {"dropout": 0, "gauss": 1, "none": 2}


def _build(config, task, noise: str, seed: int):
    """One network as ``train_run`` builds it, its batch-order generator and its noise
    generator (the global RNG's state after the build)."""
    from svccakit.experiment.train import build_model

    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(config, task, init="critical", activation="relu", noise=noise,
                            generator=generator)
        noise_generator = torch.Generator()
        noise_generator.set_state(torch.get_rng_state())
    return model, generator, noise_generator


def _optimiser(config, params):
    o = config.optimiser
    if o.name == "sgd":
        return torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)
    if o.name == "adam":
        return torch.optim.Adam(params, lr=o.lr, weight_decay=o.weight_decay)
    raise ValueError(f"optimiser.name: the batched trainer knows 'sgd' and 'adam', got {o.name!r}")


def _check(config, task, nets, budgets):
    """Validate :func:`train_stack`'s arguments; returns ``(nets, budgets)`` as lists."""
    from svccakit._validate import check_int
    from svccakit.experiment.config import ExperimentConfig
    from svccakit.experiment.tasks import Task

    if not isinstance(config, ExperimentConfig):
        raise TypeError(f"config: expected an ExperimentConfig, got {type(config).__name__}")
    if not isinstance(task, Task):
        raise TypeError(f"task: expected an svccakit Task, got {type(task).__name__}")
    if task.kind != "regression":
        raise ValueError(f"task: the stacked trainer fits the mean squared error of a "
                         f"regression task, got kind {task.kind!r}")
    if isinstance(nets, (str, bytes)) or not isinstance(nets, Sequence) or not len(nets):
        raise ValueError(f"nets: expected a non-empty list of (noise, seed) pairs, got {nets!r}")
    out = []
    for item in nets:
        if not isinstance(item, (tuple, list)) or len(item) != 2 or not isinstance(item[0], str):
            raise ValueError(f"nets: expected (noise, seed) pairs such as ('dropout:0.9', 0), "
                             f"got {item!r}")
        out.append((item[0], check_int(item[1], "nets: seed", 0)))
    if isinstance(budgets, (str, bytes)) or not isinstance(budgets, Sequence) or not len(budgets):
        raise ValueError(f"budgets: expected a non-empty list of step counts, got {budgets!r}")
    steps = [check_int(b, "budgets", 1) for b in budgets]
    if any(b >= c for b, c in zip(steps[:-1], steps[1:], strict=True)):
        raise ValueError(f"budgets: expected increasing step counts, got {list(budgets)}")
    return out, steps


def train_stack(config, task, nets: Sequence[tuple[str, int]], budgets: Sequence[int]) -> np.ndarray:
    """Train networks of one depth together and return their losses at each budget.

    Parameters
    ----------
    config : svccakit.experiment.config.ExperimentConfig
        Width, depth (every network's), optimiser, batch size; ``config.steps`` is ignored
        (the last budget is the number of steps).
    task : svccakit.experiment.tasks.Task
        A regression task (mean squared error), e.g.
        :func:`svccakit.depth.experiment.reconstruction_task`.
    nets : sequence of (str, int)
        ``(noise, seed)`` of each network (``"none"``, ``"dropout:P"``, ``"gauss:SIGMA"``).
    budgets : sequence of int
        Increasing step counts at which to evaluate (eval mode, no noise).

    Returns
    -------
    ndarray of shape (n_nets, n_budgets, 2)
        ``[..., 0]``: mean squared error on the whole training set, ``[..., 1]``: on the
        validation set (``nan`` where the task has none); float32 values as ``train_run``
        records them. A network whose training loss stops being finite keeps ``nan``.
    """
    nets, budgets = _check(config, task, nets, budgets)
    built = [_build(config, task, noise, seed) for noise, seed in nets]
    kinds = []
    for model, _, _ in built:
        children = dict(model.named_children())
        n_layers = sum(isinstance(m, nn.Linear) for m in model)
        kinds.append([_noise_kind(children.get(f"noise{layer}")) for layer in range(n_layers)])
    # dropout networks first, then Gaussian, then noise-free: each kind is one slice
    order = sorted(range(len(nets)), key=lambda i: _KIND_ORDER[kinds[i][0][0]])
    built, kinds = [built[i] for i in order], [kinds[i] for i in order]
    linears = [[m for m in model if isinstance(m, nn.Linear)] for model, _, _ in built]
    weights = [torch.stack([lin[layer].weight.detach().T for lin in linears]).contiguous()
               .requires_grad_() for layer in range(n_layers)]
    biases = [torch.stack([lin[layer].bias.detach() for lin in linears]).unsqueeze(1)
              .contiguous().requires_grad_() for layer in range(n_layers)]
    order_gens = [g for _, g, _ in built]
    noise_gens = [g for _, _, g in built]
    del built, linears

    n_nets = len(nets)
    n = task.x_train.shape[0]
    batch = min(config.optimiser.batch_size, n)
    noise = []
    for layer in range(n_layers):
        layer_kinds = [k[layer] for k in kinds]
        noisy = any(kind != "none" for kind, _ in layer_kinds)
        noise.append(_LayerNoise(layer_kinds, (batch, weights[layer].shape[1])) if noisy else None)

    def forward(x, noisy):
        h = x
        for layer in range(n_layers):
            if noisy and noise[layer] is not None:
                h = h * noise[layer].draw(noise_gens)
            h = torch.baddbmm(biases[layer], h, weights[layer])
            if layer < n_layers - 1:
                h = torch.relu(h)
        return h

    def evaluate():
        out = np.full((n_nets, 2), np.nan)
        with torch.no_grad():
            for col, (x, y) in enumerate(((task.x_train, task.y_train), (task.x_val, task.y_val))):
                if x is None:
                    continue
                z = forward(x.expand(n_nets, *x.shape), noisy=False)
                out[:, col] = ((z - y) ** 2).mean(dim=(1, 2)).numpy()
        return out

    optimiser = _optimiser(config, weights + biases)
    results = np.full((n_nets, len(budgets), 2), np.nan)
    pos = n  # a fresh permutation before the first step, as train_run draws it
    alive = np.ones(n_nets, dtype=bool)
    for step in range(1, budgets[-1] + 1):
        if pos + batch > n:
            perms = torch.stack([torch.randperm(n, generator=g) for g in order_gens])
            pos = 0
        idx = perms[:, pos: pos + batch]
        pos += batch
        optimiser.zero_grad(set_to_none=True)
        z = forward(task.x_train[idx], noisy=True)
        losses = ((z - task.y_train[idx]) ** 2).mean(dim=(1, 2))
        alive &= np.isfinite(losses.detach().numpy())
        losses.sum().backward()
        optimiser.step()
        if step in budgets:
            values = evaluate()
            values[~alive] = np.nan
            results[:, budgets.index(step)] = values
    out = np.empty_like(results)
    out[order] = results
    return out
