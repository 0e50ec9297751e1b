"""Theory beside simulation: the signal-propagation figures.

Same as ``svccakit dynamics --out DIR [--quick]``: variance and correlation dynamics, the
correlation map, the moments of the Jacobian spectrum against depth and the singular-value
densities; copy and edit ``config`` to change the noises, widths or depths.
Usage: ``python analyses/dynamics.py OUT_DIR [--quick]``.
"""

import argparse
import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from svccakit.meanfield import dynamics as dy  # noqa: E402


def write_csv(path, columns, rows):
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        writer.writerows(rows)


def main(out: Path, quick: bool) -> None:
    config = dy.FigureConfig.quick() if quick else dy.FigureConfig.full()
    out.mkdir(parents=True, exist_ok=True)

    variance = dy.variance_figure(config)
    correlation, c_star = dy.correlation_figure(config)
    cmap = dy.correlation_map_figure(config)
    jacobian = dy.jacobian_figure(config)
    density = dy.density_figure(config, jacobian)

    for name, fig, columns, rows in [
        ("variance", dy.plot_variance(variance), dy.CSV_COLUMNS, variance.rows()),
        ("correlation", dy.plot_correlation(correlation, c_star), dy.CSV_COLUMNS,
         correlation.rows()),
        ("correlation_map", dy.plot_correlation_map(cmap), dy.MAP_CSV_COLUMNS,
         [r for table, _ in cmap for r in table.rows()]),
        ("jacobian", dy.plot_jacobian(jacobian), dy.CSV_COLUMNS, jacobian.table.rows()),
        ("density", dy.plot_density(density), dy.DENSITY_CSV_COLUMNS,
         [r for d in density for r in d.rows()]),
    ]:
        fig.savefig(out / f"{name}.png", dpi=120)
        plt.close(fig)
        write_csv(out / f"{name}.csv", columns, rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", metavar="OUT_DIR", type=Path, help="where the figures go")
    parser.add_argument("--quick", action="store_true", help="small networks, about half a minute")
    args = parser.parse_args()
    main(args.out, args.quick)
