"""Tasks with a known optimal solution, and the networks that solve them.

Every task is a :class:`Task`: fixed training/validation tensors, a fixed *probe*
batch (the inputs on which every run and the reference are recorded), and how the
network's output is scored (``kind``). The optimal solution is a network with the same
child names as :func:`svccakit.nets.mlp` (``fc1, act1, ..., fc{depth}, act{depth},
out``), so its layer ``l`` is compared with layer ``l`` of a student.

* ``"parity"`` -- n-bit parity. Inputs ``x`` in ``{-1, +1}^n`` (``encoding="pm1"``,
  bit = 1 where ``x = +1``) or ``{0, 1}^n`` (``encoding="01"``); label = number of set
  bits mod 2. Readout: **two logits** trained with cross-entropy (class 1 = odd). The
  optimal network (:func:`parity_network`) is a tree of XORs, one hidden layer per tree
  level (``ceil(log2 n)`` levels), each XOR exact in two ReLU units:
  ``a XOR b = relu(a + b) - 2 relu(a + b - 1)`` for ``a, b`` in ``{0, 1}``; the
  subtraction is folded into the next layer's weights. When ``n`` is not a power of two
  the bits are padded with constant zero bits (``a XOR 0 = a``) up to the next power of
  two. Deeper networks are padded with identity layers (``relu(v) = v`` for ``v >= 0``),
  after the tree (``pad="end"``, default) or before it (``pad="start"``).
* ``"teacher"`` -- teacher-student regression. A critically initialised random teacher
  (:func:`svccakit.init.critical_` on :func:`svccakit.nets.mlp`, ReLU) labels Gaussian
  inputs ``x ~ N(0, I)``; students regress its outputs with the mean squared error. The
  teacher is the optimal solution.
* ``"digits"`` -- scikit-learn's bundled 8x8 digits (no download), pixels scaled to
  zero mean and unit variance per pixel (training-split statistics), 10 logits with
  cross-entropy. There is no hand-coded solution: the reference is a network of the same
  architecture trained to convergence (see :func:`svccakit.train.train_reference`).
* Your own data: :func:`custom_task`.

Any ReLU network can be rewritten exactly with shifted ReLUs
``phi(z) = max(0, z + alpha) - alpha`` (:func:`to_shifted_relu`): since
``relu(z) = phi(z - alpha) + alpha``, each layer's bias gets ``-alpha`` and the
next layer's bias gets ``+alpha`` times its row sums. The hidden activations are those of
the ReLU network minus ``alpha``, a constant shift that SVCCA, PWCCA and CKA ignore
(they centre).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from svccakit._validate import check_choice, check_int, check_real
from svccakit.experiment.registry import TASK_NAMES, get_task
from svccakit.meanfield.nets import ShiftedReLU, mlp

__all__ = [
    "Task",
    "TASKS",
    "make_task",
    "custom_task",
    "parity_labels",
    "parity_network",
    "teacher_network",
    "to_shifted_relu",
    "trivial_loss",
]

TASKS = TASK_NAMES
"""The task names (the table is :data:`svccakit.experiment.registry.TASKS`)."""
ENCODINGS = ("pm1", "01")
PADS = ("end", "start")
TEACHER_SEED_OFFSET = 1_000_003
"""The teacher with ``teacher_seed = s`` draws its weights with generator seed
``TEACHER_SEED_OFFSET + s``, apart from every student's."""
MAX_ENUMERATED_BITS = 20  # up to 2^20 inputs are enumerated and sampled without replacement


@dataclass(frozen=True, eq=False)
class Task:
    """Data of one task.

    Attributes
    ----------
    name : str
        ``"parity"``, ``"teacher"``, ``"digits"`` or a user's name.
    kind : str
        ``"classification"`` (integer labels, logits, cross-entropy, accuracy) or
        ``"regression"`` (float targets, mean squared error).
    x_train : torch.Tensor of shape (n_train, in_features), float32
    y_train : torch.Tensor
        ``(n_train,)`` int64 labels, or ``(n_train, out_features)`` float32 targets.
    x_val, y_val : torch.Tensor or None
        The validation split, same layouts (``None`` when there is none).
    probe : torch.Tensor of shape (n_probe, in_features), float32
        The inputs every run and the reference are recorded on.
    in_features, out_features : int
        Network input size and number of outputs (logits or targets).
    probe_y : torch.Tensor or None
        Labels/targets of the probe inputs (stored in run files), ``None`` if unknown.
    """

    name: str
    kind: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor | None
    y_val: torch.Tensor | None
    probe: torch.Tensor
    in_features: int
    out_features: int
    probe_y: torch.Tensor | None = None


# ------------------------------------------------------------------------ parity


def parity_labels(x: torch.Tensor, encoding: str = "pm1") -> torch.Tensor:
    """Parity of each row: ``(n_samples, n_bits)`` -> ``(n_samples,)`` int64 in ``{0, 1}``.

    A bit is set where ``x = +1`` (``encoding="pm1"``) or ``x = 1`` (``"01"``).
    """
    check_choice(encoding, "encoding", ENCODINGS)
    return ((x > 0).sum(dim=1) % 2).long()


def _parity_inputs(n_bits, count, encoding, generator, exclude=None):
    """``count`` distinct inputs drawn uniformly (without replacement when enumerable)."""
    if n_bits <= MAX_ENUMERATED_BITS:
        total = 2**n_bits
        order = torch.randperm(total, generator=generator)
        if exclude is not None:
            order = order[~torch.isin(order, exclude)]
        if count > order.numel():
            raise ValueError(
                f"task: asked for {count} distinct {n_bits}-bit parity inputs, only "
                f"{order.numel()} are available (2^{n_bits} = {total} in all); lower n_train/n_val"
            )
        idx = order[:count]
        bits = (idx[:, None] >> torch.arange(n_bits)) & 1
    else:
        idx = None
        bits = torch.randint(0, 2, (count, n_bits), generator=generator)
    x = bits.float() if encoding == "01" else bits.float() * 2.0 - 1.0
    return x, idx


def _parity_task(n_bits, encoding, n_train, n_val, n_probe, data_seed, probe_seed):
    gen = torch.Generator().manual_seed(data_seed)
    x_val = y_val = idx = None
    if n_val > 0:
        x_val, idx = _parity_inputs(n_bits, n_val, encoding, gen)
        y_val = parity_labels(x_val, encoding)
    if n_train == 0:  # every input not in the validation split
        n_train = 2**n_bits - n_val
    x_train, _ = _parity_inputs(n_bits, n_train, encoding, gen, exclude=idx)
    probe, _ = _parity_inputs(
        n_bits, min(n_probe, 2**n_bits) if n_bits <= MAX_ENUMERATED_BITS else n_probe,
        encoding, torch.Generator().manual_seed(probe_seed),
    )
    return Task("parity", "classification", x_train, parity_labels(x_train, encoding), x_val,
                y_val, probe, n_bits, 2, parity_labels(probe, encoding))


def parity_network(
    n_bits: int, depth: int, width: int, *, encoding: str = "pm1", activation: str = "relu",
    pad: str = "end", gain: float = 10.0,
) -> nn.Sequential:
    """The exact n-bit parity network: a tree of XORs, two ReLU units per XOR.

    Tree level ``k`` (``k = 1 .. ceil(log2 n_bits)``) is hidden layer ``k`` and holds
    ``2 * m / 2^k`` active units (``m`` = ``n_bits`` rounded up to a power of two; missing
    bits are constant zeros); the remaining units of each layer have zero weights and bias
    (constant 0). Extra depth is filled with identity layers carrying the parity bit
    (``pad="end"``) or the input bits (``pad="start"``). The readout gives the two logits
    ``gain * (y - 1/2) * (-1, +1)`` for parity ``y``, so ``argmax`` is the parity and the
    cross-entropy is ``log(1 + exp(-gain))``.

    Parameters
    ----------
    n_bits : int
        Number of input bits (>= 2).
    depth : int
        Number of hidden layers, >= ``ceil(log2 n_bits)``.
    width : int
        Units per hidden layer, >= the widest level (``n_bits`` rounded up to a power of two).
    encoding : {"pm1", "01"}
    activation : str
        ``"relu"`` or ``"shifted-relu:ALPHA"`` (same function, see :func:`to_shifted_relu`).
    pad : {"end", "start"}
    gain : float
        Logit scale (> 0).

    Returns
    -------
    nn.Sequential
        Children ``fc1, act1, ..., fc{depth}, act{depth}, out`` (no noise), maps
        ``(n_samples, n_bits)`` to ``(n_samples, 2)`` logits, in eval and train mode.
    """
    n_bits = check_int(n_bits, "n_bits", 2)
    levels = math.ceil(math.log2(n_bits))
    m = 2**levels
    depth = check_int(depth, "depth", 1)
    if depth < levels:
        raise ValueError(
            f"depth: {n_bits}-bit parity needs at least ceil(log2 {n_bits}) = {levels} hidden "
            f"layers for its XOR tree, got depth={depth}"
        )
    width = check_int(width, "width", 1)
    if width < m:
        raise ValueError(
            f"width: the {n_bits}-bit parity tree needs at least {m} units in its widest layer, got width={width}"
        )
    check_choice(encoding, "encoding", ENCODINGS)
    check_choice(pad, "pad", PADS)
    check_real(gain, "gain", low=0.0, low_open=True)

    # The current signal v (values in {0, 1}) as an affine map of the previous layer: v = P h + p.
    P = np.zeros((m, n_bits))
    P[:n_bits, :n_bits] = np.eye(n_bits) * (0.5 if encoding == "pm1" else 1.0)
    p = np.zeros(m)
    p[:n_bits] = 0.5 if encoding == "pm1" else 0.0
    layers = []  # (W, b) of each hidden layer, compact

    def identity():
        nonlocal P, p
        layers.append((P, p))
        P, p = np.eye(P.shape[0]), np.zeros(P.shape[0])

    def xor_level():
        nonlocal P, p
        k = P.shape[0] // 2
        S = np.zeros((2 * k, 2 * k))  # unit rows: u1_i, u2_i = v_{2i} + v_{2i+1} (- 1)
        for i in range(k):
            S[2 * i, 2 * i: 2 * i + 2] = 1.0
            S[2 * i + 1, 2 * i: 2 * i + 2] = 1.0
        bias = np.tile([0.0, -1.0], k)
        layers.append((S @ P, S @ p + bias))
        P = np.zeros((k, 2 * k))
        for i in range(k):
            P[i, 2 * i: 2 * i + 2] = (1.0, -2.0)  # XOR = u1 - 2 u2
        p = np.zeros(k)

    extra = depth - levels
    for _ in range(extra if pad == "start" else 0):
        identity()
    for _ in range(levels):
        xor_level()
    for _ in range(extra if pad == "end" else 0):
        identity()
    sign = np.array([[-1.0], [1.0]])
    w_out, b_out = gain * sign @ P, gain * (sign @ (p - 0.5)[:, None])[:, 0]

    model = mlp(n_bits, width, depth, 2, activation="relu")
    with torch.no_grad():
        for layer, (W, b) in enumerate(layers, start=1):
            fc = getattr(model, f"fc{layer}")
            fc.weight.zero_()
            fc.bias.zero_()
            fc.weight[: W.shape[0], : W.shape[1]] = torch.from_numpy(W)
            fc.bias[: b.shape[0]] = torch.from_numpy(b)
        model.out.weight.zero_()
        model.out.weight[:, : w_out.shape[1]] = torch.from_numpy(w_out)
        model.out.bias.copy_(torch.from_numpy(b_out))
    return _with_activation(model, activation)


def _with_activation(model, activation):
    from svccakit.meanfield.specs import parse_activation

    act = parse_activation(activation)
    if act.name == "relu":
        return model
    if act.name == "shifted-relu":
        return to_shifted_relu(model, act.alpha)
    raise ValueError(
        f"activation: the optimal networks exist for relu and shifted-relu:ALPHA, got {activation!r}"
    )


def to_shifted_relu(model: nn.Sequential, alpha: float) -> nn.Sequential:
    """The same function with every ``nn.ReLU`` replaced by ``ShiftedReLU(alpha)``.

    ``relu(z) = phi(z - alpha) + alpha``: a ``Linear`` followed by a ReLU gets ``-alpha`` on
    its bias; a ``Linear`` fed by a (former) ReLU gets ``+alpha * W 1`` on its bias. Hidden
    activations become the ReLU network's minus ``alpha``; outputs are unchanged (up to
    float round-off). The input model is not modified.

    Parameters
    ----------
    model : nn.Sequential
        Linear layers with biases and ReLUs (no noise modules), e.g.
        :func:`svccakit.nets.mlp` with ``activation="relu"`` and no noise.
    alpha : float

    Returns
    -------
    nn.Sequential
    """
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"model: expected an nn.Sequential, got {type(model).__name__}")
    alpha = check_real(alpha, "alpha")
    new = copy.deepcopy(model)
    names = list(new._modules)
    shifted_input = False  # does the next Linear read shifted activations?
    last_linear = None
    with torch.no_grad():
        for name in names:
            module = new._modules[name]
            if isinstance(module, nn.Linear):
                if module.bias is None:
                    raise ValueError(f"model: Linear {name!r} has no bias; the shift needs one")
                if shifted_input:
                    module.bias += alpha * module.weight.sum(dim=1)
                last_linear, shifted_input = module, False
            elif isinstance(module, nn.ReLU):
                if last_linear is None:
                    raise ValueError(f"model: ReLU {name!r} is not preceded by a Linear")
                last_linear.bias -= alpha
                new._modules[name] = ShiftedReLU(alpha)
                shifted_input = True
            elif isinstance(module, nn.Identity):
                continue
            else:  # noise would multiply the shift too, so the fold would not be exact
                raise ValueError(
                    f"model: cannot rewrite module {name!r} ({type(module).__name__}) with shifted ReLUs"
                )
    return new


# ----------------------------------------------------------------------- teacher


def teacher_network(
    in_features: int, width: int, depth: int, out_features: int, *, seed: int = 0,
    activation: str = "relu",
) -> nn.Sequential:
    """The teacher: :func:`svccakit.meanfield.nets.mlp` (ReLU, no noise) critically
    initialised by :func:`svccakit.meanfield.init.critical_`; with
    ``activation="shifted-relu:ALPHA"`` the same function rewritten by
    :func:`to_shifted_relu`. Maps ``(n_samples, in_features)`` to ``(n_samples, out_features)``.

    Its weights are drawn with the generator seeded ``TEACHER_SEED_OFFSET + seed``, a stream
    no student seed uses: a student initialised with ``generator=seed`` would otherwise draw
    the teacher's own weights (ReLU networks are scale-free, so a critical student with
    noise, whose weights are the teacher's times a constant, would *be* the teacher).
    """
    from svccakit.meanfield.init import critical_

    model = mlp(in_features, width, depth, out_features, activation="relu")
    critical_(model, generator=TEACHER_SEED_OFFSET + check_int(seed, "seed", 0))
    return _with_activation(model, activation).eval()


def _teacher_task(in_features, out_features, width, depth, n_train, n_val, n_probe,
                  data_seed, probe_seed, teacher_seed):
    teacher = teacher_network(in_features, width, depth, out_features, seed=teacher_seed)
    gen = torch.Generator().manual_seed(data_seed)
    x_train = torch.randn(n_train, in_features, generator=gen)
    x_val = torch.randn(n_val, in_features, generator=gen) if n_val > 0 else None
    probe = torch.randn(n_probe, in_features, generator=torch.Generator().manual_seed(probe_seed))
    with torch.no_grad():
        y_train = teacher(x_train)
        y_val = teacher(x_val) if x_val is not None else None
        probe_y = teacher(probe)
    return Task("teacher", "regression", x_train, y_train, x_val, y_val, probe,
                in_features, out_features, probe_y)


# ------------------------------------------------------------------------ digits


def _digits_task(n_val, n_probe, data_seed, probe_seed, n_train=0):
    from sklearn.datasets import load_digits

    data = load_digits()
    x = np.asarray(data.data, dtype=np.float64)
    y = np.asarray(data.target, dtype=np.int64)
    rng = np.random.default_rng(data_seed)
    order = rng.permutation(len(x))
    if n_val >= len(x):
        raise ValueError(f"task.n_val: digits has {len(x)} examples, got n_val={n_val}")
    val_idx, train_idx = order[:n_val], order[n_val:]
    if n_train > 0:
        if n_train > len(train_idx):
            raise ValueError(
                f"task.n_train: digits has {len(train_idx)} examples after the validation split, got n_train={n_train}"
            )
        train_idx = train_idx[:n_train]
    mean = x[train_idx].mean(axis=0)
    std = x[train_idx].std(axis=0)
    std[std < 1e-6] = 1.0  # constant border pixels stay 0
    x = (x - mean) / std
    if n_probe > len(x):
        raise ValueError(f"task.n_probe: digits has {len(x)} examples, got n_probe={n_probe}")
    probe_idx = np.random.default_rng(probe_seed).choice(len(x), size=n_probe, replace=False)

    def t(a):
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))

    x_val = t(x[val_idx]) if n_val > 0 else None
    y_val = torch.from_numpy(y[val_idx]) if n_val > 0 else None
    return Task("digits", "classification", t(x[train_idx]), torch.from_numpy(y[train_idx]),
                x_val, y_val, t(x[probe_idx]), 64, 10, torch.from_numpy(y[probe_idx]))


# ------------------------------------------------------------------------ public


def make_task(config) -> Task:
    """The :class:`Task` of an experiment config (its ``task`` section, ``width``, ``depth``).

    Parameters
    ----------
    config : svccakit.experiment.config.ExperimentConfig

    Returns
    -------
    Task
        Deterministic: the data depend only on ``task.data_seed``, the probe only on
        ``task.probe_seed``.
    """
    return get_task(config.task.name).builder()(config)


def trivial_loss(task: Task) -> float:
    """The loss of the best constant prediction on the training set: the entropy of the
    label frequencies (classification, cross-entropy) or the mean variance of the targets
    (regression, mean squared error). A training loss divided by it is 1 for a network that
    learned nothing about the inputs."""
    if task.kind == "classification":
        counts = np.bincount(task.y_train.numpy(), minlength=task.out_features)
        p = counts[counts > 0] / counts.sum()
        return float(-(p * np.log(p)).sum())
    return float(task.y_train.double().var(dim=0, unbiased=False).mean())


def _parity_from_config(config) -> Task:
    t = config.task
    return _parity_task(t.n_bits, t.encoding, t.n_train, t.n_val, t.n_probe, t.data_seed,
                        t.probe_seed)


def _teacher_from_config(config) -> Task:
    t = config.task
    return _teacher_task(t.in_features, t.out_features, config.width, config.depth,
                         t.n_train, t.n_val, t.n_probe, t.data_seed, t.probe_seed,
                         t.teacher_seed)


def _digits_from_config(config) -> Task:
    t = config.task
    return _digits_task(t.n_val, t.n_probe, t.data_seed, t.probe_seed, n_train=t.n_train)


def _parity_optimum(config, activation) -> nn.Sequential:
    t = config.task
    return parity_network(t.n_bits, config.depth, config.width, encoding=t.encoding,
                          activation=activation, pad=t.pad)


def _teacher_optimum(config, activation) -> nn.Sequential:
    t = config.task
    return teacher_network(t.in_features, config.width, config.depth, t.out_features,
                           seed=t.teacher_seed, activation=activation)


def _as_tensor(a, name, dtype):
    if a is None:
        return None
    if isinstance(a, np.ndarray):
        a = torch.from_numpy(np.ascontiguousarray(a))
    if not isinstance(a, torch.Tensor):
        raise TypeError(f"{name}: expected a numpy array or torch tensor, got {type(a).__name__}")
    return a.detach().to(dtype)


def custom_task(
    x_train, y_train, *, probe, x_val=None, y_val=None, probe_y=None,
    kind: str = "classification", out_features: int | None = None, name: str = "custom",
) -> Task:
    """A :class:`Task` from your own data.

    Parameters
    ----------
    x_train : array of shape (n_train, in_features)
    y_train : array
        ``(n_train,)`` integer labels (``kind="classification"``) or
        ``(n_train, out_features)`` targets (``"regression"``).
    probe : array of shape (n_probe, in_features)
        The inputs to record on (use the same probe for the runs and your reference).
    x_val, y_val : array, optional
    probe_y : array, optional
        Labels/targets of the probe inputs (stored in the run files).
    kind : {"classification", "regression"}
    out_features : int, optional
        Number of classes (default ``max(y_train) + 1``) or target columns.
    name : str

    Returns
    -------
    Task
    """
    check_choice(kind, "kind", ("classification", "regression"))
    ydtype = torch.int64 if kind == "classification" else torch.float32
    x_train = _as_tensor(x_train, "x_train", torch.float32)
    y_train = _as_tensor(y_train, "y_train", ydtype)
    probe = _as_tensor(probe, "probe", torch.float32)
    x_val = _as_tensor(x_val, "x_val", torch.float32)
    y_val = _as_tensor(y_val, "y_val", ydtype)
    probe_y = _as_tensor(probe_y, "probe_y", ydtype)
    if x_train.ndim != 2:
        raise ValueError(f"x_train: expected shape (n_train, in_features), got {tuple(x_train.shape)}")
    if y_train.shape[0] != x_train.shape[0]:
        raise ValueError(
            f"y_train: expected {x_train.shape[0]} rows like x_train, got shape {tuple(y_train.shape)}"
        )
    if probe.ndim != 2 or probe.shape[1] != x_train.shape[1]:
        raise ValueError(
            f"probe: expected shape (n_probe, {x_train.shape[1]}), got {tuple(probe.shape)}"
        )
    if (x_val is None) != (y_val is None):
        raise ValueError("x_val, y_val: give both or neither")
    if x_val is not None and (x_val.shape[1:] != x_train.shape[1:] or y_val.shape[0] != x_val.shape[0]):
        raise ValueError(
            f"x_val, y_val: expected (n_val, {x_train.shape[1]}) and n_val rows, got "
            f"{tuple(x_val.shape)} and {tuple(y_val.shape)}"
        )
    if kind == "classification":
        if y_train.ndim != 1:
            raise ValueError(f"y_train: expected integer labels of shape (n_train,), got {tuple(y_train.shape)}")
        k = int(y_train.max()) + 1 if out_features is None else out_features
    else:
        if y_train.ndim != 2:
            raise ValueError(f"y_train: expected targets of shape (n_train, out_features), got {tuple(y_train.shape)}")
        k = y_train.shape[1]
    if probe_y is not None and probe_y.shape[0] != probe.shape[0]:
        raise ValueError(
            f"probe_y: expected {probe.shape[0]} rows like probe, got shape {tuple(probe_y.shape)}"
        )
    return Task(name, kind, x_train, y_train, x_val, y_val, probe, int(x_train.shape[1]), int(k),
                probe_y)
