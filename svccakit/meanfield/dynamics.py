"""Theory beside simulation: signal propagation in real torch networks vs the mean-field maps.

Each ``simulate_*`` function builds networks with :func:`svccakit.nets.mlp`, initialises
them with :func:`svccakit.init.set_weights_` / :func:`svccakit.init.critical_`, pushes
inputs through them in train mode (noise on) and returns a :class:`DynamicsTable` with the
theory and the simulated mean and standard deviation per layer. The ``plot_*`` functions take
those tables and return matplotlib figures (theory: solid lines; simulation: dots with
error bars of one standard deviation). Nothing here prints or writes files.

Randomness: weights come from per-network generators seeded ``seed + i``; the noise uses
torch's global RNG inside :func:`torch.random.fork_rng`, seeded with ``seed``, so the global
state is left untouched and results are deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from svccakit._validate import check_int
from svccakit.meanfield import theory as mf
from svccakit.meanfield.init import critical_, set_weights_
from svccakit.meanfield.nets import mlp

__all__ = [
    "DynamicsTable",
    "JacobianSpectra",
    "simulate_variance",
    "simulate_correlation",
    "simulate_jacobian",
    "network_jacobians",
    "plot_variance",
    "plot_correlation",
    "plot_jacobian",
    "CSV_COLUMNS",
    "FigureConfig",
    "variance_figure",
    "correlation_figure",
    "jacobian_figure",
]

CSV_COLUMNS = ("setting", "layer", "theory", "simulation mean", "simulation std")


@dataclass(frozen=True)
class DynamicsTable:
    """A tidy table, one row per (panel, curve, layer).

    Attributes
    ----------
    panel, curve : ndarray of str, shape (n_rows,)
        Which subplot and which line the row belongs to.
    layer : ndarray of int, shape (n_rows,)
    theory, sim_mean, sim_std : ndarray of float, shape (n_rows,)
    """

    panel: np.ndarray
    curve: np.ndarray
    layer: np.ndarray
    theory: np.ndarray
    sim_mean: np.ndarray
    sim_std: np.ndarray

    @classmethod
    def from_curve(cls, panel: str, curve: str, layer, theory, sims) -> DynamicsTable:
        """One curve from ``sims`` of shape (n_samples, n_layers)."""
        sims = np.asarray(sims, dtype=float)
        n = len(layer)
        return cls(
            np.full(n, panel, dtype=object), np.full(n, curve, dtype=object),
            np.asarray(layer, dtype=int), np.asarray(theory, dtype=float),
            sims.mean(axis=0), sims.std(axis=0, ddof=1) if sims.shape[0] > 1 else np.zeros(n),
        )

    @classmethod
    def concat(cls, tables: Sequence[DynamicsTable]) -> DynamicsTable:
        return cls(*(np.concatenate([getattr(t, f) for t in tables]) for f in
                     ("panel", "curve", "layer", "theory", "sim_mean", "sim_std")))

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
        return DynamicsTable(*(getattr(self, f)[keep] for f in
                               ("panel", "curve", "layer", "theory", "sim_mean", "sim_std")))

    def panels(self) -> list[str]:
        return list(dict.fromkeys(self.panel))

    def curves(self) -> list[str]:
        return list(dict.fromkeys(self.curve))

    def rows(self) -> list[tuple]:
        """Rows in :data:`CSV_COLUMNS` order."""
        return [(s, int(layer), float(t), float(m), float(sd)) for s, layer, t, m, sd in
                zip(self.setting, self.layer, self.theory, self.sim_mean, self.sim_std, strict=True)]


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
    with torch.random.fork_rng(devices=[]):
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
        np.concatenate(sims),
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
        panel or nz.spec, curve or f"c0={c0:g}", np.arange(1, depth + 1), theory, np.concatenate(sims)
    )


def network_jacobians(model: nn.Sequential, x: torch.Tensor, layers: Sequence[int]) -> dict[int, torch.Tensor]:
    """Input-output Jacobians ``J^l = d x^l / d x^0`` of an :func:`svccakit.nets.mlp` at one input.

    Built layer by layer as ``J^l = diag(phi'(h^l)) W^l J^{l-1}`` from the model's own
    weights, with ``phi'`` from autograd through its activation module (eval mode: no noise).

    Parameters
    ----------
    model : nn.Sequential from :func:`svccakit.nets.mlp`
    x : Tensor of shape (in_features,)
    layers : sequence of int
        Hidden layers (1-based) at which to return ``J^l``.

    Returns
    -------
    dict mapping layer -> Tensor of shape (width, in_features)
    """
    wanted = set(layers)
    mods = dict(model.named_children())
    out: dict[int, torch.Tensor] = {}
    jac = None
    xl = x[None, :]
    layer = 1
    with torch.no_grad():
        while f"fc{layer}" in mods and layer <= max(wanted):
            lin, act = mods[f"fc{layer}"], mods[f"act{layer}"]
            h = lin(xl)
            with torch.enable_grad():
                hg = h.detach().requires_grad_(True)
                (dphi,) = torch.autograd.grad(act(hg).sum(), hg)
            w = lin.weight
            jac = w.clone() if jac is None else w @ jac
            jac = dphi[0][:, None] * jac
            xl = act(h)
            if layer in wanted:
                out[layer] = jac.clone()
            layer += 1
    return out


@dataclass(frozen=True)
class JacobianSpectra:
    """Jacobian spectra of simulated networks.

    Attributes
    ----------
    table : DynamicsTable
        Per depth: theory variance of the ``J J^T`` spectrum and the simulated variance of
        the eigenvalues rescaled to unit mean, ``var(lambda) / mean(lambda)^2``. The
        rescaling removes the finite-width fluctuation of the overall gain
        ``mean(lambda)`` (theory: 1), which grows like ``sqrt(L / width)`` and would
        otherwise dominate the comparison.
    singular_values : dict
        curve -> ndarray of the singular values of ``J`` at the deepest layer (networks pooled).
    mean_eigenvalue : dict
        curve -> ndarray of shape (n_networks, n_depths), ``mean(lambda)`` per network and depth.
    """

    table: DynamicsTable
    singular_values: dict[str, np.ndarray] = field(default_factory=dict)
    mean_eigenvalue: dict[str, np.ndarray] = field(default_factory=dict)


def simulate_jacobian(
    activation="relu", *, weights: str = "orthogonal", q_star: float | None = None,
    width: int = 1000, depths: Sequence[int] = (4, 8, 12, 16, 20), n_networks: int = 2,
    seed: int = 0, panel: str = "jacobian", curve: str | None = None,
) -> JacobianSpectra:
    """Spectrum of ``J J^T`` of critically initialised noise-free networks vs
    :func:`svccakit.meanfield.jacobian_spectrum_moments` (variance ``L/p`` Gaussian,
    ``L (1-p)/p`` orthogonal).

    The input is ``x^0 = phi(sqrt(q*) z)`` so that ``h^1`` starts at the fixed point ``q*``.
    """
    act = mf.parse_activation(activation)
    if not act.piecewise_linear:
        raise ValueError(f"activation: the Jacobian theory needs relu or shifted-relu, got {act.spec!r}")
    width, n_networks = check_int(width, "width", 1), check_int(n_networks, "n_networks", 1)
    depths = sorted({check_int(d, "depths", 1) for d in depths})
    if not depths:
        raise ValueError("depths: expected at least one depth, got none")
    cp = mf.critical_point(act, None, q_star=q_star)
    theory = np.array([mf.jacobian_spectrum_moments(d, cp.p, weights).variance for d in depths])
    sims = np.empty((n_networks, len(depths)))
    means = np.empty((n_networks, len(depths)))
    svals = []
    for i in range(n_networks):
        model = mlp(width, width, max(depths), 1, act, None).eval()
        critical_(model, q_star=q_star, weights=weights, generator=seed + i)
        gen = torch.Generator().manual_seed(seed + 10_000 + i)
        z = torch.randn(width, generator=gen) * math.sqrt(cp.q_star)
        x0 = torch.relu(z + act.alpha) - act.alpha
        jacs = network_jacobians(model, x0, depths)
        for j, d in enumerate(depths):
            s = torch.linalg.svdvals(jacs[d].double()).numpy()
            lam = s**2
            means[i, j] = lam.mean()
            sims[i, j] = lam.var() / lam.mean() ** 2
            if d == depths[-1]:
                svals.append(s)
    label = curve or f"{act.spec} {weights}"
    table = DynamicsTable.from_curve(panel, label, np.asarray(depths), theory, sims)
    return JacobianSpectra(table, {label: np.concatenate(svals)}, {label: means})


# ---------------------------------------------------------------------------- plots


def _axes_grid(n: int, title: str):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.0 * n, 4.0), layout="constrained")
    axes = fig.subplots(1, n, squeeze=False)
    fig.suptitle(title)
    return fig, axes[0]


def _draw(ax, table: DynamicsTable):
    for k, curve in enumerate(table.curves()):
        t = table.select(curve=curve)
        color = f"C{k}"
        ax.plot(t.layer, t.theory, "-", color=color, label=curve)
        ax.errorbar(t.layer, t.sim_mean, yerr=t.sim_std, fmt="o", ms=3.5, color=color, capsize=2)


def plot_variance(table: DynamicsTable):
    """Variance dynamics, one panel per noise; log scale. Returns a matplotlib Figure."""
    fig, axes = _axes_grid(len(table.panels()), "Variance dynamics (lines: theory, dots: width-N networks)")
    for ax, panel in zip(axes, table.panels(), strict=True):
        _draw(ax, table.select(panel=panel))
        ax.set_yscale("log")
        ax.set(title=panel, xlabel="layer l", ylabel="q^l")
        ax.legend(fontsize=8)
    return fig


def plot_correlation(table: DynamicsTable, c_star: dict[str, float] | None = None):
    """Correlation dynamics, one panel per noise; dashed line at ``c*`` when given."""
    fig, axes = _axes_grid(len(table.panels()), "Correlation dynamics (lines: theory, dots: width-N networks)")
    for ax, panel in zip(axes, table.panels(), strict=True):
        _draw(ax, table.select(panel=panel))
        if c_star and panel in c_star:
            ax.axhline(c_star[panel], color="k", ls="--", lw=0.8, label=f"c* = {c_star[panel]:.3f}")
        ax.set(title=panel, xlabel="layer l", ylabel="c^l", ylim=(-0.05, 1.05))
        ax.legend(fontsize=8)
    return fig


def plot_jacobian(spectra: JacobianSpectra):
    """Left: distribution of ``log10`` of the singular values of ``J`` at the deepest layer
    over the 7 decades below the largest (exact zeros from the last layer's inactive units
    fall below the range; the legend gives their share); right: variance of the ``J J^T`` spectrum vs depth (lines: theory, dots:
    simulation)."""
    fig, (ax1, ax2) = _axes_grid(2, "Jacobian spectra at criticality (no noise)")
    pooled = np.concatenate(list(spectra.singular_values.values()))
    top = float(pooled.max()) if pooled.size else 1.0
    bins = np.linspace(np.log10(top) - 7.0, np.log10(top), 50)
    for k, (curve, s) in enumerate(spectra.singular_values.items()):
        nonzero = s > 10.0 ** bins[0]
        ax1.hist(np.log10(s[nonzero]), bins=bins, weights=np.full(nonzero.sum(), 1.0 / s.size),
                 histtype="step", color=f"C{k}", label=f"{curve} ({1 - nonzero.mean():.0%} below range)")
    depth = int(spectra.table.layer.max())
    ax1.set(title=f"singular values of J at depth {depth}", xlabel="log10 singular value",
            ylabel="fraction of singular values")
    ax1.legend(fontsize=8)
    _draw(ax2, spectra.table)
    ax2.set_yscale("log")
    ax2.set(title="JJ^T spectrum variance vs depth",
            xlabel="depth L", ylabel="var(lambda) / mean(lambda)^2")
    ax2.legend(fontsize=8)
    return fig


# ------------------------------------------------------------------- figure sets


@dataclass(frozen=True)
class FigureConfig:
    """Sizes for the three talk figures (:func:`variance_figure` and friends).

    ``full()`` uses width-1000 networks; ``quick()`` is a smaller smoke-test version.
    """

    width: int = 1000
    depth: int = 25
    n_inputs: int = 32
    n_networks: int = 6
    jacobian_width: int = 1000
    jacobian_depths: tuple[int, ...] = (4, 8, 16, 24)
    jacobian_networks: int = 2
    noises: tuple[str, ...] = ("dropout:0.6", "gauss:0.8")
    factors: tuple[float, ...] = (0.9, 1.0, 1.1)
    c0s: tuple[float, ...] = (0.0, 0.3, 0.6, 0.9, 1.0)
    shifted_alpha: float = 1.0
    seed: int = 0

    @classmethod
    def full(cls, seed: int = 0) -> FigureConfig:
        return cls(seed=seed)

    @classmethod
    def quick(cls, seed: int = 0) -> FigureConfig:
        return cls(width=300, depth=20, n_inputs=16, n_networks=3, jacobian_width=200,
                   jacobian_depths=(4, 8, 12), jacobian_networks=1, c0s=(0.0, 0.5, 1.0), seed=seed)

    def n_steps(self) -> int:
        """Number of simulations (for a progress bar)."""
        return (len(self.noises) * len(self.factors) + (len(self.noises) + 1) * len(self.c0s) + 4)


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


def jacobian_figure(config: FigureConfig, progress=None) -> JacobianSpectra:
    """Jacobian spectra of critical ReLU and shifted-ReLU networks, orthogonal and Gaussian."""
    tables, svals, means = [], {}, {}
    for i, act in enumerate(("relu", f"shifted-relu:{config.shifted_alpha!r}")):
        for j, weights in enumerate(("orthogonal", "gaussian")):
            s = simulate_jacobian(
                act, weights=weights, width=config.jacobian_width, depths=config.jacobian_depths,
                n_networks=config.jacobian_networks, seed=config.seed + 100 * (2 * i + j),
            )
            tables.append(s.table)
            svals.update(s.singular_values)
            means.update(s.mean_eigenvalue)
            if progress is not None:
                progress()
    return JacobianSpectra(DynamicsTable.concat(tables), svals, means)
