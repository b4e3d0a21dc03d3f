"""SHA-256 of the committed ONNX models, which the worker checks before loading them.

Written by `python -m services.sms_worker.safety.finetune`.
"""

CRISIS_MODEL_SHA256 = "d8eef006f6fba26944aff6af84d4c606bf0e5bdb59a87499c1f9a50db230ee63"
ENCODER_MODEL_SHA256 = "7d267536625d3df99dad1a4f4f3750b5d2198f544d52f16ffdda2bb2113d3583"
