"""SHA-256 of the committed ONNX models, which the worker checks before loading them.

Written by `python -m services.sms_worker.safety.finetune`.
"""

CRISIS_MODEL_SHA256 = "b3b87267d15a20da135a5d12d426b811bcc91863dd314fc21ebfa04ebbd4a176"
ENCODER_MODEL_SHA256 = "7d267536625d3df99dad1a4f4f3750b5d2198f544d52f16ffdda2bb2113d3583"
