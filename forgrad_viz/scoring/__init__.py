"""The model that scores maps: the precision and the backend of the metrics' forward passes.

The forward passes that *score* maps (Deletion, Insertion, MuFidelity, and so every sweep) need no gradients, so
they need not run in PyTorch fp32. :func:`scoring_model` returns the module those passes go through:

- ``precision="fp32", backend="torch"`` (the default): the model itself.
- ``precision="bf16"``: the model under ``torch.autocast(dtype=torch.bfloat16)``, logits returned in fp32. Fast on
  CPUs with native bf16 (AVX-512 BF16, AMX) and on GPUs; on other CPUs bf16 is emulated and *slower* than fp32
  (a warning says so). ``"fp16"``: CUDA only.
- ``backend="onnxruntime"`` (the ``onnx`` extra): the model exported once per input shape with
  ``torch.onnx.export`` and run by ONNX Runtime's CPU provider on torch's thread count, with threads that sleep
  instead of spinning while they wait (load that arrives mid-run does not slow it more than a fair share). fp32
  only: its logits agree with PyTorch fp32 to about 1e-5.

Attributions (gradients) always run in PyTorch fp32 on the model itself. Every result records ``precision`` and
``backend`` in its ``params``.

Modules: ``base`` (the wrappers' base class), ``api`` (:func:`scoring_model`, the options and their checks), ``autocast`` (reduced precision in
PyTorch), ``onnx_runtime`` (the exported model run by ONNX Runtime).
"""

from __future__ import annotations

from forgrad_viz.scoring.api import (
    BACKENDS,
    PRECISIONS,
    ScoringModel,
    check_scoring_options,
    is_scoring_model,
    scoring_model,
)

__all__ = [
    "BACKENDS",
    "PRECISIONS",
    "ScoringModel",
    "check_scoring_options",
    "is_scoring_model",
    "scoring_model",
]
