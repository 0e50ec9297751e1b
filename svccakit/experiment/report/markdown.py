"""The Markdown report of an experiment (``report.md``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from svccakit._version import __version__
from svccakit.experiment.report._results import (
    _CONFIG,
    _check_results,
    _metric_name,
    _ordered,
)
from svccakit.experiment.report.conclusions import closeness, conclusions, run_summary
from svccakit.experiment.report.tables import (
    THRESHOLDS,
    best_matches,
    final_similarity,
    final_training,
)

__all__ = ["write_report"]


def write_report(
    results,
    curves,
    path: str | os.PathLike,
    *,
    figures: Sequence[str | os.PathLike] = (),
    config_toml: str | None = None,
    title: str = "svccakit experiment report",
    notes: Sequence[str] = (),
    reference_layers=None,
    phases=None,
    trivial_loss: float | None = None,
    keep: float | None = None,
    steps: int | None = None,
) -> Path:
    """Write the Markdown report.

    With every layer pair compared (a ``pairs="all"`` timeline) the report leads with
    conclusions computed from the measured tables
    (:func:`~svccakit.experiment.report.conclusions.conclusions`): whether the critical
    initialisation gets closer to the optimum sooner than the other schemes, whether the
    shifted ReLU differs from the ReLU, and whether the students learn the optimum's
    intermediate layers, each with its seed spread and a statement where the seeds cannot
    separate the schemes. Then the optimum's layers with their ranks, each scheme's
    mean-field phase, the closeness tables per metric beside their chance levels, the
    training table and the figures. With matching pairs only, the report has the final
    similarity of each layer with its namesake.

    Parameters
    ----------
    results : pandas.DataFrame
        Output of :func:`svccakit.timeline`.
    curves : pandas.DataFrame or None
        Output of :func:`~svccakit.experiment.report.tables.training_curves`.
    path : path-like
        The ``report.md`` to write (its directory must exist).
    figures : sequence of path-like
        PNG files to show, linked relative to the report's directory.
    config_toml : str, optional
        The exact experiment configuration, shown verbatim.
    title : str
        First heading.
    notes : sequence of str
        Extra bullet points for the overview (e.g. which file is the reference).
    reference_layers : pandas.DataFrame, optional
        Output of :func:`~svccakit.experiment.report.tables.reference_layers`; default:
        every reference layer counts as informative.
    phases : pandas.DataFrame, optional
        One row per (init, activation, noise) with the fields of
        :class:`svccakit.meanfield.schemes.InitPhase`.
    trivial_loss : float, optional
        The best constant prediction's loss (training losses are shown relative to it).
    keep : float, optional
        SVCCA's ``keep``, for the notes on chance levels.
    steps : int, optional
        The training steps of every run (a run that stopped earlier diverged).

    Returns
    -------
    pathlib.Path
    """
    _check_results(results)
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"path: directory {str(path.parent)!r} does not exist")
    if not bool((results["layer"] != results["ref_layer"]).any()):
        return _write_matching_report(results, curves, path, figures=figures,
                                      config_toml=config_toml, title=title, notes=notes)
    metrics = _ordered(results["metric"])
    headline = metrics[0]
    refs = _ordered(results["ref_layer"])
    if reference_layers is None:
        import pandas as pd

        reference_layers = pd.DataFrame({"layer": refs, "n_features": np.nan,
                                         "rank": np.nan, "informative": True})
    informative = [n for n in reference_layers.loc[reference_layers["informative"], "layer"]]
    readout = [n for n in reference_layers["layer"] if n not in set(informative)]
    scored = informative or refs
    students = [n for n in _ordered(results["layer"]) if n != "out"] or None  # hidden layers
    close = closeness(results, informative=scored, layers=students)
    summary = run_summary(curves, close, trivial_loss=trivial_loss, steps=steps)

    lines = [f"# {title}", ""]
    n_runs = results["run"].nunique()
    seeds = results.groupby(_CONFIG)["seed"].nunique()
    lines += [
        f"- svccakit {__version__}; {n_runs} run(s) ({len(seeds)} configuration(s) x "
        f"{int(seeds.min())}{'' if seeds.min() == seeds.max() else '-' + str(int(seeds.max()))}"
        f" seed(s)) compared with the optimal solution "
        f"`{', '.join(_ordered(results['reference']))}`; metrics: "
        f"{', '.join(_metric_name(m) for m in metrics)}.",
        "- Every student layer is compared with every layer of the optimum at every recorded "
        "step. *Closeness* is the similarity of an optimum layer with its best-matching "
        "student hidden layer, chance-corrected: (value − chance) / (1 − chance), where "
        "*chance* is the mean similarity after randomly permuting the probe rows of one "
        "side (0: no better than unrelated data; 1: the optimum's own representation up to "
        "the metric's invariances), averaged over the optimum's informative layers "
        f"({len(informative)} of {len(refs)}; layers of rank ≤ 2 on the probe carry only a "
        "read-out and are left out).",
    ]
    lines += [f"- {note}" for note in notes]
    lines.append("")

    figures = [Path(f) for f in figures]
    head = [f for f in figures if f.stem == "headline"]
    if head:
        lines += ["## How close the students come to the optimum", "",
                  _image(head[0], path.parent), "",
                  f"*{_headline_caption(summary, metrics, len(informative), len(refs))}*", ""]

    lines += ["## Conclusions", "",
              "Written from the measured tables below; *beyond the seed spread* means the "
              "difference of the means exceeds twice its standard error over seeds.", ""]
    lines += conclusions(summary, close, informative_count=len(informative),
                         readout_count=len(readout), phases=phases, headline_metric=headline)

    lines += ["## The optimum's layers", "",
              "Numerical rank of each optimum layer's centred activations on the probe. "
              "Layers of rank ≤ 2 are *read-out only*.", ""]
    rows = [[r["layer"], _int_cell(r["n_features"]), _int_cell(r["rank"]),
             "informative" if r["informative"] else "read-out only"]
            for r in reference_layers.to_dict("records")]
    lines += [_markdown_table(["layer", "units", "rank", "role"], rows), ""]

    if phases is not None and len(phases):
        lines += ["## Initialisations and their mean-field phase", "",
                  "From svccakit.meanfield for square layers of the run's width, in "
                  "training mode (where the noise acts). *ordered*: the signal's variance "
                  "shrinks by χ₁ per layer; *chaotic*: it grows; *critical*: χ₁ = 1. "
                  "*variance depth*: layers over which the variance changes e-fold; "
                  "*ξ_c*: the correlation depth scale (networks train to about 6 ξ_c).", ""]
        rows, unbounded = [], []
        for r in phases.to_dict("records"):
            q = r.get("q_star", np.nan)
            if q == np.inf:
                unbounded.append(f"{r['init']} ({r['activation']}, {r['noise']})")
            rows.append([r["init"], r["activation"], r["noise"], f"{r['sigma_w']:.3f}",
                         f"{r['sigma_b']:.3f}", r["phase"], _fmt(q), _fmt(r["chi_1"]),
                         _fmt(r["variance_depth"], ".2f"), _fmt(r["c_star"]),
                         _fmt(r["xi_c"], ".2f"), _fmt(6 * r["xi_c"], ".1f")])
        lines += [_markdown_table(["init", "activation", "noise", "σ_w", "σ_b", "phase", "q*",
                                   "χ₁", "variance depth", "c*", "ξ_c", "6 ξ_c"], rows), ""]
        if unbounded:
            lines += [f"q* = ∞ for {', '.join(unbounded)}: the pre-activation variance has no "
                      "fixed point and grows without bound with depth (chaotic), so χ₁, c* and "
                      "ξ_c, which are evaluated at the fixed point, are undefined (—).", ""]

    lines += ["## Closeness to the optimum at the last step", "",
              "Per configuration and informative optimum layer: the best-matching student "
              "layer (most frequent over seeds), the raw similarity and its shuffled chance "
              "level, and the chance-corrected closeness; mean ± sd over seeds.", ""]
    for metric in metrics:
        lines += [f"### {_metric_name(metric)}", ""]
        lines += [_best_table(results, metric, scored, students), ""]

    if curves is not None and len(curves):
        train = final_training(curves)
        wanted = [m for m in ("loss", "accuracy", "val_loss", "val_accuracy")
                  if m in set(train["metric"])]
        lines += ["## Final training metrics", "",
                  "Mean ± std over seeds at each run's last recorded step (training set, eval "
                  "mode)" + (f"; the best constant prediction's loss is {trivial_loss:.4g}"
                             if trivial_loss else "") + ".", ""]
        lines += [_training_table(train, wanted, summary), ""]

    lines += ["## Chance levels, keep and probe size", ""]
    lines += _chance_notes(results, metrics, scored, students, keep)

    lines += _closing_sections([f for f in figures if f not in head], path, config_toml)
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _headline_caption(summary, metrics, n_informative, n_refs) -> str:
    metric = metrics[0]
    name = _metric_name(metric)
    col = f"{metric}_final"
    loss = "rel_loss" if "rel_loss" in summary else "loss"
    parts = []
    for (activation, noise), group in summary.groupby(["activation", "noise"], sort=False):
        cells = []
        for init, runs in group.groupby("init", sort=False):
            ok = runs[~runs["diverged"]]
            k = len(runs) - len(ok)
            if len(ok) == 0:
                cells.append(f"{init}: all {len(runs)} seeds diverged")
                continue
            text = f"{init} {_mean_sd(ok[col])}" if col in ok else init
            text += f" (loss {_mean_sd(ok[loss])})"
            if k:
                text += f", {k} of {len(runs)} seeds diverged (left out)"
            cells.append(text)
        parts.append(f"{activation}, noise {noise}: " + "; ".join(cells))
    loss_name = "training loss relative to the best constant prediction" \
        if loss == "rel_loss" else "training loss"
    return (f"Closeness to the optimum ({', '.join(_metric_name(m) for m in metrics)}): for "
            f"each of the {n_informative} informative of the {n_refs} optimum layers, the "
            f"chance-corrected similarity of its best-matching student hidden layer, averaged "
            f"(0 = chance, 1 = the optimum's representation); mean ± sd over seeds against "
            f"training step; a cross marks where a diverged run stopped. At the last step "
            f"({name} closeness; {loss_name} in brackets) — " + " | ".join(parts) + ".")


def _best_table(results, metric, scored, students) -> str:
    best = best_matches(results, metric=metric, layers=students)
    best = best[best["ref_layer"].isin(scored)]
    last = best[best["step"] == best.groupby("run")["step"].transform("max")]
    rows = []
    for (init, activation, noise, ref), group in last.groupby([*_CONFIG, "ref_layer"],
                                                              sort=False):
        layer = group["layer"].mode().iloc[0]
        rows.append([init, activation, noise, ref, layer, _mean_sd(group["value"]),
                     _fmt(group["baseline"].mean()), _mean_sd(group["corrected"])])
    return _markdown_table(["init", "activation", "noise", "optimum layer", "best student layer",
                            "raw", "chance", "closeness"], rows)


def _chance_notes(results, metrics, scored, students, keep) -> list[str]:
    n_probe = None
    lines = []
    rows = []
    for metric in metrics:
        best = best_matches(results, metric=metric, layers=students)
        best = best[best["ref_layer"].isin(scored)]
        last = best[best["step"] == best.groupby("run")["step"].transform("max")]
        base = last["baseline"]
        rows.append([_metric_name(metric), _fmt(base.mean()),
                     f"{_fmt(base.min())} – {_fmt(base.max())}"])
    del n_probe
    keep_text = f"keep = {keep:g}" if keep is not None else "its keep"
    lines += [
        "- *Chance level*: each similarity is also computed after randomly permuting the "
        "probe rows of the optimum's side, which keeps each side's own statistics and "
        "destroys their pairing; the mean over the permutations is the chance level. It is "
        "not zero: canonical correlations are maxima over directions, so unrelated "
        "subspaces still correlate, the more so the more directions are compared relative "
        "to the number of probe samples (with k_x + k_y > n − 1 some correlations are 1 by "
        "construction). Linear CKA's chance level is close to 0 and falls like 1/n.",
        f"- *keep*: SVCCA first keeps the SVD directions holding a fraction of each layer's "
        f"variance ({keep_text}, Raghu et al. 2017), which drops directions of rounding "
        "noise but also raises the kept dimension of wide, spread-out layers, and with it "
        "the chance level; PWCCA uses every direction, weighted by how much of the student "
        "layer each explains. A larger probe lowers the chance level of both.",
        "- Measured here (best-matching pairs at the last step; mean, min – max):",
        "",
        _markdown_table(["metric", "chance level", "range"], rows),
        "",
    ]
    return lines


def _mean_sd(values) -> str:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return "—"
    sd = v.std(ddof=1) if len(v) > 1 else 0.0
    return f"{v.mean():.3f} ± {sd:.3f}"


def _int_cell(value) -> str:
    try:
        return "—" if not np.isfinite(value) else str(int(value))
    except TypeError:
        return str(value)


def _write_matching_report(
    results,
    curves,
    path: str | os.PathLike,
    *,
    figures: Sequence[str | os.PathLike] = (),
    config_toml: str | None = None,
    title: str = "svccakit experiment report",
    notes: Sequence[str] = (),
) -> Path:
    """``report.md`` for a timeline of matching layer pairs only (parameters as
    :func:`write_report`, already checked there): the final similarity of each layer
    with its namesake."""
    metrics = _ordered(results["metric"])
    main = metrics[0]
    lines = [f"# {title}", ""]
    runs = results["run"].nunique()
    lines += [
        f"- svccakit {__version__}; {runs} run(s) compared with the reference "
        f"`{', '.join(_ordered(results['reference']))}`; metrics: "
        f"{', '.join(_metric_name(m) for m in metrics)}.",
        "- Every value is the similarity of a run layer at a recorded step with the "
        "matching layer of the optimal solution (1 = same representation up to the "
        "invariances of the metric). *Baseline* is the shuffled chance level: the "
        "mean similarity after randomly permuting the probe rows of the reference's "
        "snapshot, computed at each run's last step. A value below its baseline is "
        "possible: it means the run's representation is less aligned with the "
        "optimal one than unrelated data would be (e.g. on the full parity "
        "hypercube, features of different orders are exactly orthogonal).",
    ]
    lines += [f"- {note}" for note in notes]
    lines.append("")
    figures = [Path(f) for f in figures]
    main_figs = [f for f in figures if f.stem == f"similarity_{main}"]
    if main_figs:
        lines += ["## Similarity to the optimal solution during training", "",
                  _image(main_figs[0], path.parent), ""]

    for metric in metrics:
        table = final_similarity(results, metric=metric)
        name = _metric_name(metric)
        lines += [f"## Final {name} similarity per configuration and layer", "",
                  f"Mean ± std over seeds at each run's last step; baseline: shuffled "
                  f"chance level. *Steps to t*: mean over the seeds that reached "
                  f"{name} ≥ t of the first recorded step where they did (k/n: only k "
                  f"of n seeds reached it; —: none did).", ""]
        header = ["init", "activation", "noise", "layer", f"final {name}", "baseline",
                  *[f"steps to {t:g}" for t in THRESHOLDS]]
        rows = []
        for row in table.to_dict("records"):
            rows.append([row["init"], row["activation"], row["noise"], row["layer"],
                         f"{row['mean']:.3f} ± {row['std']:.3f}",
                         _fmt(row["baseline"]),
                         *[_steps_cell(row[f"step_{t:g}"], row[f"reached_{t:g}"],
                                       row["n_seeds"]) for t in THRESHOLDS]])
        lines += [_markdown_table(header, rows), ""]

    if curves is not None and len(curves):
        train = final_training(curves)
        wanted = [m for m in ("loss", "accuracy", "val_loss", "val_accuracy")
                  if m in set(train["metric"])]
        lines += ["## Final training loss and accuracy", "",
                  "Mean ± std over seeds at each run's last recorded step.", ""]
        lines += [_training_table(train, wanted), ""]

    lines += _closing_sections([f for f in figures if f not in main_figs], path, config_toml)
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------
# private helpers


def _training_table(train, wanted, summary=None) -> str:
    """Final training metrics per configuration (mean ± std over seeds); with ``summary``
    (from :func:`run_summary`) also how many seeds diverged."""
    header = ["init", "activation", "noise", "seeds",
              *(["diverged"] if summary is not None else []),
              *[m.replace("_", " ") for m in wanted]]
    rows = []
    for config, group in train.groupby(_CONFIG, sort=True):
        cells = []
        for m in wanted:
            hit = group[group["metric"] == m]
            cells.append(f"{hit['mean'].iloc[0]:.4g} ± {hit['std'].iloc[0]:.2g}"
                         if len(hit) else "—")
        row = [*config, str(int(group["n_seeds"].max()))]
        if summary is not None:
            runs = summary[(summary["init"] == config[0]) & (summary["activation"] == config[1])
                           & (summary["noise"] == config[2])]
            row.append(f"{int(runs['diverged'].sum())}/{len(runs)}" if len(runs) else "—")
        rows.append([*row, *cells])
    return _markdown_table(header, rows)


def _closing_sections(figures, path: Path, config_toml) -> list[str]:
    """The remaining figures and the exact configuration, at the end of the report."""
    lines = []
    if figures:
        lines += ["## Figures", ""]
        for figure in figures:
            lines += [f"### {_figure_title(figure.stem)}", "", _image(figure, path.parent), ""]
    if config_toml is not None:
        lines += ["## Configuration", "", "The exact configuration of this experiment "
                  "(`svccakit run --config` accepts it):", "", "```toml",
                  config_toml.rstrip("\n"), "```", ""]
    return lines


def _image(figure: Path, base: Path) -> str:
    try:
        rel = os.path.relpath(figure, base)
    except ValueError:  # pragma: no cover - different drives on Windows
        rel = str(figure)
    return f"![{_figure_title(figure.stem)}]({Path(rel).as_posix()})"


def _figure_title(stem: str) -> str:
    kind, _, metric = stem.partition("_")
    name = _metric_name(metric)
    return {
        "similarity": f"{name} similarity against training step",
        "heatmap": f"{name} similarity, layer x step, per run",
        "final": f"Final {name} similarity per layer",
        "pairs": f"Final {name} similarity, all layer pairs",
        "best": f"{name}: each optimum layer against its best-matching student layer",
        "layers": f"{name} between every student layer and every optimum layer",
        "headline": "Closeness to the optimum during training",
        "training": "Training loss and accuracy",
    }.get(kind, stem)


def _fmt(value, spec: str = ".3f") -> str:
    try:
        finite = value is not None and np.isfinite(value)
    except TypeError:
        return str(value)
    if not finite:
        return "∞" if value is not None and value == np.inf else "—"
    return f"{value:{spec}}"


def _steps_cell(step, reached: int, n: int) -> str:
    if reached == 0 or not np.isfinite(step):
        return "—"
    text = f"{step:.0f}"
    return text if reached == n else f"{text} ({reached}/{n})"


def _markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    def clean(cell) -> str:
        return str(cell).replace("|", "\\|")

    lines = ["| " + " | ".join(clean(h) for h in header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(clean(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
