"""A folder of images as a lazy ``torch.utils.data.Dataset``: flat, or one subfolder per class (ImageFolder).

Each image is opened only when its index is read, converted to RGB and passed through a transform (a model's
resize/crop transform, e.g. the one :func:`~forgrad_viz.models.load_torchvision` returns), so a sweep can stream
a whole validation set through a ``DataLoader`` without holding it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

# the files are listed (and checked) without torch in image_files; also reachable here (``as``: a re-export)
from forgrad_viz.image_files import IMAGE_SUFFIXES as IMAGE_SUFFIXES
from forgrad_viz.image_files import image_files as image_files

#: The target of an image without a class (flat folder): explain the model's predicted class.
PREDICTED = -1


def to_tensor(image: Any) -> torch.Tensor:
    """A PIL image as a float32 (3, H, W) tensor in [0, 1] (the default transform of :class:`ImageFolderDataset`).

    Examples
    --------
    >>> from PIL import Image
    >>> to_tensor(Image.new("RGB", (5, 4), (255, 0, 0)))[:, 0, 0].tolist()
    [1.0, 0.0, 0.0]
    """
    import torchvision.transforms.v2.functional as TF

    return TF.to_dtype(TF.pil_to_tensor(image.convert("RGB")), torch.float32, scale=True)


class ImageFolderDataset(Dataset):
    """The images of a folder, opened one at a time: ``dataset[i]`` is ``(image, target)``.

    Parameters
    ----------
    folder : str or path
        A flat folder of images, or one subfolder per class (see :func:`image_files` for the class index).
    transform : callable, optional
        Maps an RGB PIL image to a float (3, H, W) tensor in [0, 1], e.g. a model's resize/crop transform;
        :func:`to_tensor` by default (no resizing: batch only images of one size).
    max_images : int, optional
        Keep only the first ``max_images`` files (in sorted order).

    Attributes
    ----------
    files : list of Path
        The image files, in order.
    targets : list of int
        The class index of each file, or :data:`PREDICTED` (-1: the model's predicted class) in a flat folder.

    Examples
    --------
    >>> import tempfile
    >>> from PIL import Image
    >>> root = Path(tempfile.mkdtemp())
    >>> Image.new("RGB", (6, 4)).save(root / "a.png")
    >>> image, target = ImageFolderDataset(root)[0]
    >>> tuple(image.shape), target
    ((3, 4, 6), -1)
    """

    def __init__(
        self,
        folder: str | os.PathLike,
        transform: Callable[[Any], torch.Tensor] | None = None,
        *,
        max_images: int | None = None,
    ) -> None:
        if max_images is not None and (isinstance(max_images, bool) or not isinstance(max_images, int)):
            raise TypeError(f"max_images must be an integer; got {type(max_images).__name__}")
        if max_images is not None and max_images < 1:
            raise ValueError(f"max_images must be >= 1; got {max_images}")
        files, labels = image_files(folder)
        self.files: list[Path] = files[:max_images]
        self.targets: list[int] = (labels or [PREDICTED] * len(files))[:max_images]
        self.transform = to_tensor if transform is None else transform

    def __len__(self) -> int:
        return len(self.files)

    @property
    def has_classes(self) -> bool:
        """Whether the folder has one subfolder per class (targets are class indices, not predicted)."""
        return bool(self.targets) and self.targets[0] != PREDICTED

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        from PIL import Image, UnidentifiedImageError

        path = self.files[index]
        try:
            with Image.open(path) as image:
                rgb = image.convert("RGB")
        except (UnidentifiedImageError, OSError) as error:
            raise ValueError(f"cannot read image {path}: {error}") from None
        tensor = self.transform(rgb)
        if not isinstance(tensor, torch.Tensor) or tensor.dim() != 3 or tensor.shape[0] != 3:
            raise ValueError(
                f"the transform must return a (3, H, W) tensor; got {_describe(tensor)} for {path}"
            )
        return tensor, self.targets[index]


def _describe(value: Any) -> str:
    return f"shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) else type(value).__name__
