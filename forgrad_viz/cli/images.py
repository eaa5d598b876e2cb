"""Reading a folder of images for ``forgrad-viz sweep``: flat, or one subfolder per class (ImageFolder)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from forgrad_viz.cli.options import CliError

#: File suffixes read as images by ``forgrad-viz sweep``.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")


def image_files(folder: str) -> tuple[list[Path], list[int] | None]:
    """Image files of a flat folder (targets None) or of an ImageFolder (class index per file).

    The class index is the folder's name if every class folder is named by an integer, else its rank in sorted
    order.
    """
    root = Path(folder)
    if not root.exists():
        raise CliError(f"image folder not found: {folder}")
    if not root.is_dir():
        raise CliError(f"--images must be a folder; {folder} is a file")
    flat = sorted(p for p in root.iterdir() if _is_image(p))
    if flat:
        return flat, None
    classes = sorted(d for d in root.iterdir() if d.is_dir() and any(_is_image(p) for p in d.rglob("*")))
    if not classes:
        raise CliError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    numeric = all(d.name.isdigit() for d in classes)
    files, labels = [], []
    for rank, directory in enumerate(classes):
        found = sorted(p for p in directory.rglob("*") if _is_image(p))
        files += found
        labels += [int(directory.name) if numeric else rank] * len(found)
    return files, labels


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES


def load_images(files: Sequence[Path], transform: Callable) -> Any:
    """The images of ``files`` as RGB, through ``transform``, stacked into one tensor."""
    import torch
    from PIL import Image, UnidentifiedImageError

    tensors = []
    for path in files:
        try:
            with Image.open(path) as image:
                tensors.append(transform(image.convert("RGB")))
        except (UnidentifiedImageError, OSError) as error:
            raise CliError(f"cannot read image {path}: {error}") from None
    return torch.stack(tensors)
