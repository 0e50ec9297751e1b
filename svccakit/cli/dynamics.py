"""``svccakit dynamics``: theory beside simulation of real torch networks, as PNG + CSV."""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

_NAMES = ("variance", "correlation", "correlation_map", "jacobian", "density")


def add_parser(subparsers):
    p = subparsers.add_parser(
        "dynamics",
        help="figures: variance, correlation, correlation map, Jacobian spectra and "
             "singular-value densities, theory vs width-1000 networks",
        description=(
            "Simulate width-1000 torch networks (600 for the Jacobian spectra) and compare "
            "with the mean-field theory: "
            "variance dynamics (ReLU with dropout and Gaussian noise at, below and above the "
            "critical sigma_w), correlation dynamics (no noise, dropout, Gaussian noise), the "
            "correlation map c^{l+1} = f(c^l) with its fixed point c* and slope chi, the "
            "moments of the Jacobian spectrum against depth and the singular-value density of "
            "the Jacobian (ReLU, shifted ReLU, tanh, erf; with and without noise; free "
            "probability against histograms). Writes variance, correlation, correlation_map, "
            "jacobian and density .png and .csv into --out (error bars and the 'simulation "
            "sem' column: one standard error of the mean over networks)."
        ),
    )
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output directory")
    p.add_argument("--quick", action="store_true",
                   help="small networks: a smoke test in about half a minute")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--overwrite", "--force", dest="overwrite", action="store_true",
                   help="replace the files an earlier `svccakit dynamics` wrote in DIR (never "
                        "files it did not write)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=run)


def _write_csv(path: Path, columns, rows) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        writer.writerows(rows)


def run(args) -> int:
    from tqdm import tqdm

    from svccakit import _outdir
    from svccakit.cli import user_input
    from svccakit.meanfield import dynamics as dy

    out: Path = args.out
    files = [f"{n}.{ext}" for n in _NAMES for ext in ("png", "csv")]
    targets = [out / f for f in files]
    with user_input():
        config = (dy.FigureConfig.quick(args.seed) if args.quick
                  else dy.FigureConfig.full(args.seed))
    with _outdir.open_out_dir(out, files, files, overwrite=args.overwrite, what="dynamics"):
        start = time.perf_counter()
        with tqdm(total=config.n_steps(), desc="dynamics", disable=args.quiet,
                  file=sys.stderr) as bar:
            variance = dy.variance_figure(config, bar.update)
            correlation, c_star = dy.correlation_figure(config, bar.update)
            cmap = dy.correlation_map_figure(config, bar.update)
            jacobian = dy.jacobian_figure(config, bar.update)
            density = dy.density_figure(config, jacobian, bar.update)
        figures = {
            "variance": (dy.plot_variance(variance), dy.CSV_COLUMNS, variance.rows()),
            "correlation": (dy.plot_correlation(correlation, c_star), dy.CSV_COLUMNS,
                            correlation.rows()),
            "correlation_map": (dy.plot_correlation_map(cmap), dy.MAP_CSV_COLUMNS,
                                [r for table, _ in cmap for r in table.rows()]),
            "jacobian": (dy.plot_jacobian(jacobian), dy.CSV_COLUMNS, jacobian.table.rows()),
            "density": (dy.plot_density(density), dy.DENSITY_CSV_COLUMNS,
                        [r for d in density for r in d.rows()]),
        }
        for name, (fig, columns, rows) in figures.items():
            fig.savefig(out / f"{name}.png", dpi=120)
            _write_csv(out / f"{name}.csv", columns, rows)
    if not args.quiet:
        print(f"wrote {', '.join(str(t) for t in targets)} in {time.perf_counter() - start:.1f} s")
    return 0
