"""``svccakit inspect RUN.h5``: what a run file holds."""

from __future__ import annotations

import json
import os

from svccakit.cli import safe


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "inspect",
        help="print the config, layers, steps and metrics of a run file",
        description=(
            "Print what a recorder run file holds: format and versions, the experiment "
            "config, the probe, each recorded layer with its snapshot shape, the "
            "recorded steps, the metrics (first/last value) and the file size. Works "
            "on a run that is still being written."
        ),
    )
    p.add_argument("run", metavar="RUN.h5", help="a run file written by svccakit.Recorder")
    p.set_defaults(func=_inspect)


def _fmt_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def _fmt_steps(steps) -> str:
    if len(steps) == 0:
        return "none"
    if len(steps) <= 12:
        return ", ".join(str(int(s)) for s in steps)
    head = ", ".join(str(int(s)) for s in steps[:6])
    tail = ", ".join(str(int(s)) for s in steps[-3:])
    return f"{head}, ..., {tail}"


def _inspect(args) -> int:
    from svccakit.record.store import open_run

    with open_run(args.run) as run:
        attrs = run.attrs
        t = len(run)
        steps = run.steps[:t]
        lines = [
            f"run:      {safe(args.run)}",
            f"size:     {_fmt_bytes(os.path.getsize(args.run))}",
            f"format:   {safe(attrs.get('format'))} v{safe(attrs.get('format_version'))} "
            f"(svccakit {safe(attrs.get('svccakit_version'))}, "
            f"torch {safe(attrs.get('torch_version'))}, created {safe(attrs.get('created'))})",
            f"seed:     {safe(attrs.get('seed', 'not recorded'))}",
            "state:    "
            + (
                "closed cleanly"
                if run.closed_cleanly
                else "open for writing (still being written, or its writer was killed)"
            ),
        ]
        config = run.config
        if config is None:
            lines.append("config:   none")
        else:
            # ensure_ascii (the default) writes every control character as an escape
            text = json.dumps(config, indent=2, sort_keys=True).replace("\n", "\n          ")
            lines.append(f"config:   {text}")
        inputs, targets = run.probe, run.probe_targets
        probe_line = f"probe:    inputs {inputs.shape} {inputs.dtype}"
        if targets is not None:
            probe_line += f", targets {targets.shape} {targets.dtype}"
        lines.append(probe_line)
        lines.append(f"steps:    {t} snapshots: {_fmt_steps(steps)}")
        names = run.layer_names
        lines.append(f"layers:   {len(names)}")
        width = max((len(safe(n)) for n in names), default=0)
        for name in names:
            info = run.layer_info(name)
            comp = f", compression {safe(info.compression)}" if info.compression else ""
            if info.reduce != "none":
                comp += f", reduce {safe(info.reduce)} from {info.raw_shape}"
            lines.append(f"  {safe(name):<{width}}  {info.shape} {info.dtype}{comp}")
        metrics = run.metrics
        lines.append(f"metrics:  {len(metrics)}")
        width = max((len(safe(n)) for n in metrics), default=0)
        for name, values in metrics.items():
            if t:
                lines.append(f"  {safe(name):<{width}}  first {values[0]:.6g}, "
                             f"last {values[-1]:.6g}")
            else:
                lines.append(f"  {safe(name):<{width}}  (no snapshots yet)")
    print("\n".join(lines))
    return 0
