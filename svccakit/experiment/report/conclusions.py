"""What an experiment showed, in sentences written from its measured tables.

The report's conclusions are computed, not written by hand: every sentence comes from
:func:`closeness` (how close each run's layers come to the optimum's, step by step),
:func:`run_summary` (one row per run) and :func:`compare` (two groups of seeds, and
whether their difference stands out from the seed spread). Where the seeds cannot
separate two schemes, the text says so.

*Separated* means ``|mean_a - mean_b| > 2 * SE`` with
``SE = sqrt(sd_a^2 / n_a + sd_b^2 / n_b)`` over seeds: a rough two-sided check at about
the 5 % level for a handful of seeds, not a substitute for more seeds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from svccakit.experiment.report._results import _CONFIG, _check_results, _metric_name, _ordered
from svccakit.experiment.report.tables import best_matches

__all__ = ["Comparison", "closeness", "compare", "conclusions", "run_summary"]

SPEED_FRACTION = 0.5
"""Speed is the first step at which a run's closeness gets this fraction of the way from
the two schemes' (higher) mean starting closeness to their (lower) mean final closeness:
a level both reach and neither starts at. Without such a level (neither scheme moves
closer by 0.02 or more) no speed is compared."""


@dataclass(frozen=True)
class Comparison:
    """Two groups of per-seed values.

    Attributes
    ----------
    mean_a, sd_a, n_a, mean_b, sd_b, n_b : float, float, int, ...
        Mean, standard deviation (ddof=1; 0 for one value) and count of each group
        (NaN values are left out).
    diff : float
        ``mean_a - mean_b``.
    se : float
        Standard error of the difference.
    separated : bool
        ``|diff| > 2 se`` with at least two values per group.
    """

    mean_a: float
    sd_a: float
    n_a: int
    mean_b: float
    sd_b: float
    n_b: int
    diff: float
    se: float
    separated: bool

    def text(self, fmt: str = ".3f") -> str:
        """``"0.812 ± 0.020 against 0.774 ± 0.031 (n = 3 each)"``."""
        return (f"{self.mean_a:{fmt}} ± {self.sd_a:{fmt}} against {self.mean_b:{fmt}} ± "
                f"{self.sd_b:{fmt}} ({_n_text(self.n_a, self.n_b)})")


def _n_text(n_a: int, n_b: int) -> str:
    return f"n = {n_a} seeds each" if n_a == n_b else f"n = {n_a} and {n_b} seeds"


def compare(a, b) -> Comparison:
    """Compare two groups of per-seed values (see the module docstring).

    Parameters
    ----------
    a, b : sequence of float

    Returns
    -------
    Comparison
    """
    a = np.asarray([v for v in np.asarray(a, dtype=float) if np.isfinite(v)])
    b = np.asarray([v for v in np.asarray(b, dtype=float) if np.isfinite(v)])

    def stats(x):
        if len(x) == 0:
            return math.nan, math.nan
        return float(x.mean()), float(x.std(ddof=1)) if len(x) > 1 else 0.0

    (ma, sa), (mb, sb) = stats(a), stats(b)
    se = (math.sqrt(sa**2 / len(a) + sb**2 / len(b)) if len(a) and len(b) else math.nan)
    diff = ma - mb
    separated = bool(len(a) >= 2 and len(b) >= 2 and np.isfinite(diff)
                     and abs(diff) > 2 * se and (se > 0 or diff != 0))
    return Comparison(ma, sa, len(a), mb, sb, len(b), diff, se, separated)


def closeness(results, *, informative: Sequence[str] | None = None,
              layers: Sequence[str] | None = None):
    """How close each run's layers are to the optimum's, at every step.

    For each metric, run and step: the chance-corrected similarity
    (:func:`~svccakit.experiment.report.tables.chance_corrected`) of each informative
    reference layer with its best-matching student layer
    (:func:`~svccakit.experiment.report.tables.best_matches`), averaged over the
    informative reference layers. 0 is the shuffled chance level, 1 the optimum's own
    representation.

    Parameters
    ----------
    results : pandas.DataFrame
        Output of :func:`svccakit.timeline` with ``pairs="all"``.
    informative : sequence of str, optional
        Reference layers averaged (default: all).
    layers : sequence of str, optional
        Student layers that may match (default: all).

    Returns
    -------
    pandas.DataFrame
        Columns ``metric``, ``run``, ``init``, ``activation``, ``noise``, ``seed``,
        ``step``, ``closeness`` (chance-corrected) and ``raw`` (the uncorrected mean).
    """
    import pandas as pd

    _check_results(results)
    frames = []
    for metric in _ordered(results["metric"]):
        best = best_matches(results, metric=metric, layers=layers)
        if informative is not None:
            best = best[best["ref_layer"].isin(list(informative))]
        per_run = (best.groupby(["run", *_CONFIG, "seed", "step"], sort=False, dropna=False)
                   .agg(closeness=("corrected", "mean"), raw=("value", "mean"))
                   .reset_index())
        per_run.insert(0, "metric", metric)
        frames.append(per_run)
    return pd.concat(frames, ignore_index=True)


def run_summary(curves, close, *, trivial_loss: float | None = None,
                steps: int | None = None):
    """One row per run: final training metrics and closeness to the optimum.

    Parameters
    ----------
    curves : pandas.DataFrame
        Output of :func:`~svccakit.experiment.report.tables.training_curves`.
    close : pandas.DataFrame
        Output of :func:`closeness`.
    trivial_loss : float, optional
        The loss of the best constant prediction, for ``rel_loss``.
    steps : int, optional
        The training steps every run was given; a run whose last snapshot is earlier
        stopped because its training diverged (``diverged``).

    Returns
    -------
    pandas.DataFrame
        ``run``, the configuration columns, ``seed``, the final value of every training
        metric (``loss``, ``accuracy``, ...), ``rel_loss`` (``loss / trivial_loss``), and
        for each metric ``m`` of ``close``: ``m_init`` and ``m_final`` (closeness at the
        first and last recorded step), ``stopped_at`` (the last recorded step) and
        ``diverged``.
    """
    import pandas as pd

    rows = {}
    if curves is not None and len(curves):
        for run, curve in curves.groupby("run", sort=False):
            last = curve[curve["step"] == curve["step"].max()]
            row = rows.setdefault(run, {"run": run})
            row.update({c: last[c].iloc[0] for c in [*_CONFIG, "seed"]})
            row.update(dict(zip(last["metric"], last["value"], strict=True)))
            row["stopped_at"] = int(curve["step"].max())
    for (metric, run), group in close.groupby(["metric", "run"], sort=False):
        group = group.sort_values("step")
        row = rows.setdefault(run, {"run": run})
        row.update({c: group[c].iloc[0] for c in [*_CONFIG, "seed"]})
        row[f"{metric}_init"] = float(group["closeness"].iloc[0])
        row[f"{metric}_final"] = float(group["closeness"].iloc[-1])
    table = pd.DataFrame(list(rows.values()))
    if steps is not None and "stopped_at" in table:
        table["diverged"] = table["stopped_at"] < steps
    else:
        table["diverged"] = False
    if trivial_loss and "loss" in table:
        table["rel_loss"] = table["loss"] / trivial_loss
    return table


def _first_step(curve, level: float) -> float:
    hit = curve[curve["closeness"] >= level]
    return float(hit["step"].min()) if len(hit) else math.nan


def _verdict(c: Comparison, better: str, worse: str, higher_is_better: bool = True) -> str:
    if not c.separated:
        return "the seeds do not separate them"
    a_better = (c.diff > 0) == higher_is_better
    return f"{better if a_better else worse} is better, beyond the seed spread"


def _metrics_of(summary) -> list[str]:
    return [c[: -len("_final")] for c in summary.columns if c.endswith("_final")]


def _closeness_text(a, b, name_a: str, name_b: str, metrics: Sequence[str]):
    """``(sentence, {metric: Comparison})`` comparing closeness in every metric."""
    found, cells = {}, []
    for metric in metrics:
        c = compare(a[f"{metric}_final"], b[f"{metric}_final"])
        if not (c.n_a and c.n_b):
            continue
        found[metric] = c
        verdict = ("not separated" if not c.separated
                   else f"{name_a if c.diff > 0 else name_b} closer")
        cells.append(f"{_metric_name(metric)} {c.text()}: {verdict}")
    if not found:
        return "", found
    signs = {np.sign(c.diff) for c in found.values() if c.separated}
    text = ("Closeness to the optimum at the last step (chance-corrected, mean over the "
            "informative layers) — " + "; ".join(cells) + ".")
    if len(signs) > 1:
        text += (" The metrics disagree about which is closer, so this comparison does not "
                 "settle it.")
    return text, found


def conclusions(summary, close, *, informative_count: int, readout_count: int,
                phases=None, headline_metric: str = "svcca") -> list[str]:
    """The report's conclusions, as Markdown lines, from measured tables.

    Runs that diverged are counted and left out of the comparisons (their last numbers
    are not the result of training). Closeness is compared in every metric of
    ``close``; where separated differences point different ways, the text says the
    metrics disagree.

    Parameters
    ----------
    summary : pandas.DataFrame
        Output of :func:`run_summary`.
    close : pandas.DataFrame
        Output of :func:`closeness`.
    informative_count, readout_count : int
        How many optimum layers are informative and read-out only.
    phases : pandas.DataFrame, optional
        One row per (init, activation, noise) with ``phase`` and ``chi_1``.
    headline_metric : str
        The metric whose closeness defines the speed comparison and the summary of
        learning.

    Returns
    -------
    list of str
    """
    lines: list[str] = []
    name = _metric_name(headline_metric)
    col = f"{headline_metric}_final"
    metrics = _metrics_of(summary)
    has_acc = "accuracy" in summary
    loss_col = "rel_loss" if "rel_loss" in summary else "loss"
    loss_name = "relative training loss" if loss_col == "rel_loss" else "training loss"
    inits = _ordered(summary["init"])
    others = [i for i in inits if i != "critical"]
    settings = list(dict.fromkeys(zip(summary["activation"], summary["noise"], strict=True)))
    separated, unseparated = [], []
    ok = summary[~summary["diverged"]]

    lines += ["### Does a critical initialisation get closer to the optimum, sooner?", ""]
    if "critical" not in inits or not others:
        lines += ["The grid has no critical initialisation to compare with another scheme.", ""]
    for activation, noise in settings:
        here = summary[(summary["activation"] == activation) & (summary["noise"] == noise)]
        crit = here[here["init"] == "critical"]
        for other in others:
            rival = here[here["init"] == other]
            if len(crit) == 0 or len(rival) == 0:
                continue
            label = f"{activation}, noise {noise}"
            phase_note = _phase_note(phases, other, activation, noise)
            ok_c, ok_o = crit[~crit["diverged"]], rival[~rival["diverged"]]
            parts = [f"- **{label}, critical against {other}**{phase_note}:"]
            diverged_c, diverged_o = int(crit["diverged"].sum()), int(rival["diverged"].sum())
            for init, k, group in (("critical", diverged_c, crit), (other, diverged_o, rival)):
                if k:
                    parts.append(f"{k} of {len(group)} {init} seed(s) diverged (training loss "
                                 "no longer finite) and stopped early; they are left out of "
                                 "what follows.")
            if diverged_c != diverged_o and (diverged_c == len(crit) or diverged_o == len(rival)
                                             or abs(diverged_c - diverged_o) >= 2):
                separated.append(f"divergence ({label}: critical {diverged_c}/{len(crit)}, "
                                 f"{other} {diverged_o}/{len(rival)})")
            if len(ok_c) == 0 or len(ok_o) == 0:
                gone = "critical" if len(ok_c) == 0 else other
                parts.append(f"With every {gone} seed diverged, there is nothing else to "
                             "compare.")
                lines.append(" ".join(parts))
                continue
            loss = compare(ok_c[loss_col], ok_o[loss_col])
            parts.append(f"Final {loss_name} {loss.text()} — "
                         f"{_verdict(loss, 'critical', other, False)}.")
            if loss.separated:
                lower = "critical" if loss.diff < 0 else other
                separated.append(f"training loss ({label}, critical vs {other}: {lower} lower)")
            else:
                unseparated.append(f"training loss ({label}, critical vs {other})")
            if has_acc:
                acc = compare(ok_c["accuracy"], ok_o["accuracy"])
                parts.append(f"Final accuracy {acc.text()}.")
            text, found = _closeness_text(ok_c, ok_o, "critical", other, metrics)
            if text:
                parts.append(text)
                for metric, c in found.items():
                    if c.separated:
                        closer = "critical" if c.diff > 0 else other
                        separated.append(f"closeness in {_metric_name(metric)} ({label}, "
                                         f"critical vs {other}: {closer} closer)")
                    else:
                        unseparated.append(f"closeness in {_metric_name(metric)} ({label}, "
                                           f"critical vs {other})")
            keep = set(ok_c["run"]) | set(ok_o["run"])
            speed = _speed(close[close["run"].isin(keep)], headline_metric, activation,
                           noise, "critical", other)
            if speed is None:
                parts.append(f"{name} closeness does not rise 0.02 or more above its starting "
                             "value in both schemes, so there is no speed to compare.")
            else:
                level, c = speed
                parts.append(f"Steps to reach {name} closeness {level:.2f}: {c.text('.0f')}"
                             f" — {_verdict(c, 'critical', other, False)}.")
                (separated if c.separated else unseparated).append(
                    f"speed ({label}, critical vs {other})")
            lines.append(" ".join(parts))
    lines.append("")

    activations = _ordered(summary["activation"])
    if len(activations) > 1:
        lines += ["### Does the shifted ReLU differ from the ReLU?", ""]
        base = activations[0]
        for other in activations[1:]:
            for init in inits:
                for noise in _ordered(summary["noise"]):
                    a = summary[(summary["activation"] == other) & (summary["init"] == init)
                                & (summary["noise"] == noise)]
                    b = summary[(summary["activation"] == base) & (summary["init"] == init)
                                & (summary["noise"] == noise)]
                    if len(a) == 0 or len(b) == 0:
                        continue
                    head = f"- **{init}, noise {noise}: {other} against {base}**: "
                    da, db = int(a["diverged"].sum()), int(b["diverged"].sum())
                    a, b = a[~a["diverged"]], b[~b["diverged"]]
                    if len(a) == 0 or len(b) == 0:
                        lines.append(head + f"every {other if len(a) == 0 else base} seed "
                                     f"diverged ({other} {da}, {base} {db}); nothing to "
                                     "compare.")
                        continue
                    loss = compare(a[loss_col], b[loss_col])
                    text = (head + f"final {loss_name} {loss.text()} — "
                            f"{_verdict(loss, other, base, False)}.")
                    if da or db:
                        text += f" Diverged and left out: {other} {da}, {base} {db}."
                    close_text, _ = _closeness_text(a, b, other, base, metrics)
                    lines.append(text + (" " + close_text if close_text else ""))
        lines.append("")

    lines += ["### Do the networks learn the optimum's intermediate layers?", ""]
    init_col = f"{headline_metric}_init"
    if col in ok and init_col in ok and len(ok):
        gain = compare(ok[col], ok[init_col])
        left_out = len(summary) - len(ok)
        lines.append(
            f"- Over the {len(ok)} runs that did not diverge"
            + (f" ({left_out} did)" if left_out else "")
            + f", the closeness ({name}, chance-corrected) of the {informative_count} "
            f"informative optimum layer(s) to their best-matching student layers went from "
            f"{gain.mean_b:.3f} ± {gain.sd_b:.3f} at step 0 to {gain.mean_a:.3f} ± "
            f"{gain.sd_a:.3f} at the last step"
            + (f" ({'closer' if gain.diff > 0 else 'further'}, beyond the spread over runs)."
               if gain.separated else " (no change beyond the spread over runs)."))
        best = ok[col].max()
        lines.append(
            f"- The closest any run came is {best:.3f} on the chance-corrected scale "
            f"(1 = the optimum's own representation); "
            + ("no run reproduces the optimum's intermediate layers."
               if best < 0.9 else "some runs come close to the optimum's intermediate layers."))
    if readout_count:
        lines.append(f"- {readout_count} optimum layer(s) have rank ≤ 2 on the probe: they "
                     "carry a read-out (a bit, a logit), and matching them says only that the "
                     "read-out is linearly available; they are left out of these numbers.")
    lines.append("")

    lines += ["### What this experiment can and cannot separate", ""]
    if separated:
        lines.append("- Separated beyond the seed spread: " + "; ".join(separated) + ".")
    if unseparated:
        lines.append("- Not separated by these seeds (more seeds, or a setting with a larger "
                     "effect, would be needed): " + "; ".join(unseparated) + ".")
    lines.append("")
    return lines


def _speed(close, metric, activation, noise, a, b):
    """(level, Comparison of first steps) or None when neither scheme moves closer.

    The level lies :data:`SPEED_FRACTION` of the way from the higher of the two schemes'
    mean step-0 closeness to the lower of their mean final closeness: a level both reach
    and neither starts at."""
    data = close[(close["metric"] == metric) & (close["activation"] == activation)
                 & (close["noise"] == noise)]
    starts, finals = [], []
    for init in (a, b):
        runs = data[data["init"] == init]
        if len(runs) == 0:
            return None
        first = runs[runs["step"] == runs.groupby("run")["step"].transform("min")]
        last = runs[runs["step"] == runs.groupby("run")["step"].transform("max")]
        starts.append(first["closeness"].mean())
        finals.append(last["closeness"].mean())
    base, top = max(starts), min(finals)
    if not (np.isfinite(base) and np.isfinite(top)) or top - base < 0.02:
        return None
    level = base + SPEED_FRACTION * (top - base)
    steps = {init: [_first_step(g, level) for _, g in data[data["init"] == init].groupby("run")]
             for init in (a, b)}
    return level, compare(steps[a], steps[b])


def _phase_note(phases, init, activation, noise) -> str:
    if phases is None or len(phases) == 0:
        return ""
    hit = phases[(phases["init"] == init) & (phases["activation"] == activation)
                 & (phases["noise"] == noise)]
    if len(hit) == 0:
        return ""
    row = hit.iloc[0]
    chi = row["chi_1"]
    chi_text = f", χ₁ = {chi:.3g}" if np.isfinite(chi) else ""
    return f" ({init}: {row['phase']}{chi_text})"
