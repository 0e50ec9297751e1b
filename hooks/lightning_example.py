"""Record a PyTorch Lightning module while it trains (sklearn digits, offline).

    pip install "svccakit[lightning]"
    python hooks/lightning_example.py --out out/lightning-digits.h5

The recorder is a Lightning callback: it records the probe at the trainer's
global steps (here a log-spaced schedule), stores the training loss as the
metric ``loss``, closes the file when ``fit`` ends or fails, and writes only
from the global-zero process under DDP. Copy this file and put your own module
and data in.
"""

from __future__ import annotations

import argparse
import os

import lightning.pytorch as pl
import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn

import svccakit
from svccakit.integrations.lightning import RecorderCallback


class DigitsMLP(pl.LightningModule):
    def __init__(self, width: int = 64, lr: float = 0.05):
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(64, width), nn.ReLU(),
                                 nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 10))

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.cross_entropy(self(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr, momentum=0.9)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="out/lightning-digits.h5", help="run file to write")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)

    digits = load_digits()
    x = torch.tensor(digits.data / 16.0, dtype=torch.float32)
    y = torch.tensor(digits.target, dtype=torch.int64)
    order = np.random.default_rng(1234).permutation(len(x))
    probe, train = order[:300], order[300:]
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x[train], y[train]),
                                         batch_size=64, shuffle=True,
                                         generator=torch.Generator().manual_seed(args.seed))

    pl.seed_everything(args.seed, verbose=False)
    module = DigitsMLP()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    callback = RecorderCallback(
        (x[probe], y[probe]), args.out,
        steps=svccakit.log_schedule(args.steps, 12),
        layers=["net.1", "net.3", "net.4"],  # the two ReLU outputs and the logits
        seed=args.seed, overwrite=args.overwrite,
    )
    trainer = pl.Trainer(max_steps=args.steps, accelerator="cpu", devices=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=[callback])
    trainer.fit(module, loader)

    with svccakit.open_run(args.out) as run:
        print(f"wrote {args.out}: steps {run.steps.tolist()}, layers {run.layer_names}, "
              f"loss {run.metrics['loss'][1]:.3f} -> {run.metrics['loss'][-1]:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
