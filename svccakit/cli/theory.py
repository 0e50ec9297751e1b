"""``svccakit theory``: the critical initialisation, its depth scales and Jacobian spectrum."""

from __future__ import annotations

import json
import math

from svccakit._validate import check_int, check_real
from svccakit.cli import CLIError, user_input
from svccakit.meanfield import critical_point, parse_activation, parse_noise

_LABELS = {
    "sigma_w": "sigma_w",
    "sigma_b": "sigma_b",
    "mu2": "mu2",
    "q_star": "q*",
    "c_star": "c*",
    "chi_c": "chi(c*)",
    "xi_c": "xi_c",
    "trainable_depth": "6 xi_c",
    "p": "p(q*)",
}


def add_parser(subparsers):
    p = subparsers.add_parser(
        "theory",
        help="critical initialisation (sigma_w, sigma_b), depth scales and Jacobian spectrum "
             "from mean-field theory",
        description=(
            "Print the critical initialisation for an activation and noise, with the fixed "
            "points q* and c*, the correlation slope chi(c*), the depth scale "
            "xi_c = -1/ln chi(c*), the trainable depth 6 xi_c and E[phi'(h)^2] at q* "
            "(p(q*), the fraction of active units, for the (shifted) ReLU). With --depth L, "
            "also the mean and variance of the eigenvalues of J J^T, J the input-output "
            "Jacobian of svccakit.mlp(N, N, L, N, activation, noise) at this initialisation "
            "in training mode (one forward pass's noise held fixed, readout included, input "
            "at q*), in the wide limit (free probability; see svccakit.meanfield.jacobian). "
            "Exits 1 with a one-line message when no critical point exists (additive noise, "
            "shifted ReLU with alpha < 0)."
        ),
    )
    p.add_argument("--activation", default="relu", metavar="SPEC",
                   help="relu | shifted-relu:ALPHA | tanh | erf (default: relu)")
    p.add_argument("--noise", default="none", metavar="SPEC",
                   help="none | dropout:P (keep rate) | gauss:SIGMA (std of eps ~ N(1, SIGMA^2)) | "
                        "mu2:M | additive-gauss:SIGMA | additive-laplace:B (default: none)")
    p.add_argument("--q-star", type=float, default=None, metavar="Q",
                   help="variance fixed point (default 1; for ReLU any q is a fixed point)")
    p.add_argument("--depth", type=int, default=None, metavar="L",
                   help="number of hidden layers: add the J J^T spectrum's mean and variance")
    p.add_argument("--weights", choices=("gaussian", "orthogonal"), default="gaussian",
                   help="weight law for the Jacobian spectrum (default: gaussian, as "
                        "svccakit.critical_)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object (infinite values as null); with --depth it has "
                        "\"jacobian\": {\"mean\", \"var\", \"var_over_mean2\", \"depth\", "
                        "\"weights\"}")
    p.set_defaults(func=run)


def _p_label(activation) -> str:
    # E[phi'^2] is the fraction of active units only when phi' is 0 or 1
    return "p(q*)" if activation.piecewise_linear else "E[phi'^2]"


def run(args) -> int:
    with user_input("--activation"):
        activation = parse_activation(args.activation)
    with user_input("--noise"):
        noise = parse_noise(args.noise)
    with user_input("--q-star"):
        if args.q_star is not None:
            check_real(args.q_star, "q_star", low=0.0, low_open=True)
    with user_input("--depth"):
        if args.depth is not None:
            check_int(args.depth, "--depth", 1)
    # the theory is a function of the inputs alone: its ValueErrors say an input is outside
    # its domain (no critical point, a noise without a law), and an overflow means inputs
    # beyond what float64 arithmetic can handle, not an internal error
    with user_input():
        try:
            values = critical_point(activation, noise, q_star=args.q_star).as_dict()
            jac = None
            if args.depth is not None:
                from svccakit.meanfield import jacobian_moments

                m = jacobian_moments(activation, noise, depth=args.depth,
                                     weights=args.weights, q_star=args.q_star)
                jac = {"mean": m.mean, "var": m.variance,
                       "var_over_mean2": m.variance / m.mean**2, "depth": args.depth,
                       "weights": args.weights}
        except (OverflowError, FloatingPointError) as exc:
            raise CLIError(
                f"--activation {activation.spec} --noise {noise.spec}"
                f"{'' if args.q_star is None else f' --q-star {args.q_star:g}'}: the "
                f"mean-field maps overflow float64 for these values ({exc}); use smaller ones"
            ) from exc
    if args.json:
        clean = {k: (v if math.isfinite(v) else None) for k, v in values.items()}
        if jac is not None:
            clean["jacobian"] = jac
        print(json.dumps(clean, allow_nan=False))
        return 0
    print(f"{'activation':<10} {activation.spec}")
    print(f"{'noise':<10} {noise.spec}")
    labels = dict(_LABELS, p=_p_label(activation))
    for key, label in labels.items():
        print(f"{label:<10} {values[key]:.6g}")
    if jac is not None:
        print(f"eigenvalues of J J^T (depth {args.depth}, {args.weights} weights):")
        for key, label in (("mean", "mean"), ("var", "var"), ("var_over_mean2", "var/mean^2")):
            print(f"  {label:<10} {jac[key]:.6g}")
    return 0
