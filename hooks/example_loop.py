"""Attach the recorder to your own training loop (sklearn digits, a small MLP).

    python hooks/example_loop.py --out digits-run.h5 --steps 600

Copy this file and change the model, data and optimiser: the recorder needs
only the model, a fixed probe batch and a path. Afterwards:

    svccakit inspect digits-run.h5
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn

import svccakit


@dataclasses.dataclass(frozen=True)
class Config:
    steps: int = 600
    batch_size: int = 64
    lr: float = 0.05
    width: int = 128
    n_probe: int = 500
    n_snapshots: int = 25
    seed: int = 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="digits-run.h5", help="run file to write")
    parser.add_argument("--steps", type=int, default=Config.steps)
    parser.add_argument("--seed", type=int, default=Config.seed)
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    cfg = Config(steps=args.steps, seed=args.seed)

    # data: 8x8 digits scaled to [0, 1]; a fixed probe of held-out images
    digits = load_digits()
    x = torch.tensor(digits.data / 16.0, dtype=torch.float32)
    y = torch.tensor(digits.target, dtype=torch.int64)
    order = np.random.default_rng(cfg.seed).permutation(len(x))
    probe_idx, train_idx = order[: cfg.n_probe], order[cfg.n_probe :]
    x_train, y_train = x[train_idx], y[train_idx]

    torch.manual_seed(cfg.seed)
    model = nn.Sequential(
        nn.Linear(64, cfg.width), nn.ReLU(),
        nn.Linear(cfg.width, cfg.width), nn.ReLU(),
        nn.Linear(cfg.width, 10),
    )  # fmt: skip
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(cfg.seed)

    # the recorder: hooks exist only during its own probe pass, so training is untouched
    schedule = svccakit.log_schedule(cfg.steps, cfg.n_snapshots)
    with svccakit.Recorder(
        model,
        (x[probe_idx], y[probe_idx]),
        args.out,
        layers=nn.ReLU,  # or None (every leaf), ["2", "4"], "1*", ...
        steps=schedule,
        config=cfg,
        seed=cfg.seed,
        overwrite=args.overwrite,
        metrics=["loss", "probe_acc"],
    ) as rec:
        loss = float("nan")
        for step in range(cfg.steps + 1):
            if step in schedule:  # or simply rec.maybe_record(step, loss=loss)
                with torch.no_grad():
                    model.eval()
                    acc = (model(x[probe_idx]).argmax(1) == y[probe_idx]).float().mean()
                    model.train()
                rec.record(step, loss=loss, probe_acc=acc)
            if step == cfg.steps:
                break
            batch = torch.randint(0, len(x_train), (cfg.batch_size,), generator=gen)
            out = model(x_train[batch])
            loss_t = loss_fn(out, y_train[batch])
            opt.zero_grad()
            loss_t.backward()
            opt.step()
            loss = loss_t.item()

    with svccakit.open_run(args.out) as run:
        acc = run.metrics["probe_acc"]
        print(
            f"wrote {args.out}: {len(run)} snapshots of {run.layer_names}, "
            f"probe accuracy {acc[0]:.2f} -> {acc[-1]:.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
