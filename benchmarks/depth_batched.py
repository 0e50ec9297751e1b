"""The depth grid's trainer: one stacked model against the networks one by one.

    python benchmarks/depth_batched.py            # 24 networks of depth 8, 200 steps
    python benchmarks/depth_batched.py --quick    # 12 networks, 50 steps
                                        [--write-docs [PAGE]]

The same networks (width and batch of the quick preset, half dropout and half Gaussian
noise, one seed each) train for the same number of Adam steps, single-threaded:

* one by one: ``svccakit.experiment.train``'s loop (``build_model`` + ``_fit``, stock
  ``nn.Dropout``), which is what each worker of the old per-cell grid ran, without the
  recorder and the run file;
* stacked: :func:`svccakit.depth.batched.train_stack`, all networks as one model.

The two alternate in rounds so machine noise hits them alike; the printout gives CPU
seconds per round and the ratio. ``--write-docs`` also writes the printout into the
``depth_batched`` section of docs/benchmarks.md (see benchmarks/_docs.py).
"""

from __future__ import annotations

import argparse
import time

import _docs
import torch

from svccakit.depth import experiment as dp
from svccakit.depth.batched import train_stack
from svccakit.experiment.train import _fit, build_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    _docs.add_argument(parser)
    args = parser.parse_args()
    with _docs.capture() as printed:
        _run(args)
    if args.write_docs:
        _docs.write_results("depth_batched", printed.getvalue(), page=args.write_docs)


def _run(args) -> None:
    n_nets, steps, depth = (12, 50, 8) if args.quick else (24, 200, 8)
    torch.set_num_threads(1)
    quick = dp.quick_config().experiment
    config = quick.updated({"depth": depth, "steps": steps})
    task = dp.reconstruction_task(config)
    noises = ["dropout:0.5", "gauss:0.5"]
    nets = [(noises[i % 2], i) for i in range(n_nets)]

    def one_by_one():
        for noise, seed in nets:
            generator = torch.Generator().manual_seed(seed)
            torch.manual_seed(seed)
            model = build_model(config, task, init="critical", activation="relu", noise=noise,
                                generator=generator)
            _fit(model, task, config, steps=steps, generator=generator)

    def stacked():
        train_stack(config, task, nets, [steps])

    times = {"one by one": [], "stacked": []}
    for _ in range(args.rounds):
        for name, fn in (("one by one", one_by_one), ("stacked", stacked)):
            start = time.process_time()
            fn()
            times[name].append(time.process_time() - start)
    print(f"{n_nets} networks, width {config.width}, depth {depth}, batch "
          f"{config.optimiser.batch_size}, {steps} Adam steps, 1 thread; CPU seconds per round")
    for name, values in times.items():
        print(f"  {name:11s} " + "  ".join(f"{v:6.2f}" for v in values))
    best = {name: min(v) for name, v in times.items()}
    print(f"one by one / stacked (best rounds): {best['one by one'] / best['stacked']:.2f}")


if __name__ == "__main__":
    main()
