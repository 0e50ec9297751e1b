"""``svccakit theory``: the critical initialisation and its depth scales."""

from __future__ import annotations

import json
import math

from svccakit._validate import check_real
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
        help="critical initialisation (sigma_w, sigma_b) and depth scales from mean-field theory",
        description=(
            "Print the critical initialisation for an activation and noise, with the fixed "
            "points q* and c*, the correlation slope chi(c*), the depth scale "
            "xi_c = -1/ln chi(c*), the trainable depth 6 xi_c and p(q*). Exits 1 with a "
            "one-line message when no critical point exists (additive noise, shifted ReLU "
            "with alpha < 0)."
        ),
    )
    p.add_argument("--activation", default="relu", metavar="SPEC",
                   help="relu | shifted-relu:ALPHA | tanh | erf (default: relu)")
    p.add_argument("--noise", default="none", metavar="SPEC",
                   help="none | dropout:P (keep rate) | gauss:SIGMA (std of eps ~ N(1, SIGMA^2)) | "
                        "mu2:M | additive-gauss:SIGMA | additive-laplace:B (default: none)")
    p.add_argument("--q-star", type=float, default=None, metavar="Q",
                   help="variance fixed point (default 1; for ReLU any q is a fixed point)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object (infinite values as null)")
    p.set_defaults(func=run)


def run(args) -> int:
    with user_input("--activation"):
        activation = parse_activation(args.activation)
    with user_input("--noise"):
        noise = parse_noise(args.noise)
    with user_input("--q-star"):
        if args.q_star is not None:
            check_real(args.q_star, "q_star", low=0.0, low_open=True)
    try:
        cp = critical_point(activation, noise, q_star=args.q_star)
    except (OverflowError, FloatingPointError) as exc:
        # the maps are functions of these three inputs alone: an overflow means inputs
        # beyond what float64 arithmetic can handle, not an internal error
        raise CLIError(
            f"--activation {activation.spec} --noise {noise.spec}"
            f"{'' if args.q_star is None else f' --q-star {args.q_star:g}'}: "
            f"the mean-field maps overflow float64 for these values ({exc}); use smaller ones"
        ) from exc
    values = cp.as_dict()
    if args.json:
        clean = {k: (v if math.isfinite(v) else None) for k, v in values.items()}
        print(json.dumps(clean, allow_nan=False))
        return 0
    print(f"{'activation':<10} {activation.spec}")
    print(f"{'noise':<10} {noise.spec}")
    for key, label in _LABELS.items():
        print(f"{label:<10} {values[key]:.6g}")
    return 0
