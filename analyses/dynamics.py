"""Theory beside simulation: the three signal-propagation figures.

Same as ``svccakit dynamics --out DIR [--quick]``; copy and edit ``config`` to change the
noises, widths or depths. Usage: ``python analyses/dynamics.py OUT_DIR [--quick]``.
"""

import argparse
import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from svccakit.meanfield import dynamics as dy  # noqa: E402


def write_csv(path, table):
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(dy.CSV_COLUMNS)
        writer.writerows(table.rows())


def main(out: Path, quick: bool) -> None:
    config = dy.FigureConfig.quick() if quick else dy.FigureConfig.full()
    out.mkdir(parents=True, exist_ok=True)

    variance = dy.variance_figure(config)
    correlation, c_star = dy.correlation_figure(config)
    jacobian = dy.jacobian_figure(config)

    for name, fig, table in [
        ("variance", dy.plot_variance(variance), variance),
        ("correlation", dy.plot_correlation(correlation, c_star), correlation),
        ("jacobian", dy.plot_jacobian(jacobian), jacobian.table),
    ]:
        fig.savefig(out / f"{name}.png", dpi=120)
        plt.close(fig)
        write_csv(out / f"{name}.csv", table)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", metavar="OUT_DIR", type=Path, help="where the figures go")
    parser.add_argument("--quick", action="store_true", help="small networks, a few seconds")
    args = parser.parse_args()
    main(args.out, args.quick)
