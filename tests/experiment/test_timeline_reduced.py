"""The timeline on layers reduced at record time (pool, positions:K, project:D)."""

import numpy as np
import pytest
import torch
from torch import nn

import svccakit


def cnn(seed):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(),
        nn.Conv2d(6, 8, 3, stride=2, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(8 * 4 * 4, 5),
    )  # fmt: skip


def record(path, seed, reduce, steps=(0, 1)):
    model = cnn(seed)
    x = torch.randn(40, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    with svccakit.Recorder(model, x, path, layers=["1", "3", "5"], reduce=reduce) as rec:
        for step in steps:
            rec.record(step)
            with torch.no_grad():
                model[0].weight.mul_(1.1)
    return path


@pytest.mark.parametrize("reduce", ["pool", "positions:3", "project:12"])
def test_timeline_compares_reduced_layers(tmp_path, reduce):
    ref = record(tmp_path / "ref.h5", 0, reduce, steps=(0,))
    run = record(tmp_path / "run.h5", 1, reduce)
    table = svccakit.timeline([run], ref, metrics=("svcca", "cka"), pairs="all",
                              baseline_n=0, n_jobs=1, progress=False)
    assert len(table) == 2 * 3 * 3 * 2
    assert table["value"].between(0, 1 + 1e-9).all()
    # the reference against itself: 1 on the diagonal
    same = svccakit.timeline([ref], ref, metrics=("cka",), baseline_n=0, n_jobs=1,
                             progress=False)
    np.testing.assert_allclose(same["value"], 1.0, atol=1e-9)
    with svccakit.open_run(run) as r:
        n_samples = 40 * 3 if reduce == "positions:3" else 40
        assert r.samples("1", 0).shape[0] == n_samples
        assert r.samples("5", 0).shape[0] == n_samples


def test_unreduced_conv_layers_are_compared_with_positions_as_samples(tmp_path):
    ref = record(tmp_path / "ref.h5", 0, "none", steps=(0,))
    run = record(tmp_path / "run.h5", 1, "none")
    table = svccakit.timeline([run], ref, metrics=("cka",), layers=["1"], baseline_n=0,
                              n_jobs=1, progress=False)
    with svccakit.open_run(run) as r, svccakit.open_run(ref) as q:
        want = svccakit.linear_cka(svccakit.flatten_conv(r.activations("1", 1)),
                                   svccakit.flatten_conv(q.activations("1", 0)))
    np.testing.assert_allclose(table["value"].iloc[-1], want, rtol=1e-10)


def test_layers_reduced_differently_are_not_compared(tmp_path):
    ref = record(tmp_path / "ref.h5", 0, "pool", steps=(0,))
    run = record(tmp_path / "run.h5", 1, {"1": "project:12", "3": "pool"})
    with pytest.raises(ValueError, match=r"layer '1' of run file .* was recorded with "
                                         r"reduce='project:12' but reference layer '1' .* with "
                                         r"reduce='pool'; layers reduced differently cannot"):
        svccakit.timeline([run], ref, baseline_n=0, n_jobs=1, progress=False)
    # layer "5" is "none" in the run and "pool" in the reference: also refused
    with pytest.raises(ValueError, match="reduce='none' but reference layer '5'"):
        svccakit.timeline([run], ref, layers=["5"], baseline_n=0, n_jobs=1, progress=False)
    table = svccakit.timeline([run], ref, layers=["3"], baseline_n=0, n_jobs=1, progress=False)
    assert set(table["layer"]) == {"3"}
