"""The semantic layer's two committed models: loaded from the repository only, refused unless
they are the pinned files, and the fine-tuned crisis score joined with the lexicon as the
worker does."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import pytest

from services.sms_worker.safety import encoder, semantic
from services.sms_worker.safety.encoder import (
    CRISIS_MODEL_PATH,
    ENCODER_MODEL_PATH,
    CrisisModel,
    ModelFileMismatch,
    SentenceEncoder,
    default_crisis_model,
)
from services.sms_worker.safety.lexicon import Severity, scan
from services.sms_worker.safety.model_digests import CRISIS_MODEL_SHA256, ENCODER_MODEL_SHA256
from services.sms_worker.safety.screen import combine_crisis
from services.sms_worker.safety.semantic import Heads, SemanticReading

SAFETY_DIR = Path(semantic.__file__).parent


def test_both_models_are_files_of_the_repository_with_their_pinned_digests() -> None:
    for path, digest in (
        (CRISIS_MODEL_PATH, CRISIS_MODEL_SHA256),
        (ENCODER_MODEL_PATH, ENCODER_MODEL_SHA256),
    ):
        assert path.parent == SAFETY_DIR
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


@pytest.mark.parametrize("model", [CrisisModel, SentenceEncoder])
def test_a_model_file_that_is_not_the_pinned_one_is_refused(
    model: type[CrisisModel] | type[SentenceEncoder], tmp_path: Path
) -> None:
    altered = tmp_path / "model.onnx"
    altered.write_bytes(CRISIS_MODEL_PATH.read_bytes()[:-1] + b"\0")
    with pytest.raises(ModelFileMismatch):
        model(altered)


def test_the_right_file_under_the_wrong_digest_is_refused() -> None:
    with pytest.raises(ModelFileMismatch):
        CrisisModel(CRISIS_MODEL_PATH, ENCODER_MODEL_SHA256)


def test_the_worker_runs_without_pytorch() -> None:
    semantic.default_classifier().read("hi, just checking in")
    assert "torch" not in sys.modules
    assert encoder.default_crisis_model() is default_crisis_model()


def test_the_crisis_model_reads_crisis_language_above_small_talk() -> None:
    tokens = encoder.Tokens()
    model = default_crisis_model()
    crisis = model.probability(tokens.windows("i dont want to be alive anymore")[0])
    small_talk = model.probability(tokens.windows("picked up mom's prescriptions, all good")[0])
    assert crisis > 0.9 > 0.1 > small_talk


def _reading(crisis: float, high: float = 0.0, dv: float = 0.0) -> SemanticReading:
    return SemanticReading(crisis=crisis, high=high, domestic_violence=dv, revocation=0.0)


def test_the_fine_tuned_score_finds_crisis_from_its_threshold() -> None:
    thresholds = Heads.load().thresholds
    quiet = "we had a nice walk today"
    assert scan(quiet) == ()
    below = _reading(np.nextafter(thresholds.crisis, 0.0))
    assert combine_crisis((), below, thresholds) is None
    finding = combine_crisis((), _reading(thresholds.crisis), thresholds)
    assert finding is not None
    assert finding.by_semantic
    assert not finding.by_lexicon
    assert finding.severity is Severity.MEDIUM
    high = combine_crisis((), _reading(thresholds.crisis, high=thresholds.high), thresholds)
    assert high is not None
    assert high.severity is Severity.HIGH


def test_the_lexicon_finds_crisis_whatever_the_model_says() -> None:
    thresholds = Heads.load().thresholds
    hits = scan("i want to kill myself")
    finding = combine_crisis(hits, _reading(0.0), thresholds)
    assert finding is not None
    assert finding.by_lexicon
    assert not finding.by_semantic
    assert finding.severity is Severity.HIGH


def test_severity_is_read_at_the_window_the_crisis_model_finds_riskiest() -> None:
    heads = Heads.load()
    windows = np.zeros((2, encoder.DIMENSIONS), dtype=np.float32)
    windows[0, 0] = windows[1, 1] = 1.0
    reading = heads.read(windows, [0.1, 0.95])
    assert reading.crisis == 0.95
    alone = heads.read(windows[1:], [0.95])
    assert (reading.high, reading.domestic_violence) == (alone.high, alone.domestic_violence)
