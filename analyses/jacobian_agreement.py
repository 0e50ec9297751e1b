"""Theory beside simulation for the Jacobian spectrum: a markdown table.

For each setting, ``svccakit.meanfield.jacobian_moments`` (wide limit) against
``svccakit.meanfield.dynamics.simulate_jacobian`` (critical ``mlp(N, N, L, N)`` in training
mode, one forward pass's noise held fixed): the mean eigenvalue of ``J J^T`` and
``var / mean^2``, simulated as mean +- one standard error over networks.
Usage: ``python analyses/jacobian_agreement.py [--width 400] [--networks 64] [--quick]``.
"""

import argparse
import time

import numpy as np

from svccakit.meanfield import dynamics as dy

SETTINGS = [  # activation, noise, weights, q*, readout
    ("relu", "dropout:0.8", "orthogonal", None, True),
    ("relu", "dropout:0.8", "orthogonal", None, False),
    ("relu", "gauss:0.5", "orthogonal", None, True),
    ("relu", None, "orthogonal", None, True),
    ("relu", "dropout:0.8", "gaussian", None, True),
    ("shifted-relu:1", "dropout:0.8", "orthogonal", None, True),
    ("shifted-relu:1", "gauss:0.5", "orthogonal", None, True),
    ("tanh", None, "orthogonal", None, True),
    ("tanh", "dropout:0.8", "orthogonal", None, True),
    ("tanh", "gauss:0.5", "orthogonal", 0.1, True),
    ("erf", "gauss:0.5", "orthogonal", None, True),
    ("erf", "dropout:0.8", "gaussian", None, True),
]


def main(width: int, networks: int, depths: tuple[int, ...], seed: int, settings) -> None:
    print(f"width {width}, {networks} networks per setting, seed {seed}; simulation: mean "
          "+- 1 standard error over networks\n")
    print("| activation | noise | weights | q* | J | L | mean: theory | mean: simulation "
          "| var/mean^2: theory | var/mean^2: simulation |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for act, noise, weights, q, readout in settings:
        start = time.perf_counter()
        s = dy.simulate_jacobian(act, noise, weights=weights, q_star=q, width=width,
                                 depths=depths, n_networks=networks, readout=readout,
                                 seed=seed)
        key = s.table.setting[0]
        means = s.mean_eigenvalue[key]
        sem = means.std(axis=0, ddof=1) / np.sqrt(networks)
        for j, depth in enumerate(s.table.layer):
            tm, sm = s.theory_mean[key][j], means[:, j].mean()
            tv, sv, se = s.table.theory[j], s.table.sim_mean[j], s.table.sim_sem[j]
            print(f"| {act} | {noise or 'none'} | {weights} | {q or 1:g} | "
                  f"{'out' if readout else 'x^L'} | {depth} | {tm:.3f} | {sm:.3f} +- "
                  f"{sem[j]:.3f} ({sm / tm - 1:+.1%}) | {tv:.3f} | {sv:.3f} +- {se:.3f} "
                  f"({sv / tv - 1:+.1%}) |", flush=True)
        print(f"<!-- {time.perf_counter() - start:.0f} s -->", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=400)
    parser.add_argument("--networks", type=int, default=64)
    parser.add_argument("--depths", type=int, nargs="+", default=[4, 8, 16])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="two settings, width 100")
    args = parser.parse_args()
    if args.quick:
        main(100, 8, (2, 4), args.seed, SETTINGS[:2])
    else:
        main(args.width, args.networks, tuple(args.depths), args.seed, SETTINGS)
