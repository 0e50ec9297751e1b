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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Recorder overhead and write throughput.")
    parser.add_argument("--quick", action="store_true", help="fewer steps and snapshots")
    parser.add_argument("--dir", default=None, help="where to write (default: a temp dir)")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch intra-op threads (default 1: stable timings)"
    )
    _docs.add_argument(parser)
    args = parser.parse_args(argv)
    with _docs.capture() as printed:
        _run(args)
    if args.write_docs:
        _docs.write_results("recorder", printed.getvalue(), page=args.write_docs)
    return 0


def _run(args) -> None:
    torch.set_num_threads(args.threads)
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
