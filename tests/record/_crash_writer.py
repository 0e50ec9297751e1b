"""A deterministic training run that records every step (helper for test_crash.py).

Run as ``python _crash_writer.py PATH N_STEPS [SLEEP_S]``, or as
``python _crash_writer.py --fork DIR N_TRIALS`` to pay torch's import once and fork
one writer per trial: it trains a small MLP (with
dropout, so training consumes random numbers), records a snapshot before every
step, calls ``Recorder.flush()`` every FLUSH_EVERY steps and then prints
``DURABLE <step>`` (every snapshot up to that step is on disk). The test kills it
at random moments and compares the file with :func:`replay`, which repeats the
same training without a recorder.
"""

from __future__ import annotations

import hashlib
import sys
import time

import torch
from torch import nn

SEED = 1234
N_PROBE, WIDTH, N_IN = 128, 256, 16
FLUSH_EVERY = 5
SLEEP_S = 0.002  # "the rest of a training step": gives the writer thread room to run


def build() -> tuple[nn.Module, torch.Tensor, torch.optim.Optimizer]:
    torch.manual_seed(SEED)
    model = nn.Sequential(
        nn.Linear(N_IN, WIDTH),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.Linear(WIDTH, WIDTH),
        nn.ReLU(),
        nn.Linear(WIDTH, 4),
    )
    probe = torch.randn(N_PROBE, N_IN)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    return model, probe, opt


def train_step(model: nn.Module, opt: torch.optim.Optimizer) -> float:
    x = torch.randn(32, N_IN)
    y = torch.randint(0, 4, (32,))
    loss = nn.functional.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.item()


def layer_outputs(model: nn.Module, probe: torch.Tensor) -> dict[str, torch.Tensor]:
    """Eval-mode outputs of every layer of the Sequential (what the recorder stores)."""
    was = model.training
    model.eval()
    out, h = {}, probe
    with torch.no_grad():
        for name, layer in model.named_children():
            h = layer(h)
            out[name] = h.clone()
    model.train(was)
    return out


def digest(array) -> str:
    return hashlib.sha256(memoryview(array).cast("B")).hexdigest()


def replay(n_steps: int) -> list[dict]:
    """Per step: {layer: sha256 of its float32 activations, 'loss': loss before the step}."""
    torch.set_num_threads(1)
    model, probe, opt = build()
    torch.manual_seed(SEED + 1)
    rows, loss = [], float("nan")
    for _ in range(n_steps):
        acts = layer_outputs(model, probe)
        rows.append({name: digest(t.numpy()) for name, t in acts.items()} | {"loss": loss})
        loss = train_step(model, opt)
    return rows


def _emit(line: str) -> None:
    print(line, flush=True)


def main(
    path: str, n_steps: int, sleep_s: float = SLEEP_S, emit=_emit, time_limit_s: float = 120.0
) -> None:
    """Train and record; ``emit`` reports progress lines; stops after ``time_limit_s``
    (a safety net should the test fail to kill it)."""
    import svccakit

    torch.set_num_threads(1)
    model, probe, opt = build()
    torch.manual_seed(SEED + 1)
    loss = float("nan")
    start = time.monotonic()
    with svccakit.Recorder(model, probe, path, every=1, queue_size=2, seed=SEED) as rec:
        for step in range(n_steps):
            rec.record(step, loss=loss)
            if step % FLUSH_EVERY == 0:
                rec.flush()
                emit(f"DURABLE {step}")
            if time.monotonic() - start > time_limit_s:
                break
            loss = train_step(model, opt)
            time.sleep(sleep_s)
    emit("DONE")


def fork_trials(directory: str, n_trials: int) -> None:
    """Import once, then fork one writer per trial (``<directory>/run<i>.h5``).

    Prints ``CHILD <i> <pid>`` per child; children print ``<i> DURABLE <step>``.
    Exits when every child has exited (the test SIGKILLs them).
    """
    import os

    import svccakit  # noqa: F401  (imported once, before forking)

    torch.set_num_threads(1)
    pids = []
    for i in range(n_trials):
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            try:
                # one write() per line: atomic on a pipe shared by all children
                main(
                    os.path.join(directory, f"run{i}.h5"),
                    100_000,
                    emit=lambda line, i=i: os.write(1, f"{i} {line}\n".encode()),
                    time_limit_s=30.0,
                )
            finally:
                os._exit(0)
        pids.append(pid)
        print(f"CHILD {i} {pid}", flush=True)
    for pid in pids:
        os.waitpid(pid, 0)


if __name__ == "__main__":
    if sys.argv[1] == "--fork":
        fork_trials(sys.argv[2], int(sys.argv[3]))
    else:
        main(sys.argv[1], int(sys.argv[2]), *(float(a) for a in sys.argv[3:4]))
