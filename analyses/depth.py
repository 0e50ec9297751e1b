"""Redraw the depth x noise heatmaps of a ``svccakit depth`` run at a chosen threshold.

Usage::

    python analyses/depth.py svccakit-depth/grid.csv --out figures/ [--threshold 0.9]

Prints the fraction of (noise, depth) cells where the measured trainable/untrainable
split (relative validation loss below the threshold) agrees with ``depth <= 6 xi_c``,
per noise family and at a few thresholds, and writes ``loss-<family>.png``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from svccakit.depth import DepthGrid, loss_figure  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("grid", type=Path, help="grid.csv written by `svccakit depth`")
    parser.add_argument("--out", type=Path, default=Path("figures"), help="figure directory")
    parser.add_argument("--threshold", type=float, default=0.9,
                        help="relative validation loss below which a cell is trainable")
    args = parser.parse_args()

    grid = DepthGrid.from_csv(args.grid, threshold=args.threshold)
    cells = grid.cells()
    print(f"agreement with 6 xi_c at threshold {grid.threshold:g}: {grid.agreement():.1%} "
          f"of {len(cells)} cells")
    for kind, sub in cells.groupby("noise_kind"):
        print(f"  {kind}: {sub['agrees'].mean():.1%} of {len(sub)} cells")
    for t in (0.5, 0.7, 0.8, 0.9, 0.95):
        print(f"  threshold {t:g}: {grid.agreement(t):.1%}")
    args.out.mkdir(parents=True, exist_ok=True)
    for kind in dict.fromkeys(cells["noise_kind"]):
        fig = loss_figure(grid, kind)
        path = args.out / f"loss-{kind}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
