"""``svccakit theory``: the critical initialisation and its depth scales."""

from __future__ import annotations

import json
import math

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
    activation, noise = parse_activation(args.activation), parse_noise(args.noise)
    cp = critical_point(activation, noise, q_star=args.q_star)
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
