"""Theory beside simulation: signal propagation in real torch networks vs the mean-field maps.

Each ``simulate_*`` function builds networks with :func:`svccakit.nets.mlp`, initialises
them with :func:`svccakit.init.set_weights_` (at the critical point, or a given
``sigma_w``), pushes
inputs through them in train mode (noise on) and returns a table with the theory and the
simulated mean, standard deviation and standard error (over networks: the samples of one
network share its finite-width fluctuation) per layer: :func:`simulate_variance`,
:func:`simulate_correlation` (:class:`DynamicsTable`), :func:`simulate_correlation_map`
(:class:`MapTable`, one layer's ``c -> f(c)``) and :func:`simulate_jacobian`
(:class:`JacobianSpectra`, the spectrum of the input-output Jacobian with the noise of one
forward pass held fixed, against :func:`svccakit.meanfield.jacobian_moments`);
:func:`spectrum_density` sets simulated singular values beside the free-probability
density. The ``plot_*`` functions take those tables and return matplotlib figures (theory:
solid lines; simulation: dots with error bars of one standard error of the mean over
networks). Nothing here prints or writes files. The simulations run with one torch and one
BLAS thread (restored after).

Randomness: weights come from per-network generators seeded ``seed + i``; the noise uses
torch's global RNG inside :func:`torch.random.fork_rng`, seeded with ``seed`` (``seed + i``
for network ``i`` of :func:`simulate_jacobian`), so the global state is left untouched and
results are deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from svccakit._validate import check_choice, check_int, check_real
from svccakit.meanfield import theory as mf
from svccakit.meanfield.init import WEIGHTS, set_weights_
from svccakit.meanfield.jacobian import JacobianDensity, jacobian_density, jacobian_moments
from svccakit.meanfield.nets import activation_module, describe_noise, mlp

__all__ = [
    "DynamicsTable",
    "JacobianSpectra",
    "MapTable",
    "SpectrumDensity",
    "simulate_variance",
    "simulate_correlation",
    "simulate_correlation_map",
    "simulate_jacobian",
    "network_jacobians",
    "spectrum_density",
    "plot_variance",
    "plot_correlation",
    "plot_correlation_map",
    "plot_jacobian",
    "plot_density",
    "CSV_COLUMNS",
    "DENSITY_CSV_COLUMNS",
    "MAP_CSV_COLUMNS",
    "FigureConfig",
    "variance_figure",
    "correlation_figure",
    "correlation_map_figure",
    "jacobian_figure",
    "density_figure",
]

CSV_COLUMNS = ("setting", "layer", "theory", "simulation mean", "simulation std",
               "simulation sem", "n networks")
_FIELDS = ("panel", "curve", "layer", "theory", "sim_mean", "sim_std", "sim_sem", "n_networks")


@dataclass(frozen=True)
class DynamicsTable:
    """A tidy table, one row per (panel, curve, layer).

    Attributes
    ----------
    panel, curve : ndarray of str, shape (n_rows,)
        Which subplot and which line the row belongs to.
    layer : ndarray of int, shape (n_rows,)
    theory, sim_mean, sim_std : ndarray of float, shape (n_rows,)
        The theory, and the mean and standard deviation of the simulated samples.
    sim_sem : ndarray of float, shape (n_rows,)
        Standard error of ``sim_mean``: the standard deviation of the per-network means
        over ``sqrt(n_networks)`` (samples of one network share its finite-width
        fluctuation, so they are not independent; networks are). NaN with one network.
    n_networks : ndarray of int, shape (n_rows,)
        Independent networks behind each row.
    """

    panel: np.ndarray
    curve: np.ndarray
    layer: np.ndarray
    theory: np.ndarray
    sim_mean: np.ndarray
    sim_std: np.ndarray
    sim_sem: np.ndarray | None = None
    n_networks: np.ndarray | None = None

    def __post_init__(self):
        n = len(self.layer)
        if self.sim_sem is None:
            object.__setattr__(self, "sim_sem", np.full(n, np.nan))
        if self.n_networks is None:
            object.__setattr__(self, "n_networks", np.ones(n, dtype=int))

    @classmethod
    def from_curve(cls, panel: str, curve: str, layer, theory, sims, networks=None) -> DynamicsTable:
        """One curve from ``sims`` of shape (n_samples, n_layers).

        ``networks`` (shape (n_samples,)) says which network each sample came from; by
        default every sample is its own network.
        """
        sims = np.asarray(sims, dtype=float)
        n = len(layer)
        groups = np.arange(sims.shape[0]) if networks is None else np.asarray(networks)
        labels = np.unique(groups)
        per_net = np.stack([sims[groups == g].mean(axis=0) for g in labels])
        k = len(labels)
        sem = per_net.std(axis=0, ddof=1) / math.sqrt(k) if k > 1 else np.full(n, np.nan)
        return cls(
            np.full(n, panel, dtype=object), np.full(n, curve, dtype=object),
            np.asarray(layer, dtype=int), np.asarray(theory, dtype=float),
            sims.mean(axis=0), sims.std(axis=0, ddof=1) if sims.shape[0] > 1 else np.zeros(n),
            sem, np.full(n, k, dtype=int),
        )

    @classmethod
    def concat(cls, tables: Sequence[DynamicsTable]) -> DynamicsTable:
        return cls(*(np.concatenate([getattr(t, f) for t in tables]) for f in _FIELDS))

    @property
    def setting(self) -> np.ndarray:
        """``"panel, curve"`` per row."""
        return np.array([f"{p}, {c}" for p, c in zip(self.panel, self.curve, strict=True)], dtype=object)

    def select(self, panel: str | None = None, curve: str | None = None) -> DynamicsTable:
        keep = np.ones(len(self.layer), dtype=bool)
        if panel is not None:
            keep &= self.panel == panel
        if curve is not None:
            keep &= self.curve == curve
        return DynamicsTable(*(getattr(self, f)[keep] for f in _FIELDS))

    def panels(self) -> list[str]:
        return list(dict.fromkeys(self.panel))

    def curves(self) -> list[str]:
        return list(dict.fromkeys(self.curve))

    def rows(self) -> list[tuple]:
        """Rows in :data:`CSV_COLUMNS` order."""
        return [(s, int(layer), float(t), float(m), float(sd), float(se), int(k))
                for s, layer, t, m, sd, se, k in
                zip(self.setting, self.layer, self.theory, self.sim_mean, self.sim_std,
                    self.sim_sem, self.n_networks, strict=True)]


@contextmanager
def _one_thread():
    """One torch thread and one BLAS thread for the block (restored after).

    These simulations make many small LAPACK calls (QR for orthogonal weights, SVDs); on a
    busy machine a second thread costs far more than it gains (measured on the project's
    shared 2-core machine: QR of a 200 x 200 matrix 128 ms of CPU with 2 threads, 1 ms
    with 1).
    """
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(threads)


def _pre_activations(model: nn.Sequential, x: torch.Tensor) -> list[torch.Tensor]:
    """Run ``x`` through ``model`` and return the output of every hidden ``fc`` layer."""
    out = []
    for name, module in model.named_children():
        x = module(x)
        if name.startswith("fc"):
            out.append(x)
    return out


def _on_sphere(n: int, dim: int, sq_norm_per_dim: float, gen: torch.Generator) -> torch.Tensor:
    x = torch.randn(n, dim, generator=gen, dtype=torch.float64)
    x = x / x.norm(dim=1, keepdim=True) * math.sqrt(sq_norm_per_dim * dim)
    return x


def _over_networks(measure, act, nz, *, width, depth, sigma_w, sigma_b, weights, n_networks,
                   seed) -> list:
    """``[measure(model, gen)]`` over ``n_networks`` square noisy networks in training mode.

    Runs inside ``torch.random.fork_rng`` seeded with ``seed`` (the noise modules draw from
    it); network ``i`` is initialised with seed ``seed + i``; ``gen`` (seeded with ``seed``,
    shared by all networks, in order) draws the inputs.
    """
    out = []
    with _one_thread(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        for i in range(n_networks):
            model = mlp(width, width, depth, 1, act, nz)
            set_weights_(model, sigma_w=sigma_w, sigma_b=sigma_b, weights=weights, generator=seed + i)
            model.train()
            out.append(measure(model, gen))
    return out


def simulate_variance(
    activation="relu", noise=None, *, sigma_w: float, sigma_b: float = 0.0, width: int = 1000,
    depth: int = 20, x0_sq: float = 1.0, n_inputs: int = 16, n_networks: int = 2,
    weights: str = "gaussian", seed: int = 0, panel: str | None = None, curve: str | None = None,
) -> DynamicsTable:
    """Pre-activation variance ``q^l = ||h^l||^2 / width`` per layer vs :func:`variance_iteration`.

    Inputs have ``||x^0||^2 / width = x0_sq``; the simulation mean and std are over
    ``n_networks * n_inputs`` (network, input) pairs.
    """
    act, nz = mf.parse_activation(activation), mf.parse_noise(noise)
    width, depth = check_int(width, "width", 1), check_int(depth, "depth", 1)
    n_inputs = check_int(n_inputs, "n_inputs", 1)
    n_networks = check_int(n_networks, "n_networks", 1)
    theory = mf.variance_iteration(x0_sq, depth, activation=act, noise=nz, sigma_w=sigma_w, sigma_b=sigma_b)

    def measure(model, gen):
        x = _on_sphere(n_inputs, width, x0_sq, gen).float()
        with torch.no_grad():
            hs = _pre_activations(model, x)
        return torch.stack([(h.double() ** 2).mean(dim=1) for h in hs], dim=1).numpy()

    sims = _over_networks(measure, act, nz, width=width, depth=depth, sigma_w=sigma_w,
                          sigma_b=sigma_b, weights=weights, n_networks=n_networks, seed=seed)
    return DynamicsTable.from_curve(
        panel or nz.spec, curve or f"sigma_w={sigma_w:.3f}", np.arange(1, depth + 1), theory,
        np.concatenate(sims), networks=np.repeat(np.arange(n_networks), n_inputs),
    )


def simulate_correlation(
    activation="relu", noise=None, *, sigma_w: float, sigma_b: float = 0.0, c0: float = 0.5,
    width: int = 1000, depth: int = 20, x0_sq: float = 1.0, n_pairs: int = 16,
    n_networks: int = 2, weights: str = "gaussian", seed: int = 0, panel: str | None = None,
    curve: str | None = None,
) -> DynamicsTable:
    """Correlation ``c^l = h_a . h_b / (||h_a|| ||h_b||)`` of the pre-activations of input
    pairs with exact correlation ``c0`` and ``||x||^2 / width = x0_sq`` (independent noise per
    input) vs :func:`svccakit.meanfield.correlation_iteration`."""
    act, nz = mf.parse_activation(activation), mf.parse_noise(noise)
    width, depth = check_int(width, "width", 1), check_int(depth, "depth", 1)
    n_pairs = check_int(n_pairs, "n_pairs", 1)
    n_networks = check_int(n_networks, "n_networks", 1)
    theory = mf.correlation_iteration(
        c0, depth, x0_sq=x0_sq, activation=act, noise=nz, sigma_w=sigma_w, sigma_b=sigma_b
    )

    def measure(model, gen):
        z = torch.randn(n_pairs, 2, width, generator=gen, dtype=torch.float64)
        u = z[:, 0] / z[:, 0].norm(dim=1, keepdim=True)
        v = z[:, 1] - (z[:, 1] * u).sum(dim=1, keepdim=True) * u
        v = v / v.norm(dim=1, keepdim=True)
        scale = math.sqrt(x0_sq * width)
        xa, xb = scale * u, scale * (c0 * u + math.sqrt(max(0.0, 1.0 - c0 * c0)) * v)
        with torch.no_grad():
            hs = _pre_activations(model, torch.cat([xa, xb]).float())
        cs = []
        for h in hs:
            ha, hb = h[:n_pairs].double(), h[n_pairs:].double()
            cs.append((ha * hb).sum(1) / (ha.norm(dim=1) * hb.norm(dim=1)))
        return torch.stack(cs, dim=1).numpy()

    sims = _over_networks(measure, act, nz, width=width, depth=depth, sigma_w=sigma_w,
                          sigma_b=sigma_b, weights=weights, n_networks=n_networks, seed=seed)
    return DynamicsTable.from_curve(
        panel or nz.spec, curve or f"c0={c0:g}", np.arange(1, depth + 1), theory,
        np.concatenate(sims), networks=np.repeat(np.arange(n_networks), n_pairs),
    )


def _multiplicative(module: nn.Module) -> bool:
    nz = describe_noise(module)
    if nz is None:
        raise ValueError(f"model: {type(module).__name__} is not a noise module of svccakit.mlp")
    return nz.kind in ("dropout", "gauss")


def _scale_rows(d: torch.Tensor, jac: torch.Tensor | None) -> torch.Tensor:
    return torch.diag(d) if jac is None else d[:, None] * jac


def network_jacobians(
    model: nn.Sequential, x: torch.Tensor, layers: Sequence[int], *, readout: bool = False,
) -> dict[int, torch.Tensor]:
    """Input-output Jacobians of an :func:`svccakit.nets.mlp` at one input, from one pass.

    Built layer by layer from the model's own weights: ``phi'`` by autograd through its
    activation modules; in train mode each multiplicative noise module (dropout, Gaussian)
    draws its noise ``eps`` once for this pass (by acting on a tensor of ones) and
    ``diag(eps)`` is part of ``J``, exactly as autograd through ``model(x)`` would see it;
    additive noise and eval mode leave ``J`` unchanged. With ``readout=False``,
    ``J^l = d x^l / d x^0 = D^l W^l E^{l-1} ... D^1 W^1 E^0`` (``x^l`` the output of
    ``act{l}``); with ``readout=True``, ``J^l = W^out E^l D^l W^l ... W^1 E^0``: the model's
    readout ``out`` applied after layer ``l`` (for ``l`` = depth, the model's own Jacobian
    ``d model(x) / d x``; for shallower ``l``, that of ``mlp`` of depth ``l`` with these
    weights).

    Parameters
    ----------
    model : nn.Sequential from :func:`svccakit.nets.mlp`
    x : Tensor of shape (in_features,)
    layers : sequence of int
        Hidden layers (1-based) at which to return ``J^l``.
    readout : bool

    Returns
    -------
    dict mapping layer -> Tensor of shape (width, in_features), or (out_features,
    in_features) with the readout
    """
    wanted = {check_int(v, "layers", 1) for v in layers}
    mods = dict(model.named_children())
    depth = sum(1 for name in mods if name.startswith("fc"))
    if wanted and max(wanted) > depth:
        raise ValueError(f"layers: expected hidden layers in [1, {depth}], got {sorted(wanted)}")
    out: dict[int, torch.Tensor] = {}
    w_out = mods["out"].weight if readout else None
    jac = None
    xl = x[None, :]
    layer, top = 0, max(wanted, default=0)
    with torch.no_grad():
        for name, module in mods.items():
            if name.startswith("noise"):
                if module.training and _multiplicative(module):
                    eps = module(torch.ones_like(xl))
                    xl = xl * eps
                    jac = _scale_rows(eps[0], jac)
                else:
                    xl = module(xl)
            elif name.startswith("fc") or name == "out":
                if readout and layer in wanted:
                    out[layer] = w_out @ jac
                if name == "out" or layer >= top:
                    break
                h = module(xl)
                w = module.weight
                jac = w.clone() if jac is None else w @ jac
            elif name.startswith("act"):
                with torch.enable_grad():
                    hg = h.detach().requires_grad_(True)
                    (dphi,) = torch.autograd.grad(module(hg).sum(), hg)
                jac = dphi[0][:, None] * jac
                xl = module(h)
                layer += 1
                if not readout and layer in wanted:
                    out[layer] = jac.clone()
                    if layer >= top:
                        break
    return out


@dataclass(frozen=True)
class JacobianSpectra:
    """Jacobian spectra of simulated networks.

    Attributes
    ----------
    table : DynamicsTable
        Per depth: the theory's ``var(lambda) / mean(lambda)^2`` of the ``J J^T`` spectrum
        (:func:`svccakit.meanfield.jacobian_moments`) and the simulated one, per network.
        Normalising by the mean removes the finite-width fluctuation of the overall gain
        ``mean(lambda)`` (it fluctuates by about ``sqrt(L s_x / width)``, ``s_x`` the
        spread of one layer's factor), which would otherwise dominate the comparison.
    singular_values : dict
        setting (``"panel, curve"``, as :attr:`DynamicsTable.setting`) -> ndarray of the
        singular values of ``J`` at the deepest layer (networks pooled).
    mean_eigenvalue : dict
        setting -> ndarray of shape (n_networks, n_depths), ``mean(lambda)`` per network
        and depth.
    theory_mean : dict
        setting -> ndarray of shape (n_depths,), the theory's ``mean(lambda)``.
    by_depth : dict
        setting -> {depth: ndarray of the singular values of ``J`` (networks pooled)}.
    """

    table: DynamicsTable
    singular_values: dict[str, np.ndarray] = field(default_factory=dict)
    mean_eigenvalue: dict[str, np.ndarray] = field(default_factory=dict)
    theory_mean: dict[str, np.ndarray] = field(default_factory=dict)
    by_depth: dict[str, dict[int, np.ndarray]] = field(default_factory=dict)

    @staticmethod
    def concat(spectra: Sequence[JacobianSpectra]) -> JacobianSpectra:
        out = JacobianSpectra(DynamicsTable.concat([s.table for s in spectra]))
        for s in spectra:
            for name in ("singular_values", "mean_eigenvalue", "theory_mean", "by_depth"):
                getattr(out, name).update(getattr(s, name))
        return out


def _input_on_fixed_point(act, q_star: float, width: int, gen: torch.Generator) -> torch.Tensor:
    """``x^0 = phi(sqrt(q*) z)``: with critical weights ``h^1`` then has variance ``q*``
    (``sigma_w^2 mu2 E[phi^2] + sigma_b^2 = q*``), as if ``x^0`` came from a layer at the
    fixed point."""
    z = torch.randn(width, generator=gen, dtype=torch.float64) * math.sqrt(q_star)
    return torch.from_numpy(act.phi(z.numpy()))


def _one_jacobian(i, act, nz, cp, weights, width, depths, readout, seed) -> dict[int, np.ndarray]:
    """Network ``i`` of :func:`simulate_jacobian`: depth -> singular values of ``J``."""
    model = mlp(width, width, max(depths), width, act, nz).double()
    # critical_(model), with the critical point computed once by the caller
    set_weights_(model, sigma_w=cp.sigma_w, sigma_b=cp.sigma_b, weights=weights,
                 generator=seed + i)
    model.train()
    gen = torch.Generator().manual_seed(seed + 10_000 + i)
    x0 = _input_on_fixed_point(act, cp.q_star, width, gen)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + i)
        jacs = network_jacobians(model, x0, depths, readout=readout)
    return {d: torch.linalg.svdvals(jacs[d]).numpy() for d in depths}


def simulate_jacobian(
    activation="relu", noise=None, *, weights: str = "orthogonal", q_star: float | None = None,
    width: int = 1000, depths: Sequence[int] = (4, 8, 12, 16, 20), n_networks: int = 2,
    readout: bool = True, seed: int = 0, panel: str = "jacobian", curve: str | None = None,
) -> JacobianSpectra:
    """Spectrum of ``J J^T`` of critically initialised noisy networks vs
    :func:`svccakit.meanfield.jacobian_moments`.

    Network ``i`` is ``mlp(width, width, max(depths), width, activation, noise)`` in float64,
    critically initialised (``weights``, ``q_star``) with seed ``seed + i``, in train mode;
    the noise of one forward pass is held fixed (torch's global RNG inside
    :func:`torch.random.fork_rng`, seeded ``seed + i``) and ``J = d output / d input`` at
    ``x^0 = phi(sqrt(q*) z)`` (so ``h^1`` is at the fixed point). A shallower depth ``l``
    uses the first ``l`` layers and the readout (:func:`network_jacobians`), an ``mlp`` of
    depth ``l`` in law. With ``readout=False``, ``J = d x^l / d x^0``.
    """
    act, nz = mf.parse_activation(activation), mf.parse_noise(noise)
    width, n_networks = check_int(width, "width", 1), check_int(n_networks, "n_networks", 1)
    depths = sorted({check_int(d, "depths", 1) for d in depths})
    if not depths:
        raise ValueError("depths: expected at least one depth, got none")
    check_choice(weights, "weights", WEIGHTS)
    theory = [jacobian_moments(act, nz, depth=d, weights=weights, q_star=q_star, readout=readout)
              for d in depths]
    cp = mf.critical_point(act, nz, q_star=q_star)
    with _one_thread():
        nets = [_one_jacobian(i, act, nz, cp, weights, width, depths, readout, seed)
                for i in range(n_networks)]
    lams = [[net[d] ** 2 for d in depths] for net in nets]
    means = np.array([[lam.mean() for lam in row] for row in lams])
    sims = np.array([[lam.var() / lam.mean() ** 2 for lam in row] for row in lams])
    label = curve or (f"{act.spec}, {nz.spec}, {weights}" if nz.kind != "none"
                      else f"{act.spec} {weights}")
    rel = np.array([t.variance / t.mean**2 for t in theory])
    table = DynamicsTable.from_curve(panel, label, np.asarray(depths), rel, sims)
    pooled = {d: np.concatenate([net[d] for net in nets]) for d in depths}
    key = f"{panel}, {label}"
    return JacobianSpectra(table, {key: pooled[depths[-1]]}, {key: means},
                           {key: np.array([t.mean for t in theory])}, {key: pooled})


@dataclass(frozen=True)
class MapTable:
    """One step of the correlation map, theory beside simulation.

    Attributes
    ----------
    label : str
        The curve's name.
    activation, noise : str
        The layer's activation and noise specs.
    c : ndarray of shape (n_points,)
        Input correlations ``c^l``.
    theory : ndarray of shape (n_points,)
        ``f(c^l)`` (:func:`svccakit.meanfield.correlation_map`).
    sim_mean, sim_std, sim_sem : ndarray of shape (n_points,)
        Simulated ``c^{l+1}``: mean, standard deviation over (network, pair) samples, and
        standard error of the mean (over the per-network means; NaN with one network).
    n_networks : int
    """

    label: str
    activation: str
    noise: str
    c: np.ndarray
    theory: np.ndarray
    sim_mean: np.ndarray
    sim_std: np.ndarray
    sim_sem: np.ndarray
    n_networks: int

    def rows(self) -> list[tuple]:
        """Rows in :data:`MAP_CSV_COLUMNS` order."""
        return [(self.label, float(c), float(t), float(m), float(sd), float(se), self.n_networks)
                for c, t, m, sd, se in zip(self.c, self.theory, self.sim_mean, self.sim_std,
                                           self.sim_sem, strict=True)]


MAP_CSV_COLUMNS = ("setting", "c in", "theory c out", "simulation mean", "simulation std",
                   "simulation sem", "n networks")


def _pairs_with_correlation(n: int, width: int, c: float, sq_norm_per_dim: float,
                            gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` pairs of vectors with exact correlation ``c`` and ``||v||^2 / width`` fixed."""
    z = torch.randn(n, 2, width, generator=gen, dtype=torch.float64)
    u = z[:, 0] / z[:, 0].norm(dim=1, keepdim=True)
    v = z[:, 1] - (z[:, 1] * u).sum(dim=1, keepdim=True) * u
    v = v / v.norm(dim=1, keepdim=True)
    scale = math.sqrt(sq_norm_per_dim * width)
    return scale * u, scale * (c * u + math.sqrt(max(0.0, 1.0 - c * c)) * v)


def simulate_correlation_map(
    activation="relu", noise=None, *, sigma_w: float, sigma_b: float = 0.0, q: float = 1.0,
    cs: Sequence[float] = tuple(np.linspace(0.0, 1.0, 11)), width: int = 1000, n_pairs: int = 16,
    n_networks: int = 4, weights: str = "gaussian", seed: int = 0, label: str | None = None,
) -> MapTable:
    """One noisy layer's correlation map ``c^{l+1} = f(c^l)`` in real networks.

    For each ``c`` in ``cs``: pre-activation pairs ``h_a, h_b`` with ``||h||^2 / width = q``
    and exact correlation ``c`` go through ``phi``, the layer's noise (independent for the two
    inputs, train mode) and its weights; ``c^{l+1}`` is the correlation of the new
    pre-activations. Theory: :func:`svccakit.meanfield.correlation_map` at ``q``.
    """
    act, nz = mf.parse_activation(activation), mf.parse_noise(noise)
    width, n_pairs = check_int(width, "width", 1), check_int(n_pairs, "n_pairs", 1)
    n_networks = check_int(n_networks, "n_networks", 1)
    cs = np.array([check_real(c, "cs", low=-1.0, high=1.0) for c in cs], dtype=float)
    if cs.size == 0:
        raise ValueError("cs: expected at least one correlation, got none")
    theory = np.array([mf.correlation_map(c, q, activation=act, noise=nz, sigma_w=sigma_w,
                                          sigma_b=sigma_b) for c in cs])
    phi = activation_module(act)

    def measure(model, gen):
        layer = nn.Sequential(*[m for name, m in model.named_children()
                                if name in ("noise0", "fc1")])
        out = np.empty((n_pairs, cs.size))
        for j, c in enumerate(cs):
            ha, hb = _pairs_with_correlation(n_pairs, width, float(c), q, gen)
            with torch.no_grad():
                y = layer(phi(torch.cat([ha, hb])).float()).double()
            ya, yb = y[:n_pairs], y[n_pairs:]
            out[:, j] = ((ya * yb).sum(1) / (ya.norm(dim=1) * yb.norm(dim=1))).numpy()
        return out

    sims = _over_networks(measure, act, nz, width=width, depth=1, sigma_w=sigma_w,
                          sigma_b=sigma_b, weights=weights, n_networks=n_networks, seed=seed)
    per_net = np.stack([s.mean(axis=0) for s in sims])
    pooled = np.concatenate(sims)
    sem = (per_net.std(axis=0, ddof=1) / math.sqrt(n_networks) if n_networks > 1
           else np.full(cs.size, np.nan))
    return MapTable(label or nz.spec, act.spec, nz.spec, cs, theory, pooled.mean(axis=0),
                    pooled.std(axis=0, ddof=1) if pooled.shape[0] > 1 else np.zeros(cs.size),
                    sem, n_networks)


# ---------------------------------------------------------------------------- plots

_SEM_NOTE = "error bars: 1 standard error of the mean over networks"


def _axes_grid(n: int, title: str, rows: int = 1, size=(5.0, 4.0)):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size[0] * n, size[1] * rows), layout="constrained")
    axes = fig.subplots(rows, n, squeeze=False)
    fig.suptitle(title)
    return fig, (axes[0] if rows == 1 else axes)


def _errorbar(ax, x, mean, sem, color):
    yerr = None if np.all(np.isnan(sem)) else np.nan_to_num(sem)
    ax.errorbar(x, mean, yerr=yerr, fmt="o", ms=3.5, color=color, capsize=2)


def _draw(ax, table: DynamicsTable):
    for k, curve in enumerate(table.curves()):
        t = table.select(curve=curve)
        color = f"C{k}"
        ax.plot(t.layer, t.theory, "-", color=color, label=curve)
        _errorbar(ax, t.layer, t.sim_mean, t.sim_sem, color)


def plot_variance(table: DynamicsTable):
    """Variance dynamics, one panel per noise; log scale. Returns a matplotlib Figure.

    Lines: theory; dots: mean over width-N networks with error bars of one standard error
    of the mean (over networks)."""
    fig, axes = _axes_grid(len(table.panels()), "Variance dynamics\n(lines: theory, dots: "
                           f"width-N networks; {_SEM_NOTE})")
    for ax, panel in zip(axes, table.panels(), strict=True):
        _draw(ax, table.select(panel=panel))
        ax.set_yscale("log")
        ax.set(title=panel, xlabel="layer l", ylabel="q^l")
        ax.legend(fontsize=8)
    return fig


def plot_correlation(table: DynamicsTable, c_star: dict[str, float] | None = None):
    """Correlation dynamics, one panel per noise; dashed line at ``c*`` when given. Error
    bars: one standard error of the mean over networks."""
    fig, axes = _axes_grid(len(table.panels()), "Correlation dynamics\n(lines: theory, dots: "
                           f"width-N networks; {_SEM_NOTE})")
    for ax, panel in zip(axes, table.panels(), strict=True):
        _draw(ax, table.select(panel=panel))
        if c_star and panel in c_star:
            ax.axhline(c_star[panel], color="k", ls="--", lw=0.8, label=f"c* = {c_star[panel]:.3f}")
        ax.set(title=panel, xlabel="layer l", ylabel="c^l", ylim=(-0.05, 1.05))
        ax.legend(fontsize=8)
    return fig


def plot_jacobian(spectra: JacobianSpectra):
    """Moments of the ``J J^T`` spectrum against depth, one column per panel of
    ``spectra.table`` (an activation): top, the mean eigenvalue; bottom,
    ``var / mean^2`` (log scale). Lines: :func:`svccakit.meanfield.jacobian_moments`; dots:
    simulation, error bars of one standard error over networks."""
    panels = spectra.table.panels()
    fig, axes = _axes_grid(len(panels), "Jacobian J J^T spectrum at criticality (lines: "
                           f"wide-limit theory, dots: width-N networks; {_SEM_NOTE})", rows=2,
                           size=(4.6, 3.6))
    for col, panel in enumerate(panels):
        ax_m, ax_v = axes[0][col], axes[1][col]
        t = spectra.table.select(panel=panel)
        for k, curve in enumerate(t.curves()):
            tc = t.select(curve=curve)
            key = f"{panel}, {curve}"
            color = f"C{k}"
            means = spectra.mean_eigenvalue[key]
            sem = (means.std(axis=0, ddof=1) / math.sqrt(means.shape[0]) if means.shape[0] > 1
                   else np.full(means.shape[1], np.nan))
            ax_m.plot(tc.layer, spectra.theory_mean[key], "-", color=color, label=curve)
            _errorbar(ax_m, tc.layer, means.mean(axis=0), sem, color)
            ax_v.plot(tc.layer, tc.theory, "-", color=color, label=curve)
            _errorbar(ax_v, tc.layer, tc.sim_mean, tc.sim_sem, color)
        ax_m.set(title=panel, xlabel="depth L", ylabel="mean(lambda)")
        ax_m.set_ylim(bottom=0.0)
        ax_v.set_yscale("log")
        ax_v.set(xlabel="depth L", ylabel="var(lambda) / mean(lambda)^2")
        ax_m.legend(fontsize=7)
    return fig


@dataclass(frozen=True)
class SpectrumDensity:
    """Singular values of ``J`` at one depth, simulated and from the theory's density.

    Attributes
    ----------
    row, column : str
        Where it is drawn (activation, noise).
    depth : int
    bins : ndarray of shape (n_bins + 1,)
        Edges in ``log10`` singular value.
    sim_fraction, theory_fraction : ndarray of shape (n_bins,)
        Fraction of all singular values in each bin.
    sim_below, theory_below : float
        Fraction below the first bin (exact zeros and the continuous part's lower tail).
    theory : JacobianDensity
    n_singular_values : int
    """

    row: str
    column: str
    depth: int
    bins: np.ndarray
    sim_fraction: np.ndarray
    theory_fraction: np.ndarray
    sim_below: float
    theory_below: float
    theory: JacobianDensity
    n_singular_values: int

    def rows(self) -> list[tuple]:
        """Rows in :data:`DENSITY_CSV_COLUMNS` order."""
        setting = f"{self.row}, {self.column}"
        out = [(setting, self.depth, "-inf", float(self.bins[0]), self.theory_below,
                self.sim_below, self.n_singular_values)]
        out += [(setting, self.depth, float(lo), float(hi), float(t), float(m),
                 self.n_singular_values)
                for lo, hi, t, m in zip(self.bins[:-1], self.bins[1:], self.theory_fraction,
                                        self.sim_fraction, strict=True)]
        return out


DENSITY_CSV_COLUMNS = ("setting", "depth", "log10 s from", "log10 s to", "theory fraction",
                       "simulation fraction", "n singular values")


def spectrum_density(
    singular_values, activation="relu", noise=None, *, depth: int,
    weights: str = "orthogonal", q_star: float | None = None, readout: bool = True,
    decades: float = 7.0, n_bins: int = 60, n_points: int = 200, row: str | None = None,
    column: str | None = None,
) -> SpectrumDensity:
    """Histogram ``singular_values`` of ``J`` in ``log10`` over ``decades`` below the
    largest, beside the wide-limit density (:func:`svccakit.meanfield.jacobian_density`)
    integrated over the same bins.

    Parameters
    ----------
    singular_values : array-like of shape (n,)
        Simulated singular values (e.g. :attr:`JacobianSpectra.by_depth`).
    n_points : int
        Points at which the theory density is solved: a third evenly over the range, the
        rest spread in proportion to the mass and the change of the density seen there.

    Returns
    -------
    SpectrumDensity
        Theory fractions include the atoms of :attr:`JacobianDensity.atoms` (in their bin)
        and the atom at 0 (below the range).
    """
    sv = np.asarray(singular_values, dtype=float)
    if sv.ndim != 1 or sv.size == 0:
        raise ValueError(f"singular_values: expected a non-empty 1-D array, got shape {sv.shape}")
    top = float(np.log10(sv.max())) + 0.25
    bins = np.linspace(top - decades, top, n_bins + 1)
    counts = np.histogram(np.log10(sv[sv > 10.0 ** bins[0]]), bins=bins)[0]
    kw = dict(depth=depth, weights=weights, q_star=q_star, readout=readout)
    # a third of the points evenly over the range; the rest where the coarse pass saw mass
    # or change (a near-isometric spectrum is a fraction of a decade wide; the edges of
    # ReLU spectra are sharp)
    y = np.linspace(bins[0], bins[-1] + 0.5, max(3, n_points // 3))
    coarse = jacobian_density(activation, noise, eigenvalues=10.0 ** (2.0 * y), **kw)
    rho = coarse.log10_singular_value_density
    dy_ = np.diff(y)
    need = 0.5 * (rho[1:] + rho[:-1]) * dy_ + np.abs(np.diff(rho)) * dy_
    if need.sum() > 0:
        where = np.concatenate([[0.0], np.cumsum(need)]) / need.sum()
        targets = (np.arange(n_points - y.size) + 0.5) / (n_points - y.size)
        y_fine = np.interp(targets, where, y)
        fine = jacobian_density(activation, noise, eigenvalues=10.0 ** (2.0 * y_fine), **kw)
        y = np.concatenate([y, y_fine])
        rho = np.concatenate([rho, fine.log10_singular_value_density])
        order = np.argsort(y, kind="stable")
        y, rho = y[order], rho[order]
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (rho[1:] + rho[:-1]) * np.diff(y))])
    theory_fraction = np.diff(np.interp(bins, y, cdf))
    atom_mass = sum(m for _, m in coarse.atoms)
    below = max(0.0, 1.0 - coarse.zero_mass - atom_mass - cdf[-1]) + coarse.zero_mass
    for loc, mass in coarse.atoms:
        ya = 0.5 * math.log10(loc)
        k = int(np.searchsorted(bins, ya, side="right")) - 1
        if k < 0:
            below += mass
        elif k < n_bins:
            theory_fraction[k] += mass
    return SpectrumDensity(
        row or mf.parse_activation(activation).spec, column or mf.parse_noise(noise).spec,
        int(depth), bins, counts / sv.size, theory_fraction,
        float(np.mean(sv <= 10.0 ** bins[0])), float(below), coarse, int(sv.size),
    )


def plot_density(densities: Sequence[SpectrumDensity]):
    """Singular values of ``J``: one panel per (row, column), one colour per depth; steps:
    simulated fraction per bin; lines: the wide-limit density integrated over the bins. The
    legend gives the fraction below the range (exact zeros included) for both."""
    rows = list(dict.fromkeys(d.row for d in densities))
    cols = list(dict.fromkeys(d.column for d in densities))
    fig, axes = _axes_grid(len(cols), "Singular values of the input-output Jacobian at "
                           "criticality (steps: width-N networks, lines: free probability)",
                           rows=max(1, len(rows)), size=(4.6, 3.0))
    axes = np.asarray(axes).reshape(len(rows), len(cols))
    depths = sorted({d.depth for d in densities})
    for d in densities:
        ax = axes[rows.index(d.row)][cols.index(d.column)]
        color = f"C{depths.index(d.depth)}"
        centres = 0.5 * (d.bins[1:] + d.bins[:-1])
        ax.stairs(d.sim_fraction, d.bins, color=color, alpha=0.8)
        ax.plot(centres, d.theory_fraction, "-", color=color, lw=1.2,
                label=f"L={d.depth}: below range {d.theory_below:.0%} (sim {d.sim_below:.0%})")
        ax.set_title(f"{d.row}, {d.column}", fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
    for ax in axes[-1]:
        ax.set_xlabel("log10 singular value")
    for ax in axes[:, 0]:
        ax.set_ylabel("fraction per bin")
    return fig


def plot_correlation_map(maps: Sequence[tuple[MapTable, mf.CriticalPoint]]):
    """The correlation map ``c^{l+1} = f(c^l)`` of one critical layer per noise.

    Left: ``f`` (lines: theory, dots: simulation with one standard error over networks),
    the identity, the fixed point ``c*`` and a segment of slope ``chi = f'(c*)`` through it.
    Right: ``f(c) - c``, which makes the fixed points and the slopes visible (``c = 1`` is a
    fixed point only without noise)."""
    fig, (ax1, ax2) = _axes_grid(2, "Correlation map of one critical ReLU layer at q*\n"
                                 f"(lines: theory, dots: width-N networks; {_SEM_NOTE})")
    grid = np.linspace(0.0, 1.0, 201)
    ax1.plot(grid, grid, ":", color="0.4", lw=1.0, label="identity c' = c")
    ax2.axhline(0.0, color="0.4", ls=":", lw=1.0)
    for k, (table, cp) in enumerate(maps):
        color = f"C{k}"
        f = np.array([mf.correlation_map(c, cp.q_star, activation=table.activation,
                                         noise=table.noise, sigma_w=cp.sigma_w,
                                         sigma_b=cp.sigma_b) for c in grid])
        xi = "inf" if math.isinf(cp.xi_c) else f"{cp.xi_c:.1f}"
        label = f"{table.label}: c* = {cp.c_star:.3f}, chi = {cp.chi_c:.3f}, xi_c = {xi}"
        ax1.plot(grid, f, "-", color=color, label=label)
        _errorbar(ax1, table.c, table.sim_mean, table.sim_sem, color)
        ax2.plot(grid, f - grid, "-", color=color, label=table.label)
        _errorbar(ax2, table.c, table.sim_mean - table.c, table.sim_sem, color)
        for ax, offset in ((ax1, cp.c_star), (ax2, 0.0)):
            ax.plot([cp.c_star], [offset], "o", mfc="none", mec=color, ms=9)
        seg = np.array([cp.c_star - 0.15, min(1.0, cp.c_star + 0.15)])
        ax1.plot(seg, cp.c_star + cp.chi_c * (seg - cp.c_star), "--", color=color, lw=1.0)
        ax2.plot(seg, (cp.chi_c - 1.0) * (seg - cp.c_star), "--", color=color, lw=1.0)
    ax1.set(xlabel="c^l", ylabel="c^{l+1}", xlim=(0, 1.0), ylim=(0, 1.02))
    ax2.set(xlabel="c^l", ylabel="c^{l+1} - c^l", xlim=(0, 1.0),
            title="circles: fixed point c*; dashed: slope chi at c*")
    ax1.legend(fontsize=7, loc="upper left")
    return fig


# ------------------------------------------------------------------- figure sets


@dataclass(frozen=True)
class FigureConfig:
    """Sizes for the talk figures (:func:`variance_figure` and friends).

    ``full()`` uses width-1000 networks (600 for the Jacobian spectra, four networks per
    setting); ``quick()`` is a smaller smoke-test version. The
    Jacobian figures use ``spectrum_activations`` (each at its ``spectrum_q_stars``, the
    variance fixed point) with no noise and each of ``jacobian_noises``, orthogonal
    weights, plus Gaussian weights without noise; the densities are drawn at
    ``density_depths`` (a subset of ``jacobian_depths``). The correlation map is that of
    critical ReLU without noise and under each of ``noises``, simulated at ``map_cs``.
    """

    width: int = 1000
    depth: int = 25
    n_inputs: int = 32
    n_networks: int = 6
    jacobian_width: int = 600
    jacobian_depths: tuple[int, ...] = (4, 8, 16, 24)
    jacobian_networks: int = 4
    noises: tuple[str, ...] = ("dropout:0.6", "gauss:0.8")
    factors: tuple[float, ...] = (0.9, 1.0, 1.1)
    c0s: tuple[float, ...] = (0.0, 0.3, 0.6, 0.9, 1.0)
    seed: int = 0
    spectrum_activations: tuple[str, ...] = ("relu", "shifted-relu:1", "tanh", "erf")
    spectrum_q_stars: tuple[float, ...] = (1.0, 1.0, 0.1, 1.0)
    jacobian_noises: tuple[str, ...] = ("dropout:0.8", "gauss:0.5")
    density_depths: tuple[int, ...] = (4, 16)
    density_points: int = 200
    map_cs: tuple[float, ...] = tuple(np.round(np.linspace(0.0, 1.0, 11), 2))
    map_networks: int = 6

    @classmethod
    def full(cls, seed: int = 0) -> FigureConfig:
        return cls(seed=seed)

    @classmethod
    def quick(cls, seed: int = 0) -> FigureConfig:
        return cls(width=300, depth=20, n_inputs=16, n_networks=3, jacobian_width=200,
                   jacobian_depths=(4, 8, 16), jacobian_networks=2, c0s=(0.0, 0.5, 1.0),
                   density_points=120, map_cs=(0.0, 0.25, 0.5, 0.75, 1.0), map_networks=3,
                   seed=seed)

    def spectrum_settings(self) -> list[tuple[str, float, str, str]]:
        """``(activation, q*, noise, weights)`` of every simulated Jacobian."""
        out = []
        for act, q in zip(self.spectrum_activations, self.spectrum_q_stars, strict=True):
            for noise in ("none", *self.jacobian_noises):
                out.append((act, q, noise, "orthogonal"))
            out.append((act, q, "none", "gaussian"))
        return out

    def n_steps(self) -> int:
        """Number of simulations (for a progress bar)."""
        n_spectra = len(self.spectrum_settings())
        n_dens = len(self.spectrum_activations) * (1 + len(self.jacobian_noises))
        return (len(self.noises) * len(self.factors) + (len(self.noises) + 1) * len(self.c0s)
                + n_spectra + n_dens * len(self.density_depths) + len(self.noises) + 1)


def variance_figure(config: FigureConfig, progress=None) -> DynamicsTable:
    """Variance dynamics of ReLU networks under each noise at ``factor * sigma_w_critical``.

    The input has ``||x^0||^2 / D_0 = 1 / (sigma_w^2 mu2)`` at criticality so ``q^1 = 1``.
    ``progress``, if given, is called once per simulated curve.
    """
    tables = []
    for i, noise in enumerate(config.noises):
        cp = mf.critical_point("relu", noise)
        for j, f in enumerate(config.factors):
            tag = "critical" if f == 1.0 else ("chaotic" if f > 1.0 else "ordered")
            tables.append(simulate_variance(
                "relu", noise, sigma_w=f * cp.sigma_w, width=config.width, depth=config.depth,
                x0_sq=1.0 / (cp.sigma_w**2 * cp.mu2), n_inputs=config.n_inputs,
                n_networks=config.n_networks, seed=config.seed + 100 * (3 * i + j),
                panel=f"relu, {noise}", curve=f"sigma_w={f:g} x {cp.sigma_w:.3f} ({tag})",
            ))
            if progress is not None:
                progress()
    return DynamicsTable.concat(tables)


def correlation_figure(config: FigureConfig, progress=None) -> tuple[DynamicsTable, dict[str, float]]:
    """Correlation dynamics of critical ReLU networks without noise and under each noise,
    from each starting correlation in ``config.c0s``. Returns the table and ``c*`` per panel."""
    tables, c_star = [], {}
    for i, noise in enumerate(("none", *config.noises)):
        cp = mf.critical_point("relu", noise)
        panel = f"relu, {noise}"
        c_star[panel] = cp.c_star
        for j, c0 in enumerate(config.c0s):
            tables.append(simulate_correlation(
                "relu", noise, sigma_w=cp.sigma_w, c0=c0, width=config.width, depth=config.depth,
                x0_sq=1.0 / (cp.sigma_w**2 * cp.mu2), n_pairs=max(2, config.n_inputs // 2),
                n_networks=config.n_networks, seed=config.seed + 100 * (10 * i + j), panel=panel,
                curve=f"c0={c0:g}",
            ))
            if progress is not None:
                progress()
    return DynamicsTable.concat(tables), c_star


def _spectrum_row(act: str, q: float) -> str:
    return act if q == 1.0 else f"{act}, q*={q:g}"


def jacobian_figure(config: FigureConfig, progress=None) -> JacobianSpectra:
    """Jacobian spectra of critical networks, one panel per activation of
    ``config.spectrum_activations``: orthogonal weights without noise and with each of
    ``config.jacobian_noises``, and Gaussian weights without noise (see
    :meth:`FigureConfig.spectrum_settings`)."""
    out = []
    for i, (act, q, noise, weights) in enumerate(config.spectrum_settings()):
        out.append(simulate_jacobian(
            act, noise, weights=weights, q_star=q, width=config.jacobian_width,
            depths=config.jacobian_depths, n_networks=config.jacobian_networks,
            seed=config.seed + 100 * i, panel=_spectrum_row(act, q), curve=f"{noise}, {weights}",
        ))
        if progress is not None:
            progress()
    return JacobianSpectra.concat(out)


def density_figure(config: FigureConfig, spectra: JacobianSpectra,
                   progress=None) -> list[SpectrumDensity]:
    """Singular-value densities for the orthogonal-weight settings of ``spectra`` (from
    :func:`jacobian_figure` with the same ``config``) at ``config.density_depths``: one row
    per activation, one column per noise."""
    missing = sorted(set(config.density_depths) - set(config.jacobian_depths))
    if missing:
        raise ValueError(f"density_depths: {missing} not in jacobian_depths "
                         f"{config.jacobian_depths}")
    out = []
    for act, q, noise, weights in config.spectrum_settings():
        if weights != "orthogonal":
            continue
        row = _spectrum_row(act, q)
        key = f"{row}, {noise}, {weights}"
        for depth in config.density_depths:
            out.append(spectrum_density(
                spectra.by_depth[key][depth], act, noise, depth=depth, weights=weights,
                q_star=q, n_points=config.density_points, row=row, column=noise,
            ))
            if progress is not None:
                progress()
    return out


def correlation_map_figure(config: FigureConfig,
                           progress=None) -> list[tuple[MapTable, mf.CriticalPoint]]:
    """One step of the correlation map of critical ReLU layers without noise and under each
    of ``config.noises``, theory beside simulation (width ``config.width``)."""
    out = []
    for i, noise in enumerate(("none", *config.noises)):
        cp = mf.critical_point("relu", noise)
        table = simulate_correlation_map(
            "relu", noise, sigma_w=cp.sigma_w, sigma_b=cp.sigma_b, q=cp.q_star, cs=config.map_cs,
            width=config.width, n_pairs=max(2, config.n_inputs // 2),
            n_networks=config.map_networks, seed=config.seed + 100 * i, label=noise,
        )
        out.append((table, cp))
        if progress is not None:
            progress()
    return out
