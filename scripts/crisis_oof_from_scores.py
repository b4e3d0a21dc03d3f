"""Writes `crisis_oof.json` from out-of-round crisis scores computed elsewhere (a .npy file of one
probability per train message, in `corpus.load("train")` order).

    python scripts/crisis_oof_from_scores.py SCORES.npy --source "where the scores come from"

`scripts/train_crisis_model.sh --folds` computes the same file with this repository's recipe (about
15 minutes of two cores); this takes scores from a run of the same recipe made before, such as
the experiment that chose it (exp15: `finetune.py --protocol loro --frozen 0 --epochs 2`, int8
scores). `python -m services.sms_worker.safety.train` then chooses the crisis threshold from it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.sms_worker.safety import corpus
from services.sms_worker.safety.train import OOF_PATH, corpus_digest


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("scores", type=Path)
    parser.add_argument("--source", required=True)
    args = parser.parse_args()
    scores = np.load(args.scores)
    numbers = corpus.train_rounds()
    if scores.shape != (len(corpus.load("train")),) or len(numbers) != len(scores):
        sys.stderr.write("the scores are not one per train message\n")
        return 1
    if np.isnan(scores).any():
        sys.stderr.write("some train messages have no score\n")
        return 1
    record = {
        "source": args.source,
        "train_corpus_sha256": corpus_digest(),
        "rounds": numbers,
        "scores": [round(float(score), 6) for score in scores],
    }
    OOF_PATH.write_text(json.dumps(record, indent=0) + "\n", encoding="utf-8")
    sys.stderr.write(f"wrote {OOF_PATH}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
