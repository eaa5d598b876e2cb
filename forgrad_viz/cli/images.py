"""The images of ``forgrad-viz sweep``: the files of a folder, listed and checked without torch
(:mod:`forgrad_viz.image_files`), then read lazily (:class:`~forgrad_viz.image_folder.ImageFolderDataset`, imported
on first use) through a ``DataLoader``, one block of images at a time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from forgrad_viz.image_files import IMAGE_SUFFIXES, image_files

if TYPE_CHECKING:
    from forgrad_viz.image_folder import ImageFolderDataset

__all__ = ["IMAGE_SUFFIXES", "ImageFolderDataset", "image_files", "image_loader"]


def __getattr__(name: str) -> Any:
    # ImageFolderDataset imports torch: only when asked for, so that ``forgrad-viz --help`` stays fast
    if name == "ImageFolderDataset":
        from forgrad_viz.image_folder import ImageFolderDataset

        return ImageFolderDataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def image_loader(
    dataset: ImageFolderDataset, rows: Sequence[int], block_size: int, workers: int, pin_memory: bool = False
) -> Any:
    """A ``DataLoader`` of the images ``rows`` of ``dataset``, in order, in batches of ``block_size``: batches of
    ``(images, targets)``, targets -1 for the predicted class.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from PIL import Image
    >>> from forgrad_viz.image_folder import ImageFolderDataset
    >>> root = Path(tempfile.mkdtemp())
    >>> for i in range(3):
    ...     Image.new("RGB", (4, 4)).save(root / f"{i}.png")
    >>> [tuple(x.shape) for x, _ in image_loader(ImageFolderDataset(root), [1, 2], 1, 0)]
    [(1, 3, 4, 4), (1, 3, 4, 4)]
    """
    from torch.utils.data import DataLoader, Subset

    return DataLoader(
        Subset(dataset, list(rows)),
        batch_size=block_size,
        shuffle=False,
        num_workers=workers,
        pin_memory=pin_memory,
    )
