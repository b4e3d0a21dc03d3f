"""Trains the semantic heads on the train split and writes `head.json`, bit for bit reproducibly.

    python -m services.sms_worker.safety.train           # write head.json, print CV figures
    python -m services.sms_worker.safety.train --check   # exit 1 unless head.json is reproduced

Deterministic by construction: the corpus in file order, embeddings rounded to 4 decimals,
Newton steps for a fixed count, folds by position, weights written rounded to 6 decimals.

The crisis score is the fine-tuned model's (`finetune.py`, trained in its own venv); its
threshold comes from `crisis_oof.json`, every train message scored by a model fine-tuned
without its fold of authoring rounds (`scripts/train_safety_model.sh --folds` recomputes it).
The other thresholds come from 5-fold cross-validation of the logistic heads. The held-out
split is never read here.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from services.sms_worker.safety import corpus
from services.sms_worker.safety.corpus import Example
from services.sms_worker.safety.encoder import MODEL_SHA256, default_encoder
from services.sms_worker.safety.lexicon import LexiconHit, Severity, scan
from services.sms_worker.safety.model_digests import CRISIS_MODEL_SHA256
from services.sms_worker.safety.revocation import Revocation, read_revocation
from services.sms_worker.safety.screen import combine_crisis, combine_revocation
from services.sms_worker.safety.semantic import (
    HEAD_PATH,
    LOGISTIC_HEADS,
    Heads,
    Matrix,
    SemanticReading,
    Thresholds,
    sigmoid,
    with_bias,
)

NEWTON_STEPS = 25
L2 = 0.1
FOLDS = 5
# The fine-tuned crisis model's out-of-round scores on train (finetune.py --folds).
OOF_PATH = Path(__file__).parent / "crisis_oof.json"
# The false-crisis rate the crisis threshold is chosen for, in cross-validation on train: half
# the acceptance bound, so text the corpus never saw has room.
FALSE_CRISIS_TARGET = 0.008
GRID = np.round(np.arange(0.02, 0.991, 0.01), 2)
# The fine-tuned crisis model is often sure of itself: its threshold may need the last decimals
# (steps of 0.001 from 0.95, where its scores crowd).
CRISIS_GRID = np.concatenate([GRID[GRID < 0.95], np.round(np.arange(0.95, 0.9995, 0.001), 3)])


@dataclass(frozen=True)
class TrainingSet:
    features: Matrix  # (n, 385), one row per message (its first window), bias last
    labels: Matrix  # (n, 4): crisis, then one column per name of LOGISTIC_HEADS
    # Rows each head learns from: the severity heads only from crisis messages.
    rows: Matrix  # (n, 4) booleans
    examples: list[Example]


def _labels(example: Example) -> tuple[list[float], list[bool]]:
    crisis = example.crisis
    is_crisis = crisis is not None
    high = crisis is not None and crisis.severity is Severity.HIGH
    dv = crisis is not None and crisis.domestic_violence
    labels = [float(is_crisis), float(high), float(dv), float(example.revokes)]
    return labels, [True, is_crisis, is_crisis, True]


def build_training_set(examples: list[Example]) -> TrainingSet:
    encoder = default_encoder()
    rows = [np.round(encoder.encode(example.text)[0].astype(np.float64), 4) for example in examples]
    labelled = [_labels(example) for example in examples]
    return TrainingSet(
        with_bias(np.vstack(rows)),
        np.asarray([labels for labels, _ in labelled]),
        np.asarray([used for _, used in labelled]),
        examples,
    )


def fit_logistic(features: Matrix, labels: Matrix) -> Matrix:
    """Class-balanced logistic regression, L2 on the weights (not the bias), by Newton steps:
    converged and deterministic, with no learning rate to tune."""
    positives = float(labels.mean())
    sample = np.where(labels > 0, 0.5 / max(positives, 1e-9), 0.5 / max(1 - positives, 1e-9))
    penalty = np.eye(features.shape[1]) * L2
    penalty[-1, -1] = 0.0
    weights = np.zeros(features.shape[1])
    for _ in range(NEWTON_STEPS):
        p = sigmoid(features @ weights)
        gradient = features.T @ ((p - labels) * sample) + penalty @ weights
        hessian = (features * (p * (1 - p) * sample)[:, None]).T @ features + penalty
        weights = weights - np.linalg.solve(hessian, gradient)
    return weights


def fit_heads(data: TrainingSet, rows: np.ndarray) -> Matrix:
    logistic = []
    for index in range(1, 1 + len(LOGISTIC_HEADS)):
        used = rows & data.rows[:, index]
        logistic.append(fit_logistic(data.features[used], data.labels[used, index]))
    return np.vstack(logistic)


def out_of_round_crisis() -> Matrix:
    """The fine-tuned model's crisis probability of every train message, from the model that
    was fine-tuned without that message's fold of authoring rounds."""
    record = json.loads(OOF_PATH.read_text(encoding="utf-8"))
    if record["train_corpus_sha256"] != corpus_digest():
        raise SystemExit(
            "crisis_oof.json is for another train split: scripts/train_safety_model.sh --folds"
        )
    return np.asarray(record["scores"], dtype=np.float64)


def cross_validate(data: TrainingSet) -> list[SemanticReading]:
    """Every message read by heads that never saw it (folds by position) and by the crisis
    model fine-tuned without its fold of rounds."""
    n = len(data.examples)
    fold = np.arange(n) % FOLDS
    probabilities = np.zeros((n, 1 + len(LOGISTIC_HEADS)))
    probabilities[:, 0] = out_of_round_crisis()
    for k in range(FOLDS):
        logistic = fit_heads(data, fold != k)
        held = fold == k
        probabilities[held, 1:] = sigmoid(data.features[held] @ logistic.T)
    return [SemanticReading(*map(float, row)) for row in probabilities]


def _with(thresholds: Thresholds, **changes: float) -> Thresholds:
    return Thresholds(**{**asdict(thresholds), **changes})


def choose_thresholds(data: TrainingSet, readings: list[SemanticReading]) -> Thresholds:
    """Each threshold from the out-of-fold readings, through the same `combine` rules the
    worker runs, so cross-validation measures what production does."""
    examples = data.examples
    hits = [scan(example.text) for example in examples]
    words = [read_revocation(example.text) for example in examples]
    thresholds = Thresholds(1.0, 0.5, 0.5, 1.0, 1.0, 1.0)
    crisis = np.asarray([example.crisis is not None for example in examples])
    for candidate in CRISIS_GRID:
        trial = _with(thresholds, crisis=float(candidate))
        found = _crisis_found(hits, readings, trial)
        if found[~crisis].mean() <= FALSE_CRISIS_TARGET:
            thresholds = trial
            break
    high = [r.high for r, e in zip(readings, examples, strict=True) if _is_high(e)]
    dv = [
        r.domestic_violence
        for r, e in zip(readings, examples, strict=True)
        if e.crisis is not None and e.crisis.domestic_violence
    ]
    # Low on purpose: 99 % of the high messages clear it, 95 % of the DV ones.
    thresholds = _with(
        thresholds,
        high=float(np.floor(np.quantile(high, 0.01) * 100) / 100),
        domestic_violence=float(np.floor(np.quantile(dv, 0.05) * 100) / 100),
    )
    return _revocation_thresholds(thresholds, words, readings, examples)


def _is_high(example: Example) -> bool:
    return example.crisis is not None and example.crisis.severity is Severity.HIGH


def _crisis_found(
    hits: list[tuple[LexiconHit, ...]], readings: list[SemanticReading], thresholds: Thresholds
) -> np.ndarray:
    return np.asarray(
        [combine_crisis(h, r, thresholds) is not None for h, r in zip(hits, readings, strict=True)]
    )


def _revocation_thresholds(
    thresholds: Thresholds,
    words: list[Revocation | None],
    readings: list[SemanticReading],
    examples: list[Example],
) -> Thresholds:
    """`confirm` and `certain`: the pair that opts out the most revocations while opting out no
    look-alike or everyday message in cross-validation; `clarify`: where 98 % of those stay
    quiet. Messages with crisis language are left out of the constraint: some of them ask us to
    stop too ("no more check-ins for me, I'm done tonight"), and those are opted out with the
    crisis resources in the confirmation, which is the rule."""
    p = np.asarray([reading.revocation for reading in readings])
    revokes = np.asarray([example.revokes for example in examples])
    bystander = np.asarray(
        [
            example.kind in ("lookalike", "everyday") and example.crisis is None
            for example in examples
        ]
    )
    clear = np.asarray([w is Revocation.CLEAR for w in words])
    open_to_us = np.asarray([w is not Revocation.NOT_US for w in words])
    best = (-1, 1.0, 1.0)
    for certain in [*GRID, 1.0]:
        for confirm in GRID:
            if confirm > certain:
                break
            opted_out = open_to_us & ((p >= certain) | (clear & (p >= confirm)))
            if opted_out[bystander].any():
                continue
            best = max(best, (int(opted_out[revokes].sum()), -float(certain), -float(confirm)))
    _, certain, confirm = best
    clarify = float(np.quantile(p[bystander], 0.98))
    return _with(
        thresholds,
        revocation_certain=round(-certain, 2) if certain < 0 else 1.0,
        revocation_confirm=round(-confirm, 2) if confirm < 0 else 1.0,
        revocation_clarify=round(clarify, 2),
    )


def figures(
    data: TrainingSet, readings: list[SemanticReading], thresholds: Thresholds
) -> dict[str, float]:
    examples = data.examples
    crisis = np.asarray([example.crisis is not None for example in examples])
    found = _crisis_found([scan(e.text) for e in examples], readings, thresholds)
    revokes = np.asarray([example.revokes for example in examples])
    opted_out = np.asarray(
        [
            combine_revocation(read_revocation(e.text), r, thresholds) is Revocation.CLEAR
            for e, r in zip(examples, readings, strict=True)
        ]
    )
    return {
        "cv_crisis_recall": float(found[crisis].mean()),
        "cv_false_crisis_rate": float(found[~crisis].mean()),
        "cv_revocation_recall": float(opted_out[revokes].mean()),
        "cv_false_opt_outs": float(
            sum(o for o, e in zip(opted_out, examples, strict=True) if e.kind != "revocation")
        ),
    }


def corpus_digest() -> str:
    digest = hashlib.sha256()
    for kind in corpus.KINDS:
        digest.update((corpus.CORPUS_DIR / "train" / f"{kind}.jsonl").read_bytes())
    return digest.hexdigest()


def train() -> tuple[dict[str, object], dict[str, float]]:
    data = build_training_set(corpus.load("train"))
    readings = cross_validate(data)
    thresholds = choose_thresholds(data, readings)
    logistic = fit_heads(data, np.ones(len(data.examples), dtype=bool))
    artefact: dict[str, object] = {
        "model_sha256": MODEL_SHA256,
        "crisis_model_sha256": CRISIS_MODEL_SHA256,
        "train_corpus_sha256": corpus_digest(),
        "thresholds": asdict(thresholds),
        "logistic": {
            name: np.round(logistic[i], 6).tolist() for i, name in enumerate(LOGISTIC_HEADS)
        },
    }
    return artefact, figures(data, readings, thresholds)


def serialise(artefact: dict[str, object]) -> str:
    return json.dumps(artefact, indent=1, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="verify head.json, write nothing")
    args = parser.parse_args(argv)
    artefact, figures = train()
    text = serialise(artefact)
    for name, value in figures.items():
        sys.stderr.write(f"{name}: {value:.4f}\n")
    if args.check:
        same = HEAD_PATH.exists() and HEAD_PATH.read_text(encoding="utf-8") == text
        sys.stderr.write("head.json reproduced\n" if same else "head.json differs\n")
        return 0 if same else 1
    HEAD_PATH.write_text(text, encoding="utf-8")
    Heads.load()  # what was written loads
    sys.stderr.write(f"wrote {HEAD_PATH}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
