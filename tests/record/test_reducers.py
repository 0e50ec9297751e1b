"""Reducers at record time: pool, positions:K, project:D, callables, the snapshot budget."""

import numpy as np
import pytest
import torch
from torch import nn

import svccakit
from svccakit.record import reducers
from svccakit.record.reducers import as_samples, parse_reduce, projection_matrix


class ConvNet(nn.Module):
    def __init__(self, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(8, 6, 3, stride=2, padding=1)
        self.relu2 = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(6, 4)

    def forward(self, x):
        h = self.relu2(self.conv2(self.relu1(self.conv1(x))))
        return self.fc(self.pool(h).flatten(1))


def images(n=10, seed=1, size=8):
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def unreduced(model, x, name):
    out = {}
    handle = dict(model.named_modules())[name].register_forward_hook(
        lambda _m, _i, o: out.setdefault("t", o.detach())
    )
    with torch.no_grad():
        model(x)
    handle.remove()
    return out["t"]


def test_pool_is_the_mean_over_spatial_axes(tmp_path):
    model, x = ConvNet(), images()
    with svccakit.Recorder(model, x, tmp_path / "r.h5", reduce="pool") as rec:
        rec.record(0)
        with torch.no_grad():
            model.conv1.weight.mul_(1.5)
        rec.record(1)
    raw = unreduced(model, x, "relu1")
    with svccakit.open_run(tmp_path / "r.h5") as run:
        assert run.layer_shape("relu1") == (10, 8)
        assert run.layer_shape("relu2") == (10, 6)
        assert run.layer_shape("fc") == (10, 4)  # 2-D layers are stored as they are
        np.testing.assert_allclose(run.activations("relu1", 1), raw.mean(dim=(2, 3)).numpy(),
                                   rtol=1e-6, atol=1e-7)
        info = run.layer_info("relu1")
        assert info.reduce == "pool"
        assert info.raw_shape == (10, 8, 8, 8)
        assert info.dtype == np.float32
        assert run.samples("relu1", 0).shape == (10, 8)


def test_pool_on_sequences_means_over_tokens(tmp_path):
    layer = nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16, batch_first=True,
                                       dropout=0.0)
    model = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
    x = torch.randn(5, 7, 8, generator=torch.Generator().manual_seed(0))
    path = tmp_path / "r.h5"
    blocks = svccakit.record.transformer_blocks(model)
    assert blocks == ["layers.0", "layers.1"]
    with svccakit.Recorder(model, x, path, layers=blocks, reduce="pool") as rec:
        rec.record(0)
    model.eval()
    with torch.no_grad():
        h0 = model.layers[0](x)
    with svccakit.open_run(path) as run:
        assert run.layer_shape("layers.0") == (5, 8)
        np.testing.assert_allclose(run.activations("layers.0", 0), h0.mean(1).numpy(),
                                   rtol=1e-5, atol=1e-6)


def test_project_is_the_same_matrix_every_snapshot_and_run(tmp_path):
    model, x = ConvNet(), images()
    for name in ("a", "b"):
        with svccakit.Recorder(model, x, tmp_path / f"{name}.h5", layers=["relu1", "relu2"],
                               reduce="project:16") as rec:
            rec.record(0)
            rec.record(1)
    raw = unreduced(model, x, "relu1").reshape(10, -1).numpy()
    matrix = projection_matrix("relu1", 512, 16)
    assert matrix.shape == (512, 16)
    assert abs(matrix.std() * np.sqrt(16) - 1) < 0.05  # entries N(0, 1/D)
    assert not np.allclose(matrix, projection_matrix("relu2", 512, 16))  # seeded by name
    with svccakit.open_run(tmp_path / "a.h5") as a, svccakit.open_run(tmp_path / "b.h5") as b:
        assert a.layer_shape("relu1") == (10, 16)
        assert a.layer_info("relu1").reduce == "project:16"
        np.testing.assert_allclose(a.activations("relu1", 0), raw @ matrix, rtol=1e-4, atol=1e-5)
        np.testing.assert_array_equal(a.activations("relu1", 0), a.activations("relu1", 1))
        np.testing.assert_array_equal(a.activations("relu2", 1), b.activations("relu2", 1))


def test_project_leaves_small_layers_unprojected(tmp_path):
    model = nn.Sequential(nn.Linear(5, 4), nn.ReLU())
    with svccakit.Recorder(model, torch.randn(6, 5), tmp_path / "r.h5",
                           reduce="project:8") as rec:
        rec.record(0)
    with svccakit.open_run(tmp_path / "r.h5") as run:
        assert run.layer_shape("0") == (6, 4)


def test_positions_pick_the_same_places_in_every_layer_and_snapshot(tmp_path):
    model, x = ConvNet(), images(n=4, size=8)
    path = tmp_path / "r.h5"
    with svccakit.Recorder(model, x, path, reduce="positions:5") as rec:
        rec.record(0)
        rec.record(3)
    raw1 = unreduced(model, x, "relu1")  # (4, 8, 8, 8)
    raw2 = unreduced(model, x, "relu2")  # (4, 6, 4, 4)
    u = reducers.relative_positions(4, 5)
    with svccakit.open_run(path) as run:
        got1 = run.activations("relu1", 1)
        got2 = run.activations("relu2", 1)
        assert got1.shape == (4, 5, 8)
        assert got2.shape == (4, 5, 6)
        for i in range(4):
            for k in range(5):
                r, c = int(u[i, k, 0] * 8), int(u[i, k, 1] * 8)
                np.testing.assert_array_equal(got1[i, k], raw1[i, :, r, c].numpy())
                # the same relative place on the coarser grid of relu2
                np.testing.assert_array_equal(got2[i, k], raw2[i, :, r // 2, c // 2].numpy())
        np.testing.assert_array_equal(run.activations("relu1", 0), got1)
        # as samples: (n * K, c); a 2-D layer repeats its row at every position
        assert run.samples("relu1", 0).shape == (20, 8)
        fc = run.activations("fc", 0)
        assert fc.shape == (4, 4)
        np.testing.assert_array_equal(run.samples("fc", 0), np.repeat(fc, 5, axis=0))


def test_positions_on_sequences_pick_tokens(tmp_path):
    class Seq(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 4)

        def forward(self, x):
            return self.lin(x)

    x = torch.randn(3, 9, 3)
    model = Seq()
    with svccakit.Recorder(model, x, tmp_path / "r.h5", layers=["lin"],
                           reduce="positions:4") as rec:
        rec.record(0)
    u = reducers.relative_positions(3, 4)
    with torch.no_grad():
        full = model.lin(x)
    with svccakit.open_run(tmp_path / "r.h5") as run:
        got = run.activations("lin", 0)
    assert got.shape == (3, 4, 4)
    for i in range(3):
        tokens = (u[i, :, 0] * 9).astype(int)
        np.testing.assert_allclose(got[i], full[i, tokens].numpy())


def test_mapping_and_callable_reducers(tmp_path):
    model, x = ConvNet(), images()

    def channel_max(t):
        return t.amax(dim=(2, 3))

    path = tmp_path / "r.h5"
    reduce = {"relu1": channel_max, "relu*": "project:32", "conv*": "pool"}
    with svccakit.Recorder(model, x, path, reduce=reduce) as rec:
        rec.record(0)
    raw = unreduced(model, x, "relu1")
    with svccakit.open_run(path) as run:
        assert run.layer_info("relu1").reduce.startswith("callable:")
        assert run.layer_info("relu1").reduce.endswith("channel_max")
        np.testing.assert_array_equal(run.activations("relu1", 0), raw.amax(dim=(2, 3)).numpy())
        assert run.layer_info("relu2").reduce == "project:32"
        assert run.layer_shape("relu2") == (10, 32)
        assert run.layer_info("conv1").reduce == "pool"
        assert run.layer_info("fc").reduce == "none"


def test_as_samples_rules():
    a = np.arange(2 * 3 * 2 * 2).reshape(2, 3, 2, 2)
    np.testing.assert_array_equal(as_samples(a), svccakit.flatten_conv(a))
    s = np.arange(2 * 4 * 3).reshape(2, 4, 3)
    np.testing.assert_array_equal(as_samples(s), s.reshape(8, 3))
    np.testing.assert_array_equal(as_samples(s, "positions:4"), s.reshape(8, 3))
    np.testing.assert_array_equal(as_samples(np.arange(3)), [[0], [1], [2]])


def test_reducer_spec_errors(tmp_path):
    model, x, p = ConvNet(), images(), tmp_path / "r.h5"
    with pytest.raises(ValueError, match=r"reduce: expected one of none, pool, positions:K, "
                                         r"project:D, a callable, got 'mean'"):
        svccakit.Recorder(model, x, p, reduce="mean")
    with pytest.raises(ValueError, match=r"reduce: expected positions:K with K a positive "
                                         r"integer .*got 'positions:0'"):
        svccakit.Recorder(model, x, p, reduce="positions:0")
    with pytest.raises(ValueError, match=r"reduce\['conv\*'\]: expected project:D"):
        svccakit.Recorder(model, x, p, reduce={"conv*": "project"})
    with pytest.raises(TypeError, match="reduce: expected a reducer spec .*got int 3"):
        svccakit.Recorder(model, x, p, reduce=3)
    with pytest.raises(TypeError, match="reduce: mapping keys must be layer names"):
        svccakit.Recorder(model, x, p, reduce={1: "pool"})
    rec = svccakit.Recorder(model, x, p, reduce={"convv*": "pool"})
    with pytest.raises(ValueError, match=r"reduce: 'convv\*' matches no recorded layer"):
        rec.record(0)
    rec.close()
    assert not p.exists()
    bad = svccakit.Recorder(model, x, p, reduce=lambda t: t.sum())
    with pytest.raises(ValueError, match=r"the first axis .* must be kept"):
        bad.record(0)
    bad.close()
    bad = svccakit.Recorder(model, x, p, reduce=lambda t: 3)
    with pytest.raises(TypeError, match=r"returned int for layer 'conv1'; expected a torch"):
        bad.record(0)
    bad.close()
    six_d = nn.Sequential(nn.Identity())
    rec = svccakit.Recorder(six_d, torch.randn(2, 1, 1, 1, 1, 2), p, reduce="pool")
    with pytest.raises(ValueError, match="cannot tell the spatial axes of a 6-D output"):
        rec.record(0)
    rec.close()
    assert parse_reduce(" Pool ") == parse_reduce("pool")
    assert str(parse_reduce("project:64")) == "project:64"


def test_budget_refuses_before_anything_is_written(tmp_path):
    model, x = ConvNet(), images(n=50, size=16)
    path = tmp_path / "r.h5"
    # relu1 alone is 50 * 8 * 16 * 16 * 4 bytes = 0.41 MB
    rec = svccakit.Recorder(model, x, path, budget_mb=0.5)
    with pytest.raises(ValueError, match="budget_mb") as err:
        rec.record(0)
    message = str(err.value)
    assert "one snapshot would hold 1.0 MB over 6 layers, more than the budget of 0.5 MB" in message
    assert "relu1: (50, 8, 16, 16) -> (50, 8, 16, 16), 0.4 MB, reduce='none'" in message
    assert "reduce='pool'" in message
    assert "reduce='project:" in message
    assert "reduce='positions:64'" in message  # 64 positions fit here
    assert not path.exists()
    assert not any(tmp_path.iterdir())
    rec.close()
    # with the suggested reducer it fits
    with svccakit.Recorder(model, x, path, budget_mb=0.5, reduce="pool") as rec:
        rec.record(0)
    with svccakit.open_run(path) as run:
        assert run.layer_shape("relu1") == (50, 8)
    # None lifts the limit; a bad budget is refused up front
    with svccakit.Recorder(model, x, tmp_path / "big.h5", budget_mb=None) as rec:
        rec.record(0)
    with pytest.raises(ValueError, match="budget_mb: expected a number > 0, got 0"):
        svccakit.Recorder(model, x, tmp_path / "c.h5", budget_mb=0)


def test_default_budget_refuses_a_large_snapshot(tmp_path):
    # 300 inputs of a (64, 64, 64) conv output: 314.6 MB > the default 256 MB; the
    # hook sees it, the file never exists
    model = nn.Sequential(nn.Conv2d(1, 64, 1, bias=False))
    x = torch.zeros(300, 1, 64, 64)
    rec = svccakit.Recorder(model, x, tmp_path / "r.h5")
    with pytest.raises(ValueError, match="314.6 MB over 1 layers, more than the budget of 256 MB"):
        rec.record(0)
    rec.close()
    assert not (tmp_path / "r.h5").exists()


def test_mixed_precision_activations_stored_as_float32(tmp_path):
    model, x = ConvNet(), images()
    path = tmp_path / "r.h5"
    with svccakit.Recorder(model, x, path, layers=["conv1", "relu2", "fc"],
                           reduce={"relu2": "pool"}) as rec:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            rec.record(0)
            with torch.no_grad():
                ref_conv = model.conv1(x)
    assert ref_conv.dtype == torch.bfloat16
    with svccakit.open_run(path) as run:
        for name in ("conv1", "relu2", "fc"):
            assert run.layer_info(name).dtype == np.float32, name
        np.testing.assert_array_equal(run.activations("conv1", 0), ref_conv.float().numpy())
    # a bf16 model: inputs cast to bf16, activations stored as float32 (exactly)
    half = ConvNet().to(torch.bfloat16)
    with svccakit.Recorder(half, x, tmp_path / "h.h5", layers=["fc"]) as rec:
        rec.record(0)
    with torch.no_grad():
        want = half(x.to(torch.bfloat16)).float().numpy()
    with svccakit.open_run(tmp_path / "h.h5") as run:
        assert run.layer_info("fc").dtype == np.float32
        np.testing.assert_array_equal(run.activations("fc", 0), want)
    # float16 is stored as recorded
    f16 = nn.Sequential(nn.Linear(5, 3)).to(torch.float16)
    with svccakit.Recorder(f16, torch.randn(4, 5), tmp_path / "f.h5") as rec:
        rec.record(0)
    with svccakit.open_run(tmp_path / "f.h5") as run:
        assert run.layer_info("0").dtype == np.float16


def _effective_rank(x):
    s = np.linalg.svd(x - x.mean(0), compute_uv=False) ** 2
    return s.sum() ** 2 / (s**2).sum()


def test_projection_shifts_cka_by_the_predicted_factor_and_svcca_little():
    # A Gaussian projection R (d x D, entries N(0, 1/D)) keeps the cross term of linear
    # CKA in expectation, ||Ra' X'Y Rb||^2 ~ ||X'Y||^2, but inflates each self term:
    # E||R' M R||_F^2 = ||M||_F^2 (1 + (1 + r) / D) with r = tr(M)^2 / ||M||_F^2 the
    # effective rank. So CKA shrinks by about 1 / sqrt((1 + (1+r_a)/D)(1 + (1+r_b)/D)):
    # small only when D is well above the effective rank. SVCCA (99% of the variance)
    # moves little on a low-rank representation. 1000 inputs, 512 features, rank ~10-18.
    rng = np.random.default_rng(0)
    n, d = 1000, 512
    z = rng.standard_normal((n, 10))
    a = z @ rng.standard_normal((10, d)) + 0.3 * rng.standard_normal((n, d))
    b = np.maximum(z @ rng.standard_normal((10, d)), 0) + 0.3 * rng.standard_normal((n, d))
    r_a, r_b = _effective_rank(a), _effective_rank(b)
    full_cka = svccakit.linear_cka(a, b)
    full_svcca = float(svccakit.svcca(a, b))
    cka_shift, svcca_shift = {}, {}
    for dim in (32, 128, 256):
        got_cka, got_svcca = [], []
        for rep in range(4):
            pa = a @ projection_matrix(f"a{rep}", d, dim)
            pb = b @ projection_matrix(f"b{rep}", d, dim)
            got_cka.append(svccakit.linear_cka(pa, pb))
            got_svcca.append(float(svccakit.svcca(pa, pb)))
        cka_shift[dim] = np.mean(got_cka) - full_cka
        svcca_shift[dim] = np.mean(got_svcca) - full_svcca
        factor = 1 / np.sqrt((1 + (1 + r_a) / dim) * (1 + (1 + r_b) / dim))
        assert abs(cka_shift[dim] - full_cka * (factor - 1)) < 0.03, (dim, cka_shift, factor)
    assert cka_shift[32] < cka_shift[128] < cka_shift[256] < 0  # shrinks as D grows
    assert abs(svcca_shift[128]) < 0.01, svcca_shift
    assert abs(svcca_shift[256]) < 0.005, svcca_shift
    assert abs(svcca_shift[32]) > abs(svcca_shift[256])
