"""Probes of any structure, forward=, per-layer output selection, transformer blocks."""

from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

import svccakit
from svccakit.record import Probe, transformer_blocks


class KeywordNet(nn.Module):
    """Called like a Hugging Face model: model(input_ids=..., attention_mask=...)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding(20, 6)
        self.proj = nn.Linear(6, 4)

    def forward(self, input_ids, attention_mask=None, scale=1.0):
        h = self.embed(input_ids) * scale
        if attention_mask is not None:
            h = h * attention_mask[..., None]
        return OrderedDict(hidden=self.proj(h), pooled=h.mean(1))


class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 2)
        self.b = nn.Linear(5, 2)

    def forward(self, x, y):
        return self.a(x) + self.b(y)


def tokens(n=4, t=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 20, (n, t), generator=g)
    mask = torch.ones(n, t, dtype=torch.int64)
    mask[:, -2:] = 0
    return ids, mask


def test_dict_probe_calls_with_keywords_and_is_stored(tmp_path):
    model = KeywordNet()
    ids, mask = tokens()
    path = tmp_path / "r.h5"
    with svccakit.Recorder(model, {"input_ids": ids, "attention_mask": mask}, path,
                           layers=["embed", "proj", "model"], output={"model": "pooled"}) as rec:
        rec.record(0)
    with torch.no_grad():
        want = model(input_ids=ids, attention_mask=mask)
    with svccakit.open_run(path) as run:
        np.testing.assert_allclose(run.activations("proj", 0), want["hidden"].numpy(), rtol=1e-6)
        np.testing.assert_allclose(run.activations("model", 0), want["pooled"].numpy(), rtol=1e-6)
        assert run.layer_info("model").output == "'pooled'"
        np.testing.assert_array_equal(run.probe, ids.numpy())  # the first input
        args, kwargs = run.probe_call
        assert args == ()
        np.testing.assert_array_equal(kwargs["input_ids"], ids.numpy())
        np.testing.assert_array_equal(kwargs["attention_mask"], mask.numpy())
        assert run.n_probe == 4


def test_dict_probe_with_targets_and_constants(tmp_path):
    model = KeywordNet()
    ids, mask = tokens()
    y = torch.arange(4)
    path = tmp_path / "r.h5"
    probe = Probe(input_ids=ids, attention_mask=mask, scale=2.0, targets=y)
    with svccakit.Recorder(model, probe, path, layers=["proj"]) as rec:
        rec.record(0)
    with torch.no_grad():
        want = model(ids, mask, scale=2.0)["hidden"]
    with svccakit.open_run(path) as run:
        np.testing.assert_allclose(run.activations("proj", 0), want.numpy(), rtol=1e-6)
        np.testing.assert_array_equal(run.probe_targets, y.numpy())
        assert run.probe_call[1]["scale"] == 2.0
    # the same as a pair (inputs, targets)
    with svccakit.Recorder(model, ({"input_ids": ids}, y), tmp_path / "p.h5",
                           layers=["proj"]) as rec:
        rec.record(0)
    with svccakit.open_run(tmp_path / "p.h5") as run:
        np.testing.assert_array_equal(run.probe_targets, y.numpy())


def test_positional_inputs(tmp_path):
    model = TwoInputs()
    x, z = torch.randn(5, 3), torch.randn(5, 5)
    for i, probe in enumerate([Probe(x, z), ((x, z), torch.zeros(5))]):
        path = tmp_path / f"{i}.h5"
        with svccakit.Recorder(model, probe, path, layers=["model", "b"]) as rec:
            rec.record(0)
        with svccakit.open_run(path) as run:
            with torch.no_grad():
                np.testing.assert_allclose(run.activations("model", 0), model(x, z).numpy(),
                                           rtol=1e-6)
            args, _ = run.probe_call
            np.testing.assert_array_equal(args[1], z.numpy())


def test_forward_callable_gets_the_probe_on_the_device_as_given(tmp_path):
    model = TwoInputs().double()
    x, z = torch.randn(5, 3), torch.randn(5, 5)
    seen = {}

    def forward(m, probe):
        inputs, targets = probe
        seen["dtype"] = inputs["x"].dtype
        seen["targets"] = targets
        return m(inputs["x"], y=inputs["z"])

    with svccakit.Recorder(model, ({"x": x, "z": z}, torch.arange(5)), tmp_path / "r.h5",
                           layers=["a"], forward=forward) as rec:
        rec.record(0)
    assert seen["dtype"] == torch.float64  # cast to the parameters' dtype
    np.testing.assert_array_equal(seen["targets"].numpy(), np.arange(5))
    with pytest.raises(TypeError, match="forward: expected a callable"):
        svccakit.Recorder(model, x, tmp_path / "b.h5", forward=3)


class TupleBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        h = self.lin(x)
        return h, {"attn": h * 2, "none": None}


def test_output_selectors_index_key_callable(tmp_path):
    model = nn.Sequential(TupleBlock())
    model.forward = lambda x: model[0](x)
    x = torch.randn(3, 4)
    path = tmp_path / "r.h5"
    with svccakit.Recorder(model, x, path, layers=["0", "model"],
                           output={"0": lambda out: out[1]["attn"], "model": 0}) as rec:
        rec.record(0)
    with torch.no_grad():
        h = model[0].lin(x)
    with svccakit.open_run(path) as run:
        np.testing.assert_allclose(run.activations("0", 0), (2 * h).numpy(), rtol=1e-6)
        np.testing.assert_allclose(run.activations("model", 0), h.numpy(), rtol=1e-6)
        assert run.layer_info("0").output.startswith("callable:")
        assert run.layer_info("model").output == "0"


def test_output_selector_errors(tmp_path):
    model = nn.Sequential(TupleBlock())
    x = torch.randn(3, 4)
    rec = svccakit.Recorder(model, x, tmp_path / "a.h5", layers=["0"], output=5)
    with pytest.raises(ValueError, match=r"selector 5 does not apply to the output of layer '0' "
                                         r"\(length 2\)"):
        rec.record(0)
    rec.close()
    rec = svccakit.Recorder(model, x, tmp_path / "b.h5", layers=["0"], output=1)
    with pytest.raises(TypeError, match="selector 1 gave dict for layer '0'; expected a torch"):
        rec.record(0)
    rec.close()
    with pytest.raises(TypeError, match="output: expected an index .* got float 1.5"):
        svccakit.Recorder(model, x, tmp_path / "c.h5", output=1.5)
    with pytest.raises(ValueError, match="output, output_selector: pass one of them"):
        svccakit.Recorder(model, x, tmp_path / "c.h5", output=0, output_selector=lambda o: o)
    rec = svccakit.Recorder(model, x, tmp_path / "d.h5", layers=["0"], output={"blocks.*": 0})
    with pytest.raises(ValueError, match=r"output: 'blocks.\*' matches no recorded layer"):
        rec.record(0)
    rec.close()


def test_probe_validation(tmp_path):
    ids, mask = tokens()
    p = tmp_path / "r.h5"
    model = KeywordNet()
    with pytest.raises(ValueError, match=r"every input must have the same first dimension "
                                         r"n_probe; args/0 has shape \(4, 7\), kwargs/m \(3,\)"):
        svccakit.Recorder(model, Probe(ids, m=torch.zeros(3)), p)
    with pytest.raises(ValueError, match="expected at least one tensor input, got none"):
        svccakit.Recorder(model, {"scale": 1.0}, p)
    with pytest.raises(ValueError, match="'targets' is reserved"):
        svccakit.Recorder(model, {"input_ids": ids, "targets": ids}, p)
    with pytest.raises(TypeError, match=r"expected keyword input 'input_ids' as a torch.Tensor "
                                        r"or numpy array, got list"):
        svccakit.Recorder(model, {"input_ids": [1, 2]}, p)
    with pytest.raises(ValueError, match=r"tuple of length 3 \(several positional inputs: "
                                         r"svccakit.record.Probe\(x1, x2, ...\)\)"):
        svccakit.Recorder(model, (ids, ids, ids), p)
    assert repr(Probe(ids, attention_mask=mask, targets=ids)) == (
        "Probe((4, 7), attention_mask=(4, 7), targets=(4, 7))"
    )


def test_probe_is_a_private_copy(tmp_path):
    ids, mask = tokens()
    model = KeywordNet()
    rec = svccakit.Recorder(model, {"input_ids": ids, "attention_mask": mask}, tmp_path / "r.h5",
                            layers=["proj"])
    mask.zero_()
    with rec:
        rec.record(0)
    with svccakit.open_run(tmp_path / "r.h5") as run:
        assert run.probe_call[1]["attention_mask"].sum() == 4 * 5


def test_transformer_blocks_preset(tmp_path):
    layer = nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16, batch_first=True)
    model = nn.Sequential(nn.Linear(3, 8), nn.TransformerEncoder(layer, 3,
                                                                 enable_nested_tensor=False))
    assert transformer_blocks(model) == ["1.layers.0", "1.layers.1", "1.layers.2"]
    x = torch.randn(4, 5, 3)
    with svccakit.Recorder(model, x, tmp_path / "r.h5", layers=transformer_blocks(model),
                           reduce="pool") as rec:
        rec.record(0)
        assert rec.layer_names == ["1.layers.0", "1.layers.1", "1.layers.2"]
    with pytest.raises(ValueError, match="Linear has no nn.ModuleList of blocks"):
        transformer_blocks(nn.Linear(2, 2))


def test_a_model_without_forward_asks_for_forward(tmp_path):
    class NoForward(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Linear(3, 2)

    model = NoForward()
    rec = svccakit.Recorder(model, torch.randn(4, 3), tmp_path / "a.h5")
    with pytest.raises(TypeError, match="NoForward defines no forward.*pass forward="):
        rec.record(0)
    rec.close()
    with svccakit.Recorder(model, torch.randn(4, 3), tmp_path / "b.h5", layers=["net"],
                           forward=lambda m, x: m.net(x)) as rec:
        rec.record(0)
    assert sum(len(m._forward_hooks) for m in model.modules()) == 0
