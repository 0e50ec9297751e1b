"""Record a small Hugging Face model, built from a config, under the Trainer (offline).

    pip install "svccakit[hf]"
    python hooks/hf_example.py --out out/hf-bert.h5

A 2-block BERT (hidden size 32) built from ``BertConfig`` (no download) learns a
synthetic task: does token 5 occur in the sequence. The recorder callback
records each transformer block's output (the residual stream, found by
``svccakit.record.transformer_blocks``) pooled over tokens, on a keyword-input
probe ``{"input_ids", "attention_mask"}``, at the Trainer's global steps, with
the training loss. Replace the config and data with your own model's.
"""

from __future__ import annotations

import argparse
import os
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
import transformers  # noqa: E402

import svccakit  # noqa: E402
from svccakit.integrations.hf import RecorderCallback  # noqa: E402
from svccakit.record import transformer_blocks  # noqa: E402

VOCAB, LENGTH = 40, 12


def token_task(n: int, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(6, VOCAB, (n, LENGTH), generator=g)
    hit = torch.rand(n, generator=g) < 0.5
    where = torch.randint(1, LENGTH, (n,), generator=g)
    ids[hit, where[hit]] = 5
    return {"input_ids": ids, "attention_mask": torch.ones(n, LENGTH, dtype=torch.int64),
            "labels": hit.long()}


class Rows(torch.utils.data.Dataset):
    def __init__(self, columns: dict[str, torch.Tensor]):
        self.columns = columns

    def __len__(self):
        return len(next(iter(self.columns.values())))

    def __getitem__(self, i):
        return {k: v[i] for k, v in self.columns.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="out/hf-bert.h5", help="run file to write")
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)

    config = transformers.BertConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=64,
                                     max_position_embeddings=LENGTH, num_labels=2)
    torch.manual_seed(args.seed)
    model = transformers.BertForSequenceClassification(config)
    probe_rows = token_task(200, seed=1234)
    probe = {"input_ids": probe_rows["input_ids"],
             "attention_mask": probe_rows["attention_mask"]}

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with tempfile.TemporaryDirectory() as trainer_dir, RecorderCallback(
        (probe, probe_rows["labels"]), args.out, every=20, layers=transformer_blocks(model),
        reduce="pool", seed=args.seed, overwrite=args.overwrite,
    ) as callback:
        training_args = transformers.TrainingArguments(
            output_dir=trainer_dir, max_steps=args.steps, per_device_train_batch_size=32,
            learning_rate=2e-3, report_to="none", save_strategy="no", logging_steps=20,
            use_cpu=True, disable_tqdm=True, seed=args.seed,
        )
        trainer = transformers.Trainer(model=model, args=training_args,
                                       train_dataset=Rows(token_task(2000, seed=args.seed)),
                                       callbacks=[callback])
        trainer.train()

    with svccakit.open_run(args.out) as run:
        print(f"wrote {args.out}: steps {run.steps.tolist()}, layers {run.layer_names}, "
              f"loss {run.metrics['loss'][1]:.3f} -> {run.metrics['loss'][-1]:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
