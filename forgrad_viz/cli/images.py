"""The images of ``forgrad-viz sweep``: a folder read lazily (:class:`~forgrad_viz.image_folder.ImageFolderDataset`)
through a ``DataLoader``, one block of images at a time."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Any

from forgrad_viz.image_folder import IMAGE_SUFFIXES, ImageFolderDataset, image_files

__all__ = ["IMAGE_SUFFIXES", "ImageFolderDataset", "image_files", "image_loader", "sweep_data"]


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


def engine_streams() -> bool:
    """Whether :func:`~forgrad_viz.sweep.sweep_cutoffs` takes a ``DataLoader`` (the streaming, distributed
    engine, which ships ``forgrad_viz.sweep.distributed``); an older engine takes only a tensor."""
    return importlib.util.find_spec("forgrad_viz.sweep.distributed") is not None


def sweep_data(loader: Any, device: Any) -> tuple[Any, list[int] | None]:
    """What to give :func:`~forgrad_viz.sweep.sweep_cutoffs` as ``(images, targets)``: the loader itself (streamed
    block by block, targets in its batches) or, with an engine that takes only a tensor, the loader's images
    collected into one tensor on ``device`` and their targets (None when every target is the predicted class)."""
    if engine_streams():
        return loader, None
    import torch

    images, targets = [], []
    for batch, batch_targets in loader:
        images.append(batch)
        targets += [int(t) for t in batch_targets]
    predicted = all(t < 0 for t in targets)
    return torch.cat(images).to(device), None if predicted else targets
