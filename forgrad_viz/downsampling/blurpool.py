"""The anti-aliasing intervention: blur-pooling (Zhang, "Making convolutional networks shift-invariant again",
ICML 2019), applied to a deep copy of a trained model without retraining.

A layer that subsamples with stride ``s`` is split into its dense part (the same operation with stride 1) and
the subsampling; a binomial low-pass filter is inserted between them:

- ``nn.MaxPool2d(k, s)``  -> ``MaxPool2d(k, 1)``, blur, keep every ``s``-th sample;
- ``nn.AvgPool2d(k, s)``  -> ``AvgPool2d(k, 1)``, blur, keep every ``s``-th sample;
- ``nn.Conv2d(..., stride=s)`` (strided convolution or patch embedding) -> the same convolution (same weights)
  with stride 1, blur, keep every ``s``-th sample;
- any other module that reduces the size (a bare ``x[..., ::2, ::2]``, an interpolation, a blur-pool, an
  adaptive pool) -> its *input* is blurred with the filter of its measured stride, then the module runs unchanged
  (for a plain subsampling this is exactly blur-pooling; the module's own arithmetic is left alone).

The filter is separable and depthwise: per axis of stride ``s`` the binomial row of length ``2 s - 1``, normalised
to sum 1 (``[1, 2, 1] / 4`` for ``s = 2``, the filter of the demo's ``antialiased_cnn``; no blur along an axis of
stride 1), with reflect padding so that the blurred map keeps its size. Its frequency response along an axis is
``cos(pi f)^(2 s - 2)`` for ``f`` in cycles per sample, zero at the Nyquist frequency ``f = 1/2``. The output is
cropped (or, for a ``ceil_mode`` pool, padded by replication) to the size the original layer gives, so the rest of
the network runs unchanged.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from forgrad_viz._utils import check_model, model_device
from forgrad_viz.downsampling.discovery import DownsamplingLayer

__all__ = ["AntiAliased", "BlurSubsample", "BlurredInput", "antialias", "binomial_taps"]


def binomial_taps(length: int) -> torch.Tensor:
    """The binomial filter of ``length`` taps, normalised to sum 1 (float64).

    Examples
    --------
    >>> binomial_taps(3).tolist()
    [0.25, 0.5, 0.25]
    """
    row = torch.tensor([math.comb(length - 1, k) for k in range(length)], dtype=torch.float64)
    return row / row.sum()


class BlurSubsample(nn.Module):
    """Depthwise binomial blur with reflect padding, then every ``stride``-th sample (offset 0) per axis.

    Parameters
    ----------
    stride : int or (int, int)
        Subsampling factor per axis; the filter along an axis of stride ``s`` has ``2 s - 1`` taps.

    Examples
    --------
    >>> BlurSubsample(2)(torch.rand(1, 4, 63, 63)).shape
    torch.Size([1, 4, 32, 32])
    """

    def __init__(self, stride: int | tuple[int, int] = 2) -> None:
        super().__init__()
        self.stride = (stride, stride) if isinstance(stride, int) else tuple(stride)
        kernel = torch.outer(binomial_taps(2 * self.stride[0] - 1), binomial_taps(2 * self.stride[1] - 1))
        self.register_buffer("kernel", kernel.float())

    def blur(self, x: torch.Tensor) -> torch.Tensor:
        """The blurred map, same size as ``x`` (reflect padding; replicate where the map is too small)."""
        taps_y, taps_x = self.kernel.shape
        pad_y, pad_x = taps_y // 2, taps_x // 2
        if pad_y == 0 and pad_x == 0:
            return x
        mode = "reflect" if x.shape[-2] > pad_y and x.shape[-1] > pad_x else "replicate"
        padded = F.pad(x, (pad_x, pad_x, pad_y, pad_y), mode=mode)
        channels = x.shape[1]
        weight = self.kernel.to(x.dtype).expand(channels, 1, taps_y, taps_x)
        return F.conv2d(padded, weight, groups=channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blur(x)[..., :: self.stride[0], :: self.stride[1]]

    def extra_repr(self) -> str:
        return f"stride={self.stride}, taps={tuple(self.kernel.shape)}"


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _out_length(size: int, kernel: int, stride: int, padding: int, dilation: int, ceil_mode: bool) -> int:
    """PyTorch's output length of a pool or convolution along one axis."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    if not ceil_mode:
        return span // stride + 1
    out = -(-span // stride) + 1
    return out - 1 if (out - 1) * stride >= size + padding else out


def _dense_copy(module: nn.Module) -> tuple[nn.Module, tuple[int, int]]:
    """The module with stride 1 (a deep copy, same weights) and its original stride."""
    dense = copy.deepcopy(module)
    if isinstance(module, nn.Conv2d):
        stride = _pair(module.stride)
        dense.stride = (1, 1)
    else:
        stride = _pair(module.stride if module.stride is not None else module.kernel_size)
        dense.stride = 1
        dense.ceil_mode = False
    return dense, stride


class AntiAliased(nn.Module):
    """A pool or strided convolution made anti-aliased: stride 1, blur, subsample (see the module docstring).

    Parameters
    ----------
    module : nn.MaxPool2d, nn.AvgPool2d or nn.Conv2d
        The original layer (copied, never modified).

    Examples
    --------
    >>> layer = AntiAliased(torch.nn.MaxPool2d(2))
    >>> layer(torch.rand(1, 4, 64, 64)).shape
    torch.Size([1, 4, 32, 32])
    """

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        if not isinstance(module, (nn.MaxPool2d, nn.AvgPool2d, nn.Conv2d)):
            raise TypeError(f"module must be a MaxPool2d, AvgPool2d or Conv2d; got {type(module).__name__}")
        self.dense, stride = _dense_copy(module)
        self.subsample = BlurSubsample(stride)
        self._geometry = self._read_geometry(module, stride)

    @staticmethod
    def _read_geometry(module: nn.Module, stride: tuple[int, int]) -> list[tuple[int, int, int, int, bool]]:
        """Per axis (kernel, stride, padding, dilation, ceil_mode) of the original layer."""
        kernel = _pair(module.kernel_size)
        padding = module.padding
        padding = (0, 0) if padding == "valid" else _pair(padding)
        dilation = _pair(getattr(module, "dilation", 1))
        ceil_mode = bool(getattr(module, "ceil_mode", False))
        return [(kernel[i], stride[i], padding[i], dilation[i], ceil_mode) for i in range(2)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.subsample(self.dense(x))
        target = [_out_length(x.shape[-2 + i], *self._geometry[i]) for i in range(2)]
        out = out[..., : target[0], : target[1]]
        missing_y, missing_x = target[0] - out.shape[-2], target[1] - out.shape[-1]
        if missing_y > 0 or missing_x > 0:  # a ceil_mode pool's last, partial window
            out = F.pad(out, (0, max(missing_x, 0), 0, max(missing_y, 0)), mode="replicate")
        return out


class BlurredInput(nn.Module):
    """Any size-reducing module with its input low-passed first by the binomial filter of ``stride``.

    Examples
    --------
    >>> class Every2nd(torch.nn.Module):
    ...     def forward(self, x):
    ...         return x[..., ::2, ::2]
    >>> BlurredInput(Every2nd(), (2, 2))(torch.rand(1, 3, 8, 8)).shape
    torch.Size([1, 3, 4, 4])
    """

    def __init__(self, module: nn.Module, stride: tuple[int, int]) -> None:
        super().__init__()
        self.module = copy.deepcopy(module)
        self.prefilter = BlurSubsample(stride)

    def forward(self, x: torch.Tensor, *args, **kwargs):
        return self.module(self.prefilter.blur(x), *args, **kwargs)


def antialiased_layer(module: nn.Module, layer: DownsamplingLayer) -> nn.Module:
    """The anti-aliased replacement of ``module``, the layer described by ``layer``."""
    if layer.kind in ("max-pool", "avg-pool", "strided-conv", "patch-embedding"):
        return AntiAliased(module)
    if layer.kind == "global-pool":
        raise ValueError(f"layer {layer.name!r} is a global pool: there is no aliasing to remove")
    return BlurredInput(module, layer.stride)


def antialias(model: nn.Module, layers: Sequence[DownsamplingLayer]) -> nn.Module:
    """A deep copy of ``model`` in which each of ``layers`` low-passes before it subsamples (blur-pooling).

    Parameters
    ----------
    model : nn.Module
        Never modified.
    layers : sequence of DownsamplingLayer
        Layers of ``model`` from :func:`~forgrad_viz.downsampling.find_downsampling`.

    Returns
    -------
    nn.Module
        The copy, on the model's device, in the model's mode; each layer replaced by an :class:`AntiAliased` or
        :class:`BlurredInput` of the same name, whose output has the original size.

    Examples
    --------
    >>> from forgrad_viz.downsampling import find_downsampling
    >>> from forgrad_viz.models import build_demo_model
    >>> net = build_demo_model("strided_cnn").eval()
    >>> images = torch.rand(2, 3, 64, 64)
    >>> smooth = antialias(net, find_downsampling(net, images))
    >>> type(smooth[3]).__name__, smooth(images).shape
    ('AntiAliased', torch.Size([2, 4]))
    """
    check_model(model)
    copied = copy.deepcopy(model)
    device = model_device(model)
    for layer in layers:
        if not isinstance(layer, DownsamplingLayer):
            raise TypeError(f"layers must hold DownsamplingLayer objects; got {type(layer).__name__}")
        parent_name, _, child_name = layer.name.rpartition(".")
        parent = copied.get_submodule(parent_name)
        original = copied.get_submodule(layer.name)
        replacement = antialiased_layer(original, layer).to(device)
        replacement.train(original.training)
        setattr(parent, child_name, replacement)
    return copied
