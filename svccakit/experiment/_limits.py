"""Normalised spec strings and size limits of an experiment config.

:class:`svccakit.experiment.config.ExperimentConfig` calls :func:`normalise_grid` first
and :func:`check_limits` last in its validation; :class:`svccakit.DepthConfig` calls
:func:`check_depth_limits`.

Spec strings (``activations``, ``noises``, ``inits``) are parsed and written back in one
canonical form: lower case, no spaces, numbers in Python's shortest form without a
trailing ``.0`` (``" ReLU "`` -> ``"relu"``, ``"Shifted-ReLU:0.50"`` ->
``"shifted-relu:0.5"``, ``"gauss:1.0"`` -> ``"gauss:1"``). Two entries that normalise to
the same spec are an error, and since run file names are made of canonical specs, no
newline or other odd character reaches a file name.

Sizes are bounded by what the request implies, and the error says how much: parameters
per network (memory), the time to train one network (its floating-point work at
1e11 FLOP/s plus 50 microseconds of overhead per step, a fast CPU core; a rough but
honest lower bound), and the disk the run files need. The limits are far above the
paper-sized experiments (``svccakit depth --full``: 4e7 parameters, 6e13 operations and
about 10 minutes at that rate per network) and far below what would exhaust a machine
or run for months.
"""

from __future__ import annotations

import math

from svccakit.exceptions import SizeLimitError

__all__ = [
    "MAX_DEPTH",
    "MAX_DISK_BYTES",
    "MAX_SECONDS_PER_RUN",
    "MAX_PARAMETERS",
    "MAX_SHIFT",
    "MAX_NOISE",
    "check_depth_limits",
    "check_limits",
    "normalise_grid",
]

MAX_DEPTH = 10_000
"""Hidden layers per network."""
MAX_PARAMETERS = 10**9
"""Parameters per network: 4 GB of float32 weights, about 16 GB to train with Adam."""
MAX_SECONDS_PER_RUN = 30 * 86400
"""Estimated time to train one network (30 days), see the module's docstring."""
MAX_DISK_BYTES = 2**40
"""All run files of one experiment together (1 TiB)."""
MAX_SHIFT = 1e3
"""Largest ``|alpha|`` of ``shifted-relu:ALPHA`` (in units of the pre-activation's
standard deviation, about 1 at the critical point)."""
MAX_NOISE = 1e3
"""Largest noise parameter (``gauss:SIGMA``, ``mu2:M``, additive noise scales)."""
_FLOAT32_MAX = 3.4028234663852886e38
_FLOP_RATE = 1e11  # a fast CPU core
_STEP_OVERHEAD = 50e-6  # seconds per training step besides the arithmetic (torch, Python)


def _number(x: float) -> str:
    text = repr(float(x))
    return text[:-2] if text.endswith(".0") else text


def _activation(spec, key: str) -> str:
    from svccakit.meanfield.specs import parse_activation

    try:
        act = parse_activation(spec)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"{key}: {exc}") from None
    if not act.kind.takes_alpha:
        return act.name
    if abs(act.alpha) > MAX_SHIFT:
        raise ValueError(f"{key}: the shift of {spec!r} is out of range, expected "
                         f"|alpha| <= {MAX_SHIFT:g}")
    return f"{act.name}:{_number(act.alpha)}"


def _noise(spec, key: str) -> str:
    from svccakit.meanfield.specs import parse_noise

    try:
        noise = parse_noise(spec)
    except OverflowError:
        raise ValueError(f"{key}: the parameter of {spec!r} is out of range, expected at "
                         f"most {MAX_NOISE:g}") from None
    except ValueError as exc:
        raise ValueError(f"{key}: {exc}") from None
    if noise.kind == "none":
        return "none"
    value = {"dropout": noise.p, "mu2": noise.mu2}.get(noise.kind, noise.sigma)
    if value > MAX_NOISE:
        raise ValueError(f"{key}: the parameter of {spec!r} is out of range, expected at "
                         f"most {MAX_NOISE:g}")
    return f"{noise.kind}:{_number(value)}"


def _choice(spec, key: str) -> str:
    return spec.strip().lower()


def normalise_grid(config) -> None:
    """Write ``config``'s activations, noises and inits back in canonical form; raise
    ValueError for an entry that cannot be parsed or for two entries that are the same
    after normalisation. Entries of a wrong type are left for the config's own checks."""
    for key, canonical in (("activations", _activation), ("noises", _noise),
                           ("inits", _choice)):
        values = getattr(config, key)
        if not isinstance(values, tuple) or not all(isinstance(v, str) for v in values):
            continue
        out, seen = [], {}
        for i, value in enumerate(values):
            spec = canonical(value, f"{key}[{i}]")
            if spec in seen:
                raise ValueError(
                    f"{key}: {seen[spec]!r} and {value!r} are the same ({spec!r}) once "
                    f"normalised (case, spaces and number formats are ignored); list each once"
                )
            seen[spec] = value
            out.append(spec)
        object.__setattr__(config, key, tuple(out))


def _io_features(config) -> tuple[int, int]:
    """About how many input and output features the config's task has."""
    task = config.task
    if task.name == "parity":
        return 2 ** math.ceil(math.log2(task.n_bits)), 2
    if task.name == "teacher":
        return task.in_features, task.out_features
    return 64, 10  # digits


def _parameters(depth: int, width: int, n_in: int, n_out: int) -> int:
    return n_in * width + width + (depth - 1) * (width * width + width) + width * n_out + n_out


def _snapshots(config) -> int:
    s = config.schedule
    if s.kind == "log":
        return min(s.n, config.steps + 1)
    return config.steps // s.every + 2


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if n < 1024 or unit == "EiB":
            return f"{n:.3g} {unit}"
        n /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def _duration(seconds: float) -> str:
    for unit, size in (("years", 365.25 * 86400), ("days", 86400), ("hours", 3600)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"


def check_limits(config) -> None:
    """Raise SizeLimitError when ``config`` implies more memory, time or disk than the
    limits of this module, saying how much it implies."""
    depth, width = config.depth, config.width
    if depth > MAX_DEPTH:
        raise SizeLimitError(f"depth: at most {MAX_DEPTH} hidden layers, got {depth}")
    if config.optimiser.lr > _FLOAT32_MAX:
        raise ValueError(f"optimiser.lr: expected a number below {_FLOAT32_MAX:.3g} (the "
                         f"networks train in float32), got {config.optimiser.lr!r}")
    n_in, n_out = _io_features(config)
    params = _parameters(depth, width, n_in, n_out)
    if params > MAX_PARAMETERS:
        raise SizeLimitError(
            f"depth={depth}, width={width}: about {params:.3g} parameters per network, "
            f"{_bytes(16.0 * params)} of memory to train one (float32 weights, gradients "
            f"and optimiser state); the limit is {MAX_PARAMETERS:.0e} parameters"
        )
    batch = config.optimiser.batch_size
    if config.task.n_train:
        batch = min(batch, config.task.n_train)
    flop = 6.0 * params * batch * config.steps
    seconds = flop / _FLOP_RATE + _STEP_OVERHEAD * config.steps
    if seconds > MAX_SECONDS_PER_RUN:
        raise SizeLimitError(
            f"steps={config.steps}, batch_size={config.optimiser.batch_size}, "
            f"{params:.3g} parameters: training one network takes at least "
            f"{_duration(seconds)} ({flop:.3g} floating-point operations at "
            f"{_FLOP_RATE:.0e} FLOP/s plus {_STEP_OVERHEAD * 1e6:.0f} us per step); the "
            f"limit is {_duration(MAX_SECONDS_PER_RUN)} per network"
        )
    runs = (len(config.inits) * len(config.activations) * len(config.noises)
            * len(config.seeds) + 1)
    per_snapshot = 4.0 * config.task.n_probe * (depth * width + n_out)
    disk = runs * _snapshots(config) * per_snapshot
    if disk > MAX_DISK_BYTES:
        raise SizeLimitError(
            f"{runs} run files of {_snapshots(config)} snapshots, {_bytes(per_snapshot)} "
            f"each (n_probe={config.task.n_probe}, depth={depth}, width={width}): about "
            f"{_bytes(disk)} on disk; the limit is {_bytes(MAX_DISK_BYTES)}"
        )


def check_depth_limits(config) -> None:
    """The limits of :func:`check_limits` at the depth grid's largest depth, distinct
    depths, and the variance heatmap's size."""
    depths = tuple(config.depths)
    dup = sorted({d for d in depths if depths.count(d) > 1})
    if dup:
        raise ValueError(f"depths: expected distinct depths, got {dup} more than once in "
                         f"{list(depths)}")
    check_limits(config.experiment.updated({"depth": max(depths)}))
    if config.variance_max_depth > MAX_DEPTH:
        raise SizeLimitError(f"variance_max_depth: at most {MAX_DEPTH} layers, got "
                             f"{config.variance_max_depth}")
    params = config.variance_width ** 2
    if params > MAX_PARAMETERS:
        raise SizeLimitError(
            f"variance_width={config.variance_width}: {params:.3g} weights per layer "
            f"({_bytes(4.0 * params)} in float32); the limit is {MAX_PARAMETERS:.0e}"
        )
    if config.variance_n_sigma > 10_000:
        raise SizeLimitError(f"variance_n_sigma: at most 10000 values, got "
                             f"{config.variance_n_sigma}")
    flop = 2.0 * params * config.variance_max_depth * config.variance_n_sigma * 64
    if flop / _FLOP_RATE > MAX_SECONDS_PER_RUN:
        raise SizeLimitError(
            f"variance heatmap of width {config.variance_width}, depth "
            f"{config.variance_max_depth}, {config.variance_n_sigma} values of sigma_w^2: "
            f"about {flop:.3g} floating-point operations, at least "
            f"{_duration(flop / _FLOP_RATE)} at {_FLOP_RATE:.0e} FLOP/s; the limit is "
            f"{_duration(MAX_SECONDS_PER_RUN)}"
        )
