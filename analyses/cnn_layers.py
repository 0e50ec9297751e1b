"""Cross-seed layer x layer similarity of a CNN: which layer of one seed matches which of another.

    python hooks/resnet.py --out out/resnet-seed0.h5 --seed 0
    python hooks/resnet.py --out out/resnet-seed1.h5 --seed 1
    python analyses/cnn_layers.py out/resnet-seed0.h5 out/resnet-seed1.h5 --out out/cnn

Every recorded layer of the second run is compared with every layer of the
first (``svccakit.timeline(pairs="all")``) at the final snapshot, for SVCCA and
linear CKA, and drawn as two heatmaps (rows: the first seed's layers, columns:
the second seed's). A bright diagonal says the two seeds learnt layer-by-layer
similar representations. Both runs must be recorded on the same probe with the
same ``reduce=`` (e.g. ``pool``). Writes ``<out>/cnn_layers.png`` and
``<out>/cnn_layers.csv``.
"""

from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402

import svccakit  # noqa: E402

METRICS = ("svcca", "cka")


def layer_matrix(run_a: str, run_b: str, metrics=METRICS, n_jobs: int = 1):
    """Layer x layer similarity at the last snapshot: {metric: DataFrame (a layers x b layers)}."""
    table = svccakit.timeline([run_b], run_a, metrics=metrics, pairs="all", baseline_n=0,
                              n_jobs=n_jobs, progress=False)
    last = table[table["step"] == table["step"].max()]
    with svccakit.open_run(run_a) as a, svccakit.open_run(run_b) as b:
        rows, cols = a.layer_names, b.layer_names
    out = {}
    for metric in metrics:
        sub = last[last["metric"] == metric]
        out[metric] = sub.pivot(index="ref_layer", columns="layer", values="value").loc[rows, cols]
    return out, last


def figure(matrices, title: str) -> Figure:
    fig = Figure(figsize=(5.2 * len(matrices), 4.6), layout="constrained")
    axes = fig.subplots(1, len(matrices))
    for ax, (metric, m) in zip(axes, matrices.items(), strict=True):
        im = ax.imshow(m.to_numpy(), vmin=0, vmax=1, cmap="viridis")
        ax.set_xticks(range(m.shape[1]), m.columns, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(m.shape[0]), m.index, fontsize=8)
        ax.set_xlabel("second seed")
        ax.set_ylabel("first seed")
        ax.set_title(metric.upper() if metric != "svcca" else "SVCCA")
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.suptitle(title)
    return fig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_a", help="run file of the first seed")
    parser.add_argument("run_b", help="run file of the second seed")
    parser.add_argument("--out", default="out/cnn", help="directory for the figure and table")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    matrices, rows = layer_matrix(args.run_a, args.run_b)
    with svccakit.open_run(args.run_a) as run:
        reduce = run.layer_info(run.layer_names[0]).reduce
        step = int(run.steps[-1])
    fig = figure(matrices, f"layer x layer similarity across seeds at step {step} "
                           f"(reduce={reduce})")
    png = os.path.join(args.out, "cnn_layers.png")
    fig.savefig(png, dpi=150)
    csv = os.path.join(args.out, "cnn_layers.csv")
    rows.to_csv(csv, index=False)
    diag = {m: float(sum(mat.iloc[i, i] for i in range(min(mat.shape))) / min(mat.shape))
            for m, mat in matrices.items()}
    print(f"wrote {png} and {csv}; mean diagonal: "
          + ", ".join(f"{m} {v:.3f}" for m, v in diag.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
