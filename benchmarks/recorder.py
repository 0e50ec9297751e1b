"""Recorder overhead and write throughput, measured side by side in one run.

    python benchmarks/recorder.py            # full: 1000 training steps per setting
    python benchmarks/recorder.py --quick    # 200 steps, smaller write test
    python benchmarks/recorder.py --threads 2
    python benchmarks/recorder.py --write-docs   # also into docs/benchmarks.md (_docs.py)

A 10-layer, 512-wide ReLU MLP trains (SGD, batch 128) without the recorder and
with it (probe of 1,000 inputs; the 10 hidden representations, i.e. the ReLU
outputs, 20.5 MB per snapshot; also every leaf module, 21 layers), taking
snapshots every 100 and every 10 steps. Settings alternate in rounds so machine
noise hits them alike; the printout gives steps/s and the ratio to the baseline.
Then the store alone appends ready snapshots to a file (MB/s, flushed per
snapshot, no fsync: this is the page-cache rate), and the whole pipeline
(probe pass + copy + write) records back to back.
Targets: <= 5% overhead at every 100 steps, >= 300 MB/s uncompressed.

    python benchmarks/recorder.py --only resnet             # the ResNet-18 part alone

A ResNet-18-shaped CNN (CIFAR layout: 3x3 stem, four stages of two basic
blocks, 64-512 channels, 3 x 32 x 32 inputs; 11.2 M parameters) trains with
SGD on synthetic batches of 128, and the recorder keeps the stem, the 8 block
outputs and the logits of a 500-image probe with each reducer. Training steps
and snapshots alternate in rounds in one process, so machine load hits both
alike. Reported per reducer: bytes per snapshot (as stored), the median cost
of one snapshot (``record`` + ``flush``: probe pass, reduction, copy and write,
all waited for) and the overhead it implies at one snapshot every 100 steps,
``snapshot / (100 x training step)``. A ResNet-18 step takes seconds on a CPU,
so 100-step runs per setting are out of reach here: the overhead is computed
from the measured step and snapshot costs, not from timing 100-step runs.
Targets (issue 13): < 50 MB per snapshot and < 5% overhead with a reducer.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import _docs
import numpy as np
import torch
from torch import nn

import svccakit
from svccakit.record import store

WIDTH, DEPTH, N_PROBE, BATCH = 512, 10, 1000, 128


def build(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for _ in range(DEPTH):
        layers += [nn.Linear(WIDTH, WIDTH), nn.ReLU()]
    layers.append(nn.Linear(WIDTH, 10))
    return nn.Sequential(*layers)


def train(n_steps: int, path: str | None, every: int | None, layers) -> float:
    """Seconds for ``n_steps`` SGD steps (+ closing the recorder, i.e. all writes)."""
    model = build()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    x = torch.randn(BATCH, WIDTH)
    y = torch.randint(0, 10, (BATCH,))
    probe = torch.randn(N_PROBE, WIDTH)
    rec = None
    if path is not None:
        rec = svccakit.Recorder(model, probe, path, layers=layers, every=every, overwrite=True)
    t0 = time.perf_counter()
    for step in range(n_steps):
        if rec is not None:
            rec.maybe_record(step)
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    if rec is not None:
        rec.close()
    elapsed = time.perf_counter() - t0
    if path is not None:
        os.unlink(path)
    return elapsed


def snapshot_cost(directory: str, n: int) -> tuple[float, float]:
    """Median seconds of one training step and of one ``record`` call (training thread).

    The writer thread is drained between snapshots (outside the timed region), so
    this is the cost training pays per snapshot when the queue is not full.
    """
    model = build()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    x, y = torch.randn(BATCH, WIDTH), torch.randint(0, 10, (BATCH,))
    path = os.path.join(directory, "cost.h5")
    steps, records = [], []
    with svccakit.Recorder(model, torch.randn(N_PROBE, WIDTH), path, layers=nn.ReLU) as rec:
        rec.record(0)  # creates the file
        rec.flush()
        for i in range(1, n + 1):
            t0 = time.perf_counter()
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            t1 = time.perf_counter()
            rec.record(i)
            t2 = time.perf_counter()
            rec.flush()
            steps.append(t1 - t0)
            records.append(t2 - t1)
    os.unlink(path)
    return float(np.median(steps)), float(np.median(records))


def store_throughput(directory: str, n_snapshots: int, compression: str | None) -> float:
    """MB/s appending ready (10 x (1000, 512) float32) snapshots, incl. flushes and close."""
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((N_PROBE, WIDTH)).astype(np.float32) for _ in range(DEPTH)]
    path = os.path.join(directory, "store.h5")
    writer = store.RunWriter.create(
        path,
        overwrite=True,
        attrs=store.root_attrs(None, None),
        probe_inputs=np.zeros((N_PROBE, WIDTH), np.float32),
        probe_targets=None,
        layers={str(i): ((N_PROBE, WIDTH), np.dtype(np.float32)) for i in range(DEPTH)},
        metric_names=["loss"],
        compression=compression,
    )
    t0 = time.perf_counter()
    for step in range(n_snapshots):
        writer.append(step, [0.0], arrays)
    writer.close()
    elapsed = time.perf_counter() - t0
    os.unlink(path)
    return n_snapshots * sum(a.nbytes for a in arrays) / elapsed / 1e6


def pipeline_throughput(directory: str, n_snapshots: int) -> float:
    """MB/s of back-to-back ``record`` calls (probe pass, copy, write), incl. close."""
    model = build()
    probe = torch.randn(N_PROBE, WIDTH)
    path = os.path.join(directory, "pipe.h5")
    t0 = time.perf_counter()
    with svccakit.Recorder(model, probe, path, layers=nn.ReLU, overwrite=True) as rec:
        for step in range(n_snapshots):
            rec.record(step)
    elapsed = time.perf_counter() - t0
    os.unlink(path)
    return n_snapshots * DEPTH * N_PROBE * WIDTH * 4 / elapsed / 1e6


# ----------------------------------------------------------------------------- ResNet-18

RESNET_REDUCERS = ("none", "pool", "positions:8", "positions:16", "project:256")
RESNET_PROBE, RESNET_BATCH = 500, 128


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x):
        h = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(h)) + self.shortcut(x))


def resnet18(n_classes: int = 10) -> nn.Module:
    """ResNet-18 in its CIFAR layout (3x3 stem, no max-pool)."""
    torch.manual_seed(0)
    layers: list[nn.Module] = [
        nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU())
    ]
    c = 64
    for i, width in enumerate((64, 128, 256, 512)):
        layers.append(nn.Sequential(BasicBlock(c, width, 1 if i == 0 else 2),
                                    BasicBlock(width, width, 1)))
        c = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, n_classes)]
    return nn.Sequential(*layers)


RESNET_LAYERS = ["0", *[f"{s}.{b}" for s in range(1, 5) for b in range(2)], "7"]


def resnet_benchmark(directory: str, rounds: int, steps_per_round: int) -> None:
    model = resnet18()
    n_params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(RESNET_BATCH, 3, 32, 32, generator=gen)
    y = torch.randint(0, 10, (RESNET_BATCH,), generator=gen)
    probe = torch.randn(RESNET_PROBE, 3, 32, 32, generator=gen)

    def train_step() -> float:
        t0 = time.perf_counter()
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return time.perf_counter() - t0

    def probe_pass() -> float:
        model.eval()
        t0 = time.perf_counter()
        with torch.no_grad():
            model(probe)
        elapsed = time.perf_counter() - t0
        model.train()
        return elapsed

    recorders, first, nbytes = {}, {}, {}
    for i, spec in enumerate(RESNET_REDUCERS):
        path = os.path.join(directory, f"resnet-{i}.h5")
        rec = svccakit.Recorder(model, probe, path, layers=RESNET_LAYERS, reduce=spec,
                                budget_mb=None, overwrite=True)
        t0 = time.perf_counter()
        rec.record(0)  # creates the file (and, for project:D, the matrices)
        rec.flush()
        first[spec] = time.perf_counter() - t0
        recorders[spec] = rec
        with svccakit.open_run(path) as run:
            nbytes[spec] = sum(
                int(np.prod(run.layer_shape(n))) * run.layer_info(n).dtype.itemsize
                for n in run.layer_names
            )
    train_step()  # warm-up
    steps, probes = [], []
    snaps: dict[str, list[float]] = {spec: [] for spec in RESNET_REDUCERS}
    for r in range(rounds):
        for _ in range(steps_per_round):
            steps.append(train_step())
        probes.append(probe_pass())
        for spec, rec in recorders.items():
            t0 = time.perf_counter()
            rec.record(r + 1)
            rec.flush()
            snaps[spec].append(time.perf_counter() - t0)
    for rec in recorders.values():
        rec.close()
    step_s, probe_s = float(np.median(steps)), float(np.median(probes))
    print(
        f"ResNet-18 (CIFAR layout, {n_params / 1e6:.1f} M parameters), training batch "
        f"{RESNET_BATCH}, probe {RESNET_PROBE} images, {len(RESNET_LAYERS)} layers (stem, 8 "
        f"blocks, logits); {len(steps)} training steps and {rounds} snapshots per reducer, "
        f"interleaved; torch threads {torch.get_num_threads()}"
    )
    print(
        f"  training step (median) {step_s:.2f} s; probe pass alone (500 images, eval, no "
        f"hooks) {probe_s:.2f} s = {probe_s / step_s:.2f} steps"
    )
    print(f"  {'reduce':<13} {'MB/snapshot':>11} {'snapshot s':>10} {'first s':>8} "
          f"{'overhead @100':>13}")
    for spec in RESNET_REDUCERS:
        snap = float(np.median(snaps[spec]))
        print(
            f"  {spec:<13} {nbytes[spec] / 1e6:11.1f} {snap:10.2f} {first[spec]:8.2f} "
            f"{100 * snap / (100 * step_s):12.2f}%"
        )
    print("  (overhead @100 = snapshot / (100 x training step); 'first' includes creating the "
          "file and, for project:D, drawing the projection matrices)")


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Recorder overhead and write throughput.")
    parser.add_argument("--quick", action="store_true", help="fewer steps and snapshots")
    parser.add_argument("--dir", default=None, help="where to write (default: a temp dir)")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch intra-op threads (default 1: stable timings)"
    )
    parser.add_argument("--only", choices=("mlp", "resnet"), default=None,
                        help="run one part (default: both)")
    _docs.add_argument(parser)
    args = parser.parse_args(argv)
    with _docs.capture() as printed:
        _run(args)
    if args.write_docs:
        name = "recorder" if args.only is None else f"recorder-{args.only}"
        _docs.write_results(name, printed.getvalue(), page=args.write_docs)
    return 0


def _run(args) -> None:
    torch.set_num_threads(args.threads)
    if args.only != "mlp":
        with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
            rounds, per_round = (2, 2) if args.quick else (3, 3)
            resnet_benchmark(tmp, rounds, per_round)
        if args.only == "resnet":
            return
    n_steps, rounds, n_write = (200, 2, 10) if args.quick else (1000, 5, 40)
    per_round = n_steps // rounds

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = os.path.join(tmp, "run.h5")
        settings = {
            "no recorder": (None, None, None),
            "every 100 (10 ReLU layers)": (path, 100, nn.ReLU),
            "every 10 (10 ReLU layers)": (path, 10, nn.ReLU),
            "every 100 (all 21 leaves)": (path, 100, None),
        }
        train(20, None, None, None)  # warm-up
        seconds = dict.fromkeys(settings, 0.0)
        for _ in range(rounds):
            for name, (p, every, layers) in settings.items():
                seconds[name] += train(per_round, p, every, layers)
        base = n_steps / seconds["no recorder"]
        print(
            f"training: {DEPTH}-layer {WIDTH}-wide MLP, batch {BATCH}, probe {N_PROBE}, "
            f"{n_steps} steps per setting, torch threads {torch.get_num_threads()}"
        )
        for name in settings:
            rate = n_steps / seconds[name]
            print(
                f"  {name:<28} {rate:8.1f} steps/s  ratio {rate / base:.3f}  "
                f"overhead {100 * (base / rate - 1):+.1f}%"
            )
        step_s, record_s = snapshot_cost(tmp, 10 if args.quick else 30)
        print(
            f"  per snapshot in the training thread: record() {1e3 * record_s:.1f} ms = "
            f"{record_s / step_s:.2f} training steps ({1e3 * step_s:.1f} ms) -> estimated "
            f"overhead {record_s / step_s:.1f}% at every 100, "
            f"{10 * record_s / step_s:.1f}% at every 10 (plus the writer thread's CPU)"
        )
        print(
            f"write throughput ({n_write} snapshots of {DEPTH * N_PROBE * WIDTH * 4 / 1e6:.1f} MB):"
        )
        for comp in (None, "lzf"):
            mbs = store_throughput(tmp, n_write, comp)
            print(
                f"  store, compression={comp!s:<5} {mbs:8.0f} MB/s  ratio to 300 MB/s target {mbs / 300:.2f}"
            )
        mbs = pipeline_throughput(tmp, n_write)
        print(f"  recorder pipeline (probe pass + copy + write) {mbs:8.0f} MB/s")


if __name__ == "__main__":
    raise SystemExit(main())
