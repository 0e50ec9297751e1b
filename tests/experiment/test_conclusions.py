"""svccakit.experiment.report.conclusions: sentences written from measured tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from svccakit.experiment.report.conclusions import closeness, compare, conclusions, run_summary


def test_compare_separates_only_beyond_the_seed_spread():
    far = compare([0.9, 0.91, 0.92], [0.5, 0.52, 0.51])
    assert far.separated
    assert far.diff == pytest.approx(0.4)
    near = compare([0.5, 0.7, 0.6], [0.55, 0.65, 0.6])
    assert not near.separated
    one = compare([0.9], [0.1, 0.2])  # one seed cannot separate anything
    assert not one.separated
    assert one.sd_a == 0.0
    nan = compare([0.9, math.nan, 0.8], [0.1, 0.2])
    assert nan.n_a == 2
    assert nan.separated
    assert "0.850 ± 0.071 against 0.150 ± 0.071 (n = 2 seeds each)" == nan.text()


def _fake(crit_final, he_final, crit_loss, he_loss, steps=(0, 10, 100)):
    """results rows for 3 seeds x 2 inits, 2 reference layers, 2 student layers."""
    rows = []
    for init, finals, losses in (("critical", crit_final, crit_loss), ("he", he_final, he_loss)):
        for seed, (final, _loss) in enumerate(zip(finals, losses, strict=True)):
            run = f"{init}-s{seed}"
            for step in steps:
                frac = step / steps[-1]
                for ref in ("act1", "act2"):
                    for layer in ("act1", "act2"):
                        value = 0.3 + frac * (final - 0.3) if layer == ref else 0.31
                        rows.append((run, "reference", init, "relu", "dropout:0.8", seed, step,
                                     layer, ref, "svcca", value, 0.3))
    results = pd.DataFrame(rows, columns=["run", "reference", "init", "activation", "noise",
                                          "seed", "step", "layer", "ref_layer", "metric",
                                          "value", "baseline"])
    curves = pd.DataFrame(
        [(f"{init}-s{seed}", init, "relu", "dropout:0.8", seed, 100, "loss", loss)
         for init, losses in (("critical", crit_loss), ("he", he_loss))
         for seed, loss in enumerate(losses)],
        columns=["run", "init", "activation", "noise", "seed", "step", "metric", "value"])
    return results, curves


def test_closeness_is_chance_corrected_best_match():
    results, _ = _fake([0.9] * 3, [0.6] * 3, [0.1] * 3, [0.2] * 3)
    close = closeness(results)
    last = close[(close["step"] == 100) & (close["init"] == "critical")]
    np.testing.assert_allclose(last["closeness"], (0.9 - 0.3) / 0.7)
    np.testing.assert_allclose(last["raw"], 0.9)
    first = close[close["step"] == 0]
    np.testing.assert_allclose(first["closeness"], (0.31 - 0.3) / 0.7)  # the off-diagonal wins


def test_conclusions_say_better_where_separated_and_say_so_where_not():
    results, curves = _fake([0.90, 0.91, 0.92], [0.60, 0.61, 0.62],
                            [0.10, 0.12, 0.11], [0.10, 0.12, 0.11])
    close = closeness(results)
    summary = run_summary(curves, close, trivial_loss=0.5)
    assert summary["rel_loss"].tolist() == pytest.approx([0.2, 0.24, 0.22] * 2)
    text = "\n".join(conclusions(summary, close, informative_count=2, readout_count=1))
    assert "closer" in text or "Closeness" in text
    assert "Closeness to the optimum at the last step (chance-corrected, mean over the " \
           "informative layers) — SVCCA 0.871" in text
    assert ": critical closer." in text
    assert "Final relative training loss 0.220 ± 0.020 against 0.220 ± 0.020" in text
    assert "the seeds do not separate them" in text  # the loss
    assert "Separated beyond the seed spread: closeness in SVCCA (relu, noise dropout:0.8, " \
           "critical vs he: critical closer)" in text
    assert "disagree" not in text
    assert "1 optimum layer(s) have rank ≤ 2" in text


def test_conclusions_report_no_learning_when_nothing_moves():
    results, curves = _fake([0.3] * 3, [0.3] * 3, [0.69] * 3, [0.69] * 3)
    close = closeness(results)
    summary = run_summary(curves, close)
    text = "\n".join(conclusions(summary, close, informative_count=2, readout_count=0))
    assert "no speed to compare" in text
    assert "no run reproduces the optimum's intermediate layers" in text


def test_diverged_runs_are_counted_and_left_out():
    results, curves = _fake([0.90, 0.91, 0.92], [0.60, 0.61, 0.62],
                            [0.10, 0.12, 0.11], [0.10, 0.12, 0.11])
    # every he run stopped at step 10 (diverged): drop its later rows
    he = curves["init"] == "he"
    curves.loc[he, "step"] = 10
    results = results[(results["init"] == "critical") | (results["step"] <= 10)]
    close = closeness(results)
    summary = run_summary(curves, close, trivial_loss=0.5, steps=100)
    assert summary.loc[summary["init"] == "he", "diverged"].all()
    assert not summary.loc[summary["init"] == "critical", "diverged"].any()
    text = "\n".join(conclusions(summary, close, informative_count=2, readout_count=0))
    assert "With every he seed diverged, there is nothing else to compare." in text
    assert "3 of 3 he seed(s) diverged" in text
    assert "divergence (relu, noise dropout:0.8: critical 0/3, he 3/3)" in text


def test_metrics_that_disagree_are_said_to():
    results, curves = _fake([0.90, 0.91, 0.92], [0.60, 0.61, 0.62],
                            [0.10, 0.12, 0.11], [0.10, 0.12, 0.11])
    flipped = results.copy()
    flipped["metric"] = "cka"
    swap = {"critical": "he", "he": "critical"}  # cka says the opposite
    flipped["run"] = [f"{swap[i]}-s{s}" for i, s in zip(flipped["init"], flipped["seed"],
                                                         strict=True)]
    flipped["init"] = flipped["init"].map(swap)
    both = pd.concat([results, flipped], ignore_index=True)
    close = closeness(both)
    summary = run_summary(curves, close)
    text = "\n".join(conclusions(summary, close, informative_count=2, readout_count=0))
    assert "SVCCA 0.871" in text
    assert ": critical closer" in text
    assert ": he closer" in text
    assert "The metrics disagree about which is closer" in text
