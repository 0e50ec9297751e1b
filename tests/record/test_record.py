"""Recorder: hooks as scoped resources, schedule, RNG and mode isolation, wrappers."""

import dataclasses
import threading
import time

import numpy as np
import pytest
import torch
from torch import nn

import svccakit
from svccakit.record import recorder as rec_mod
from svccakit.record import store


def mlp(seed=0, dropout=False):
    torch.manual_seed(seed)
    layers = [nn.Linear(5, 7), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(0.5))
    layers += [nn.Linear(7, 3)]
    return nn.Sequential(*layers)


def probe(n=6, d=5, seed=1):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


def all_hooks(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_roundtrip_values_leaves_and_metadata(tmp_path):
    model, x = mlp(), probe()
    y = torch.arange(6)
    path = tmp_path / "run.h5"
    with svccakit.Recorder(model, (x, y), path, config={"lr": 0.1}, seed=7) as rec:
        rec.record(0, loss=1.0)
        with torch.no_grad():
            model[0].weight.add_(1.0)
        rec.record(5, loss=0.5)
        assert rec.layer_names == ["0", "1", "2"]
        assert rec.n_recorded == 2
    with svccakit.open_run(path) as run:
        assert run.layer_names == ["0", "1", "2"]
        np.testing.assert_array_equal(run.steps, [0, 5])
        np.testing.assert_array_equal(run.metrics["loss"], [1.0, 0.5])
        assert run.config == {"lr": 0.1}
        assert run.attrs["seed"] == 7
        assert run.attrs["torch_version"] == str(torch.__version__)
        np.testing.assert_array_equal(run.probe, x.numpy())
        np.testing.assert_array_equal(run.probe_targets, y.numpy())
        with torch.no_grad():
            h0 = model[0](x)
            expected = {"0": h0, "1": torch.relu(h0), "2": model(x)}
        for name, t in expected.items():
            np.testing.assert_array_equal(run.activations(name, 1), t.numpy())
        assert not np.array_equal(run.activations("0", 0), run.activations("0", 1))


def test_layer_selection_names_globs_types(tmp_path):
    model = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Sequential(nn.Linear(4, 4), nn.Tanh()))
    cases = {
        "names": (["2.0", "0"], ["0", "2.0"]),
        "glob": ("2.*", ["2.0", "2.1"]),
        "type": (nn.Linear, ["0", "2.0"]),
        "mixed": ([nn.ReLU, "2.1"], ["1", "2.1"]),
        "wrapper prefix": (["module.0"], ["0"]),
        "inner module": (["2"], ["2"]),
    }
    for i, (layers, want) in enumerate(cases.values()):
        with svccakit.Recorder(model, probe(), tmp_path / f"{i}.h5", layers=layers) as rec:
            rec.record(0)
            assert rec.layer_names == want


def test_unknown_layer_lists_module_names(tmp_path):
    model = mlp()
    with pytest.raises(ValueError, match=r"'fc9' matches no module.*\['model', '0', '1', '2'\]"):
        svccakit.Recorder(model, probe(), tmp_path / "r.h5", layers=["fc9"])
    with pytest.raises(ValueError, match=r"'x\*' matches no module"):
        svccakit.Recorder(model, probe(), tmp_path / "r.h5", layers="x*")
    with pytest.raises(ValueError, match="no module of type Conv2d"):
        svccakit.Recorder(model, probe(), tmp_path / "r.h5", layers=nn.Conv2d)
    with pytest.raises(TypeError, match="layers: expected module names"):
        svccakit.Recorder(model, probe(), tmp_path / "r.h5", layers=[3])
    with pytest.raises(TypeError, match="layers: expected None"):
        svccakit.Recorder(model, probe(), tmp_path / "r.h5", layers=3)


def test_schedules(tmp_path):
    model = mlp()
    with svccakit.Recorder(model, probe(), tmp_path / "a.h5", every=3) as rec:
        taken = [s for s in range(10) if rec.maybe_record(s)]
    assert taken == [0, 3, 6, 9]
    sched = svccakit.log_schedule(100, 8)
    with svccakit.Recorder(model, probe(), tmp_path / "b.h5", steps=sched) as rec:
        taken = [s for s in range(101) if rec.maybe_record(s)]
    assert taken == sched
    with svccakit.open_run(tmp_path / "b.h5") as run:
        np.testing.assert_array_equal(run.steps, sched)


@pytest.mark.parametrize(
    ("total", "n"), [(1, 2), (300, 2), (300, 3), (10, 11), (100, 8), (1000, 10), (10**6, 50)]
)
def test_log_schedule_properties(total, n):
    s = svccakit.log_schedule(total, n)
    assert len(s) == n
    assert s[0] == 0
    assert s[-1] == total
    assert all(a < b for a, b in zip(s, s[1:], strict=False))
    gaps = np.diff(s)
    assert gaps[0] <= gaps[-1]  # dense early


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((0, 5), "total_steps: expected an integer >= 1"),
        ((10, 1), r"n \(total_steps \+ 1 = 11\): expected an integer in \[2, 11\], got 1"),
        ((10, 12), r"n \(total_steps \+ 1 = 11\): expected an integer in \[2, 11\], got 12"),
        ((10.0, 3), "total_steps"),
    ],
)
def test_log_schedule_errors(args, match):
    with pytest.raises((TypeError, ValueError), match=match):
        svccakit.log_schedule(*args)


def test_schedule_errors(tmp_path):
    p = tmp_path / "r.h5"
    with pytest.raises(ValueError, match="pass one schedule, not both"):
        svccakit.Recorder(mlp(), probe(), p, every=2, steps=[1])
    with pytest.raises(ValueError, match="every: expected an integer >= 1, got 0"):
        svccakit.Recorder(mlp(), probe(), p, every=0)
    with pytest.raises(ValueError, match=r"steps: expected an integer in \[0, 9223372036854775807\], got -2"):
        svccakit.Recorder(mlp(), probe(), p, steps=[1, -2])
    rec = svccakit.Recorder(mlp(), probe(), p)
    with pytest.raises(ValueError, match="maybe_record: no schedule"):
        rec.maybe_record(0)
    rec.close()


class RandomInEval(nn.Module):
    """Consumes the global RNG in every forward, also in eval mode."""

    def forward(self, x):
        return x + 0.0 * torch.rand_like(x)


def test_training_rng_stream_untouched(tmp_path):
    model = nn.Sequential(nn.Linear(5, 4), RandomInEval(), nn.Dropout(0.3))
    torch.manual_seed(3)
    expected = torch.rand(4)
    torch.manual_seed(3)
    with svccakit.Recorder(model, probe(), tmp_path / "r.h5") as rec:
        rec.record(0)
        rec.record(1)
    assert torch.equal(torch.rand(4), expected)


def test_mode_restored_exactly(tmp_path):
    model = nn.Sequential(
        nn.Linear(5, 4), nn.Dropout(0.5), nn.Sequential(nn.Dropout(0.5), nn.Linear(4, 2))
    )
    model.train()
    model[2][0].eval()
    before = [m.training for m in model.modules()]
    seen = []
    model[1].register_forward_hook(lambda m, i, o: seen.append(m.training))
    with svccakit.Recorder(model, probe(), tmp_path / "r.h5") as rec:
        rec.record(0)
    assert seen == [False]  # the probe pass ran in eval mode
    assert [m.training for m in model.modules()] == before


class Boom(nn.Module):
    def forward(self, x):
        raise RuntimeError("boom in forward")


def test_exception_in_probe_pass_removes_hooks_and_restores_mode(tmp_path):
    model = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), Boom())
    model.train()
    model[1].eval()
    before = [m.training for m in model.modules()]
    rec = svccakit.Recorder(model, probe(), tmp_path / "r.h5")
    with pytest.raises(RuntimeError, match="boom in forward"):
        rec.record(0)
    assert all_hooks(model) == 0
    assert all(len(m._forward_hooks) == 0 for m in model.modules())
    assert [m.training for m in model.modules()] == before
    rec.close()
    assert not (tmp_path / "r.h5").exists()


def test_no_hooks_left_and_user_hooks_kept(tmp_path):
    model = mlp(dropout=True)
    calls = []
    handle = model[0].register_forward_hook(lambda m, i, o: calls.append(1))
    with svccakit.Recorder(model, probe(), tmp_path / "r.h5") as rec:
        rec.record(0)
        assert all_hooks(model) == 1
        rec.record(1)
    assert all_hooks(model) == 1
    assert list(model[0]._forward_hooks.values())[0] is not None
    assert calls == [1, 1]
    handle.remove()
    assert all_hooks(model) == 0


class Buffer(nn.Module):
    """Returns a persistent CPU tensor (an alias would see later in-place changes)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("state", torch.zeros(6, 2))

    def forward(self, x):
        return self.state


def test_cpu_outputs_are_copied_not_aliased(tmp_path, monkeypatch):
    model = nn.Sequential(nn.Linear(5, 2), Buffer())
    gate = threading.Event()
    original = store.RunWriter.append

    def slow_append(self, *args):
        gate.wait(5)
        original(self, *args)

    monkeypatch.setattr(store.RunWriter, "append", slow_append)
    with svccakit.Recorder(model, probe(), tmp_path / "r.h5", layers=["1"], queue_size=4) as rec:
        rec.record(0)
        model[1].state.add_(1.0)  # training mutates the tensor in place
        rec.record(1)
        model[1].state.add_(1.0)
        gate.set()
    with svccakit.open_run(tmp_path / "r.h5") as run:
        np.testing.assert_array_equal(run.activations("1", 0), np.zeros((6, 2), np.float32))
        np.testing.assert_array_equal(run.activations("1", 1), np.ones((6, 2), np.float32))


class TupleOut(nn.Module):
    def forward(self, x):
        return ("label", x * 2, x * 3)


class DictOut(nn.Module):
    def forward(self, x):
        return {"a": x}


class Unpack(nn.Module):
    def forward(self, x):
        return x["a"] if isinstance(x, dict) else x[1]


def test_tuple_outputs_and_selector(tmp_path):
    model = nn.Sequential(nn.Linear(5, 3), TupleOut(), Unpack())
    x = probe()
    with svccakit.Recorder(model, x, tmp_path / "a.h5") as rec:
        rec.record(0)
    h = model[0](x).detach()
    with svccakit.open_run(tmp_path / "a.h5") as run:
        np.testing.assert_allclose(run.activations("1", 0), (h * 2).numpy())  # first tensor
    with svccakit.Recorder(
        model, x, tmp_path / "b.h5", layers=["1"], output_selector=lambda out: out[2]
    ) as rec:
        rec.record(0)
    with svccakit.open_run(tmp_path / "b.h5") as run:
        np.testing.assert_allclose(run.activations("1", 0), (h * 3).numpy())


class NoneOut(nn.Module):
    def forward(self, x):
        self.kept = x
        return {"a": None, "b": (None, "text")}



def test_dict_outputs_record_their_first_tensor(tmp_path):
    model = nn.Sequential(nn.Linear(5, 3), DictOut(), Unpack())
    with svccakit.Recorder(model, probe(), tmp_path / "a.h5") as rec:
        rec.record(0)
        assert rec.layer_names == ["0", "1", "2"]
    with svccakit.open_run(tmp_path / "a.h5") as run:
        np.testing.assert_array_equal(run.activations("1", 0), run.activations("0", 0))
        assert run.layer_info("1").output == "first tensor"


def test_non_tensor_outputs_skipped_or_error(tmp_path):
    inner = NoneOut()
    model = nn.Sequential(nn.Linear(5, 3), inner, nn.Identity())
    model[2].forward = lambda _x: inner.kept
    with svccakit.Recorder(model, probe(), tmp_path / "a.h5") as rec:
        rec.record(0)
        assert rec.layer_names == ["0", "2"]
    rec = svccakit.Recorder(model, probe(), tmp_path / "b.h5", layers=["1"])
    with pytest.raises(ValueError, match="module '1' produced no tensor output.*output_selector"):
        rec.record(0)
    rec.close()
    assert all_hooks(model) == 0


def test_unused_layer_error(tmp_path):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.extra = nn.Linear(5, 2), nn.Linear(2, 2)

        def forward(self, x):
            return self.fc(x)

    rec = svccakit.Recorder(Net(), probe(), tmp_path / "r.h5", layers=["extra", "fc"])
    with pytest.raises(ValueError, match="module 'extra' was not called"):
        rec.record(0)
    rec.close()


def test_reused_module_gets_one_layer_per_call(tmp_path):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2, self.act = nn.Linear(5, 4), nn.Linear(4, 4), nn.ReLU()

        def forward(self, x):
            return self.act(self.fc2(self.act(self.fc1(x))))

    net = Net()
    x = probe()
    with svccakit.Recorder(net, x, tmp_path / "r.h5") as rec:
        rec.record(0)
        assert rec.layer_names == ["fc1", "fc2", "act", "act@1"]
    with svccakit.open_run(tmp_path / "r.h5") as run:
        with torch.no_grad():
            np.testing.assert_array_equal(run.activations("act@1", 0), net(x).numpy())


def test_conv_outputs_keep_their_shape(tmp_path):
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(48, 2))
    x = torch.randn(4, 2, 4, 4)
    with svccakit.Recorder(model, x, tmp_path / "r.h5") as rec:
        rec.record(0)
    with svccakit.open_run(tmp_path / "r.h5") as run:
        assert run.activations("0", 0).shape == (4, 3, 4, 4)
        assert run.layer_shape("2") == (4, 48)


def test_dataparallel_hooks_underlying_module(tmp_path):
    inner = mlp()
    model = nn.DataParallel(inner)
    x = probe(n=9)
    with svccakit.Recorder(model, x, tmp_path / "r.h5", layers=["module.2", "0"]) as rec:
        rec.record(0)
        assert rec.layer_names == ["0", "2"]
    assert rec_mod.unwrap_model(model) is inner
    assert all_hooks(model) == 0
    with svccakit.open_run(tmp_path / "r.h5") as run:
        with torch.no_grad():
            np.testing.assert_array_equal(run.activations("2", 0), inner(x).numpy())  # all 9 rows


def test_torch_compile_hooks_eager_module(tmp_path):
    torch._dynamo.reset()
    inner = mlp()
    compiled = torch.compile(inner, backend="eager")
    opt = torch.optim.SGD(compiled.parameters(), lr=0.1)
    x = probe()
    with svccakit.Recorder(compiled, x, tmp_path / "r.h5") as rec:
        assert rec_mod.unwrap_model(compiled) is inner
        rec.record(0)
        loss = compiled(torch.randn(8, 5)).square().mean()  # a compiled training step
        loss.backward()
        opt.step()
        rec.record(1)
        assert rec.layer_names == ["0", "1", "2"]
    assert all_hooks(inner) == 0
    with svccakit.open_run(tmp_path / "r.h5") as run, torch.no_grad():
        np.testing.assert_array_equal(run.activations("2", 1), inner(x).numpy())
        assert not np.array_equal(run.activations("2", 0), run.activations("2", 1))
    torch._dynamo.reset()


def test_metrics_declared_nan_and_unknown(tmp_path):
    path = tmp_path / "r.h5"
    with svccakit.Recorder(mlp(), probe(), path, metrics=["acc"]) as rec:
        rec.record(0, loss=torch.tensor(2.0))
        rec.record(1, acc=np.float32(0.5))
        rec.record(2)
        with pytest.raises(
            ValueError, match=r"metrics: \['lr'\] were not declared.*\['acc', 'loss'\]"
        ):
            rec.record(3, lr=0.1)
        with pytest.raises(
            TypeError, match="metric 'loss': expected a scalar, got a tensor of shape"
        ):
            rec.record(3, loss=torch.ones(2))
        with pytest.raises(TypeError, match="metric 'loss': expected a number, got str"):
            rec.record(3, loss="x")
        rec.record(3, loss=1)
    with svccakit.open_run(path) as run:
        np.testing.assert_array_equal(run.metrics["loss"], [2.0, np.nan, np.nan, 1.0])
        np.testing.assert_array_equal(run.metrics["acc"], [np.nan, 0.5, np.nan, np.nan])


def test_step_validation(tmp_path):
    with svccakit.Recorder(mlp(), probe(), tmp_path / "r.h5") as rec:
        with pytest.raises(ValueError, match=r"step: expected an integer in \[0, 9223372036854775807\], got -1"):
            rec.record(-1)
        rec.record(4)
        with pytest.raises(ValueError, match="step: expected a step > 4"):
            rec.record(4)
    with pytest.raises(ValueError, match="record: this Recorder is closed"):
        rec.record(9)


def test_shape_change_is_an_error(tmp_path):
    class Grow(nn.Module):
        n = 2

        def forward(self, x):
            return x[:, : self.n]

    model = nn.Sequential(Grow())
    with svccakit.Recorder(model, probe(), tmp_path / "r.h5") as rec:
        rec.record(0)
        model[0].n = 3
        with pytest.raises(RuntimeError, match=r"different layers or shapes.*\['0'\]"):
            rec.record(1)


def test_writer_error_reraised_in_training_thread(tmp_path, monkeypatch):
    def failing(self, *args):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(store.RunWriter, "append", failing)
    rec = svccakit.Recorder(mlp(), probe(), tmp_path / "r.h5")
    rec.record(0)
    deadline = time.monotonic() + 60  # the loop ends at the first re-raised error
    with pytest.raises(RuntimeError, match=r"writer thread failed: OSError\('disk full"):  # noqa: PT012
        while time.monotonic() < deadline:
            rec.record(rec._last_step + 1)
    with pytest.raises(RuntimeError, match="writer thread failed"):
        rec.close()


def test_writer_error_reraised_at_close(tmp_path, monkeypatch):
    monkeypatch.setattr(store.RunWriter, "append", lambda self, *a: 1 / 0)
    rec = svccakit.Recorder(mlp(), probe(), tmp_path / "r.h5")
    rec.record(0)
    with pytest.raises(RuntimeError, match="writer thread failed: ZeroDivisionError") as info:
        rec.close()
    assert isinstance(info.value.__cause__, ZeroDivisionError)


def test_with_block_exception_is_not_masked_by_writer_error(tmp_path, monkeypatch):
    monkeypatch.setattr(store.RunWriter, "append", lambda self, *a: 1 / 0)
    rec = svccakit.Recorder(mlp(), probe(), tmp_path / "r.h5")

    def train():
        with rec:
            rec.record(0)
            raise KeyError("from training")

    with pytest.raises(KeyError, match="from training"):
        train()
    assert rec._closed


def test_queue_is_bounded_and_training_waits_only_when_full(tmp_path, monkeypatch):
    gate, taken = threading.Event(), threading.Event()
    original = store.RunWriter.append

    def blocked(self, *args):
        taken.set()
        gate.wait(30)
        original(self, *args)

    monkeypatch.setattr(store.RunWriter, "append", blocked)
    rec = svccakit.Recorder(mlp(), probe(), tmp_path / "r.h5", queue_size=2)
    rec.record(0)
    assert taken.wait(30)  # the writer took snapshot 0 and blocks on the "disk"
    t0 = time.monotonic()
    rec.record(1)
    rec.record(2)  # queue now full (2)
    assert time.monotonic() - t0 < 5.0  # far below the 30 s the disk is blocked
    third = threading.Thread(target=rec.record, args=(3,))
    third.start()
    third.join(0.3)
    assert third.is_alive()  # waits for the disk
    gate.set()
    third.join(30)
    assert not third.is_alive()
    rec.close()
    with svccakit.open_run(tmp_path / "r.h5") as run:
        np.testing.assert_array_equal(run.steps, [0, 1, 2, 3])


def test_float64_numpy_probe_cast_to_model_dtype(tmp_path):
    x = np.random.default_rng(0).standard_normal((4, 5))
    model = mlp()
    with svccakit.Recorder(model, x, tmp_path / "r.h5") as rec:
        rec.record(0)
    with svccakit.open_run(tmp_path / "r.h5") as run:
        assert run.probe.dtype == np.float64
        np.testing.assert_array_equal(run.probe, x)
        assert run.activations("2", 0).dtype == np.float32


@dataclasses.dataclass
class Cfg:
    lr: float = 0.1
    name: str = "x"


def test_dataclass_config(tmp_path):
    with svccakit.Recorder(mlp(), probe(), tmp_path / "r.h5", config=Cfg()) as rec:
        rec.record(0)
    with svccakit.open_run(tmp_path / "r.h5") as run:
        assert run.config == {"lr": 0.1, "name": "x"}


def test_constructor_validation(tmp_path):
    p = tmp_path / "r.h5"
    m, x = mlp(), probe()
    with pytest.raises(TypeError, match="model: expected a torch.nn.Module, got str"):
        svccakit.Recorder("m", x, p)
    with pytest.raises(
        TypeError, match="probe: expected inputs as a torch.Tensor or numpy array, .*got list"
    ):
        svccakit.Recorder(m, [[1.0]], p)
    with pytest.raises(ValueError, match="probe: expected inputs or a tuple .* length 3"):
        svccakit.Recorder(m, (x, x, x), p)
    with pytest.raises(ValueError, match=r"same first dimension, got \(6, 5\) and \(2,\)"):
        svccakit.Recorder(m, (x, torch.zeros(2)), p)
    with pytest.raises(ValueError, match=r"n_probe >= 1, got \(0, 5\)"):
        svccakit.Recorder(m, torch.zeros(0, 5), p)
    with pytest.raises(TypeError, match="path: expected a str or path-like, got int"):
        svccakit.Recorder(m, x, 3)
    with pytest.raises(
        TypeError, match="config: expected a dict or a dataclass instance, got list"
    ):
        svccakit.Recorder(m, x, p, config=[1])
    with pytest.raises(TypeError, match="config: not JSON-serialisable"):
        svccakit.Recorder(m, x, p, config={"f": object()})
    with pytest.raises(TypeError, match="seed: expected an integer, got float"):
        svccakit.Recorder(m, x, p, seed=1.5)
    with pytest.raises(
        ValueError,
        match=r"compression: expected one of \(None, 'lzf', 'gzip', 'blosc'\), got 'zstd'",
    ):
        svccakit.Recorder(m, x, p, compression="zstd")
    with pytest.raises(TypeError, match="output_selector: expected a callable, got int"):
        svccakit.Recorder(m, x, p, output_selector=1)
    with pytest.raises(TypeError, match="metrics: expected a sequence of metric names"):
        svccakit.Recorder(m, x, p, metrics="loss")
    with pytest.raises(ValueError, match="queue_size: expected an integer >= 1, got 0"):
        svccakit.Recorder(m, x, p, queue_size=0)
    p.write_bytes(b"x")
    with pytest.raises(FileExistsError, match="already exists; pass overwrite=True"):
        svccakit.Recorder(m, x, p)
    assert not list(tmp_path.glob(".*partial"))


def test_overwrite_replaces_and_existing_file_at_first_record(tmp_path):
    p = tmp_path / "r.h5"
    m, x = mlp(), probe()
    rec = svccakit.Recorder(m, x, p)
    p.write_bytes(b"appeared meanwhile")
    with pytest.raises(FileExistsError, match="already exists"):
        rec.record(0)
    rec.close()
    assert p.read_bytes() == b"appeared meanwhile"
    assert not list(tmp_path.glob(".*partial"))
    with svccakit.Recorder(m, x, p, overwrite=True) as rec:
        rec.record(0)
    with svccakit.open_run(p) as run:
        assert len(run) == 1


def test_repr_and_idempotent_close(tmp_path):
    rec = svccakit.Recorder(mlp(), probe(), tmp_path / "r.h5")
    assert "not started" in repr(rec)
    rec.record(0)
    assert "open" in repr(rec)
    rec.close()
    rec.close()
    assert "closed" in repr(rec)


def test_dropped_recorder_writes_everything_and_closes(tmp_path):
    import gc

    import h5py

    rec = svccakit.Recorder(mlp(), probe(), tmp_path / "r.h5")
    for step in range(25):
        rec.record(step)
    writer = rec._writer
    del rec
    gc.collect()
    assert writer._closed
    assert writer not in store._OPEN_WRITERS
    with h5py.File(tmp_path / "r.h5", "r") as f:  # closed: a plain reader opens it
        np.testing.assert_array_equal(f["steps"][()], np.arange(25))


def test_distributed_data_parallel_hooks_underlying_module(tmp_path):
    import torch.distributed as dist

    inner = mlp()
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        model = nn.parallel.DistributedDataParallel(inner)
        x = probe()
        with svccakit.Recorder(model, x, tmp_path / "r.h5") as rec:
            rec.record(0)
            assert rec.layer_names == ["0", "1", "2"]
        assert rec_mod.unwrap_model(model) is inner
        assert all_hooks(model) == 0
    finally:
        dist.destroy_process_group()
    with svccakit.open_run(tmp_path / "r.h5") as run, torch.no_grad():
        np.testing.assert_array_equal(run.activations("2", 0), inner(x).numpy())


def test_leaf_root_model_is_named_model(tmp_path):
    model = nn.Linear(3, 2)
    with svccakit.Recorder(model, torch.ones(2, 3), tmp_path / "r.h5") as rec:
        rec.record(0)
        assert rec.layer_names == ["model"]
    with svccakit.Recorder(model, torch.ones(2, 3), tmp_path / "s.h5", layers="model") as rec:
        rec.record(0)
        assert rec.layer_names == ["model"]


def test_maybe_record_validates_step(tmp_path):
    with svccakit.Recorder(mlp(), probe(), tmp_path / "r.h5", every=2) as rec:
        with pytest.raises(TypeError, match="step: expected an integer, got str '3'"):
            rec.maybe_record("3")
        assert rec.maybe_record(np.int64(4))
        assert not rec.maybe_record(5)


def test_probe_is_fixed_even_if_caller_mutates_it(tmp_path):
    model, x = mlp(), probe()
    original = x.clone()
    with svccakit.Recorder(model, x, tmp_path / "r.h5") as rec:
        x.add_(100.0)
        rec.record(0)
        x.add_(100.0)
        rec.record(1)
    with svccakit.open_run(tmp_path / "r.h5") as run, torch.no_grad():
        np.testing.assert_array_equal(run.probe, original.numpy())
        np.testing.assert_array_equal(run.activations("2", 1), model(original).numpy())
