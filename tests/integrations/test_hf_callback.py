"""The Hugging Face Trainer recorder callback on tiny models built from a config."""

import math
import os
import types

# no network: every model here is built from a config in the test
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

transformers = pytest.importorskip("transformers", reason="needs the [hf] extra")

import svccakit  # noqa: E402
from svccakit.integrations.hf import RecorderCallback  # noqa: E402
from svccakit.record import transformer_blocks  # noqa: E402

VOCAB, LENGTH = 30, 8


def bert(seed=0):
    config = transformers.BertConfig(
        vocab_size=VOCAB, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=LENGTH, num_labels=2,
    )
    torch.manual_seed(seed)
    return transformers.BertForSequenceClassification(config)


def token_data(n, seed):
    """Label: does token 5 occur in the sequence."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(6, VOCAB, (n, LENGTH), generator=g)
    ids[: n // 2, 3] = 5
    mask = torch.ones(n, LENGTH, dtype=torch.int64)
    labels = (ids == 5).any(1).long()
    return ids, mask, labels


class Data(torch.utils.data.Dataset):
    def __init__(self, n=48, seed=0):
        self.ids, self.mask, self.labels = token_data(n, seed)

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "attention_mask": self.mask[i],
                "labels": self.labels[i]}


IDS, MASK, _ = token_data(16, seed=9)
PROBE = {"input_ids": IDS, "attention_mask": MASK}


def args(tmp_path, max_steps=6, seed=0, **kwargs):
    return transformers.TrainingArguments(
        output_dir=str(tmp_path / "trainer"), max_steps=max_steps, per_device_train_batch_size=8,
        learning_rate=1e-3, report_to="none", save_strategy="no", logging_steps=2,
        use_cpu=True, disable_tqdm=True, seed=seed, **kwargs,
    )


def train(tmp_path, name, seed=0, **kwargs):
    model = bert(seed)
    with RecorderCallback(PROBE, tmp_path / name, every=2, layers=transformer_blocks(model),
                          reduce="pool", seed=seed) as callback:
        trainer = transformers.Trainer(model=model, args=args(tmp_path, seed=seed, **kwargs),
                                       train_dataset=Data(), callbacks=[callback])
        trainer.train()
    return callback, model


def test_records_transformer_blocks_at_global_steps(tmp_path):
    callback, model = train(tmp_path, "a.h5")
    assert model._forward_hooks == {}  # the loss hook is gone
    with svccakit.open_run(tmp_path / "a.h5") as run:
        assert run.closed_cleanly
        np.testing.assert_array_equal(run.steps, [0, 2, 4, 6])
        assert run.layer_names == ["bert.encoder.layer.0", "bert.encoder.layer.1"]
        info = run.layer_info("bert.encoder.layer.1")
        assert info.reduce == "pool"
        assert info.shape == (16, 16)
        assert info.raw_shape == (16, LENGTH, 16)
        loss = run.metrics["loss"]
        assert math.isnan(loss[0])
        assert np.isfinite(loss[1:]).all()
        assert 0.3 < loss[1] < 1.2  # a 2-class cross-entropy near ln 2 at the start
        np.testing.assert_array_equal(run.probe_call[1]["attention_mask"], MASK.numpy())
        # the stored block output is the pooled hidden state of that block
        model.eval()
        with torch.no_grad():
            hidden = model(**PROBE, output_hidden_states=True).hidden_states[2]
        np.testing.assert_allclose(run.activations("bert.encoder.layer.1", -1),
                                   hidden.mean(1).numpy(), rtol=1e-4, atol=1e-5)


def test_the_timeline_compares_two_seeds(tmp_path):
    train(tmp_path, "a.h5", seed=0)
    train(tmp_path, "b.h5", seed=1)
    table = svccakit.timeline([tmp_path / "b.h5"], tmp_path / "a.h5", metrics=("cka",),
                              pairs="all", baseline_n=0, n_jobs=1, progress=False)
    assert len(table) == 4 * 2 * 2
    assert table["value"].between(0, 1).all()


def test_gradient_accumulation_counts_optimizer_steps(tmp_path):
    model = bert()
    with RecorderCallback(PROBE, tmp_path / "g.h5", steps=[0, 1, 3], layers=["classifier"]) as cb:
        transformers.Trainer(model=model, args=args(tmp_path, max_steps=3,
                                                    gradient_accumulation_steps=2),
                             train_dataset=Data(), callbacks=[cb]).train()
    with svccakit.open_run(tmp_path / "g.h5") as run:
        np.testing.assert_array_equal(run.steps, [0, 1, 3])


def test_a_failed_run_is_closed_by_the_context_manager(tmp_path):
    class Boom(transformers.TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 3:
                raise RuntimeError("boom")

    model = bert()
    with pytest.raises(RuntimeError, match="boom"), \
            RecorderCallback(PROBE, tmp_path / "f.h5", every=1, layers=["classifier"]) as cb:
        transformers.Trainer(model=model, args=args(tmp_path), train_dataset=Data(),
                             callbacks=[cb, Boom()]).train()
    assert model._forward_hooks == {}
    with svccakit.open_run(tmp_path / "f.h5") as run:
        assert run.closed_cleanly
        np.testing.assert_array_equal(run.steps, [0, 1, 2, 3])


def test_only_world_process_zero_writes(tmp_path):
    callback = RecorderCallback(PROBE, tmp_path / "r.h5", every=1)
    state = types.SimpleNamespace(is_world_process_zero=False, global_step=0)
    model = bert()
    callback.on_train_begin(None, state, None, model=model)
    callback.on_step_end(None, state, None)
    callback.on_train_end(None, state, None)
    assert callback.recorder is None
    assert not (tmp_path / "r.h5").exists()
    assert model._forward_hooks == {}


def test_gpt2_from_a_config_with_positions_and_output_selection(tmp_path):
    config = transformers.GPT2Config(vocab_size=VOCAB, n_positions=LENGTH, n_embd=16, n_layer=2,
                                     n_head=2)
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(config)
    blocks = transformer_blocks(model)
    assert blocks == ["transformer.h.0", "transformer.h.1"]
    path = tmp_path / "g.h5"
    with svccakit.Recorder(model, PROBE, path, layers=[*blocks, "model"],
                           reduce={"transformer.h.*": "positions:3"},
                           output={"model": "logits"}) as rec:
        rec.record(0)
    model.eval()
    with torch.no_grad():
        out = model(**PROBE, output_hidden_states=True)
    with svccakit.open_run(path) as run:
        assert run.layer_shape("transformer.h.0") == (16, 3, 16)
        assert run.layer_shape("model") == (16, LENGTH, VOCAB)
        np.testing.assert_allclose(run.activations("model", 0), out.logits.numpy(), rtol=1e-5,
                                   atol=1e-6)
        tokens = (svccakit.record.reducers.relative_positions(16, 3)[..., 0] * LENGTH).astype(int)
        want = np.take_along_axis(out.hidden_states[1].numpy(), tokens[..., None], axis=1)
        np.testing.assert_allclose(run.activations("transformer.h.0", 0), want, rtol=1e-5,
                                   atol=1e-6)
