"""Config bounds: canonical spec strings, no duplicates after normalisation, nothing odd
in file names, and sizes bounded by the memory, time and disk they imply."""

from __future__ import annotations

import re

import pytest

from svccakit.experiment.config import ExperimentConfig, default_config
from svccakit.experiment.train import grid_runs

SMALL = {"depth": 3, "width": 8, "steps": 24, "seeds": [0], "task.n_bits": 6,
         "task.n_train": 48, "task.n_probe": 64}


def small(**changes):
    return default_config().updated({**SMALL, **changes})


def test_spec_strings_are_normalised():
    config = small(activations=["RELU", " Shifted-ReLU : 0.50 "],
                   noises=["Dropout:0.50", "GAUSS:1.0", " none "],
                   inits=[" Critical", "HE"])
    assert config.activations == ("relu", "shifted-relu:0.5")
    assert config.noises == ("dropout:0.5", "gauss:1", "none")
    assert config.inits == ("critical", "he")
    assert ExperimentConfig.from_toml_string(config.to_toml_string()) == config
    # the defaults are already canonical
    assert default_config().activations == ("relu", "shifted-relu:0.5")


@pytest.mark.parametrize(("key", "values", "match"), [
    ("activations", ["RELU", "relu"], r"activations: 'RELU' and 'relu' are the same \('relu'\)"),
    ("activations", ["shifted-relu:0.5", "shifted-relu:0.50"], r"the same \('shifted-relu:0.5'\)"),
    ("noises", ["dropout:0.5", "DROPOUT:.5"], r"noises: 'dropout:0.5' and 'DROPOUT:.5' are the "
                                             r"same"),
    ("noises", ["none", "gauss:0"], r"the same \('none'\)|gauss:0"),
    ("inits", ["critical", "Critical "], r"inits: 'critical' and 'Critical ' are the same"),
])
def test_duplicates_after_normalisation_are_refused(key, values, match):
    if values == ["none", "gauss:0"]:  # gauss:0 is no noise too, but a distinct spec
        assert small(**{key: values}).noises == ("none", "gauss:0")
        return
    with pytest.raises(ValueError, match=match):
        small(**{key: values})


def test_no_newline_or_odd_character_reaches_a_file_name():
    config = small(activations=["relu\n", "shifted-relu:\t0.25"], noises=["dropout:0.9\r\n"],
                   inits=["critical\n"])
    names = [spec["name"] for spec in grid_runs(config)]
    assert names == ["critical-relu-dropout0.9-s0", "critical-shifted-relu0.25-dropout0.9-s0"]
    for name in names:
        assert re.fullmatch(r"[a-z0-9.+-]+", name), name
    for bad in ("re\nlu", "relu\x00", "relu/../x", "relu:0.5"):
        with pytest.raises(ValueError, match=r"activations\[0\]"):
            small(activations=[bad])


@pytest.mark.parametrize(("changes", "match"), [
    ({"depth": 10**6}, r"depth: at most 10000 hidden layers, got 1000000"),
    ({"depth": 2**70}, r"depth: at most 10000 hidden layers"),
    ({"width": 10**9}, r"width=1000000000: about 2e\+18 parameters per network, .*EiB of "
                       r"memory to train one .*the limit is 1e\+09 parameters"),
    ({"depth": 2000, "width": 1000}, r"about 2e\+09 parameters per network, 29.8 GiB of memory"),
    ({"steps": 10**12}, r"steps=1000000000000, .*training one network takes at least "
                        r"[0-9.]+ years .* the limit is 30 days per network"),
    ({"seeds": list(range(2000)), "task.n_probe": 10**5, "width": 2000, "depth": 40,
      "inits": ["critical", "he"], "schedule.n": 25},
     r"8001 run files of 25 snapshots, 29.8 GiB each .*: about 5.69 PiB on disk; the "
     r"limit is 1 TiB"),
])
def test_sizes_are_bounded_with_what_they_imply(changes, match):
    with pytest.raises(ValueError, match=match) as info:
        small(**changes)
    assert type(info.value).__name__ == "SizeLimitError"


def test_numbers_beyond_float32_or_the_shift_range_are_refused():
    with pytest.raises(ValueError, match=r"optimiser.lr: expected a number below 3.4e\+38"):
        small(**{"optimiser.lr": 1e300})
    with pytest.raises(ValueError, match=r"activations\[0\]: the shift of 'shifted-relu:1e300' "
                                         r"is out of range, expected \|alpha\| <= 1000"):
        small(activations=["shifted-relu:1e300"])
    with pytest.raises(ValueError, match=r"noises\[0\]: the parameter of 'gauss:1e200' is out "
                                         r"of range"):
        small(noises=["gauss:1e200"])
    with pytest.raises(ValueError, match=r"noises\[0\]: the parameter of 'gauss:1e300' is "
                                         r"out of range"):
        small(noises=["gauss:1e300"])  # overflows inside the parser
    assert small(**{"optimiser.lr": 1e30}).optimiser.lr == 1e30  # diverges, but is a number


def test_the_paper_sized_presets_are_within_the_limits():
    from svccakit.depth.experiment import full_config, quick_config

    assert full_config().experiment.width == 1000
    assert quick_config().depths[-1] == 20


def test_depth_grid_limits():
    from svccakit.depth.experiment import DepthConfig, quick_config

    base = quick_config()
    with pytest.raises(ValueError, match=r"depths: expected distinct depths, got \[2\] more "
                                         r"than once"):
        DepthConfig(experiment=base.experiment, depths=(2, 3, 2))
    with pytest.raises(ValueError, match="depth: at most 10000 hidden layers, got 20000"):
        DepthConfig(experiment=base.experiment, depths=(2, 20000))
    with pytest.raises(ValueError, match="variance_width=100000: 1e\\+10 weights per layer"):
        DepthConfig(experiment=base.experiment, depths=(2,), variance_width=100_000)
    with pytest.raises(ValueError, match="variance_max_depth: at most 10000 layers"):
        DepthConfig(experiment=base.experiment, depths=(2,), variance_max_depth=10**6)
