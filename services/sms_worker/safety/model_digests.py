"""SHA-256 of the committed ONNX models, which the worker checks before loading them.

Written by `python -m services.sms_worker.safety.finetune`.
"""

CRISIS_MODEL_SHA256 = "35d7e5592d1aa154cb4320cdb6b050417482487e9814f9c543549037ae3a0304"
ENCODER_MODEL_SHA256 = "7d267536625d3df99dad1a4f4f3750b5d2198f544d52f16ffdda2bb2113d3583"
