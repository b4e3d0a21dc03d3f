"""The semantic layer: the fine-tuned crisis model and small heads on sentence embeddings.

Crisis is read by all-MiniLM-L6-v2 fine-tuned on the train split as a crisis classifier
(`finetune.py`, run offline; `crisis_model.onnx`). Leave-one-round-out on train, it found about
a sixth more crisis messages at the same false alarms than the small network on frozen
embeddings it replaced. Severity, domestic violence and revocation are logistic heads on the
stock model's sentence embeddings (`encoder_model.onnx`).

`head.json` holds the heads and every threshold; `python -m services.sms_worker.safety.train`
writes it, bit for bit the same from the same corpus, models and out-of-round crisis scores. A
message longer than one window is read window by window and judged by its riskiest window.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from services.sms_worker.safety.encoder import (
    CrisisModel,
    Embeddings,
    SentenceEncoder,
    default_crisis_model,
    default_encoder,
)

HEAD_PATH = Path(__file__).parent / "head.json"
Matrix = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SemanticReading:
    """What the models make of one message (probabilities in [0, 1])."""

    crisis: float
    # Given a crisis: how likely it is high severity, and domestic violence.
    high: float
    domestic_violence: float
    revocation: float


@dataclass(frozen=True)
class Thresholds:
    # The fine-tuned crisis model's probability from which the message is crisis.
    crisis: float
    # Given a crisis, the reply is high from this probability of high severity (low on purpose:
    # a medium message answered as high gets a stronger text, a high one answered as medium
    # would miss the resources), and adds the DV hotline from this one.
    high: float
    domestic_violence: float
    # A revocation this likely, without a clear request in words, gets a clarifying question.
    revocation_clarify: float
    # This likely, with a clear request in words, opts out.
    revocation_confirm: float
    # This likely opts out whatever the words (above every look-alike seen in training).
    revocation_certain: float


# The logistic heads, in the order of `Heads.logistic`'s rows.
LOGISTIC_HEADS = ("high", "domestic_violence", "revocation")


@dataclass(frozen=True)
class Heads:
    logistic: Matrix  # (3, 385): one logistic head per name of LOGISTIC_HEADS, bias last
    thresholds: Thresholds

    @classmethod
    def load(cls, path: Path = HEAD_PATH) -> Heads:
        raw = json.loads(path.read_text(encoding="utf-8"))
        logistic = np.asarray([raw["logistic"][name] for name in LOGISTIC_HEADS], np.float64)
        return cls(logistic, Thresholds(**raw["thresholds"]))

    def read(self, embeddings: Embeddings, crisis: list[float]) -> SemanticReading:
        """One message's reading from its windows' embeddings and crisis probabilities."""
        others = sigmoid(with_bias(embeddings.astype(np.float64)) @ self.logistic.T)
        # The riskiest window speaks for the message; so does the most revoking one.
        worst = int(np.argmax(crisis))
        return SemanticReading(
            crisis=float(crisis[worst]),
            high=float(others[worst, 0]),
            domestic_violence=float(others[worst, 1]),
            revocation=float(np.max(others[:, 2])),
        )


def with_bias(features: Matrix) -> Matrix:
    return np.hstack([features, np.ones((features.shape[0], 1))])


def sigmoid(logits: Matrix) -> Matrix:
    result: Matrix = 1.0 / (1.0 + np.exp(-logits))
    return result


class SemanticClassifier:
    """Both models + heads: the semantic layer as the SMS worker runs it."""

    def __init__(self, encoder: SentenceEncoder, crisis_model: CrisisModel, heads: Heads) -> None:
        self._encoder = encoder
        self._crisis_model = crisis_model
        self.heads = heads

    def read(self, text: str) -> SemanticReading:
        windows = self._encoder.tokens.windows(text)
        crisis = [self._crisis_model.probability(window) for window in windows]
        return self.heads.read(self._encoder.embed(windows), crisis)


@functools.cache
def default_classifier() -> SemanticClassifier:
    return SemanticClassifier(default_encoder(), default_crisis_model(), Heads.load())
