"""Figures and report.md from a synthetic results table (no training needed)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from matplotlib import _pylab_helpers
from matplotlib.figure import Figure
from matplotlib.image import imread

from svccakit.experiment import report
from svccakit.experiment.timeline import COLUMNS

STEPS = (0, 1, 2, 4, 8, 16, 32, 64)
LAYERS = ("act1", "act2", "act3", "out")


def _value(init, layer_index, step, seed):
    rate = (0.2 if init == "critical" else 0.03) / (1 + layer_index)
    return 0.1 + 0.85 * (1 - math.exp(-rate * step)) + 0.01 * seed


def _runs():
    """(name, init, activation, seed) of the 8 fake runs (noise "none")."""
    for init in ("critical", "pytorch-default"):
        for activation in ("relu", "shifted-relu:0.5"):
            for seed in (0, 1):
                yield f"{init}-{activation}-none-s{seed}", init, activation, seed


def _results(pairs="matching", metrics=("svcca",)):
    rows = []
    for name, init, activation, seed in _runs():
        for step in STEPS:
            for i, layer in enumerate(LAYERS):
                refs = LAYERS if pairs == "all" else (layer,)
                for ref in refs:
                    shift = 0.0 if ref == layer else -0.05
                    for metric in metrics:
                        rows.append((name, "reference", init, activation, "none", seed,
                                     step, layer, ref, metric,
                                     _value(init, i, step, seed) + shift, 0.05 + 0.01 * i))
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _curves():
    rows = []
    for name, init, activation, seed in _runs():
        for step in STEPS:
            rows.append((name, init, activation, "none", seed, step, "loss",
                         0.7 / (1 + step) + 0.01 * seed))
            rows.append((name, init, activation, "none", seed, step, "accuracy",
                         1 - 0.5 / (1 + step)))
    return pd.DataFrame(rows, columns=list(report.CURVE_COLUMNS))


def test_final_similarity_summarises_over_seeds():
    results = _results()
    table = report.final_similarity(results)
    assert len(table) == 4 * len(LAYERS)
    row = table[(table["init"] == "critical") & (table["activation"] == "relu")
                & (table["layer"] == "act2")].iloc[0]
    values = [_value("critical", 1, STEPS[-1], s) for s in (0, 1)]
    assert row["mean"] == pytest.approx(np.mean(values))
    assert row["std"] == pytest.approx(np.std(values))
    assert row["n_seeds"] == 2
    assert row["baseline"] == pytest.approx(0.06)
    # layers keep network order, not alphabetical order
    assert list(table["layer"][:4]) == list(LAYERS)


def test_steps_to_threshold_is_first_crossing():
    results = _results()
    table = report.final_similarity(results)
    for row in table.to_dict("records"):
        i = LAYERS.index(row["layer"])
        for t in report.THRESHOLDS:
            firsts = [next((s for s in STEPS if _value(row["init"], i, s, seed) >= t), None)
                      for seed in (0, 1)]
            hit = [f for f in firsts if f is not None]
            assert row[f"reached_{t:g}"] == len(hit)
            if hit:
                assert row[f"step_{t:g}"] == pytest.approx(np.mean(hit))
            else:
                assert math.isnan(row[f"step_{t:g}"])
    # the critical networks get there sooner in this synthetic table
    crit = table[(table["init"] == "critical") & (table["layer"] == "act1")]["step_0.5"]
    rand = table[(table["init"] == "pytorch-default") & (table["layer"] == "act1")]["step_0.5"]
    assert crit.max() < rand.min()


def test_final_training_takes_last_step():
    table = report.final_training(_curves())
    loss = table[(table["metric"] == "loss") & (table["init"] == "critical")
                 & (table["activation"] == "relu")].iloc[0]
    assert loss["mean"] == pytest.approx(0.7 / (1 + STEPS[-1]) + 0.005)
    assert loss["n_seeds"] == 2


@pytest.mark.parametrize(
    "plot", [report.plot_similarity, report.plot_heatmaps, report.plot_final, report.plot_pairs]
)
def test_plots_return_figures_without_pyplot_state(plot):
    fig = plot(_results(pairs="all"), metric="svcca")
    assert isinstance(fig, Figure)
    assert fig.axes
    assert _pylab_helpers.Gcf.get_num_fig_managers() == 0


def test_similarity_plot_has_one_panel_per_activation_and_layer():
    fig = report.plot_similarity(_results())
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == 2 * len(LAYERS)
    titles = {ax.get_title() for ax in panels}
    assert titles == {f"{act} · {name}" for act in ("relu", "shifted-relu:0.5")
                      for name in LAYERS}
    # two initialisations in two colours plus the chance level in each panel
    colours = {line.get_color() for line in panels[0].get_lines()}
    assert len(colours) == 3


def test_write_figures_and_report_for_matching_pairs(tmp_path):
    results = _results(pairs="matching", metrics=("svcca", "cka"))
    files = report.write_figures(results, _curves(), tmp_path / "figures")
    names = sorted(p.name for p in files.figures)
    assert names == sorted(["similarity_svcca.png", "heatmap_svcca.png", "final_svcca.png",
                            "similarity_cka.png", "heatmap_cka.png", "final_cka.png",
                            "training.png"])
    for path in files.figures:
        image = imread(path)
        assert image.shape[0] > 300
        assert image.shape[1] > 500
        assert image.std() > 0.01  # not blank
    md = report.write_report(results, _curves(), tmp_path / "report.md",
                             figures=files.figures, config_toml="[task]\nname = \"parity\"\n")
    text = md.read_text()
    assert "![SVCCA similarity against training step](figures/similarity_svcca.png)" in text
    assert "| init | activation | noise | layer | final SVCCA | baseline | steps to 0.5 |" in text
    assert "## Final linear CKA similarity per configuration and layer" in text
    assert "## Final training loss and accuracy" in text
    assert '```toml\n[task]\nname = "parity"\n```' in text
    # every figure linked exists relative to the report
    for line in text.splitlines():
        if line.startswith("!["):
            target = line[line.index("(") + 1:-1]
            assert (tmp_path / target).is_file()
    # one table row per configuration x layer for each metric
    table_rows = [line for line in text.splitlines() if line.startswith("| critical")]
    assert len(table_rows) == 2 * 2 * len(LAYERS) + 2


def test_write_figures_and_report_for_all_pairs(tmp_path):
    results = _results(pairs="all", metrics=("svcca", "cka"))
    files = report.write_figures(results, _curves(), tmp_path / "figures",
                                 informative=["act1", "act2"])
    names = sorted(p.name for p in files.figures)
    assert names == sorted(["headline.png", "best_svcca.png", "layers_svcca.png",
                            "best_cka.png", "layers_cka.png", "training.png"])
    for path in files.figures:
        image = imread(path)
        assert image.std() > 0.01  # not blank
    layers = pd.DataFrame({"layer": list(LAYERS), "n_features": [8, 8, 8, 2],
                           "rank": [8, 6, 2, 1], "informative": [True, True, False, False]})
    md = report.write_report(results, _curves(), tmp_path / "report.md", figures=files.figures,
                             reference_layers=layers, trivial_loss=0.7, keep=0.99, steps=64)
    text = md.read_text()
    assert "![Closeness to the optimum during training](figures/headline.png)" in text
    assert "## Conclusions" in text
    assert "critical against pytorch-default" in text
    assert "| act3 | 8 | 2 | read-out only |" in text
    assert "(2 of 4; layers of rank ≤ 2 on the probe carry only a read-out" in text
    # the best match of optimum layer act1 is student act1 (the others are 0.05 lower)
    assert "| critical | relu | none | act1 | act1 |" in text
    assert "| critical | relu | none | act3 |" not in text  # read-out layers left out
    for line in text.splitlines():
        if line.startswith("!["):
            assert (tmp_path / line[line.index("(") + 1:-1]).is_file()


def test_similarity_plot_wraps_deep_networks():
    fig = report.plot_similarity(_results(), max_columns=3)
    panels = [ax for ax in fig.axes if ax.axison]
    assert len(panels) == 2 * len(LAYERS)
    assert len(fig.axes) == 2 * 2 * 3  # two wrapped rows of three per activation


def test_training_figure_skipped_without_curves(tmp_path):
    files = report.write_figures(_results(), None, tmp_path)
    assert "training.png" not in {p.name for p in files.figures}
    assert "pairs_svcca.png" not in {p.name for p in files.figures}


def test_errors_name_the_problem(tmp_path):
    results = _results()
    with pytest.raises(TypeError, match="results must be a pandas DataFrame, got dict"):
        report.write_figures({}, None, tmp_path)
    with pytest.raises(ValueError, match=r"missing the timeline column\(s\) \['baseline'\]"):
        report.plot_similarity(results.drop(columns="baseline"))
    with pytest.raises(ValueError, match="at least one row"):
        report.plot_final(results.iloc[:0])
    with pytest.raises(ValueError, match="metric 'pwcca' not in results"):
        report.plot_heatmaps(results, metric="pwcca")
    off = results.assign(ref_layer="elsewhere")
    with pytest.raises(ValueError, match="no matching layer pairs"):
        report.final_similarity(off)
    with pytest.raises(ValueError, match="max_columns: expected an integer >= 1, got 0"):
        report.plot_similarity(results, max_columns=0)
    with pytest.raises(ValueError, match="at least one training metric"):
        report.plot_training(_curves().iloc[:0])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        report.write_report(results, None, tmp_path / "missing" / "report.md")
