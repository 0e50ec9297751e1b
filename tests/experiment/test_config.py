"""svccakit.config: the embedded default, TOML round trips, errors naming key and value."""

from __future__ import annotations

import dataclasses

import pytest

from svccakit.experiment.config import (
    DEFAULT_CONFIG_PATH,
    ExperimentConfig,
    InitConfig,
    OptimiserConfig,
    ScheduleConfig,
    TaskConfig,
    TimelineConfig,
    default_config,
)


def custom():
    return ExperimentConfig(
        depth=9, width=40, activations=("shifted-relu:0.25",), inits=("pytorch-default",),
        noises=("none", "dropout:0.9"), steps=123, seeds=(3, 1, 4), n_jobs=2,
        task=TaskConfig(name="digits", n_train=0, n_val=100, n_probe=64, reference='r "x".h5',
                        reference_seeds=2, reference_steps=50),
        init=InitConfig(q_star=0.5, weights="orthogonal"),
        optimiser=OptimiserConfig(name="adam", lr=1e-3, momentum=0.0, batch_size=17,
                                  weight_decay=1e-5),
        schedule=ScheduleConfig(kind="every", n=7, every=11),
        timeline=TimelineConfig(metrics=("cka", "pwcca"), keep=0.95, pairs="all", baseline_n=0),
    )


def test_embedded_default_is_the_dataclass_default():
    assert DEFAULT_CONFIG_PATH.is_file()
    assert default_config() == ExperimentConfig()
    text = DEFAULT_CONFIG_PATH.read_text()
    for f in dataclasses.fields(ExperimentConfig):  # every key present and commented
        if f.name not in ("task", "init", "optimiser", "schedule", "timeline"):
            assert f"\n{f.name} = " in text
    assert text.count("#") > 40


@pytest.mark.parametrize("make", [ExperimentConfig, custom])
def test_toml_round_trip(tmp_path, make):
    config = make()
    path = config.to_toml(tmp_path / "c.toml")
    again = ExperimentConfig.from_toml(path)
    assert again == config
    assert again.to_toml_string() == config.to_toml_string()
    assert ExperimentConfig.from_dict(config.to_dict()) == config


def test_to_dict_is_json_ready():
    d = custom().to_dict()
    assert d["seeds"] == [3, 1, 4]
    assert d["timeline"]["metrics"] == ["cka", "pwcca"]
    assert d["task"]["name"] == "digits"
    assert d["optimiser"]["lr"] == 1e-3


def test_partial_toml_takes_defaults():
    config = ExperimentConfig.from_toml_string('depth = 5\n[optimiser]\nlr = 0.5\n')
    assert config.depth == 5
    assert config.optimiser.lr == 0.5
    assert config.optimiser.batch_size == ExperimentConfig().optimiser.batch_size
    assert config.task == TaskConfig()


def test_updated():
    config = ExperimentConfig().updated({"depth": 6, "task.n_bits": 4, "seeds": [7]})
    assert (config.depth, config.task.n_bits, config.seeds) == (6, 4, (7,))
    with pytest.raises(ValueError, match=r"unknown config section 'model' in key 'model.depth'"):
        ExperimentConfig().updated({"model.depth": 3})


def test_to_toml_does_not_overwrite_when_asked(tmp_path):
    path = ExperimentConfig().to_toml(tmp_path / "c.toml")
    with pytest.raises(FileExistsError, match=r"c.toml' already exists"):
        ExperimentConfig().to_toml(path, overwrite=False)


@pytest.mark.parametrize(
    ("toml", "match"),
    [
        ("deepth = 3", r"unknown config key 'deepth'; expected one of depth, width"),
        ("[task]\nnbits = 3", r"unknown config key 'task.nbits'; \[task\] has name, n_bits"),
        ("task = 3", r"task: expected a table \(section\), got 3"),
        ('depth = "deep"', r"depth: expected an integer, got str 'deep'"),
        ("depth = true", r"depth: expected an integer, got bool True"),
        ("depth = 0", r"depth: expected an integer >= 1, got 0"),
        ("steps = 1.5", r"steps: expected an integer, got float 1.5"),
        ('activations = "relu"', r"activations: expected a list, got str 'relu'"),
        ("activations = []", r"activations: expected a non-empty list, got \[\]"),
        ('activations = ["tanh"]', r"activations\[0\]: expected 'relu' or 'shifted-relu:ALPHA', got 'tanh'"),
        ('activations = ["shifted-relu"]', r"activations\[0\]: activation 'shifted-relu': shifted-relu needs a shift"),
        ('inits = ["critical", "zero"]', r"inits\[1\]: expected one of 'critical', 'pytorch-default', 'xavier', 'lecun', 'he', got 'zero'"),
        ('inits = ["critical", "random"]', r"inits\[1\]: 'random' is no longer an init; name the scheme: 'pytorch-default'"),
        ('noises = ["dropout"]', r"noises\[0\]: noise 'dropout': dropout needs a parameter"),
        ("seeds = [0, 1, 0]", r"seeds: expected distinct entries, got duplicates \[0\]"),
        ("seeds = [-1]", r"seeds\[0\]: expected an integer >= 0, got -1"),
        ("n_jobs = 0", r"n_jobs: expected a non-zero integer"),
        ('depth = 2\n[task]\nname = "parity"\nn_train = 0\nn_val = 0',
         r"depth: the optimal 8-bit parity network needs depth >= 3"),
        ('width = 4\n[task]\nname = "parity"\nn_train = 0\nn_val = 0',
         r"width: the optimal 8-bit parity network needs width >= 8, got 4"),
        ('[task]\nname = "mnist"', r"task.name: expected one of 'parity', 'teacher', 'digits', got 'mnist'"),
        ('[task]\nencoding = "bool"', r"task.encoding: expected one of 'pm1', '01', got 'bool'"),
        ('[task]\nname = "parity"\nn_train = 200\nn_val = 100',
         r"task.n_train \+ task.n_val: 8-bit parity has 256 distinct inputs, got 200 \+ 100"),
        ('[task]\nname = "parity"\nn_train = 0\nn_val = 256',
         r"task.n_train \+ task.n_val: 8-bit parity has 256 distinct inputs, got 0 \+ 256"),
        ('[task]\nname = "teacher"\nn_train = 0', r"task.n_train: expected an integer >= 1, got 0"),
        ('[task]\nname = "parity"\nn_bits = 21\nn_train = 0', r"task.n_train: 0 \(all inputs\) needs n_bits <= 20, got n_bits=21"),
        ("[task]\nreference = 3", r"task.reference: expected a string, got int 3"),
        ('[init]\nrandom_scheme = "lecun"', r"config key 'init.random_scheme' was removed: the random scheme is now named in \"inits\""),
        ("[init]\nq_star = 0", r"init.q_star: expected a number > 0, got 0"),
        ('[optimiser]\nname = "rmsprop"', r"optimiser.name: expected one of 'sgd', 'adam', got 'rmsprop'"),
        ("[optimiser]\nlr = -0.1", r"optimiser.lr: expected a number > 0, got -0.1"),
        ("[optimiser]\nlr = nan", r"optimiser.lr: expected a finite number, got nan"),
        ("[optimiser]\nmomentum = 1.0", r"optimiser.momentum: expected a number < 1, got 1.0"),
        ("[optimiser]\nbatch_size = 0", r"optimiser.batch_size: expected an integer >= 1, got 0"),
        ('[schedule]\nkind = "linear"', r"schedule.kind: expected one of 'log', 'every', got 'linear'"),
        ("[schedule]\nn = 1", r"schedule.n: expected an integer >= 2, got 1"),
        ('[timeline]\nmetrics = ["cca"]', r"timeline.metrics\[0\]: expected one of 'svcca', 'pwcca', 'cka', got 'cca'"),
        ("[timeline]\nkeep = 1.5", r"timeline.keep: expected a number <= 1, got 1.5"),
        ('[timeline]\npairs = "some"', r"timeline.pairs: expected one of 'matching', 'all', got 'some'"),
        ("[timeline]\nbaseline_n = -1", r"timeline.baseline_n: expected an integer >= 0, got -1"),
    ],
)
def test_config_errors_name_key_and_value(toml, match):
    # a value of the wrong type is a TypeError, a wrong value a ValueError
    with pytest.raises((TypeError, ValueError), match=match):
        ExperimentConfig.from_toml_string(toml)


def test_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"config file '.*nope.toml' does not exist"):
        ExperimentConfig.from_toml(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("depth = = 3\n")
    with pytest.raises(ValueError, match=r"config file '.*bad.toml' is not valid TOML"):
        ExperimentConfig.from_toml(bad)
    with pytest.raises(ValueError, match=r"config is not valid TOML"):
        ExperimentConfig.from_toml_string("[task")
    with pytest.raises(TypeError, match=r"config: expected a dict, got list"):
        ExperimentConfig.from_dict([])
    with pytest.raises(TypeError, match=r"task: expected a TaskConfig, got dict"):
        ExperimentConfig(task={})


def test_every_task_has_sizes_that_make_a_valid_config():
    from svccakit.experiment.registry import TASKS

    for kind in TASKS.values():
        config = default_config().updated(kind.config_changes())
        assert config.task.name == kind.name
    parity = default_config().updated(TASKS["parity"].config_changes())
    assert (parity.task.n_train, parity.task.n_val) == (0, 0)  # the whole truth table
