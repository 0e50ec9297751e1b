"""Re-score a ``svccakit depth`` run at a chosen threshold: k-scan, predictors, figures.

Usage::

    python analyses/depth.py svccakit-depth/grid.csv --out figures/ [--threshold 0.9]

Prints, for each training budget in the grid, the accuracy of ``depth <= k xi_c`` for
k = 1..12 beside the trivial predictors ("nothing trains", "everything trains") and the
fitted fixed-depth and noise cut-off boundaries, and the agreement with ``6 xi_c`` at a
few thresholds; writes ``loss-<family>.png``, ``kscan.png`` and (with two or more
budgets) ``budget.png``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from svccakit.depth import (  # noqa: E402
    DepthGrid,
    boundary_test,
    budget_figure,
    kscan_figure,
    loss_figure,
)
from svccakit.depth.figures import families  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("grid", type=Path, help="grid.csv written by `svccakit depth`")
    parser.add_argument("--out", type=Path, default=Path("figures"), help="figure directory")
    parser.add_argument("--threshold", type=float, default=0.9,
                        help="relative validation loss below which a network is trainable")
    args = parser.parse_args()

    grid = DepthGrid.from_csv(args.grid, threshold=args.threshold)
    test = boundary_test(grid)
    for steps in grid.budgets:
        scan = test.scan[test.scan["steps"] == steps]
        print(f"{steps} steps (threshold {grid.threshold:g}, {len(grid.cells(steps))} cells)")
        print("  k:        " + " ".join(f"{k:>6g}" for k in scan["k"]))
        print("  accuracy: " + " ".join(f"{a:>6.1%}" for a in scan["accuracy"]))
        print("  per seed: " + " ".join(f"{a:>6.1%}" for a in scan["seed_mean"]))
        for row in test.predictors[test.predictors["steps"] == steps].itertuples():
            parameter = f" ({row.parameter:g})" if row.fitted else ""
            print(f"  {row.predictor + parameter:28s} {row.accuracy:6.1%}")
        print(f"  cannot be told from the best: k = {test.indistinct_k(steps)}")
    for t in (0.5, 0.7, 0.8, 0.9, 0.95):
        print(f"6 xi_c agreement at threshold {t:g}: {grid.agreement(t):.1%}")
    args.out.mkdir(parents=True, exist_ok=True)
    figures = {f"loss-{kind}.png": loss_figure(grid, kind)
               for kind in families(grid.cells())}
    figures["kscan.png"] = kscan_figure(test)
    if len(grid.budgets) > 1:
        figures["budget.png"] = budget_figure(grid, test)
    for name, fig in figures.items():
        fig.savefig(args.out / name, dpi=110)
        plt.close(fig)
        print(f"wrote {args.out / name}")


if __name__ == "__main__":
    main()
