"""Regenerate tests/data/reference_values.npz (run from the repository root).

The inputs are stored with the values, so the frozen numbers do not depend on
the random generator. The values come from tests/similarity/reference_cca.py (explicit
SVD / n x n kernel formulas), not from svccakit.

    .venv/bin/python tests/similarity/data/make_reference.py
"""

from __future__ import annotations

import pathlib
import sys

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import reference_cca as ref  # noqa: E402


def main() -> None:
    rng = np.random.default_rng(20240229)
    n = 300
    latent = rng.standard_normal((n, 6))
    x = latent @ rng.standard_normal((6, 12)) + 0.3 * rng.standard_normal((n, 12))
    y = np.tanh(latent[:, :4] @ rng.standard_normal((4, 9))) + 0.5 * rng.standard_normal((n, 9))
    # rank-deficient companion: duplicated, dead, combined and rescaled neurons
    xd = np.hstack([x, x[:, :3], np.full((n, 2), 7.5), (x[:, :2] @ [[1.0], [-2.0]]) * 1e4,
                    x[:, 4:6] * 1e-4])
    values = {
        "x": x, "y": y, "xd": xd,
        "cca_rho": ref.cca_rho(x, y),
        "cca_rho_xd": ref.cca_rho(xd, y),
        "svcca_099": ref.svcca_value(x, y, 0.99)[0],
        "svcca_099_dims": np.array(ref.svcca_value(x, y, 0.99)[1]),
        "svcca_5": ref.svcca_value(x, y, 5)[0],
        "pwcca_xy": ref.pwcca_value(x, y),
        "pwcca_yx": ref.pwcca_value(y, x),
        "cka": ref.linear_cka_value(x, y),
        "cka_debiased": ref.linear_cka_value(x, y, debiased=True),
    }
    np.savez_compressed(HERE / "reference_values.npz", **values)


if __name__ == "__main__":
    main()
