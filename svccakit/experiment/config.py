"""Experiment configuration: a frozen dataclass tree, read from and written to TOML.

:func:`default_config` is the embedded default (``svccakit/configs/default.toml``);
:meth:`ExperimentConfig.from_toml` reads a file in which every key is optional (missing
keys take the defaults of the dataclasses below, which equal the embedded default);
:meth:`ExperimentConfig.to_toml` writes every key with a comment. Errors name the key
(``task.n_bits``), what was expected and the value received.

Layout (top-level keys, then one table per section)::

    depth, width, activations, inits, noises, steps, seeds, n_jobs
    [task]      name, n_bits, encoding, pad, n_train, n_val, n_probe, data_seed,
                probe_seed, in_features, out_features, teacher_seed, reference,
                reference_seeds, reference_steps
    [init]      q_star, weights
    [optimiser] name, lr, momentum, batch_size, weight_decay, on_divergence
    [schedule]  kind, n, every, compression
    [timeline]  metrics, keep, pairs, baseline_n, baseline_at
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from svccakit._validate import check_choice, check_int, check_n_jobs, check_real
from svccakit.experiment._limits import check_limits, normalise_grid
from svccakit.experiment.registry import TASK_NAMES, TASKS
from svccakit.meanfield.schemes import INIT_NAMES, SCHEMES
from svccakit.similarity.registry import METRIC_NAMES as METRICS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "ExperimentConfig",
    "TaskConfig",
    "InitConfig",
    "OptimiserConfig",
    "ScheduleConfig",
    "TimelineConfig",
    "default_config",
    "read_toml",
    "toml_value",
    "DEFAULT_CONFIG_PATH",
]

DEFAULT_CONFIG_PATH = Path(__file__).with_name("configs") / "default.toml"
"""The embedded default configuration file."""


def _doc(text: str, default: Any):
    """A dataclass field with its TOML comment."""
    return field(default=default, metadata={"doc": text})


# ----------------------------------------------------------------------- checking


def _type_name(value) -> str:
    return type(value).__name__


def _int(value, key, minimum=None):
    check_int(value, key, minimum)


def _float(value, key, *, low=None, high=None, low_open=False):
    check_real(value, key, low=low, high=high, low_open=low_open)


def _str(value, key, choices=None):
    if not isinstance(value, str):
        raise TypeError(f"{key}: expected a string, got {_type_name(value)} {value!r}")
    if choices is not None:
        check_choice(value, key, tuple(choices))


def _list(value, key, check, *, allow_empty=False, unique=True):
    if not isinstance(value, tuple):
        raise TypeError(f"{key}: expected a list, got {_type_name(value)} {value!r}")
    if not value and not allow_empty:
        raise ValueError(f"{key}: expected a non-empty list, got []")
    for i, item in enumerate(value):
        check(item, f"{key}[{i}]")
    if unique and len(set(value)) != len(value):
        dup = sorted({v for v in value if value.count(v) > 1}, key=str)
        raise ValueError(f"{key}: expected distinct entries, got duplicates {dup!r} in {list(value)!r}")


# ----------------------------------------------------------------------- sections

INITS = INIT_NAMES
_REMOVED = {
    "init.random_scheme": 'the random scheme is now named in "inits" itself, e.g. inits = '
                          '["critical", "he"]',
}
OPTIMISERS = ("sgd", "adam")
SCHEDULES = ("log", "every")
PAIRS = ("matching", "all")


@dataclass(frozen=True)
class TaskConfig:
    """The ``[task]`` section: what the networks learn and its optimal solution."""

    name: str = _doc("; ".join(f'"{t.name}": {t.summary}' for t in TASKS.values()), "teacher")
    n_bits: int = _doc("parity: number of input bits (>= 2; not a power of two: padded "
                       "with constant zero bits)", 8)
    encoding: str = _doc('parity: input values, "pm1" ({-1, +1}) or "01" ({0, 1})', "pm1")
    pad: str = _doc('parity: where identity layers go when depth > log2(n_bits), "end" '
                    '(after the XOR tree) or "start"', "end")
    n_train: int = _doc("training examples (teacher: >= 1; parity: distinct inputs, 0 = all "
                        "2^n_bits inputs not in the validation split, so for parity on a "
                        "small n_bits set n_train = 0 and n_val = 0; digits: 0 = all examples "
                        "not in the validation split)", 2048)
    n_val: int = _doc("validation examples (0 = no validation split; parity: disjoint "
                      "from the training inputs)", 512)
    n_probe: int = _doc("probe batch size: the inputs every run and the reference are "
                        "recorded on (parity: distinct inputs, capped at 2^n_bits). It sets "
                        "the chance level of every similarity: see the report", 512)
    data_seed: int = _doc("seed of the training/validation data (shared by all runs)", 0)
    probe_seed: int = _doc("seed of the probe batch (shared by all runs and the reference)", 12345)
    in_features: int = _doc("teacher: input dimension (inputs x ~ N(0, I))", 32)
    out_features: int = _doc("teacher: output dimension", 4)
    teacher_seed: int = _doc("teacher: seed of the teacher's critical initialisation", 0)
    reference: str = _doc('path of a reference run file to use instead of recording the '
                          'optimal solution ("" = record it)', "")
    reference_seeds: int = _doc("digits: networks trained for the reference; the best "
                                "validation accuracy wins", 3)
    reference_steps: int = _doc("digits: training steps of each reference network "
                                "(0 = 4 x steps)", 0)

    def __post_init__(self):
        _str(self.name, "task.name", TASK_NAMES)
        _int(self.n_bits, "task.n_bits", 2)
        _str(self.encoding, "task.encoding", ("pm1", "01"))
        _str(self.pad, "task.pad", ("end", "start"))
        _int(self.n_train, "task.n_train", 1 if self.name == "teacher" else 0)
        _int(self.n_val, "task.n_val", 0)
        _int(self.n_probe, "task.n_probe", 2)
        for key in ("data_seed", "probe_seed", "teacher_seed"):
            _int(getattr(self, key), f"task.{key}", 0)
        _int(self.in_features, "task.in_features", 1)
        _int(self.out_features, "task.out_features", 1)
        _str(self.reference, "task.reference")
        _int(self.reference_seeds, "task.reference_seeds", 1)
        _int(self.reference_steps, "task.reference_steps", 0)
        if self.name == "parity" and self.n_bits > 20 and self.n_train == 0:
            raise ValueError(
                f"task.n_train: 0 (all inputs) needs n_bits <= 20, got n_bits={self.n_bits}; "
                "give a number of training inputs"
            )
        if self.name == "parity" and self.n_bits <= 20:
            total = 2**self.n_bits
            if self.n_train + self.n_val > total or self.n_val >= total:
                raise ValueError(
                    f"task.n_train + task.n_val: {self.n_bits}-bit parity has {total} distinct "
                    f"inputs, got {self.n_train} + {self.n_val}"
                )


@dataclass(frozen=True)
class InitConfig:
    """The ``[init]`` section: settings of the critical initialisation."""

    q_star: float = _doc("critical init: variance fixed point q* (inputs have "
                         "||x||^2 / D near 1)", 1.0)
    weights: str = _doc('critical init: "gaussian" or "orthogonal" weights', "gaussian")

    def __post_init__(self):
        _float(self.q_star, "init.q_star", low=0.0, low_open=True)
        _str(self.weights, "init.weights", ("gaussian", "orthogonal"))


@dataclass(frozen=True)
class OptimiserConfig:
    """The ``[optimiser]`` section."""

    name: str = _doc('"sgd" or "adam"', "sgd")
    lr: float = _doc("learning rate", 0.01)
    momentum: float = _doc("sgd: momentum (0 = plain SGD)", 0.9)
    batch_size: int = _doc("minibatch size (>= n_train: full batch)", 32)
    weight_decay: float = _doc("L2 weight decay", 0.0)
    on_divergence: str = _doc('when the training loss or the weights stop being finite: '
                              '"stop" (end that run there, keeping its snapshots; the report '
                              'counts it as diverged) or "raise" (FloatingPointError)', "stop")

    def __post_init__(self):
        _str(self.name, "optimiser.name", OPTIMISERS)
        _float(self.lr, "optimiser.lr", low=0.0, low_open=True)
        _float(self.momentum, "optimiser.momentum", low=0.0)
        if self.momentum >= 1.0:
            raise ValueError(f"optimiser.momentum: expected a number < 1, got {self.momentum!r}")
        _int(self.batch_size, "optimiser.batch_size", 1)
        _float(self.weight_decay, "optimiser.weight_decay", low=0.0)
        _str(self.on_divergence, "optimiser.on_divergence", ("stop", "raise"))


@dataclass(frozen=True)
class ScheduleConfig:
    """The ``[schedule]`` section: when snapshots are recorded (step 0 and the last step
    always are)."""

    kind: str = _doc('"log" (n log-spaced steps: early training changes fastest) or '
                     '"every" (every `every` steps)', "log")
    n: int = _doc("log: number of snapshots (capped at steps + 1)", 15)
    every: int = _doc("every: steps between snapshots", 100)
    compression: str = _doc('how run files store snapshots: "gzip" (deflate, readable by '
                            'every HDF5 tool; ReLU layers shrink about 2-3x), "lzf" (faster, '
                            'h5py only) or "none"', "gzip")

    def __post_init__(self):
        _str(self.kind, "schedule.kind", SCHEDULES)
        _int(self.n, "schedule.n", 2)
        _int(self.every, "schedule.every", 1)
        _str(self.compression, "schedule.compression", ("gzip", "lzf", "none"))


@dataclass(frozen=True)
class TimelineConfig:
    """The ``[timeline]`` section: how runs are compared with the reference."""

    metrics: tuple[str, ...] = _doc('similarity measures, any of "svcca", "pwcca", "cka" (the '
                                    'first is the one the report\'s sentences quote)',
                                    ("svcca", "pwcca", "cka"))
    keep: float = _doc("SVCCA: fraction of variance kept by the SVD step", 0.99)
    pairs: str = _doc('"all" (every run layer with every reference layer: the report needs it '
                      'to find each optimum layer\'s best match) or "matching" (layer l with '
                      'reference layer l)', "all")
    baseline_n: int = _doc("shuffles for the chance-level baseline (0 = none)", 5)
    baseline_at: str = _doc('"all" (a chance level at every recorded step) or "final" (at '
                            "each run's last step only, repeated on its rows: cheaper)", "all")

    def __post_init__(self):
        _list(self.metrics, "timeline.metrics", lambda v, k: _str(v, k, METRICS))
        _float(self.keep, "timeline.keep", low=0.0, high=1.0, low_open=True)
        _str(self.pairs, "timeline.pairs", PAIRS)
        _int(self.baseline_n, "timeline.baseline_n", 0)
        _str(self.baseline_at, "timeline.baseline_at", ("all", "final"))


def _check_init(value, key):
    if value == "random":
        raise ValueError(f"{key}: 'random' is no longer an init; name the scheme: "
                         f"{', '.join(map(repr, SCHEMES))}")
    _str(value, key, INITS)


def _check_activation(value, key):
    from svccakit.meanfield.specs import parse_activation

    _str(value, key)
    try:
        act = parse_activation(value)
    except ValueError as exc:
        raise ValueError(f"{key}: {exc}") from None
    if act.name not in ("relu", "shifted-relu"):
        raise ValueError(f"{key}: expected 'relu' or 'shifted-relu:ALPHA', got {value!r}")


def _check_noise(value, key):
    from svccakit.meanfield.specs import parse_noise

    _str(value, key)
    try:
        parse_noise(value)
    except ValueError as exc:
        raise ValueError(f"{key}: {exc}") from None


_TITLES = {
    "task": "what the networks learn, and its optimal solution",
    "init": "the critical initialisation",
    "optimiser": "minibatch training",
    "schedule": "when snapshots are recorded (step 0 and the last step always are)",
    "timeline": "how runs are compared with the reference (svccakit.timeline)",
}

_SECTIONS = {
    "task": TaskConfig,
    "init": InitConfig,
    "optimiser": OptimiserConfig,
    "schedule": ScheduleConfig,
    "timeline": TimelineConfig,
}


@dataclass(frozen=True)
class ExperimentConfig:
    """One experiment: the task, the grid {inits} x {activations} x {noises} x {seeds},
    training and recording settings, and the timeline settings.

    Build one with :func:`default_config`, :meth:`from_toml`, :meth:`from_dict` or the
    constructor (sections are the dataclasses of this module, lists are tuples);
    :meth:`updated` returns a copy with some keys changed.
    """

    depth: int = _doc("hidden layers of every network (students and optimal solution)", 12)
    width: int = _doc("units per hidden layer", 64)
    activations: tuple[str, ...] = _doc('hidden activations: "relu" and/or "shifted-relu:ALPHA"',
                                        ("relu", "shifted-relu:0.5"))
    inits: tuple[str, ...] = _doc(
        'initialisations: "critical" (mean-field, for the activation and noise; see [init]) '
        'and/or a random scheme: ' + "; ".join(f'"{s.name}" ({s.summary})'
                                               for s in SCHEMES.values()),
        ("critical", "he"))
    noises: tuple[str, ...] = _doc('noise before every linear layer: "none", "dropout:P" '
                                   '(keep rate P), "gauss:SIGMA"', ("dropout:0.8",))
    steps: int = _doc("training steps (minibatch updates) per run", 2000)
    seeds: tuple[int, ...] = _doc("seeds per configuration (initialisation, batch order, "
                                  "noise)", (0, 1, 2))
    n_jobs: int = _doc("parallel worker processes (joblib: -1 = all cores, -2 = all but one)", -1)
    task: TaskConfig = field(default_factory=TaskConfig)
    init: InitConfig = field(default_factory=InitConfig)
    optimiser: OptimiserConfig = field(default_factory=OptimiserConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    timeline: TimelineConfig = field(default_factory=TimelineConfig)

    def __post_init__(self):
        normalise_grid(self)  # canonical specs, no duplicates (experiment/_limits.py)
        _int(self.depth, "depth", 1)
        _int(self.width, "width", 1)
        _list(self.activations, "activations", _check_activation)
        _list(self.inits, "inits", _check_init)
        _list(self.noises, "noises", _check_noise)
        _int(self.steps, "steps", 1)
        _list(self.seeds, "seeds", lambda v, k: _int(v, k, 0))
        check_n_jobs(self.n_jobs, "n_jobs")
        for name, cls in _SECTIONS.items():
            if not isinstance(getattr(self, name), cls):
                raise TypeError(f"{name}: expected a {cls.__name__}, got {_type_name(getattr(self, name))}")
        if self.task.name == "parity" and not self.task.reference:
            levels = math.ceil(math.log2(self.task.n_bits))
            if self.depth < levels:
                raise ValueError(
                    f"depth: the optimal {self.task.n_bits}-bit parity network needs depth >= "
                    f"{levels} (one layer per XOR-tree level), got {self.depth}"
                )
            if self.width < 2**levels:
                raise ValueError(
                    f"width: the optimal {self.task.n_bits}-bit parity network needs width >= "
                    f"{2**levels}, got {self.width}"
                )
        check_limits(self)  # memory, time and disk the request implies

    # ------------------------------------------------------------------ dicts
    def to_dict(self) -> dict[str, Any]:
        """A JSON/TOML-ready dict (lists, not tuples), sections as nested dicts."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExperimentConfig:
        """Build and validate from a nested dict; missing keys take their defaults.

        Raises
        ------
        ValueError
            For an unknown key or section (the message lists the known ones) or an
            invalid value (the message names the key and the value).
        """
        if not isinstance(data, dict):
            raise TypeError(f"config: expected a dict, got {_type_name(data)}")
        top = {}
        sections = {}
        known = [f.name for f in dataclasses.fields(cls)]
        for key, value in data.items():
            if key not in known:
                raise ValueError(f"unknown config key {key!r}; expected one of {', '.join(known)}")
            if key in _SECTIONS:
                if not isinstance(value, dict):
                    raise ValueError(f"{key}: expected a table (section), got {value!r}")
                sections[key] = _section(_SECTIONS[key], key, value)
            else:
                top[key] = _tuples(value)
        return cls(**top, **sections)

    def updated(self, changes: dict[str, Any]) -> ExperimentConfig:
        """A validated copy with keys changed; keys are ``"depth"`` or dotted
        ``"task.n_bits"``."""
        data = self.to_dict()
        for key, value in changes.items():
            section, dot, name = key.partition(".")
            if dot:
                if section not in _SECTIONS:
                    raise ValueError(f"unknown config section {section!r} in key {key!r}; "
                                     f"expected one of {', '.join(_SECTIONS)}")
                data[section][name] = value
            else:
                data[key] = value
        return ExperimentConfig.from_dict(data)

    # ------------------------------------------------------------------- TOML
    @classmethod
    def from_toml(cls, path: str | os.PathLike) -> ExperimentConfig:
        """Read a TOML file (see :data:`DEFAULT_CONFIG_PATH` for every key).

        Raises
        ------
        FileNotFoundError
            If ``path`` does not exist.
        ValueError
            If the file is not valid TOML (message names the file) or a key/value is
            invalid.
        """
        return cls.from_dict(read_toml(path))

    @classmethod
    def from_toml_string(cls, text: str) -> ExperimentConfig:
        """Parse TOML text (see :meth:`from_toml`)."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"config is not valid TOML: {exc}") from None
        return cls.from_dict(data)

    def to_toml_string(self) -> str:
        """Every key with a comment, in the layout of the embedded default."""
        lines = [
            "# svccakit experiment configuration (every key is optional; missing keys take",
            "# the embedded defaults). Reference: docs/config.md, svccakit/experiment/config.py.",
            "",
        ]
        lines += _toml_lines(self)
        for name in _SECTIONS:
            section = getattr(self, name)
            lines += ["", f"# --- {_TITLES[name]}", f"[{name}]"]
            lines += _toml_lines(section)
        return "\n".join(lines) + "\n"

    def to_toml(self, path: str | os.PathLike, *, overwrite: bool = True) -> Path:
        """Write :meth:`to_toml_string` to ``path`` and return it."""
        path = Path(path)
        if path.exists() and not overwrite:
            raise FileExistsError(f"{str(path)!r} already exists; pass overwrite=True to replace it")
        path.write_text(self.to_toml_string(), encoding="utf-8")
        return path


def read_toml(path: str | os.PathLike) -> dict:
    """The contents of a TOML config file as a dict.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not valid TOML (the message names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {str(path)!r} does not exist")
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"config file {str(path)!r} is not valid TOML: {exc}") from None


def _tuples(value):
    return tuple(value) if isinstance(value, list) else value


def _section(cls, prefix, data):
    known = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in known:
            hint = _REMOVED.get(f"{prefix}.{key}")
            if hint:
                raise ValueError(f"config key '{prefix}.{key}' was removed: {hint}")
            raise ValueError(
                f"unknown config key '{prefix}.{key}'; [{prefix}] has {', '.join(known)}"
            )
    return cls(**{k: _tuples(v) for k, v in data.items()})


def toml_value(value) -> str:
    """``value`` (bool, int, float, str or tuple of them) written as a TOML value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a valid TOML basic string
    if isinstance(value, tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} ({_type_name(value)}) to TOML")  # pragma: no cover


def _toml_lines(obj) -> list[str]:
    lines = []
    for f in dataclasses.fields(obj):
        if f.name in _SECTIONS and isinstance(obj, ExperimentConfig):
            continue
        value = getattr(obj, f.name)
        doc = f.metadata.get("doc")
        if doc:
            lines += [f"# {line}" for line in textwrap.wrap(doc, 86)]
        lines.append(f"{f.name} = {toml_value(value)}")
    return lines


def default_config() -> ExperimentConfig:
    """The embedded default configuration (``svccakit/experiment/configs/default.toml``).

    Teacher-student regression at depth 12 under dropout (keep 0.8): the grid
    {critical, he} x {relu, shifted-relu:0.5} x 3 seeds, every student layer against
    every teacher layer in SVCCA, PWCCA and linear CKA; a few minutes on 2 cores. Why
    this setting: ``analyses/results/init_sweep.md``.
    """
    return ExperimentConfig.from_toml(DEFAULT_CONFIG_PATH)
