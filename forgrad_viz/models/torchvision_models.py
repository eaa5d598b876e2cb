"""torchvision classifiers with their normalisation inside, and the resize/crop transform apart.

Every model returned here takes float RGB images in [0, 1] of shape (N, 3, H, W) (the pixel space of
forgrad_viz): input normalisation is the model's first layer, so attributions and baselines live in pixel space.
"""

from __future__ import annotations

import collections
import contextlib
import os
import pickle
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import torch
import torchvision
import torchvision.transforms.v2.functional as TF
from torch import nn
from torchvision.models import get_model, get_model_weights, list_models
from torchvision.transforms import InterpolationMode

from forgrad_viz.models.provenance import WeightsSource, file_sha256, set_weights_source

#: ImageNet channel statistics, used when a model has no published weights to read them from.
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

_WEIGHT_FILE_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".tar")


class Normalize(nn.Module):
    """Per-channel ``(x - mean) / std`` as a layer, so that a model can take [0, 1] images.

    Examples
    --------
    >>> layer = Normalize((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    >>> layer(torch.full((1, 3, 2, 2), 0.75))[0, :, 0, 0].tolist()
    [1.0, 1.0, 1.0]
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        mean_t = torch.as_tensor(mean, dtype=torch.float32).reshape(-1)
        std_t = torch.as_tensor(std, dtype=torch.float32).reshape(-1)
        if mean_t.shape != std_t.shape:
            raise ValueError(
                f"mean and std must have one value per channel; got {len(mean_t)} and {len(std_t)}"
            )
        if not bool((std_t > 0).all()):
            raise ValueError(f"std must be > 0 for every channel; got {std_t.tolist()}")
        self.register_buffer("mean", mean_t.reshape(1, -1, 1, 1))
        self.register_buffer("std", std_t.reshape(1, -1, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dim() != 4 or images.shape[1] != self.mean.shape[1]:
            raise ValueError(
                f"expected images of shape (N, {self.mean.shape[1]}, H, W); got shape {tuple(images.shape)}"
            )
        return (images - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()}"


class ImageTransform:
    """Resize the short side, then centre-crop, keeping float RGB in [0, 1] (no normalisation).

    Accepts a PIL image, a (3, H, W) or (N, 3, H, W) tensor (float in [0, 1] or uint8), and returns float32
    tensors of shape (3, crop, crop) or (N, 3, crop, crop). Greyscale PIL images are converted to RGB.

    Examples
    --------
    >>> transform = ImageTransform(resize_size=256, crop_size=224)
    >>> transform(torch.rand(2, 3, 300, 400)).shape
    torch.Size([2, 3, 224, 224])
    """

    def __init__(
        self,
        resize_size: int | None,
        crop_size: int,
        interpolation: InterpolationMode = InterpolationMode.BILINEAR,
        antialias: bool = True,
    ) -> None:
        self.resize_size = resize_size
        self.crop_size = crop_size
        self.interpolation = interpolation
        self.antialias = antialias

    def __call__(self, image: Any) -> torch.Tensor:
        if not isinstance(image, torch.Tensor):
            if not hasattr(image, "convert"):
                raise TypeError(f"image must be a PIL image or a torch.Tensor; got {type(image).__name__}")
            image = TF.pil_to_tensor(image.convert("RGB"))
        if image.dim() not in (3, 4) or image.shape[-3] != 3:
            raise ValueError(f"image must have shape (3, H, W) or (N, 3, H, W); got {tuple(image.shape)}")
        image = TF.to_dtype(image, torch.float32, scale=True)
        if self.resize_size is not None:
            image = TF.resize(
                image, [self.resize_size], interpolation=self.interpolation, antialias=self.antialias
            )
        return TF.center_crop(image, [self.crop_size, self.crop_size]).clamp(0.0, 1.0)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(resize_size={self.resize_size}, crop_size={self.crop_size}, "
            f"interpolation={self.interpolation.value})"
        )


class LoadedModel(NamedTuple):
    """A model taking [0, 1] images and the transform that prepares images for it."""

    model: nn.Module
    transform: ImageTransform


def _classification_models() -> list[str]:
    return list_models(module=torchvision.models)


def _check_model_name(name: Any) -> str:
    if not isinstance(name, str):
        raise TypeError(f"name must be a torchvision model name (a string); got {type(name).__name__}")
    if name not in _classification_models():
        raise ValueError(
            f"name {name!r} is not a torchvision classification model; see "
            "torchvision.models.list_models(module=torchvision.models) for the valid names"
        )
    return name


def _weights_enum(name: str):
    """The model's torchvision weights enum, or None for a model without published weights."""
    with contextlib.suppress(ValueError, KeyError):
        return get_model_weights(name)
    return None


def _resolve_weights_name(name: str, weights: str):
    """A torchvision weights entry for ``weights`` ("DEFAULT", "IMAGENET1K_V1" or "Enum.IMAGENET1K_V1"), else None."""
    enum = _weights_enum(name)
    if enum is None:
        return None
    entry_name = weights.split(".")[-1] if weights.startswith(enum.__name__ + ".") else weights
    if "." in entry_name:
        return None
    with contextlib.suppress(KeyError):
        return enum[entry_name]
    return None


def _transform_and_stats(entry: Any) -> tuple[ImageTransform, tuple, tuple]:
    """The resize/crop transform and the normalisation statistics published with a weights entry."""
    if entry is None:
        return ImageTransform(256, 224), IMAGENET_MEAN, IMAGENET_STD
    preset = entry.transforms()
    resize = getattr(preset, "resize_size", None)
    crop = getattr(preset, "crop_size", [224])
    transform = ImageTransform(
        resize[0] if resize else None,
        crop[0],
        getattr(preset, "interpolation", InterpolationMode.BILINEAR),
        bool(getattr(preset, "antialias", True)),
    )
    return (
        transform,
        tuple(getattr(preset, "mean", IMAGENET_MEAN)),
        tuple(getattr(preset, "std", IMAGENET_STD)),
    )


def _unwrap_state_dict(state: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Accept a bare state dict, a checkpoint holding one under "state_dict"/"model", and "module." prefixes."""
    for key in ("state_dict", "model"):
        if key in state and isinstance(state[key], Mapping):
            state = state[key]
    if not all(isinstance(key, str) for key in state):
        raise ValueError("weights must be a state dict with string keys")
    if state and all(key.startswith("module.") for key in state):
        state = {key[len("module.") :]: value for key, value in state.items()}
    return dict(state)


def _load_state(model: nn.Sequential, state: Mapping[str, Any], source: str) -> None:
    """Load ``state`` strictly into the wrapped network (or the whole wrapper), or raise a clear ValueError."""
    state = _unwrap_state_dict(state)
    target = model if any(key.startswith("normalize.") for key in state) else model.net
    expected = target.state_dict()
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    if missing or unexpected:
        raise ValueError(
            f"weights ({source}) do not match the architecture: {len(missing)} missing keys "
            f"{missing[:5]}, {len(unexpected)} unexpected keys {unexpected[:5]}"
        )
    shapes = [
        f"{key}: {tuple(value.shape)} vs {tuple(expected[key].shape)}"
        for key, value in state.items()
        if isinstance(value, torch.Tensor) and value.shape != expected[key].shape
    ]
    if shapes:
        raise ValueError(
            f"weights ({source}) have tensors of the wrong shape (given vs expected): {shapes[:5]}; pass "
            "num_classes=... if the classifier head has another number of classes"
        )
    target.load_state_dict(state, strict=True)


def _resolve_weights(name: str, weights: Any) -> tuple[Any, Mapping[str, Any] | None, str]:
    """Sort ``weights`` into (torchvision weights entry or None, state dict or None, description of the source)."""
    if weights is None:
        return None, None, ""
    if isinstance(weights, torchvision.models.WeightsEnum):
        enum = _weights_enum(name)
        if enum is None or not isinstance(weights, enum):
            raise ValueError(f"weights {weights} do not belong to model {name!r}")
        return weights, None, ""
    if isinstance(weights, Mapping):
        return None, weights, "state dict"
    if not isinstance(weights, (str, os.PathLike)):
        raise TypeError(
            "weights must be None, a weights name, a torchvision weights enum, a file path or a state dict; "
            f"got {type(weights).__name__}"
        )
    if os.path.isfile(weights):
        return None, _read_state_file(os.fspath(weights)), f"file {os.fspath(weights)!r}"
    entry = _resolve_weights_name(name, weights) if isinstance(weights, str) else None
    if entry is not None:
        return entry, None, ""
    path = os.fspath(weights)
    if not isinstance(weights, str) or path.lower().endswith(_WEIGHT_FILE_SUFFIXES) or os.sep in path:
        raise FileNotFoundError(f"weights file not found: {path!r}")
    enum = _weights_enum(name)
    valid = ["DEFAULT", *(f"{enum.__name__}.{e.name}" for e in enum)] if enum else []
    raise ValueError(
        f"weights {weights!r} is neither an existing file nor a weights name of {name!r}; valid names: "
        f"{valid or 'none (this model has no published weights)'}"
    )


def _read_state_file(path: str) -> Mapping[str, Any]:
    """The state dict saved in ``path`` (read with ``weights_only=True``), or a ValueError saying what to save."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise ValueError(
            f"weights file {path!r} holds a pickled object (a whole model?), not a state dict; save "
            "torch.save(model.state_dict(), path) and pass that file"
        ) from error
    if not isinstance(state, Mapping):
        raise ValueError(
            f"weights file {path!r} does not hold a state dict (found {type(state).__name__}); save "
            "torch.save(model.state_dict(), path) and pass that file"
        )
    return state


def _weights_record(weights: Any, entry: Any, seed: int | None) -> WeightsSource:
    """Where the weights of :func:`load_torchvision`'s model came from."""
    if entry is not None:
        return WeightsSource("torchvision", str(entry))
    if weights is None:
        return WeightsSource("random", "global RNG" if seed is None else f"seed {seed}")
    if isinstance(weights, Mapping):
        return WeightsSource("state dict", "given in memory")
    path = os.fspath(weights)  # as the user gave it: no path of this machine in the record
    return WeightsSource("file", path=path, sha256=file_sha256(path))


def _build_random(name: str, seed: int | None, config: dict[str, Any]) -> nn.Module:
    """The architecture with torchvision's random initialisation, seeded without touching the global RNG."""
    if seed is None:
        return get_model(name, weights=None, **config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return get_model(name, weights=None, **config)


def _download(name: str, entry: Any, config: dict[str, Any]) -> nn.Module:
    try:
        return get_model(name, weights=entry, **config)
    except OSError as error:
        raise RuntimeError(
            f"could not download the torchvision weights {entry} for {name!r} ({error}). Offline, pass "
            "weights= a local file path or a state dict instead (e.g. one saved earlier with "
            "torch.save(model.state_dict(), path))."
        ) from error


def load_torchvision(
    name: str,
    weights: str | os.PathLike | Mapping[str, Any] | None = None,
    *,
    seed: int | None = 0,
    device: str | torch.device = "cpu",
    **config: Any,
) -> LoadedModel:
    """A torchvision classifier that takes [0, 1] images, in eval mode, and its resize/crop transform.

    The returned model is ``nn.Sequential(normalize=Normalize(mean, std), net=<torchvision model>)``: the
    normalisation of the weights is its first layer. The transform resizes and centre-crops as the weights'
    preset does, without normalising.

    Parameters
    ----------
    name : str
        A torchvision classification model, e.g. ``"resnet18"`` (see
        ``torchvision.models.list_models(module=torchvision.models)``).
    weights : None, str, path or state dict
        ``None``: random initialisation (seeded by ``seed``). ``"DEFAULT"``, a weights name such as
        ``"IMAGENET1K_V1"`` or ``"ResNet18_Weights.IMAGENET1K_V1"``, or a torchvision weights enum: published
        weights, downloaded when online (or read from torch's cache). A path to a file saved with
        ``torch.save`` (loaded with ``weights_only=True``) or a state dict: loaded strictly, offline. A state
        dict may be the torchvision model's, the returned wrapper's, a checkpoint holding one under
        ``"state_dict"`` or ``"model"``, and may carry DataParallel's ``"module."`` prefix.
    seed : int or None
        Seed of the random initialisation (the global RNG is left untouched); ``None`` uses the global RNG.
    device : str or torch.device
        Where to put the model.
    **config
        Passed to ``torchvision.models.get_model``, e.g. ``num_classes=10`` for a fine-tuned head.

    Returns
    -------
    LoadedModel
        ``(model, transform)``. The transform maps a PIL image or a (3, H, W)/(N, 3, H, W) tensor to float32
        [0, 1] tensors; mean, std and sizes come from the weights' preset (ImageNet defaults, resize 256 and crop
        224, for a model without published weights).

    Examples
    --------
    >>> model, transform = load_torchvision("resnet18")           # random weights, offline
    >>> torch.save(model.net.state_dict(), "/tmp/resnet18_random.pt")
    >>> again, _ = load_torchvision("resnet18", weights="/tmp/resnet18_random.pt")
    >>> model(transform(torch.rand(3, 300, 300)).unsqueeze(0)).shape
    torch.Size([1, 1000])
    """
    name = _check_model_name(name)
    entry, state, source = _resolve_weights(name, weights)
    net = _build_random(name, seed, config) if entry is None else _download(name, entry, config)
    transform, mean, std = _transform_and_stats(entry if entry is not None else _default_entry(name))
    model = nn.Sequential(collections.OrderedDict(normalize=Normalize(mean, std), net=net))
    if state is not None:
        _load_state(model, state, source)
    set_weights_source(model, _weights_record(weights, entry, seed))
    return LoadedModel(model.to(device).eval(), transform)


def _default_entry(name: str):
    enum = _weights_enum(name)
    return enum.DEFAULT if enum is not None else None
