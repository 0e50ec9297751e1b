"""``svccakit demo``: a small real SVCCA analysis on scikit-learn's bundled digits.

Trains a small MLP (torch ``nn.Sequential``, fixed seed, seconds on a CPU) on
``load_digits`` and prints SVCCA between every pair of its hidden layers and of
each hidden layer with the input, each next to its shuffled-sample chance level
(:func:`svccakit.baseline`), computed on the held-out digits.
"""

from __future__ import annotations

import argparse
import sys

HIDDEN = (64, 48, 32)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "demo",
        help="train a small MLP on the digits and print SVCCA between its layers",
        description=(
            "Train a small MLP (64-48-32 ReLU) on scikit-learn's bundled digits and print "
            "SVCCA (keep=0.99) between every pair of hidden layers and of each layer with "
            "the input, on the held-out digits, next to the shuffled-sample baseline."
        ),
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the split, init and batches (default 0)")
    p.add_argument("--epochs", type=int, default=30, help="training epochs (default 30)")
    p.add_argument("--baseline-n", type=int, default=20,
                   help="permutations for the shuffled baseline (default 20)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _check(args) -> None:
    if args.epochs < 1:
        raise ValueError(f"--epochs must be >= 1, got {args.epochs}")
    if args.seed < 0:
        raise ValueError(f"--seed must be >= 0, got {args.seed}")
    if args.baseline_n < 1:
        raise ValueError(f"--baseline-n must be >= 1, got {args.baseline_n}")


def train(seed: int, epochs: int, progress: bool):
    """Train the demo MLP; returns (model, held-out inputs (n, 64), test accuracy)."""
    import numpy as np
    import torch
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from torch import nn
    from tqdm.auto import tqdm

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    x_tr, x_te, y_tr, y_te = train_test_split(x, digits.target, test_size=0.3,
                                              random_state=seed, stratify=digits.target)
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    width = x.shape[1]
    for h in HIDDEN:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    model = nn.Sequential(*layers, nn.Linear(width, 10))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    xt, yt = torch.from_numpy(x_tr), torch.from_numpy(y_tr).long()
    gen = torch.Generator().manual_seed(seed)
    for _ in tqdm(range(epochs), desc="training", unit="epoch", disable=not progress,
                  file=sys.stderr):
        for idx in torch.randperm(len(xt), generator=gen).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        acc = float((model(torch.from_numpy(x_te)).argmax(1).numpy() == y_te).mean())
    return model, x_te, acc


def hidden_activations(model, x) -> dict:
    """``{"input": x, "h1": ..., ...}``: post-ReLU activations (n, width) of each hidden layer."""
    import torch

    out = {"input": x}
    h = torch.from_numpy(x)
    with torch.no_grad():
        for i, layer in enumerate(model):
            h = layer(h)
            if isinstance(layer, torch.nn.ReLU):
                out[f"h{len(out)}"] = h.numpy().copy()
            if i == len(model) - 2:
                break
    return out


def run(args: argparse.Namespace) -> int:
    from svccakit.cli import user_input
    from svccakit.similarity import baseline, decompose, svcca

    with user_input():
        _check(args)
    model, x_te, acc = train(args.seed, args.epochs, progress=not args.quiet)
    acts = hidden_activations(model, x_te)
    names = list(acts)
    decs = {name: decompose(a, 0.99) for name, a in acts.items()}  # each layer once
    print(f"MLP {'-'.join(map(str, HIDDEN))} on sklearn digits: seed {args.seed}, "
          f"{args.epochs} epochs, test accuracy {acc:.3f}")
    print(f"SVCCA (keep=0.99) on {len(x_te)} held-out digits; baseline = mean +- std over "
          f"{args.baseline_n} shuffles of the second layer's rows")
    print()
    header = f"{'layer':<7}{'vs':<7}{'SVCCA':>8}{'baseline':>18}{'dims':>10}"
    print(header)
    print("-" * len(header))
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            res = svcca(decs[a], decs[b])
            base = baseline(decs[a], decs[b], metric="svcca", n=args.baseline_n, seed=args.seed)
            dims = f"{res.dims[0]}/{res.dims[1]}"
            print(f"{a:<7}{b:<7}{res.similarity:>8.3f}{base.mean:>11.3f} +- {base.std:.3f}"
                  f"{dims:>10}")
    return 0
