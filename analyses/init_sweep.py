"""Where does a critical initialisation differ from He's under noise? A documented sweep.

For each setting (task, depth, noise, activation) the script trains critically and
He-initialised networks (3 seeds each) with the experiment's trainer and recorder, records
the task's exact optimum (the teacher, or the XOR tree for parity) on the same probe
batch, and compares every student layer with every optimum layer (SVCCA and linear CKA,
with a shuffled chance level). One row per run goes to ``init_sweep.csv``; the summary,
critical against He per setting with the seed spread, to ``init_sweep.md``.

Usage::

    python analyses/init_sweep.py --out analyses/results            # the full sweep
    python analyses/init_sweep.py --out /tmp/sweep --quick         # a smoke test

Finished settings are kept in the CSV and skipped when the script runs again, so an
interrupted sweep resumes. All logic lives in svccakit; copy and adapt the grid below.
"""

from __future__ import annotations

import argparse
import itertools
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from svccakit.experiment.config import default_config
from svccakit.experiment.report import best_matches, reference_layers, training_curves
from svccakit.experiment.tasks import make_task
from svccakit.experiment.timeline import timeline
from svccakit.experiment.train import run_grid
from svccakit.meanfield.schemes import init_phase

INITS = ("critical", "he")
SEEDS = (0, 1, 2)
NOISES = ("none", "dropout:0.9", "dropout:0.8", "dropout:0.6")
ACTIVATIONS = ("relu", "shifted-relu:0.5")
# (parity stops at depth 8: under noise it is not learned at all even at depth 4)
FULL = [{"task": "teacher", "depth": (4, 8, 12), "noise": NOISES, "activation": ACTIVATIONS},
        {"task": "parity", "depth": (4, 8), "noise": NOISES, "activation": ACTIVATIONS}]
QUICK = [{"task": "teacher", "depth": (4,), "noise": ("dropout:0.8",),
          "activation": ("relu",)}]
TASKS = {
    # the teacher: a critical random ReLU network of the students' depth and width;
    # every one of its layers is a full-rank intermediate representation
    "teacher": {"task.name": "teacher", "task.n_train": 2048, "task.n_val": 512,
                "task.n_probe": 512, "task.in_features": 32, "task.out_features": 4},
    # 8-bit parity on its whole truth table; optimum: the XOR tree (ranks 8, 4, 2, 1...)
    "parity": {"task.name": "parity", "task.n_train": 0, "task.n_val": 0,
               "task.n_probe": 256, "task.n_bits": 8},
}
COMMON = {"width": 64, "steps": 2000, "schedule.kind": "log", "schedule.n": 8,
          "optimiser.name": "sgd", "optimiser.lr": 0.01, "optimiser.momentum": 0.9,
          "optimiser.batch_size": 32}
KEYS = ["task", "depth", "noise", "activation"]


def trivial_loss(config) -> float:
    """The loss of the best constant prediction on the training set."""
    task = make_task(config)
    if task.kind == "classification":
        p = np.bincount(task.y_train.numpy(), minlength=task.out_features) / len(task.y_train)
        p = p[p > 0]
        return float(-(p * np.log(p)).sum())
    return float(task.y_train.numpy().var(axis=0).mean())


def first_step_below(curve: pd.DataFrame, level: float) -> float:
    hit = curve[curve["value"] <= level]
    return float(hit["step"].min()) if len(hit) else math.nan


def run_setting(setting: dict, work: Path, n_jobs: int) -> list[dict]:
    changes = {**COMMON, **TASKS[setting["task"]], "depth": setting["depth"],
               "noises": [setting["noise"]], "activations": [setting["activation"]],
               "inits": list(INITS), "seeds": list(SEEDS)}
    config = default_config().updated(changes)
    grid = run_grid(config, work, n_jobs=n_jobs, overwrite=True, progress=False)
    results = timeline(grid.runs, grid.reference, metrics=("svcca", "cka"), pairs="all",
                       baseline_n=5, baseline_at="final", n_jobs=n_jobs, progress=False)
    curves = training_curves(grid.runs)
    layers = reference_layers(grid.reference)
    informative = set(layers.loc[layers["informative"], "layer"])
    hidden = [name for name in layers["layer"] if name != "out"]  # students' hidden layers
    trivial = trivial_loss(config)
    rows = []
    for run, curve in curves.groupby("run", sort=False):
        first = curve.iloc[0]
        loss = curve[curve["metric"] == "loss"].sort_values("step")
        final = {m: g.sort_values("step")["value"].iloc[-1]
                 for m, g in curve.groupby("metric")}
        last_step = int(curve["step"].max())
        row = {**setting, "init": first["init"], "seed": int(first["seed"]),
               "diverged": last_step < config.steps, "stopped_at": last_step,
               "trivial_loss": trivial,
               "rel_loss": final["loss"] / trivial,
               "rel_val_loss": final.get("val_loss", math.nan) / trivial,
               "accuracy": final.get("accuracy", math.nan),
               "steps_to_half_loss": first_step_below(loss, 0.5 * trivial),
               "informative_layers": len(informative)}
        phase = init_phase(row["init"], setting["activation"], setting["noise"],
                           width=config.width)
        row.update(phase=phase.phase, chi_1=phase.chi_1)
        for metric in ("svcca", "cka"):
            best = best_matches(results[results["run"] == run], metric=metric, layers=hidden)
            best = best[best["ref_layer"].isin(informative)]
            for when, step in (("init", best["step"].min()), ("final", best["step"].max())):
                at = best[best["step"] == step]
                row[f"{metric}_{when}"] = at["value"].mean()
                row[f"{metric}_{when}_corrected"] = at["corrected"].mean()
            at = best[best["step"] == best["step"].max()]
            row[f"{metric}_chance"] = at["baseline"].mean()
        rows.append(row)
    return rows


def _diff_cell(a: pd.Series, b: pd.Series) -> str:
    a, b = a.dropna().astype(float), b.dropna().astype(float)
    if len(a) < 2 or len(b) < 2:
        return "—"
    diff = a.mean() - b.mean()
    se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    text = f"{diff:+.3f}"
    return f"**{text}**" if se > 0 and abs(diff) > 2 * se else text


def _cell(v: pd.Series) -> str:
    v = v.dropna().astype(float)
    return "—" if len(v) == 0 else f"{v.mean():.3f} ± {v.std(ddof=1):.3f}"


def summarise(table: pd.DataFrame) -> str:
    table = table.copy()
    if "diverged" in table:  # rows written before the column existed did not diverge
        table["diverged"] = table["diverged"].astype("boolean").fillna(False).astype(float)
    lines = ["# Critical against He initialisation under noise: the sweep", "",
             f"{len(table)} runs: {table.groupby(KEYS).ngroups} settings x "
             f"{table['init'].nunique()} initialisations x {table['seed'].nunique()} seeds, "
             f"{COMMON['steps']} SGD steps (lr {COMMON['optimiser.lr']}, momentum "
             f"{COMMON['optimiser.momentum']}, batch {COMMON['optimiser.batch_size']}), width "
             f"{COMMON['width']}. Written by `python analyses/init_sweep.py --out "
             "analyses/results`.", "",
             "Mean ± standard deviation over seeds. *rel loss*: final training loss over the "
             "best constant prediction's (1 = nothing learned). *closeness*: at the last step, "
             "for each informative optimum layer (rank > 2) the chance-corrected similarity "
             "((value - chance) / (1 - chance)) of the most similar student hidden layer, "
             "averaged over those layers (0 = chance, 1 = the optimum's representation). "
             "*diverged*: seeds whose training loss stopped being finite (the run ends there; "
             "its loss is left out of the rel loss columns, its closeness is from its last finite "
             "snapshot). **Bold** difference: "
             "|critical - he| larger than twice its standard error over seeds.", "",
             "## Summary", ""]
    header = ["task", "depth", "noise", "activation", "diverged c / he", "rel loss critical",
              "rel loss he", "Δ", "SVCCA closeness critical", "he", "Δ"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for key, group in table.groupby(KEYS, sort=False):
        c, h = group[group["init"] == "critical"], group[group["init"] == "he"]
        div = f"{int(c['diverged'].sum())}/{len(c)} / {int(h['diverged'].sum())}/{len(h)}"
        # a diverged run's loss is from its last finite snapshot: left out of the loss
        cl, hl = c.loc[c["diverged"] == 0, "rel_loss"], h.loc[h["diverged"] == 0, "rel_loss"]
        lines.append("| " + " | ".join([
            *map(str, key), div, _cell(cl) if len(cl) else "all diverged",
            _cell(hl) if len(hl) else "all diverged",
            _diff_cell(cl, hl), _cell(c["svcca_final_corrected"]),
            _cell(h["svcca_final_corrected"]),
            _diff_cell(c["svcca_final_corrected"], h["svcca_final_corrected"])]) + " |")
    metrics = ["rel_val_loss", "accuracy", "svcca_init_corrected", "svcca_final",
               "cka_final", "cka_final_corrected"]
    lines += ["", "## More measures", "",
              "*svcca_init_corrected*: closeness at step 0; *svcca_final*, *cka_final*: the "
              "raw best-match similarity (chance level in brackets).", ""]
    header = ["task", "depth", "noise", "activation", "measure", "critical", "he",
              "critical - he"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for key, group in table.groupby(KEYS, sort=False):
        for metric in metrics:
            c = group.loc[group["init"] == "critical", metric]
            h = group.loc[group["init"] == "he", metric]
            if c.isna().all() and h.isna().all():
                continue
            text = _cell(c)
            if metric in ("svcca_final", "cka_final"):
                text += f" ({group[metric.replace('final', 'chance')].mean():.2f})"
            lines.append("| " + " | ".join([*map(str, key), metric, text, _cell(h),
                                             _diff_cell(c, h)]) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="where init_sweep.csv and init_sweep.md go")
    parser.add_argument("--quick", action="store_true", help="one setting (a smoke test)")
    parser.add_argument("--n-jobs", type=int, default=-1, metavar="N",
                        help="worker processes (joblib: -1 = all cores)")
    args = parser.parse_args(argv)
    grid = QUICK if args.quick else FULL
    args.out.mkdir(parents=True, exist_ok=True)
    csv_path = args.out / "init_sweep.csv"
    table = pd.read_csv(csv_path) if csv_path.exists() else pd.DataFrame()
    settings = []
    for block in grid:
        tasks = block["task"] if isinstance(block["task"], tuple) else (block["task"],)
        axes = {"task": tasks, **{k: v for k, v in block.items() if k != "task"}}
        settings += [dict(zip(axes, values, strict=True))
                     for values in itertools.product(*axes.values())]
    for setting in settings:
        if len(table) and ((table[KEYS] == pd.Series(setting)).all(axis=1)).any():
            continue
        start = time.time()
        with tempfile.TemporaryDirectory() as work:
            rows = run_setting(setting, Path(work), args.n_jobs)
        table = pd.concat([table, pd.DataFrame(rows)], ignore_index=True)
        table.to_csv(csv_path, index=False)
        print(f"{setting}: {time.time() - start:.0f} s", flush=True)
    keys = pd.DataFrame(settings)[KEYS]
    table = table.merge(keys, on=KEYS, how="inner")  # only this grid's settings
    table.to_csv(csv_path, index=False)
    (args.out / "init_sweep.md").write_text(summarise(table), encoding="utf-8")
    print(f"wrote {csv_path} and {args.out / 'init_sweep.md'}")


if __name__ == "__main__":
    main()
