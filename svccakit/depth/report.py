"""The Markdown report of the depth x noise experiment (``svccakit depth``).

:func:`depth_report` writes ``report.md``: the setup, the time it took, the k-scan beside
the trivial predictors, the measured boundary of each noise level, the noise-free column,
the budget sensitivity, the classic agreement with ``6 xi_c`` and the variance map. Every
sentence of a verdict is computed from the tables, so the report says what the run showed.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from svccakit.depth.figures import loss_figure
from svccakit.depth.scan import BoundaryTest, boundary_test, threshold_scan
from svccakit.depth.theory import DepthGrid

__all__ = ["depth_report", "loss_figure"]

if TYPE_CHECKING:
    from svccakit.depth.experiment import DepthConfig
    from svccakit.depth.variance import VarianceMap


def _pct(x: float) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.1%}"


def _num(x: float, fmt: str = ".3g") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if isinstance(x, float) and math.isinf(x):
        return "inf"
    return format(x, fmt)


def _ks(ks: list[float]) -> str:
    """1, 2, 3, 5 -> "1-3, 5"."""
    ks = sorted(ks)
    if not ks:
        return "none"
    runs, start, prev = [], ks[0], ks[0]
    for k in ks[1:] + [math.inf]:
        if k - prev == 1:
            prev = k
            continue
        runs.append(f"{start:g}" if start == prev else f"{start:g}-{prev:g}")
        start = prev = k
    return ", ".join(runs)


def _scan_table(test: BoundaryTest, steps: int) -> list[str]:
    scan = test.scan[test.scan["steps"] == steps]
    lines = ["| k | accuracy | balanced accuracy | noisy cells only | dropout | Gaussian "
             "| per seed: mean ± sd (min-max) | worse than best on every seed |",
             "|---|---|---|---|---|---|---|---|"]
    for r in scan.itertuples():
        k = f"**{r.k:g}**" if r.best else f"{r.k:g}"
        sd = "" if math.isnan(r.seed_sd) else f" ± {r.seed_sd:.1%}"
        lines.append(
            f"| {k} | {_pct(r.accuracy)} | {_pct(r.balanced_accuracy)} | {_pct(r.accuracy_noisy)} "
            f"| {_pct(r.accuracy_dropout)} | {_pct(r.accuracy_gauss)} "
            f"| {r.seed_mean:.1%}{sd} ({r.seed_min:.1%}-{r.seed_max:.1%}) "
            f"| {'yes' if r.worse_every_seed else 'no'} |")
    return lines


def _predictor_table(test: BoundaryTest) -> list[str]:
    budgets = test.budgets
    head = "| predictor | fitted parameter | " + " | ".join(
        f"accuracy, {s} steps | balanced, {s} steps" for s in budgets) + " |"
    lines = [head, "|---|---|" + "---|---|" * len(budgets)]
    names = list(dict.fromkeys(test.predictors["predictor"]))
    for name in names:
        cells, params = [], []
        for s in budgets:
            row = test.predictor(name, s)
            cells.append(f"{_pct(row['accuracy'])} | {_pct(row['balanced_accuracy'])}")
            if row["fitted"]:
                params.append(f"{_num(row['parameter'], '.3g')} ({s})")
        lines.append(f"| {name} | {', '.join(params) or '-'} | " + " | ".join(cells) + " |")
    return lines


def _boundary_table(test: BoundaryTest) -> list[str]:
    budgets = test.budgets
    b = test.boundaries
    head = "| noise | xi_c | 6 xi_c | " + " | ".join(
        f"trainable / untrainable at, {s} steps | k allowed, {s} steps" for s in budgets) + " |"
    lines = [head, "|---|---|---|" + "---|---|" * len(budgets)]
    for noise in dict.fromkeys(b["noise"]):
        rows = [b[(b["noise"] == noise) & (b["steps"] == s)].iloc[0] for s in budgets]
        xi = rows[0]["xi_c"]
        parts = []
        for r in rows:
            where = f"<= {_num(r['deepest_trainable'], 'g')} / >= {_num(r['shallowest_untrainable'], 'g')}"
            if not r["monotone"]:
                where += " (not monotone)"
            if math.isfinite(xi):
                allowed = f"[{r['k_low']:.2f}, {_num(r['k_high'], '.2f')})"
            else:
                allowed = "-"
            parts.append(f"{where} | {allowed}")
        lines.append(f"| {noise} | {_num(xi)} | {_num(6 * xi)} | " + " | ".join(parts) + " |")
    return lines


def _verdict(test: BoundaryTest, steps: int) -> list[str]:
    """Sentences computed from the tables at one budget."""
    scan = test.scan[test.scan["steps"] == steps]
    best = test.best_k(steps)
    best_acc = float(scan.loc[scan["best"], "accuracy"].iloc[0])
    six = test.predictor("6 xi_c", steps)
    nothing = test.predictor("nothing trains", steps)
    everything = test.predictor("everything trains", steps)
    depth = test.predictor("best fixed depth", steps)
    cut = test.predictor("best noise cut-off", steps)
    floor = max(nothing["accuracy"], everything["accuracy"])
    indistinct = test.indistinct_k(steps)
    out = [
        f"- **Best k: {_ks(best)}** (accuracy {best_acc:.1%}); the paper's k = 6 scores "
        f"{six['accuracy']:.1%} (balanced {_pct(six['balanced_accuracy'])}).",
        f"- Floor: nothing trains {nothing['accuracy']:.1%}, everything trains "
        f"{everything['accuracy']:.1%}; 6 xi_c is {six['accuracy'] - floor:+.1%} above the "
        f"better of the two. One-parameter boundaries fitted to the same cells: a fixed depth "
        f"(D = {depth['parameter']:g}, noise ignored) {depth['accuracy']:.1%}, a noise "
        f"cut-off (xi_c >= {_num(cut['parameter'])}, depth ignored) {cut['accuracy']:.1%}.",
    ]
    rival = max((depth, cut), key=lambda r: r["accuracy"])
    if best_acc <= rival["accuracy"]:
        what = ("a fixed depth that ignores the noise" if rival is depth
                else "a cut-off on the noise that ignores the depth")
        out.append(f"- The best k xi_c boundary does **not** beat {what} "
                   f"({rival['accuracy']:.1%} against {best_acc:.1%}): at this budget the data "
                   f"do not single out the form depth <= k xi_c.")
    else:
        out.append(f"- The best k xi_c boundary beats the best noise-blind and depth-blind "
                   f"boundaries by {best_acc - rival['accuracy']:.1%} "
                   f"({round((best_acc - rival['accuracy']) * int(scan['n_cells'].iloc[0]))} of "
                   f"{int(scan['n_cells'].iloc[0])} cells).")
    worse = [float(k) for k in scan.loc[scan["worse_every_seed"], "k"]]
    n_cells = int(scan["n_cells"].iloc[0])
    others = scan[~scan["best"]].sort_values("accuracy", ascending=False)
    runner = (f"; the runner-up, k = {others['k'].iloc[0]:g}, scores {others['accuracy'].iloc[0]:.1%}"
              f" ({round((best_acc - others['accuracy'].iloc[0]) * n_cells)} of {n_cells} cells "
              f"fewer)" if len(others) else "")
    close = [k for k in indistinct if k not in best]
    if close:
        tie = (f"k = {_ks(close)} {'ties' if len(close) == 1 else 'tie'} or "
               f"{'beats' if len(close) == 1 else 'beat'} it on at least one seed, so the data "
               f"cannot separate {'it' if len(close) == 1 else 'them'} from the best")
    else:
        tie = "no other k ties or beats it on any seed"
    out.append(f"- k = {_ks(worse)} score below the best on every seed; {tie}{runner}.")
    out.append(f"- k = 6 is {'among' if 6.0 in indistinct else '**not** among'} the k the data "
               f"cannot separate from the best.")
    consistent = test.consistent_k(steps)
    b = test.boundaries[(test.boundaries["steps"] == steps)
                        & np.isfinite(test.boundaries["xi_c"].to_numpy(float))]
    if consistent is None:
        lows = b[b["monotone"]].sort_values("k_low", ascending=False).head(2)
        highs = b[b["monotone"]].sort_values("k_high").head(2)
        out.append(
            "- No single k fits every noise level's measured boundary: the intervals of k do "
            "not overlap (highest lower ends: "
            + ", ".join(f"{r.noise} k >= {r.k_low:.2f}" for r in lows.itertuples())
            + "; lowest upper ends: "
            + ", ".join(f"{r.noise} k < {_num(r.k_high, '.2f')}" for r in highs.itertuples())
            + ").")
    else:
        out.append(f"- Every monotone noise level's measured boundary allows k in "
                   f"[{consistent[0]:.2f}, {_num(consistent[1], '.2f')}).")
    law = test.power_law(steps)
    if law is not None:
        out.append(
            f"- Measured boundary against xi_c ({law['n_levels']} noise levels bracketed on "
            f"both sides; geometric mean of the deepest trainable and the shallowest "
            f"untrainable depth): it grows like xi_c^{law['slope']:.2f} (the form k xi_c has "
            f"exponent 1); boundary / xi_c runs from {law['k_min']:.1f} (xi_c = "
            f"{law['xi_min']:.2f}) to {law['k_max']:.1f} (xi_c = {law['xi_max']:.2f}).")
    bad = b[~b["monotone"]]
    if len(bad):
        out.append(f"- Not monotone in depth (a deeper network trained where a shallower one "
                   f"did not): {', '.join(bad['noise'])}.")
    return out


def _noise_free(grid: DepthGrid) -> list[str]:
    lines = []
    for steps in grid.budgets:
        cells = grid.cells(steps)
        free = cells[~np.isfinite(cells["xi_c"].to_numpy(float))]
        if not len(free):
            return []
        ok = free[free["trainable"]]
        lines.append(
            f"- {steps} steps: {len(ok)} of {len(free)} depths trainable "
            f"(relative validation loss "
            + ", ".join(f"depth {r.depth}: {r.rel_val_loss:.2f}" for r in free.itertuples())
            + ").")
    return lines


def _budget_changes(grid: DepthGrid) -> list[str]:
    budgets = grid.budgets
    if len(budgets) < 2:
        return []
    first, last = grid.cells(budgets[0]), grid.cells(budgets[-1])
    keys = ["noise", "depth"]
    merged = first[keys + ["trainable", "rel_val_loss", "six_xi_c"]].merge(
        last[keys + ["trainable", "rel_val_loss"]], on=keys, suffixes=("_a", "_b"))
    gained = merged[~merged["trainable_a"] & merged["trainable_b"]]
    lost = merged[merged["trainable_a"] & ~merged["trainable_b"]]
    lines = [
        f"- {len(gained)} of {len(merged)} cells are untrainable after {budgets[0]} steps and "
        f"trainable after {budgets[-1]}; {len(lost)} go the other way.",
        f"- Mean relative validation loss: {merged['rel_val_loss_a'].mean():.3f} after "
        f"{budgets[0]} steps, {merged['rel_val_loss_b'].mean():.3f} after {budgets[-1]}.",
    ]
    above = gained[gained["depth"] > gained["six_xi_c"]]
    if len(above):
        lines.append(
            f"- Cells deeper than 6 xi_c that train only with the larger budget (noise, depth: "
            f"6 xi_c, rel. loss {budgets[0]} -> {budgets[-1]}): "
            + "; ".join(f"{r.noise}, {r.depth}: {r.six_xi_c:.1f}, {r.rel_val_loss_a:.2f} -> "
                        f"{r.rel_val_loss_b:.2f}" for r in above.itertuples()) + ".")
    return lines


def _boundary_rows(cells) -> list[str]:
    rows = []
    for _, sub in cells.groupby(["noise_kind", "noise_value"], sort=True):
        ok = sub.loc[sub["trainable"], "depth"]
        bad = sub.loc[~sub["trainable"], "depth"]
        above = sub.loc[~sub["trainable_theory"], "rel_val_loss"]
        below = sub.loc[sub["trainable_theory"], "rel_val_loss"]
        rows.append(
            f"| {sub['noise'].iloc[0]} | {sub['xi_c'].iloc[0]:.3g} | {sub['six_xi_c'].iloc[0]:.3g} "
            f"| {ok.max() if len(ok) else '-'} | {bad.min() if len(bad) else '-'} "
            f"| {f'{below.mean():.2f}' if len(below) else '-'} "
            f"| {f'{above.mean():.2f}' if len(above) else '-'} |"
        )
    return rows


def _timing(seconds, train_cpu_seconds, load) -> list[str]:
    if seconds is None:
        return []
    text = f"- Wall-clock time: {seconds:.0f} s"
    if train_cpu_seconds is not None and math.isfinite(train_cpu_seconds):
        text += f"; CPU time of the training, summed over workers: {train_cpu_seconds:.0f} s"
    if load is not None and None not in load:
        text += (f"; 1-minute load average {load[0]:.1f} at the start, {load[1]:.1f} at the end "
                 f"({os.cpu_count()} CPUs)")
    return [text + "."]


def depth_report(
    grid: DepthGrid, vmap: VarianceMap, config: DepthConfig, *, test: BoundaryTest | None = None,
    figures=(), base=None, seconds: float | None = None,
    train_cpu_seconds: float | None = None, load: tuple | None = None,
) -> str:
    """The Markdown report of a depth run.

    Parameters
    ----------
    grid : DepthGrid
    vmap : VarianceMap
    config : DepthConfig
    test : BoundaryTest, optional
        Default :func:`svccakit.depth.scan.boundary_test` of ``grid``.
    figures : sequence of path-like
        PNGs to link (relative to ``base`` when given).
    base : path-like, optional
    seconds : float, optional
        Wall-clock time to state.
    train_cpu_seconds : float, optional
        CPU time of the training to state.
    load : (float, float), optional
        1-minute load average at the start and the end.

    Returns
    -------
    str
    """
    if test is None:
        test = boundary_test(grid)
    e = config.experiment
    last = grid.budgets[-1]
    n_seeds = int(grid.at().table["seed"].nunique())
    cells = grid.cells()
    opt = e.optimiser
    thresholds = (0.5, 0.7, 0.8, 0.9, 0.95)
    lines = [
        "# Noise limits trainable depth",
        "",
        "Critically initialised noisy ReLU networks (`sigma_w^2 = 2/mu2`, `sigma_b = 0`; "
        "Pretorius et al. 2018) reconstructing scikit-learn's 8x8 digits (MSE on "
        "standardised pixels), over depth x noise, against the theory's trainable depth "
        "`k xi_c` (Schoenholz et al. 2017 and Pretorius et al. 2018 put k at about 6).",
        "",
        f"- Networks: 64 -> {e.width} x depth -> 64, ReLU, noise before every linear layer "
        f"(the input's too); {opt.name} lr {opt.lr:g}, batch {opt.batch_size}; training "
        f"budgets {list(grid.budgets)} steps (the same runs, losses taken after each); "
        f"{e.task.n_val} validation images, the rest of the 1797 for training; seeds "
        f"{list(e.seeds)}; {len(grid.at().table)} networks.",
        f"- Depths (hidden layers): {list(config.depths)}.",
        f"- Noises: {', '.join(e.noises)}.",
        "- Losses: in eval mode (noise off): `train_loss` on the whole training set, "
        "`val_loss` on the validation set; `rel_val_loss` (`rel_train_loss`) divides by the "
        "validation (training) MSE of the mean training image. A network is *trainable* "
        f"when `rel_val_loss < {grid.threshold:g}`; a cell (noise, depth) when the mean over "
        "seeds is.",
        *_timing(seconds, train_cpu_seconds, load),
        "",
        "## Which boundary fits: depth <= k xi_c for k = 1..12",
        "",
        "Each boundary predicts *trainable* for `depth <= k xi_c`; its accuracy is the "
        "fraction of cells where that matches the measurement. *Balanced accuracy* averages "
        "the recall on the measured-trainable and the measured-untrainable cells, so a "
        "constant predictor scores 50% whatever the mix. Per seed: the accuracy of each "
        "seed's networks on their own. Noise-free cells have `xi_c = inf` (`c* = 1`, "
        "`chi = 1`), so every k predicts them trainable at every depth: they count in "
        "*accuracy* (a failing deep noise-free network counts against the theory) but add "
        "the same to every k, so they cannot move the best k; *noisy cells only* leaves them "
        "out. *Worse than best on every seed* is a sign test: for two equally good k it "
        f"happens by chance with probability 2^-{n_seeds} = {0.5 ** n_seeds:.3g} "
        f"({n_seeds} seeds), so it separates k only weakly.",
        "",
    ]
    for steps in grid.budgets:
        lines += [f"### {steps} steps", "", *_verdict(test, steps), "", *_scan_table(test, steps), ""]
    thresholds_table = threshold_scan(grid)
    lines += [
        "### Other trainability thresholds",
        "",
        "The threshold is the one choice the theory does not fix. The best k and the floor "
        "when a network must beat the mean image by another margin:",
        "",
        "| threshold | steps | best k | its accuracy | 6 xi_c | nothing trains | "
        "everything trains |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in thresholds_table.itertuples():
        lines.append(f"| {r.threshold:g} | {r.steps} | {_ks(r.best_k)} | {_pct(r.best_accuracy)} "
                     f"| {_pct(r.six_accuracy)} | {_pct(r.nothing_trains)} "
                     f"| {_pct(r.everything_trains)} |")
    lines += [
        "",
        "### Trivial and fitted predictors",
        "",
        "\"6 xi_c\" has no fitted parameter; \"best k xi_c\", \"best fixed depth\" "
        "(`depth <= D`) and \"best noise cut-off\" (`xi_c >= X`) each choose one number to "
        "fit these cells, so they compare on equal terms.",
        "",
        *_predictor_table(test),
        "",
        "## Measured boundary of each noise level",
        "",
        "The deepest trainable and the shallowest untrainable grid depth of each noise "
        "level (seed-averaged cells), and the k whose `k xi_c` falls between them. If the "
        "boundary is `k xi_c` with one k, these intervals overlap.",
        "",
        *_boundary_table(test),
        "",
    ]
    free = _noise_free(grid)
    if free:
        lines += ["## Noise-free column", "",
                  "Without noise the theory puts no limit on depth (`xi_c = inf`). Measured:",
                  "", *free, ""]
    changes = _budget_changes(grid)
    if changes:
        lines += ["## Training budget", "",
                  "The same networks after each budget (the learning rate is constant, so the "
                  "losses after the smaller budget are those of a run with that budget).", "",
                  *changes, "",
                  "| steps | 6 xi_c accuracy | best k | best k accuracy |", "|---|---|---|---|"]
        for s in grid.budgets:
            sc = test.scan[(test.scan["steps"] == s) & test.scan["best"]]
            lines.append(f"| {s} | {_pct(test.predictor('6 xi_c', s)['accuracy'])} "
                         f"| {_ks(test.best_k(s))} | {_pct(float(sc['accuracy'].iloc[0]))} |")
        lines.append("")
    lines += [
        f"## Agreement with 6 xi_c ({last} steps)",
        "",
        f"**{grid.agreement():.1%}** of the {len(cells)} (noise, depth) cells agree: measured "
        f"trainable (relative validation loss < {grid.threshold:g}) exactly where "
        "`depth <= 6 xi_c`.",
        "",
    ]
    away = cells[~cells["near_boundary"]]
    if len(away):
        lines.append(
            f"- away from the curve (leaving out, per noise level, the grid depth just below "
            f"and just above 6 xi_c): {away['agrees'].mean():.1%} of {len(away)} cells.")
    lines += [
        "",
        "**What sets the threshold.** A network deeper than `6 xi_c` has lost the "
        "correlation between inputs (every pair converges to `c*`, whatever the inputs), so "
        "its output cannot depend on the input and the best it can do is the trivial "
        "predictor, the mean training image. Untrainable networks sit at a relative loss "
        "of about 1 (last column below), so the threshold is set just clear of that "
        "plateau, not fitted to the theory. Agreement at other thresholds:",
        "",
        "| threshold | " + " | ".join(f"{t:g}" for t in thresholds) + " |",
        "|---|" + "---|" * len(thresholds),
        "| agreement | " + " | ".join(f"{grid.agreement(t):.1%}" for t in thresholds) + " |",
        "",
        "| noise | xi_c | 6 xi_c | deepest trainable | shallowest untrainable | mean rel. val. "
        "loss, depth <= 6 xi_c | mean rel. val. loss, depth > 6 xi_c |",
        "|---|---|---|---|---|---|---|",
        *_boundary_rows(cells),
    ]
    bad = cells[~cells["agrees"]]
    if len(bad):
        lines += ["", "Disagreeing cells (noise, depth: 6 xi_c, relative val. loss): "
                  + "; ".join(f"{r.noise}, {r.depth}: {r.six_xi_c:.1f}, {r.rel_val_loss:.2f}"
                              for r in bad.itertuples()) + "."]
    lines += [
        "",
        "## Variance through depth (float32)",
        "",
        f"Real float32 forward passes (width {vmap.width}, {vmap.noise}, {vmap.n_inputs} digits "
        f"rescaled to `|x|^2/D = 1`, noise on) over {vmap.sigma_w2.size} values of "
        f"`sigma_w^2` in [{vmap.sigma_w2[0]:.3g}, {vmap.sigma_w2[-1]:.3g}] and depth "
        f"1..{vmap.depths[-1]}: the measured `q^l` is inside float32's normal range exactly "
        f"where the theory `q^l = (sigma_w^2 mu2/2)^(l-1) q^1` says in **{vmap.agreement:.1%}** "
        f"of the cells; at criticality (`sigma_w^2 = {vmap.critical_sigma_w2:.3g}`) it stays "
        "in range at every depth.",
        "",
        "## Figures",
        "",
    ]
    for path in figures:
        rel = Path(os.path.relpath(path, base)).as_posix() if base is not None else str(path)
        lines.append(f"![{Path(path).stem}]({rel})")
    lines.append("")
    return "\n".join(lines)
