"""The shipped demo models: three small CNNs of the shapes set that differ only in how they downsample.

They take 64 x 64 float RGB images in [0, 1] (the pixel space of forgrad_viz); their trained weights and model
cards live in ``forgrad_viz/assets`` (made by ``examples/train_demo_models.py``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from forgrad_viz._utils import check_choice
from forgrad_viz.data import SHAPES
from forgrad_viz.models.provenance import WeightsSource, set_weights_source

#: Folder of the shipped demo weights (``<name>.pt``) and model cards (``<name>.json``, ``<name>.md``).
ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"

#: The demo models (architectures built by :func:`build_demo_model`, trained weights shipped in
#: ``forgrad_viz/assets``), name -> description. They differ only in how they downsample.
DEMO_MODELS: dict[str, str] = {
    "maxpool_cnn": "3 stages of 2 conv3x3-BN-ReLU (16-32-64 channels), each followed by MaxPool2d(2); GAP; linear",
    "strided_cnn": "3 stages of 2 conv3x3-BN-ReLU (16-32-64 channels), the second conv of each with stride 2; GAP; "
    "linear",
    "antialiased_cnn": "3 stages of 2 conv3x3-BN-ReLU (16-32-64 channels), each followed by MaxPool2d(2, stride=1) "
    "and a [1,2,1]x[1,2,1] BlurPool of stride 2 (Zhang 2019); GAP; linear",
}


class BlurPool(nn.Module):
    """Anti-aliased subsampling (Zhang 2019): a fixed depthwise [1,2,1]x[1,2,1]/16 blur, then stride ``stride``.

    Reflect padding keeps the output size ``ceil(H / stride)``.

    Examples
    --------
    >>> BlurPool(4)(torch.rand(1, 4, 63, 63)).shape
    torch.Size([1, 4, 32, 32])
    """

    def __init__(self, channels: int, stride: int = 2) -> None:
        super().__init__()
        taps = torch.tensor([1.0, 2.0, 1.0])
        kernel = torch.outer(taps, taps) / 16.0
        self.register_buffer("kernel", kernel.expand(channels, 1, 3, 3).contiguous())
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        padded = nn.functional.pad(x, (1, 1, 1, 1), mode="reflect")
        return nn.functional.conv2d(padded, self.kernel, stride=self.stride, groups=x.shape[1])


def _conv_bn_relu(in_channels: int, out_channels: int, stride: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    ]


def _cnn(kind: str, channels: Sequence[int] = (16, 32, 64), n_classes: int = len(SHAPES)) -> nn.Sequential:
    layers: list[nn.Module] = []
    previous = 3
    for width in channels:
        layers += _conv_bn_relu(previous, width)
        if kind == "strided":
            layers += _conv_bn_relu(width, width, stride=2)
        else:
            layers += _conv_bn_relu(width, width)
            if kind == "maxpool":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.MaxPool2d(2, stride=1), BlurPool(width)]
        previous = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(previous, n_classes)]
    return nn.Sequential(*layers)


def build_demo_model(name: str) -> nn.Module:
    """A freshly initialised demo architecture (see :data:`DEMO_MODELS`) for 64 x 64 [0, 1] images.

    Examples
    --------
    >>> build_demo_model("maxpool_cnn")(torch.rand(1, 3, 64, 64)).shape
    torch.Size([1, 4])
    """
    check_choice(name, "name", list(DEMO_MODELS))
    return _cnn(name.removesuffix("_cnn"))


def _asset(name: str, suffix: str) -> Path:
    check_choice(name, "name", list(DEMO_MODELS))
    path = ASSETS_DIR / f"{name}{suffix}"
    if not path.is_file():
        raise FileNotFoundError(
            f"demo asset {path} is missing; run examples/train_demo_models.py to (re)create the demo models"
        )
    return path


def load_demo(name: str, device: str | torch.device = "cpu") -> nn.Module:
    """A shipped demo classifier of the shapes set (:func:`forgrad_viz.data.shapes_dataset`), in eval mode.

    The demo models take 64 x 64 float RGB images in [0, 1] and output logits over
    :data:`forgrad_viz.data.SHAPES`. Their model cards are given by :func:`demo_card`.

    Parameters
    ----------
    name : str
        One of :data:`DEMO_MODELS`.
    device : str or torch.device
        Where to put the model.

    Examples
    --------
    >>> from forgrad_viz.data import shapes_dataset
    >>> model = load_demo("maxpool_cnn")
    >>> model(shapes_dataset(2, seed=1).images).shape
    torch.Size([2, 4])
    """
    model = build_demo_model(name)
    path = _asset(name, ".pt")
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    set_weights_source(
        model, WeightsSource.from_package("demo", path, "forgrad-viz", "forgrad_viz", detail=name)
    )
    return model.to(device).eval()


def demo_card(name: str) -> dict[str, Any]:
    """The model card of a demo model: architecture, training seed and set, evaluation accuracy, ...

    The same card, as text, is ``forgrad_viz/assets/<name>.md``.

    Examples
    --------
    >>> card = demo_card("maxpool_cnn")
    >>> card["eval_accuracy"] >= 0.9
    True
    """
    return json.loads(_asset(name, ".json").read_text())
