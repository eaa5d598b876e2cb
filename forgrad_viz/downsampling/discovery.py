"""Finding the layers of a model that reduce the spatial size of its feature maps.

Every module's input and output spatial sizes are recorded by forward hooks during one forward pass on one of
the given images; the hooks are removed afterwards whatever happens. A module counts as a downsampling layer
when:

- it is an ``nn.MaxPool2d`` (not returning indices), ``nn.AvgPool2d`` or ``nn.Conv2d`` with a stride > 1 along
  some axis (a max-pool or convolution of stride 1 that only shrinks the map by its kernel's border is *not*
  downsampling); a convolution whose kernel equals its stride, without padding, is a patch embedding (ViT);
- or it is any other module (a bare ``x[..., ::2, ::2]``, ``F.interpolate``, a blur-pool, an adaptive pool, ...)
  whose output is at least 1.5 times smaller than its input along some axis, and none of whose submodules
  already explains that reduction (so a ``nn.Sequential`` holding a max-pool is not reported, the max-pool is).

Modules whose output is 1 x 1 (global pooling) are kept apart: a global average is the DC of its input, which has
no replica to alias, and they are not analysed. ``nn.PixelUnshuffle`` (space to depth) is lossless and is not
reported either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from forgrad_viz._utils import check_images, check_model, preserved_model

__all__ = ["KINDS", "DownsamplingLayer", "find_downsampling"]

#: Kinds of downsampling layer, in the order of the checks, with what the anti-aliasing intervention does.
KINDS: dict[str, str] = {
    "max-pool": "max with stride 1, then blurred subsampling",
    "avg-pool": "average with stride 1, then blurred subsampling",
    "patch-embedding": "the same convolution with stride 1, then blurred subsampling",
    "strided-conv": "the same convolution with stride 1, then blurred subsampling",
    "blur-pool": "its input blurred first (it already low-passes; the change is small)",
    "other": "its input blurred first, then the module unchanged",
    "global-pool": "not analysed (a 1 x 1 output has no aliasing to remove)",
}

_MIN_RATIO = 1.5


@dataclass(frozen=True)
class DownsamplingLayer:
    """A module that reduces the spatial size of its input.

    Attributes
    ----------
    name : str
        Dotted name in the model (as in ``model.named_modules()``).
    kind : str
        One of :data:`KINDS`.
    module_type : str
        The module's class name.
    stride : tuple of int
        ``(sy, sx)``: the module's stride for pools and convolutions, else the measured size ratio, rounded.
    in_size, out_size : tuple of int
        ``(H, W)`` of its input and output on the images it was found with.
    """

    name: str
    kind: str
    module_type: str
    stride: tuple[int, int]
    in_size: tuple[int, int]
    out_size: tuple[int, int]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dictionary."""
        return {
            key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()
        }


def _pair(value: Any) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    return int(value[0]), int(value[1])


def _first_map(values: Any) -> torch.Tensor | None:
    """The first 4-D tensor in a module's inputs or outputs (a tensor, or a tuple/list of them)."""
    if isinstance(values, torch.Tensor):
        return values if values.dim() == 4 else None
    if isinstance(values, (tuple, list)):
        for value in values:
            if isinstance(value, torch.Tensor) and value.dim() == 4:
                return value
    return None


def _no_padding(module: nn.Conv2d) -> bool:
    return module.padding == "valid" or (not isinstance(module.padding, str) and max(module.padding) == 0)


def _classify(
    module: nn.Module, in_size: tuple[int, int], out_size: tuple[int, int]
) -> tuple[str, tuple] | None:
    """(kind, stride) of a module that reduced ``in_size`` to ``out_size``, or None if it is not downsampling."""
    if isinstance(module, nn.PixelUnshuffle):
        return None
    if out_size == (1, 1):
        return "global-pool", in_size
    if (isinstance(module, nn.MaxPool2d) and not module.return_indices) or isinstance(module, nn.AvgPool2d):
        stride = _pair(module.stride if module.stride is not None else module.kernel_size)
        kind = "max-pool" if isinstance(module, nn.MaxPool2d) else "avg-pool"
        return (kind, stride) if max(stride) > 1 else None
    if isinstance(module, nn.Conv2d):
        stride = _pair(module.stride)
        if max(stride) == 1:
            return None
        patch = _pair(module.kernel_size) == stride and _no_padding(module)
        return ("patch-embedding" if patch else "strided-conv"), stride
    ratios = [size_in / max(size_out, 1) for size_in, size_out in zip(in_size, out_size, strict=True)]
    if max(ratios) < _MIN_RATIO:
        return None
    stride = tuple(max(1, int(ratio + 0.5)) for ratio in ratios)
    return ("blur-pool" if "blurpool" in type(module).__name__.lower() else "other"), stride


def _record_sizes(
    model: nn.Module, images: torch.Tensor
) -> dict[str, tuple[tuple[int, int], tuple[int, int]]]:
    """Module name -> (input size, output size) of its first call with 4-D input and output, on one image."""
    sizes: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {}
    handles = []

    def hook(name: str):
        def record(_: nn.Module, inputs: Any, output: Any) -> None:
            first_in, first_out = _first_map(inputs), _first_map(output)
            if name not in sizes and first_in is not None and first_out is not None:
                sizes[name] = (tuple(first_in.shape[-2:]), tuple(first_out.shape[-2:]))

        return record

    with preserved_model(model):
        try:
            for name, module in model.named_modules():
                if name:
                    handles.append(module.register_forward_hook(hook(name)))
            with torch.no_grad():
                model(images[:1].detach())
        finally:
            for handle in handles:
                handle.remove()
    return sizes


def _explained_by_child(name: str, found: Sequence[str]) -> bool:
    return any(other.startswith(name + ".") for other in found)


def find_downsampling(
    model: nn.Module, images: torch.Tensor, include_global: bool = False
) -> list[DownsamplingLayer]:
    """The downsampling layers of ``model``, in the order they run, found on ``images``.

    Parameters
    ----------
    model : nn.Module
        Any module taking ``images``; never modified (hooks are removed and its mode restored on exit).
    images : Tensor
        Float images ``(N, C, H, W)`` on the model's device; only the first one is run.
    include_global : bool
        Also list the modules with a 1 x 1 output (kind ``"global-pool"``).

    Returns
    -------
    list of DownsamplingLayer
        In the order of their first call; empty if there is none.

    Examples
    --------
    >>> from forgrad_viz.models import build_demo_model
    >>> layers = find_downsampling(build_demo_model("maxpool_cnn"), torch.rand(1, 3, 64, 64))
    >>> [(layer.name, layer.kind, layer.stride, layer.in_size) for layer in layers][:2]
    [('6', 'max-pool', (2, 2), (64, 64)), ('13', 'max-pool', (2, 2), (32, 32))]
    """
    check_model(model)
    check_images(images)
    sizes = _record_sizes(model, images)
    modules = dict(model.named_modules())
    candidates: list[DownsamplingLayer] = []
    for name, (in_size, out_size) in sizes.items():
        if in_size[0] <= out_size[0] and in_size[1] <= out_size[1]:
            continue
        classified = _classify(modules[name], in_size, out_size)
        if classified is not None:
            kind, stride = classified
            candidates.append(
                DownsamplingLayer(name, kind, type(modules[name]).__name__, stride, in_size, out_size)
            )
    names = [layer.name for layer in candidates]
    layers = [layer for layer in candidates if not _explained_by_child(layer.name, names)]
    return [layer for layer in layers if include_global or layer.kind != "global-pool"]
