"""scoring_model: the module the metrics' forward passes go through, for a precision and a backend."""

from __future__ import annotations

import importlib.util
import weakref
from typing import Any

import torch
from torch import nn

from forgrad_viz.scoring.base import ScoringModel

#: Precisions of the scoring forward passes (``"fp16"`` on CUDA only).
PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16")
#: Backends of the scoring forward passes (``"onnxruntime"``: the ``onnx`` extra, fp32, CPU).
BACKENDS: tuple[str, ...] = ("torch", "onnxruntime")


def is_scoring_model(model: nn.Module) -> bool:
    """Whether ``model`` is a wrapper made by :func:`scoring_model` (not the user's model itself)."""
    return isinstance(model, ScoringModel)


def check_scoring_options(
    precision: Any, backend: Any, device: torch.device | None = None
) -> tuple[str, str]:
    """Validate ``precision`` and ``backend`` (and, given the device, that they can run there).

    Examples
    --------
    >>> check_scoring_options("fp32", "torch")
    ('fp32', 'torch')
    >>> check_scoring_options("fp8", "torch")
    Traceback (most recent call last):
    ...
    ValueError: precision must be one of ['fp32', 'bf16', 'fp16']; got 'fp8'
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {list(PRECISIONS)}; got {precision!r}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {list(BACKENDS)}; got {backend!r}")
    if backend == "onnxruntime":
        if precision != "fp32":
            raise ValueError(
                f"backend='onnxruntime' runs fp32 only (its logits equal PyTorch fp32's to about 1e-5); "
                f"got precision={precision!r}: use backend='torch' for {precision}"
            )
        if importlib.util.find_spec("onnxruntime") is None or importlib.util.find_spec("onnx") is None:
            raise ValueError(
                "backend='onnxruntime' needs the onnxruntime and onnx packages: "
                'pip install "forgrad-viz[onnx]"'
            )
        if device is not None and device.type != "cpu":
            raise ValueError(f"backend='onnxruntime' runs on the CPU; the model is on {device}")
    if precision == "fp16" and device is not None and device.type != "cuda":
        raise ValueError(f"precision='fp16' needs a CUDA device (fp16 is slow and inexact on {device.type})")
    return precision, backend


#: Wrappers made for each model: (precision, backend) -> (the model's parameter versions, wrapper).
_CACHE: weakref.WeakKeyDictionary[nn.Module, dict[tuple[str, str], tuple[tuple, ScoringModel]]] = (
    weakref.WeakKeyDictionary()
)


def _versions(model: nn.Module) -> tuple:
    """Where the model's tensors live and how often they were changed in place: a changed model gets a new
    wrapper (and a new export)."""
    return tuple((t.data_ptr(), t._version, t.device.type) for t in model.state_dict(keep_vars=True).values())


def scoring_model(model: nn.Module, precision: str = "fp32", backend: str = "torch") -> nn.Module:
    """The module that scores maps for ``model`` at ``precision`` on ``backend`` (the model itself for fp32 on
    torch). Wrappers are cached per model and options: an ONNX export happens once per model and input shape, and
    again only when the model's parameters change.

    Parameters
    ----------
    model : torch.nn.Module
        Classifier returning logits; never modified.
    precision : {"fp32", "bf16", "fp16"}
        Precision of the forward passes (``"fp16"``: CUDA only). Logits come back as fp32.
    backend : {"torch", "onnxruntime"}
        ``"onnxruntime"`` runs an exported copy (CPU, fp32; the ``onnx`` extra).

    Returns
    -------
    torch.nn.Module
        ``model`` itself, or a :class:`ScoringModel` wrapping it.

    Examples
    --------
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))
    >>> scoring_model(net) is net
    True
    >>> fast = scoring_model(net, precision="bf16")
    >>> fast(torch.rand(2, 3, 2, 2)).dtype
    torch.float32
    """
    if is_scoring_model(model):
        raise TypeError("model is already a scoring wrapper; pass the classifier itself")
    from forgrad_viz._utils import model_device

    precision, backend = check_scoring_options(precision, backend, model_device(model))
    if precision == "fp32" and backend == "torch":
        return model
    versions = _versions(model)
    cached = _CACHE.setdefault(model, {}).get((precision, backend))
    if cached is not None and cached[0] == versions:
        return cached[1]
    if backend == "onnxruntime":
        from forgrad_viz.scoring.onnx_runtime import OnnxRuntimeModel

        wrapper: ScoringModel = OnnxRuntimeModel(model)
    else:
        from forgrad_viz.scoring.autocast import AutocastModel

        wrapper = AutocastModel(model, precision)
    _CACHE[model][(precision, backend)] = (versions, wrapper)
    return wrapper


def describe_scoring(model: nn.Module) -> dict[str, str]:
    """``{"precision", "backend"}`` of a module from :func:`scoring_model` (fp32 on torch for a plain model)."""
    return model.describe() if is_scoring_model(model) else {"precision": "fp32", "backend": "torch"}
