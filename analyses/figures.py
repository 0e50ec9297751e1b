"""Figures and report.md from a results table and the run files' training metrics.

Usage::

    python analyses/figures.py svccakit-out/results.csv \
        --runs svccakit-out/runs/*.h5 --out figures/ [--report report.md] \
        [--config svccakit-out/config.toml]

``--runs`` (student runs; the reference may be included, it is skipped when its
name is not in the table) gives the training loss/accuracy curves.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from svccakit.experiment.report import training_curves, write_figures, write_report
from svccakit.experiment.timeline import run_info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="results.csv written by the timeline")
    parser.add_argument("--runs", nargs="*", type=Path, default=[], help="run files (.h5)")
    parser.add_argument("--out", type=Path, default=Path("figures"), help="figure directory")
    parser.add_argument("--report", type=Path, default=None, help="also write this report.md")
    parser.add_argument("--config", type=Path, default=None, help="TOML shown in the report")
    args = parser.parse_args()

    results = pd.read_csv(args.results, keep_default_na=False, na_values=[""])
    names = set(results["run"])
    runs = [p for p in args.runs if run_info(p).name in names]
    curves = training_curves(runs) if runs else None
    files = write_figures(results, curves, args.out)
    for path in files.figures:
        print(f"wrote {path}")
    if args.report is not None:
        toml = args.config.read_text() if args.config else None
        print(f"wrote {write_report(results, curves, args.report, figures=files.figures, config_toml=toml)}")


if __name__ == "__main__":
    main()
