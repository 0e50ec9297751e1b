"""The PyTorch Lightning recorder callback on a tiny module (CPU, no downloads)."""

import math
import types

import numpy as np
import pytest
import torch
from torch import nn

pl = pytest.importorskip("lightning.pytorch", reason="needs the [lightning] extra")

import svccakit  # noqa: E402
from svccakit.integrations.lightning import RecorderCallback  # noqa: E402


class Tiny(pl.LightningModule):
    def __init__(self, seed=0, fail_at=None, accumulate_check=False):
        super().__init__()
        torch.manual_seed(seed)
        self.net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
        self.fail_at = fail_at

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        if self.fail_at is not None and self.global_step == self.fail_at:
            raise RuntimeError("boom")
        x, y = batch
        return nn.functional.cross_entropy(self(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def loader(n=64, batch=8):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=g)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    data = torch.utils.data.TensorDataset(x, y)
    return torch.utils.data.DataLoader(data, batch_size=batch, shuffle=False)


def trainer(callback, max_steps=12, **kwargs):
    return pl.Trainer(max_steps=max_steps, accelerator="cpu", devices=1, logger=False,
                      enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, callbacks=[callback], **kwargs)


PROBE = torch.randn(20, 4, generator=torch.Generator().manual_seed(3))


def fit(tmp_path, name, seed=0, **kwargs):
    callback = RecorderCallback(PROBE, tmp_path / name, every=4, layers=["net.1", "net.2"],
                                seed=seed)
    trainer(callback, **kwargs).fit(Tiny(seed), loader())
    return callback


def test_records_at_global_steps_with_the_loss(tmp_path):
    callback = fit(tmp_path, "a.h5")
    assert callback.recorder is not None
    with svccakit.open_run(tmp_path / "a.h5") as run:
        assert run.closed_cleanly
        np.testing.assert_array_equal(run.steps, [0, 4, 8, 12])
        loss = run.metrics["loss"]
        assert math.isnan(loss[0])
        assert np.isfinite(loss[1:]).all()
        assert run.layer_names == ["net.1", "net.2"]
        assert run.attrs["seed"] == 0


def test_gradient_accumulation_records_optimizer_steps(tmp_path):
    callback = RecorderCallback(PROBE, tmp_path / "acc.h5", every=2, layers=["net.2"])
    trainer(callback, max_steps=4, accumulate_grad_batches=2).fit(Tiny(), loader())
    with svccakit.open_run(tmp_path / "acc.h5") as run:
        np.testing.assert_array_equal(run.steps, [0, 2, 4])


def test_the_timeline_compares_two_runs(tmp_path):
    fit(tmp_path, "a.h5", seed=0)
    fit(tmp_path, "b.h5", seed=1)
    table = svccakit.timeline([tmp_path / "b.h5"], tmp_path / "a.h5", metrics=("cka",),
                              baseline_n=0, n_jobs=1, progress=False)
    assert list(table["step"].unique()) == [0, 4, 8, 12]
    assert table["value"].between(0, 1).all()


def test_an_exception_closes_the_file_with_every_snapshot(tmp_path):
    callback = RecorderCallback(PROBE, tmp_path / "f.h5", every=3, layers=["net.2"])
    with pytest.raises(RuntimeError, match="boom"):
        trainer(callback, max_steps=20).fit(Tiny(fail_at=7), loader())
    with svccakit.open_run(tmp_path / "f.h5") as run:
        assert run.closed_cleanly
        np.testing.assert_array_equal(run.steps, [0, 3, 6])


def test_only_global_zero_writes(tmp_path):
    callback = RecorderCallback(PROBE, tmp_path / "r.h5", every=1)
    other_rank = types.SimpleNamespace(is_global_zero=False, global_step=0)
    module = Tiny()
    callback.on_train_start(other_rank, module)
    callback.on_train_batch_end(other_rank, module, {"loss": torch.tensor(1.0)}, None, 0)
    callback.on_train_end(other_rank, module)
    assert callback.recorder is None
    assert not (tmp_path / "r.h5").exists()


def test_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="every, steps: pass a schedule"):
        RecorderCallback(PROBE, tmp_path / "r.h5")
    with pytest.raises(ValueError, match="every, steps: pass one schedule, not both"):
        RecorderCallback(PROBE, tmp_path / "r.h5", every=2, steps=[1])
    with pytest.raises(TypeError, match="probe: expected inputs"):
        RecorderCallback([1, 2], tmp_path / "r.h5", every=2)
    (tmp_path / "x.h5").write_bytes(b"")
    with pytest.raises(FileExistsError, match="already exists; pass overwrite=True"):
        RecorderCallback(PROBE, tmp_path / "x.h5", every=2)
