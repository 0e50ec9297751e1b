"""Benchmark: svcca and linear_cka on two HDF5 datasets larger than is sensible to load.

Writes two float32 datasets of ``--rows`` x ``--features`` (default 200,000 x
1,024: 0.8 GB each) block by block into one HDF5 file, then, each in a fresh
Python process so that peak memory is measured cleanly,

1. ``svcca`` and ``linear_cka`` on the two h5py datasets as they are (read in
   row blocks, never loaded), reporting the peak resident memory of that process
   (``VmHWM`` of /proc/self/status) and the time;
2. the same two metrics on the datasets loaded into memory as float32 arrays
   (to check the streamed numbers; this process needs ~2 x 0.8 GB).

Target (issue 14): peak resident memory under 600 MB for 1, equal to 2 within 1e-8.

Usage::

    python benchmarks/streaming.py [--rows 200000] [--features 1024] [--dir DIR]
        [--skip-in-memory] [--write-docs]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _docs  # benchmarks/_docs.py: --write-docs into docs/benchmarks.md
import numpy as np

_CHILD = r"""
import json, sys, time
import h5py, numpy as np
import svccakit as sk


def status_mb(key):  # this process image's own counters (ru_maxrss survives exec)
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


path, mode = sys.argv[1], sys.argv[2]
from svccakit.similarity import svcca  # the engine's imports count as start-up
start_rss = status_mb("VmRSS")
with h5py.File(path, "r") as f:
    x, y = f["x"], f["y"]
    if mode == "memory":
        x, y = x[()], y[()]
    t0 = time.perf_counter(); s = sk.svcca(x, y); t1 = time.perf_counter()
    c = sk.linear_cka(x, y); t2 = time.perf_counter()
print(json.dumps({"svcca": s.similarity, "dims": list(s.dims), "cka": c,
                  "t_svcca": t1 - t0, "t_cka": t2 - t1,
                  "rss_start_mb": start_rss, "rss_peak_mb": status_mb("VmHWM")}))
"""


def write_data(path: Path, rows: int, features: int, block: int = 8192) -> None:
    """Two related float32 layers (shared latent factors, a ReLU on one), block by block."""
    import h5py

    rng = np.random.default_rng(0)
    latent_dim = 64
    mix_x = rng.standard_normal((latent_dim, features)) / np.sqrt(latent_dim)
    mix_y = rng.standard_normal((latent_dim, features)) / np.sqrt(latent_dim)
    with h5py.File(path, "w") as f:
        dx = f.create_dataset("x", (rows, features), dtype=np.float32,
                              chunks=(min(rows, 1024), features))
        dy = f.create_dataset("y", (rows, features), dtype=np.float32,
                              chunks=(min(rows, 1024), features))
        for lo in range(0, rows, block):
            hi = min(rows, lo + block)
            z = rng.standard_normal((hi - lo, latent_dim))
            dx[lo:hi] = np.maximum(z @ mix_x + 0.3 * rng.standard_normal((hi - lo, features)),
                                   0.0)
            dy[lo:hi] = z @ mix_y + 0.5 * rng.standard_normal((hi - lo, features)) + 2.0


def run_child(path: Path, mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD, str(path), mode], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--features", type=int, default=1024)
    parser.add_argument("--dir", default=None, help="where to write the HDF5 file "
                        "(default: a temporary directory, removed afterwards)")
    parser.add_argument("--skip-in-memory", action="store_true",
                        help="do not run the in-memory comparison (needs ~2 x rows x "
                             "features x 4 bytes)")
    _docs.add_argument(parser)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp, _docs.capture() as printed:
        path = Path(tmp) / "layers.h5"
        start = time.perf_counter()
        write_data(path, args.rows, args.features)
        size = path.stat().st_size / 2**30
        print(f"two float32 datasets of {args.rows:,} x {args.features:,} "
              f"({size:.2f} GiB file, written in {time.perf_counter() - start:.0f} s)")
        streamed = run_child(path, "stream")
        print(f"streamed from HDF5: svcca {streamed['svcca']:.12f} (dims {streamed['dims']}) "
              f"in {streamed['t_svcca']:.1f} s, linear_cka {streamed['cka']:.12f} in "
              f"{streamed['t_cka']:.1f} s")
        print(f"  peak resident memory {streamed['rss_peak_mb']:.0f} MB "
              f"(after imports {streamed['rss_start_mb']:.0f} MB; target < 600 MB)")
        if not args.skip_in_memory:
            memory = run_child(path, "memory")
            print(f"in memory (float32 arrays): svcca {memory['svcca']:.12f} in "
                  f"{memory['t_svcca']:.1f} s, linear_cka {memory['cka']:.12f} in "
                  f"{memory['t_cka']:.1f} s, peak {memory['rss_peak_mb']:.0f} MB")
            print(f"  |streamed - in memory|: svcca "
                  f"{abs(streamed['svcca'] - memory['svcca']):.1e}, linear_cka "
                  f"{abs(streamed['cka'] - memory['cka']):.1e} (target <= 1e-8)")
    if args.write_docs:
        _docs.write_results("streaming", printed.getvalue(), page=args.write_docs)


if __name__ == "__main__":
    main()
