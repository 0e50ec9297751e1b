"""Record a ResNet-style CNN while it trains (upsampled digits, CIFAR-shaped, offline).

    python hooks/resnet.py --out out/resnet-seed0.h5 --seed 0
    python hooks/resnet.py --out out/resnet-seed1.h5 --seed 1
    python analyses/cnn_layers.py out/resnet-seed0.h5 out/resnet-seed1.h5 --out out/cnn

sklearn's 8x8 digits are upsampled to 3 x 32 x 32 (the shape of CIFAR images) so
that nothing is downloaded. The network is a small ResNet (a 3x3 stem, three
stages of basic residual blocks, 16/32/64 channels, global average pooling, a
linear classifier). The recorder keeps the stem, every residual block's output
and the logits, reduced at record time (``--reduce``, default ``pool``: each conv
block stored as (n_probe, channels)). Copy this file and put your own model and
data in.
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
    steps: int = 300
    batch_size: int = 64
    lr: float = 0.05
    width: int = 16
    blocks: int = 1  # residual blocks per stage
    n_probe: int = 500
    n_snapshots: int = 12
    reduce: str = "pool"
    seed: int = 0


class Block(nn.Module):
    """A basic residual block: two 3x3 convs with batch norm, identity or 1x1 shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False),
                                          nn.BatchNorm2d(c_out))

    def forward(self, x):
        h = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(h)) + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, width: int = 16, blocks: int = 1, n_classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU())
        stages, c = [], width
        for i, c_out in enumerate((width, 2 * width, 4 * width)):
            layers = [Block(c, c_out, 1 if i == 0 else 2)]
            layers += [Block(c_out, c_out, 1) for _ in range(blocks - 1)]
            stages.append(nn.Sequential(*layers))
            c = c_out
        self.stages = nn.Sequential(*stages)
        self.fc = nn.Linear(c, n_classes)

    def forward(self, x):
        h = self.stages(self.stem(x))
        return self.fc(h.mean(dim=(2, 3)))


def block_names(model: ResNet) -> list[str]:
    """The layers worth comparing: the stem, each residual block's output, the logits."""
    names = ["stem"]
    for s, stage in enumerate(model.stages):
        names += [f"stages.{s}.{b}" for b in range(len(stage))]
    return [*names, "fc"]


def digits_32(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """sklearn digits as (1797, 3, 32, 32) float32 in [-1, 1] and int64 labels, shuffled."""
    digits = load_digits()
    x = torch.tensor(digits.images / 16.0, dtype=torch.float32)[:, None]
    x = nn.functional.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False)
    x = (x * 2 - 1).repeat(1, 3, 1, 1)
    y = torch.tensor(digits.target, dtype=torch.int64)
    order = torch.from_numpy(np.random.default_rng(seed).permutation(len(x)))
    return x[order], y[order]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="out/resnet.h5", help="run file to write")
    parser.add_argument("--steps", type=int, default=Config.steps)
    parser.add_argument("--seed", type=int, default=Config.seed)
    parser.add_argument("--reduce", default=Config.reduce,
                        help="reducer for every layer: none, pool, positions:K, project:D")
    parser.add_argument("--n-probe", type=int, default=Config.n_probe)
    parser.add_argument("--batch-size", type=int, default=Config.batch_size)
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    cfg = Config(steps=args.steps, seed=args.seed, reduce=args.reduce, n_probe=args.n_probe,
                 batch_size=args.batch_size)

    # the probe is the same images for every seed (first n_probe of a fixed shuffle)
    x, y = digits_32(seed=1234)
    x_probe, y_probe = x[: cfg.n_probe], y[: cfg.n_probe]
    x_train, y_train = x[cfg.n_probe :], y[cfg.n_probe :]

    torch.manual_seed(cfg.seed)
    model = ResNet(cfg.width, cfg.blocks)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.9, weight_decay=5e-4)
    gen = torch.Generator().manual_seed(cfg.seed)
    schedule = svccakit.log_schedule(cfg.steps, min(cfg.n_snapshots, cfg.steps + 1))

    import os

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with svccakit.Recorder(model, (x_probe, y_probe), args.out, layers=block_names(model),
                           reduce=cfg.reduce, steps=schedule, config=cfg, seed=cfg.seed,
                           overwrite=args.overwrite, metrics=["loss"]) as rec:
        loss = float("nan")
        for step in range(cfg.steps + 1):
            rec.maybe_record(step, loss=loss)
            if step == cfg.steps:
                break
            batch = torch.randint(0, len(x_train), (cfg.batch_size,), generator=gen)
            loss_t = nn.functional.cross_entropy(model(x_train[batch]), y_train[batch])
            opt.zero_grad()
            loss_t.backward()
            opt.step()
            loss = loss_t.item()

    model.eval()
    with torch.no_grad():
        acc = (model(x_probe).argmax(1) == y_probe).float().mean().item()
    with svccakit.open_run(args.out) as run:
        sizes = sum(np.prod(run.layer_shape(n)) * run.layer_info(n).dtype.itemsize
                    for n in run.layer_names)
        print(f"wrote {args.out}: {len(run)} snapshots of {len(run.layer_names)} layers "
              f"(reduce={cfg.reduce}, {sizes / 1e6:.2f} MB per snapshot), "
              f"final loss {run.metrics['loss'][-1]:.3f}, probe accuracy {acc:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
