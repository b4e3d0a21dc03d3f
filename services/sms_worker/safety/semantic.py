"""The semantic layer: logistic heads on sentence embeddings, trained on the team's corpus.

`head.json` holds the heads and their thresholds; `python -m services.sms_worker.safety.train`
writes it, bit for bit the same from the same corpus and model. A message longer than one
window is read window by window and judged by its riskiest window.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from services.sms_worker.safety.encoder import Embeddings, SentenceEncoder, default_encoder

HEAD_PATH = Path(__file__).parent / "head.json"
Matrix = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SemanticReading:
    """What the heads make of one message (probabilities in [0, 1])."""

    crisis: float
    # Given a crisis: how likely it is high severity, and domestic violence.
    high: float
    domestic_violence: float
    revocation: float


@dataclass(frozen=True)
class Thresholds:
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


HEAD_NAMES = ("crisis", "high", "domestic_violence", "revocation")


@dataclass(frozen=True)
class Heads:
    weights: Matrix  # (4, 385): one logistic head per row of HEAD_NAMES, bias last
    thresholds: Thresholds

    @classmethod
    def load(cls, path: Path = HEAD_PATH) -> Heads:
        raw = json.loads(path.read_text(encoding="utf-8"))
        weights = np.asarray([raw["heads"][name] for name in HEAD_NAMES], dtype=np.float64)
        return cls(weights, Thresholds(**raw["thresholds"]))

    def read(self, embeddings: Embeddings) -> SemanticReading:
        """The heads' reading of one message from its window embeddings."""
        probabilities = sigmoid(with_bias(embeddings.astype(np.float64)) @ self.weights.T)
        # The riskiest window speaks for the message; so does the most revoking one.
        worst = probabilities[int(np.argmax(probabilities[:, 0]))]
        return SemanticReading(
            crisis=float(worst[0]),
            high=float(worst[1]),
            domestic_violence=float(worst[2]),
            revocation=float(np.max(probabilities[:, 3])),
        )


def with_bias(features: Matrix) -> Matrix:
    return np.hstack([features, np.ones((features.shape[0], 1))])


def sigmoid(logits: Matrix) -> Matrix:
    result: Matrix = 1.0 / (1.0 + np.exp(-logits))
    return result


class SemanticClassifier:
    """Encoder + heads: the semantic layer as the SMS worker runs it."""

    def __init__(self, encoder: SentenceEncoder, heads: Heads) -> None:
        self._encoder = encoder
        self.heads = heads

    def read(self, text: str) -> SemanticReading:
        return self.heads.read(self._encoder.encode(text))


@functools.cache
def default_classifier() -> SemanticClassifier:
    return SemanticClassifier(default_encoder(), Heads.load())
