"""svccakit.depth.scan: the k-scan finds the boundary a synthetic grid was built with."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from svccakit.depth import experiment as dp  # noqa: E402
from svccakit.depth.figures import budget_figure, kscan_figure  # noqa: E402
from svccakit.depth.scan import boundary_test, threshold_scan  # noqa: E402

NOISES = ["dropout:0.1", "dropout:0.3", "dropout:0.5", "dropout:0.7", "dropout:0.9",
          "gauss:0.35", "gauss:1.5", "none"]
DEPTHS = (1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25)


def synthetic_grid(trains, *, noises=NOISES, depths=DEPTHS, seeds=(0, 1, 2), budgets=(100,),
                   threshold=0.9) -> dp.DepthGrid:
    """A grid whose network (noise, depth, seed, steps) has relative validation loss 0.5
    where ``trains(xi_c, depth, seed, steps)`` and 1.0 elsewhere."""
    rows = []
    for noise in noises:
        nz = dp.multiplicative_noise(noise)
        kind, (value,) = dp.noise_axis([noise])
        sigma_w, xi, six = dp.theory_depth(noise)
        for depth in depths:
            for seed in seeds:
                for steps in budgets:
                    rel = 0.5 if trains(xi, depth, seed, steps) else 1.0
                    rows.append({
                        "noise": dp.noise_spec(kind, value), "noise_kind": kind,
                        "noise_value": value, "depth": depth, "seed": seed, "width": 8,
                        "steps": steps, "sigma_w": sigma_w, "mu2": nz.mu2, "xi_c": xi,
                        "six_xi_c": six, "train_loss": rel, "val_loss": rel,
                        "trivial_loss": 1.0, "trivial_train_loss": 1.0, "rel_train_loss": rel,
                        "rel_val_loss": rel, "trainable_theory": depth <= six,
                        "trainable": rel < threshold, "agrees": (rel < threshold) == (depth <= six),
                    })
    return dp.DepthGrid(pd.DataFrame(rows), threshold=threshold)


def k_truth(k):
    return lambda xi, depth, seed, steps: depth <= k * xi


def test_scan_finds_k_six_when_the_grid_follows_six_xi_c():
    test = boundary_test(synthetic_grid(k_truth(6)))
    assert 6.0 in test.best_k()
    scan = test.scan.set_index("k")
    assert scan.loc[6.0, "accuracy"] == 1.0
    assert scan.loc[6.0, "balanced_accuracy"] == 1.0
    assert scan.loc[6.0, "seed_sd"] == 0.0
    # accuracy falls off on both sides: the scan has a maximum, it is not flat
    assert scan.loc[3.0, "accuracy"] < 1.0
    assert scan.loc[12.0, "accuracy"] < 1.0
    assert bool(scan.loc[1.0, "worse_every_seed"])
    assert not bool(scan.loc[6.0, "worse_every_seed"])
    # the measured boundary of each noise level allows k = 6, so the intersection does
    low, high = test.consistent_k()
    assert low <= 6.0 < high


@pytest.mark.parametrize("k", [2, 4, 9])
def test_scan_recovers_other_k(k):
    test = boundary_test(synthetic_grid(k_truth(k)))
    assert float(k) in test.best_k()
    assert 6.0 not in test.best_k()
    assert test.predictor("best k xi_c")["accuracy"] == 1.0
    assert test.predictor("6 xi_c")["accuracy"] < 1.0


def test_trivial_predictors_score_the_class_fractions():
    grid = synthetic_grid(k_truth(6))
    test = boundary_test(grid)
    cells = grid.cells()
    frac = cells["trainable"].mean()
    assert test.predictor("everything trains")["accuracy"] == pytest.approx(frac)
    assert test.predictor("nothing trains")["accuracy"] == pytest.approx(1 - frac)
    for name in ("everything trains", "nothing trains"):
        assert test.predictor(name)["balanced_accuracy"] == pytest.approx(0.5)
        assert not test.predictor(name)["fitted"]
    assert test.predictor("6 xi_c")["parameter"] == 6.0


def test_fixed_depth_beats_k_when_noise_does_not_matter():
    test = boundary_test(synthetic_grid(lambda xi, depth, seed, steps: depth <= 5))
    fixed = test.predictor("best fixed depth")
    assert fixed["parameter"] == 5.0
    assert fixed["accuracy"] == 1.0
    assert test.predictor("best k xi_c")["accuracy"] < 1.0
    # no single k fits every noise level's boundary when the boundary ignores xi_c
    assert test.consistent_k() is None


def test_noise_cut_off_beats_k_when_depth_does_not_matter():
    test = boundary_test(synthetic_grid(lambda xi, depth, seed, steps: xi >= 1.0))
    cut = test.predictor("best noise cut-off")
    assert cut["accuracy"] == 1.0
    assert 1.0 <= cut["parameter"] <= 1.6  # the smallest xi_c >= 1 in the grid (1.55)
    assert test.predictor("best k xi_c")["accuracy"] < 1.0


def test_seeds_that_disagree_make_neighbouring_k_indistinct():
    per_seed = {0: 5, 1: 6, 2: 7}
    grid = synthetic_grid(lambda xi, depth, seed, steps: depth <= per_seed[seed] * xi)
    test = boundary_test(grid)
    assert {5.0, 6.0, 7.0} <= set(test.indistinct_k())
    assert 1.0 not in test.indistinct_k()
    scan = test.scan.set_index("k")
    assert scan.loc[6.0, "seed_sd"] > 0
    assert scan.loc[6.0, "seed_min"] < scan.loc[6.0, "seed_max"]


def test_noise_free_cells_shift_every_k_alike():
    truth = k_truth(6)
    with_free = boundary_test(synthetic_grid(truth))
    without = boundary_test(synthetic_grid(truth, noises=NOISES[:-1]))
    assert with_free.best_k() == without.best_k()
    np.testing.assert_allclose(with_free.scan["accuracy_noisy"], without.scan["accuracy"])
    # a noise-free column that fails deeper than 12 counts against every k alike (every
    # noisy level here has 6 xi_c < 15, so only the noise-free cells change)
    failing = boundary_test(synthetic_grid(
        lambda xi, depth, seed, steps: depth <= 6 * xi and depth <= 12))
    n_cells = len(NOISES) * len(DEPTHS)
    diff = with_free.scan["accuracy"].to_numpy() - failing.scan["accuracy"].to_numpy()
    np.testing.assert_allclose(diff, sum(d > 12 for d in DEPTHS) / n_cells)
    assert failing.best_k() == with_free.best_k()
    free = failing.boundaries[~np.isfinite(failing.boundaries["xi_c"])]
    assert free["deepest_trainable"].iloc[0] == 12
    assert math.isnan(free["k_low"].iloc[0])


def test_budgets_are_scored_separately():
    grid = synthetic_grid(lambda xi, depth, seed, steps: depth <= (3 if steps == 100 else 8) * xi,
                          budgets=(100, 400))
    test = boundary_test(grid)
    assert test.budgets == (100, 400)
    assert 3.0 in test.best_k(100)
    assert 8.0 in test.best_k(400)
    assert test.predictor("best k xi_c", 400)["parameter"] == 8.0
    with pytest.raises(ValueError, match=r"steps: expected one of \[100, 400\], got 200"):
        test.best_k(200)


def test_non_monotone_noise_level_is_flagged():
    # dropout:0.5 (xi_c 0.8) trains at depth 1 and again at 8, not in between
    def trains(xi, depth, seed, steps):
        return depth <= 6 * xi or (abs(xi - 0.796) < 0.01 and depth == 8)

    test = boundary_test(synthetic_grid(trains))
    b = test.boundaries.set_index("noise")
    assert not bool(b.loc["dropout:0.5", "monotone"])
    assert bool(b.loc["dropout:0.1", "monotone"])


def test_boundary_test_errors():
    grid = synthetic_grid(k_truth(6))
    with pytest.raises(TypeError, match="grid: expected a DepthGrid, got dict"):
        boundary_test({})
    with pytest.raises(ValueError, match="ks: expected a non-empty sequence of numbers > 0"):
        boundary_test(grid, ks=[])
    with pytest.raises(ValueError, match="ks: expected a non-empty sequence of numbers > 0"):
        boundary_test(grid, ks=[0, 1])
    with pytest.raises(ValueError, match="name: expected one of .*got 'oracle'"):
        boundary_test(grid).predictor("oracle")


def test_kscan_and_budget_figures():
    import matplotlib.pyplot as plt

    grid = synthetic_grid(lambda xi, depth, seed, steps: depth <= (3 if steps == 100 else 6) * xi,
                          budgets=(100, 400))
    test = boundary_test(grid)
    fig = kscan_figure(test)
    assert len(fig.axes) == 2
    assert fig.axes[0].get_xlabel().startswith("$k$")
    plt.close(fig)
    fig = budget_figure(grid, test)
    assert len(fig.axes) == 2 * 2 + 1  # families x budgets and a colour bar
    plt.close(fig)
    with pytest.raises(TypeError, match="test: expected a BoundaryTest, got DepthGrid"):
        kscan_figure(grid)
    with pytest.raises(TypeError, match="grid: expected a DepthGrid, got BoundaryTest"):
        budget_figure(test)


def test_power_law_slope_is_one_for_a_k_xi_c_boundary_and_more_for_a_steeper_one():
    dense = tuple(range(1, 60))
    linear = boundary_test(synthetic_grid(k_truth(6), depths=dense, seeds=(0,)))
    law = linear.power_law()
    assert law["slope"] == pytest.approx(1.0, abs=0.1)
    assert law["k1"] == pytest.approx(6.0, rel=0.15)
    assert law["n_levels"] == len(NOISES) - 1
    steep = boundary_test(synthetic_grid(lambda xi, depth, seed, steps: depth <= 5 * xi**2,
                                         depths=dense, seeds=(0,)))
    assert steep.power_law()["slope"] == pytest.approx(2.0, abs=0.2)
    assert steep.consistent_k() is None
    # fewer than two bracketed levels: no fit
    assert boundary_test(synthetic_grid(k_truth(6), noises=["dropout:0.5", "none"])).power_law() is None


def test_threshold_scan_repeats_the_test_at_each_threshold():
    # relative loss 0.5 where depth <= 3 xi_c, 0.85 up to 6 xi_c, 1.0 beyond
    grid = synthetic_grid(k_truth(6))
    table = grid.table.copy()
    shallow = table["depth"] <= 3 * table["xi_c"]
    table.loc[~shallow & (table["rel_val_loss"] < 0.9), "rel_val_loss"] = 0.85
    grid = dp.DepthGrid(table, threshold=0.9).with_threshold(0.9)
    scan = threshold_scan(grid, thresholds=(0.7, 0.9))
    assert list(scan["threshold"]) == [0.7, 0.9]
    assert 3.0 in scan["best_k"].iloc[0]
    assert 6.0 in scan["best_k"].iloc[1]
    assert scan["six_accuracy"].iloc[1] == 1.0
    with pytest.raises(TypeError, match="grid: expected a DepthGrid, got list"):
        threshold_scan([])
