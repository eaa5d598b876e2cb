"""The scoring wrapper's base class (a leaf module: the wrappers and :func:`scoring_model` import it)."""

from __future__ import annotations

from torch import nn


class ScoringModel(nn.Module):
    """A classifier's forward pass at another precision or on another backend; logits always come back as fp32
    torch tensors on the input's device. The wrapped model is a submodule (its device and mode are the wrapper's).

    ``calls_model`` says whether forward hooks on the wrapped model see the wrapper's passes;
    ``follows_torch_threads`` whether torch's thread count governs its speed.
    """

    calls_model = True
    follows_torch_threads = True

    def __init__(self, model: nn.Module, precision: str, backend: str) -> None:
        super().__init__()
        self.model = model
        self.precision = precision
        self.backend = backend

    def describe(self) -> dict[str, str]:
        """``{"precision": ..., "backend": ...}``, as results record it."""
        return {"precision": self.precision, "backend": self.backend}
