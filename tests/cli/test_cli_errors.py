"""Expected failures are one line and exit 1; internal errors keep their traceback; an
unreachable --scheduler fails before any work."""

from __future__ import annotations

import pytest

from svccakit import _parallel as parallel
from svccakit.cli import main

TOP = {"depth": "3", "width": "8", "steps": "24", "seeds": "[0]", "n_jobs": "1",
       "activations": '["relu"]', "inits": '["critical"]'}
TABLES = """
[task]
n_bits = 6
n_train = 48
n_probe = 64
[optimiser]
batch_size = 16
{optimiser}
[schedule]
n = 5
[timeline]
baseline_n = 0
"""


def tiny(tmp_path, top=None, optimiser="", name="tiny.toml"):
    """A tiny experiment config file (one critical ReLU run and the reference)."""
    keys = {**TOP, **(top or {})}
    text = "\n".join(f"{k} = {v}" for k, v in keys.items()) + TABLES.format(optimiser=optimiser)
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def one_line_error(capsys, command, *fragments):
    err = capsys.readouterr().err
    assert err.startswith(f"svccakit {command}: error: "), err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    return err


# --------------------------------------------------------------------- expected failures


def test_diverging_training_is_one_line(tmp_path, capsys):
    config = tiny(tmp_path, optimiser="lr = 1e30\non_divergence = \"raise\"")
    assert main(["run", "--config", config, "--out", str(tmp_path / "o"), "--quiet"]) == 1
    one_line_error(capsys, "run", "training diverged at step", "lower optimiser.lr")


@pytest.mark.parametrize(("top", "optimiser", "fragment"), [
    ({}, "lr = 1e300", "optimiser.lr: expected a number below 3.4e+38"),
    ({"activations": '["shifted-relu:1e300"]'}, "", "the shift of 'shifted-relu:1e300' is out "
                                                    "of range"),
])
def test_bad_numbers_in_the_config_are_one_line(tmp_path, capsys, top, optimiser, fragment):
    config = tiny(tmp_path, top=top, optimiser=optimiser)
    out = tmp_path / "o"
    assert main(["run", "--config", config, "--out", str(out), "--quiet"]) == 1
    one_line_error(capsys, "run", fragment)
    assert not out.exists()  # refused before any work


@pytest.mark.parametrize(("top", "fragment"), [
    ({"depth": str(2**70)}, "depth: at most 10000 hidden layers"),
    ({"width": "1000000000"}, "parameters per network"),
])
def test_impossible_sizes_are_one_line(tmp_path, capsys, top, fragment):
    config = tiny(tmp_path, top=top)
    assert main(["run", "--config", config, "--out", str(tmp_path / "o"), "--quiet"]) == 1
    one_line_error(capsys, "run", fragment)


def test_an_output_path_below_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    out = tmp_path / "afile" / "sub"
    assert main(["run", "--config", tiny(tmp_path), "--out", str(out), "--quiet"]) == 1
    one_line_error(capsys, "run", "Not a directory")


def test_an_unwritable_output_is_one_line(tmp_path, capsys, monkeypatch):
    from svccakit.experiment.config import ExperimentConfig

    def read_only(self, path, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(ExperimentConfig, "to_toml", read_only)
    assert main(["run", "--config", tiny(tmp_path), "--out", str(tmp_path / "o"),
                 "--quiet"]) == 1
    one_line_error(capsys, "run", "Permission denied", "config.toml")


def test_out_of_memory_is_one_line(tmp_path, capsys, monkeypatch):
    from svccakit.experiment import train

    def too_big(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(train, "run_grid", too_big)
    assert main(["run", "--config", tiny(tmp_path), "--out", str(tmp_path / "o"),
                 "--quiet"]) == 1
    one_line_error(capsys, "run", "out of memory")


def test_theory_overflow_is_one_line(capsys):
    assert main(["theory", "--activation", "shifted-relu:1e300"]) == 1
    one_line_error(capsys, "theory", "overflow")
    assert main(["theory", "--noise", "gauss:1e300"]) == 1
    one_line_error(capsys, "theory", "--noise: a value too large to compute with")


# ------------------------------------------------------------------- internal errors


def test_an_internal_error_keeps_its_traceback(tmp_path, monkeypatch):
    from svccakit.experiment import train

    def bug(*args, **kwargs):
        raise ValueError("an internal bug, not the user's input")

    monkeypatch.setattr(train, "run_grid", bug)
    with pytest.raises(ValueError, match="an internal bug"):
        main(["run", "--config", tiny(tmp_path), "--out", str(tmp_path / "o"), "--quiet"])


def test_an_internal_error_in_inspect_keeps_its_traceback(tmp_path, monkeypatch):
    from svccakit.record import store

    def bug(path):
        raise KeyError("internal")

    monkeypatch.setattr(store, "open_run", bug)
    with pytest.raises(KeyError, match="internal"):
        main(["inspect", str(tmp_path / "any.h5")])


# ----------------------------------------------------------------- --scheduler up front


def test_run_with_an_unreachable_scheduler_fails_before_any_work(tmp_path, capsys,
                                                                 monkeypatch):
    from svccakit.experiment import train

    def must_not_train(*args, **kwargs):
        raise AssertionError("trained before the scheduler was checked")

    monkeypatch.setattr(train, "run_grid", must_not_train)
    monkeypatch.setattr(parallel, "CONNECT_TIMEOUT", "0.5s")
    out = tmp_path / "o"
    assert main(["run", "--config", tiny(tmp_path), "--out", str(out), "--quiet",
                 "--scheduler", "tcp://127.0.0.1:9"]) == 1
    one_line_error(capsys, "run", "could not connect to a Dask scheduler at "
                                  "'tcp://127.0.0.1:9'")
    assert not out.exists()  # nothing left behind: the next try needs no --overwrite


def test_depth_with_an_unreachable_scheduler_fails_before_any_work(tmp_path, capsys,
                                                                   monkeypatch):
    from svccakit.depth import experiment as dp

    def must_not_train(*args, **kwargs):
        raise AssertionError("trained before the scheduler was checked")

    monkeypatch.setattr(dp, "depth_grid", must_not_train)
    monkeypatch.setattr(parallel, "CONNECT_TIMEOUT", "0.5s")
    out = tmp_path / "d"
    assert main(["depth", "--out", str(out), "--quiet", "--scheduler", "tcp://127.0.0.1:9"]) == 1
    one_line_error(capsys, "depth", "could not connect to a Dask scheduler")
    assert not out.exists()
