"""How far SVCCA and linear CKA move when layers are stored with ``reduce="project:D"``.

    python benchmarks/projection.py [--write-docs]

Two pairs of representations of 1,000 inputs are compared before and after the
recorder's fixed Gaussian projection (each side its own matrix, as two layers of
different names get), for D = 32 ... 512, mean over 4 matrix draws:

- "low rank": 512 features driven by a shared 10-dimensional signal plus noise
  (effective rank r = tr(C)^2 / ||C||_F^2 about 10 and 18), like a trained layer;
- "random conv": the flattened outputs (8 x 8 x 8 = 512 features) of two
  randomly initialised conv nets on Gaussian images (effective rank about 150).

The prediction printed beside linear CKA is the expected shrink factor
1 / sqrt((1 + (1 + r_a)/D)(1 + (1 + r_b)/D)), from E||R'MR||_F^2 =
||M||_F^2 (1 + (1 + r)/D) for R with N(0, 1/D) entries.
"""

from __future__ import annotations

import argparse

import _docs
import numpy as np
import torch
from torch import nn

import svccakit
from svccakit.record.reducers import projection_matrix


def effective_rank(x: np.ndarray) -> float:
    s = np.linalg.svd(x - x.mean(0), compute_uv=False) ** 2
    return float(s.sum() ** 2 / (s**2).sum())


def low_rank(n: int = 1000, d: int = 512):
    rng = np.random.default_rng(0)
    z = rng.standard_normal((n, 10))
    a = z @ rng.standard_normal((10, d)) + 0.3 * rng.standard_normal((n, d))
    b = np.maximum(z @ rng.standard_normal((10, d)), 0) + 0.3 * rng.standard_normal((n, d))
    return a, b


def random_conv(n: int = 1000):
    x = torch.randn(n, 3, 8, 8, generator=torch.Generator().manual_seed(0))

    def net(seed):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(),
                             nn.Conv2d(16, 8, 3, padding=1), nn.ReLU())

    with torch.no_grad():
        return tuple(net(s)(x).reshape(n, -1).double().numpy() for s in (0, 1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    _docs.add_argument(parser)
    args = parser.parse_args(argv)
    with _docs.capture() as printed:
        _run()
    if args.write_docs:
        _docs.write_results("projection", printed.getvalue(), page=args.write_docs)
    return 0


def _run() -> None:
    for title, (a, b) in (("low rank", low_rank()), ("random conv", random_conv())):
        r_a, r_b = effective_rank(a), effective_rank(b)
        cka, svcca = svccakit.linear_cka(a, b), float(svccakit.svcca(a, b))
        print(f"{title}: n={a.shape[0]}, d={a.shape[1]}, effective ranks {r_a:.0f} and "
              f"{r_b:.0f}; unprojected CKA {cka:.3f}, SVCCA {svcca:.3f}")
        print(f"  {'D':>4} {'CKA':>7} {'shift':>7} {'predicted':>9} {'SVCCA':>7} {'shift':>7}")
        for dim in (32, 64, 128, 256, 512):
            got_cka, got_svcca = [], []
            for rep in range(4):
                pa = a @ projection_matrix(f"a{rep}", a.shape[1], dim)
                pb = b @ projection_matrix(f"b{rep}", b.shape[1], dim)
                got_cka.append(svccakit.linear_cka(pa, pb))
                got_svcca.append(float(svccakit.svcca(pa, pb)))
            factor = 1 / np.sqrt((1 + (1 + r_a) / dim) * (1 + (1 + r_b) / dim))
            mc, ms = float(np.mean(got_cka)), float(np.mean(got_svcca))
            print(f"  {dim:>4} {mc:7.3f} {mc - cka:+7.3f} {cka * (factor - 1):+9.3f} "
                  f"{ms:7.3f} {ms - svcca:+7.3f}")


if __name__ == "__main__":
    raise SystemExit(main())
