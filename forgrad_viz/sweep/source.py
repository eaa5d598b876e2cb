"""The images of a sweep read block by block from a tensor, a ``Dataset`` or a ``DataLoader``, never whole.

A Dataset's items and a DataLoader's batches are an image tensor (3, H, W) / (B, 3, H, W), a 1-tuple of it
(``TensorDataset(images)``) or a pair ``(image, target)``; a target of ``-1`` (or ``None`` in a Dataset item) means the predicted class.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, RandomSampler, SequentialSampler, Subset

from forgrad_viz._utils import check_images, iter_chunks

#: What a sweep accepts as images.
ImageData = torch.Tensor | Dataset | DataLoader
#: One block as read: (block index, images (n, C, H, W), dataset targets (n,) with -1 for "predicted", or None).
RawBlock = tuple[int, torch.Tensor, torch.Tensor | None]


def _target(value: Any, where: str) -> int:
    if value is None:
        return -1
    if isinstance(value, torch.Tensor) and value.dim() == 0 and not value.is_floating_point():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise TypeError(f"{where}: a target must be an int, a 0-d integer tensor, -1 or None; got {value!r}")


def split_item(item: Any, index: int) -> tuple[torch.Tensor, int]:
    """A Dataset item as (image (C, H, W), target or -1)."""
    if isinstance(item, torch.Tensor):
        return item, -1
    if isinstance(item, (tuple, list)) and len(item) in (1, 2) and isinstance(item[0], torch.Tensor):
        return item[0], _target(item[1] if len(item) == 2 else None, f"images[{index}]")
    raise TypeError(
        f"images[{index}] must be an image tensor (3, H, W) or a pair (image, target); got {type(item).__name__}"
    )


def split_batch(batch: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A DataLoader batch as (images (B, C, H, W), targets (B,) long with -1 for "predicted", or None)."""
    if isinstance(batch, torch.Tensor):
        return batch, None
    if isinstance(batch, (tuple, list)) and len(batch) == 1 and isinstance(batch[0], torch.Tensor):
        return batch[0], None  # e.g. a TensorDataset of images alone
    if isinstance(batch, (tuple, list)) and len(batch) == 2 and isinstance(batch[0], torch.Tensor):
        images, targets = batch
        if isinstance(targets, (list, tuple)):
            targets = [_target(t, "a DataLoader batch") for t in targets]
        targets = torch.as_tensor(targets)
        if targets.dtype.is_floating_point or targets.dim() != 1 or targets.shape[0] != images.shape[0]:
            raise TypeError(f"a DataLoader batch's targets must be B integers; got {tuple(targets.shape)}")
        return images, targets.long()
    raise TypeError(
        f"a DataLoader must yield image batches (B, 3, H, W) or pairs (images, targets); got {type(batch).__name__}"
    )


def _map_style(dataset: Any) -> bool:
    return not isinstance(dataset, IterableDataset) and hasattr(dataset, "__getitem__")


class ImageSource:
    """The images of a sweep: their number, shape and blocks of ``block_size``, read on demand.

    Examples
    --------
    >>> source = ImageSource(torch.rand(5, 3, 8, 8), 2)
    >>> source.n, [r.stop - r.start for r in source.rows]
    (5, [2, 2, 1])
    >>> [index for index, _, _ in source.read([0, 2])]
    [0, 2]
    """

    def __init__(self, images: Any, block_size: int) -> None:
        self.images = images
        if isinstance(images, torch.Tensor):
            check_images(images)
            first = images[0]
        elif isinstance(images, DataLoader):
            if isinstance(images.sampler, RandomSampler):
                raise ValueError(
                    "images: a DataLoader must not shuffle (the sweep reads the images in order)"
                )
            if not hasattr(images.dataset, "__len__"):
                raise TypeError("images: a DataLoader's dataset must have a len() (the number of images)")
            first = (
                split_item(images.dataset[0], 0)[0]
                if _map_style(images.dataset)
                else split_batch(next(iter(images)))[0][0]
            )
        elif isinstance(images, Dataset) or (hasattr(images, "__getitem__") and hasattr(images, "__len__")):
            if len(images) == 0:
                raise ValueError("images must not be empty")
            first = split_item(images[0], 0)[0]
        else:
            raise TypeError(
                "images must be a tensor (N, 3, H, W), a torch.utils.data.Dataset or a DataLoader; "
                f"got {type(images).__name__}"
            )
        self.n = images.shape[0] if isinstance(images, torch.Tensor) else len(self._dataset())
        if self.n == 0:
            raise ValueError("images must not be empty")
        if first.dim() != 3:
            raise ValueError(f"images must be (3, H, W) each; got shape {tuple(first.shape)}")
        self.shape = tuple(first.shape)
        self.rows = list(iter_chunks(self.n, block_size))

    def _dataset(self) -> Any:
        return self.images.dataset if isinstance(self.images, DataLoader) else self.images

    def read(self, wanted: Sequence[int]) -> Iterator[RawBlock]:
        """The blocks ``wanted`` (ascending indices), each read and checked when reached."""
        if isinstance(self.images, torch.Tensor):
            blocks: Iterable[RawBlock] = ((i, self.images[self.rows[i]], None) for i in wanted)
        elif isinstance(self.images, DataLoader):
            blocks = self._read_loader(list(wanted))
        else:
            blocks = (self._read_dataset(i) for i in wanted)
        for index, images, targets in blocks:
            rows = self.rows[index]
            check_images(images, f"images[{rows.start}:{rows.stop}]")
            if tuple(images.shape[1:]) != self.shape:
                raise ValueError(
                    f"images[{rows.start}:{rows.stop}] have shape {tuple(images.shape[1:])}; the first image "
                    f"has {self.shape}: every image must have the same size"
                )
            yield index, images, targets

    def _read_dataset(self, index: int) -> RawBlock:
        items = [split_item(self.images[i], i) for i in range(self.rows[index].start, self.rows[index].stop)]
        targets = torch.tensor([t for _, t in items], dtype=torch.long)
        return index, torch.stack([x for x, _ in items]), None if bool((targets < 0).all()) else targets

    def _subset_loader(self, wanted: list[int]) -> DataLoader | None:
        """A loader like the given one over the wanted blocks' images only (None if it cannot be rebuilt)."""
        loader = self.images
        if not _map_style(loader.dataset) or not isinstance(loader.sampler, SequentialSampler):
            return None
        if loader.batch_size is None:
            return None
        indices = [i for b in wanted for i in range(self.rows[b].start, self.rows[b].stop)]
        return DataLoader(
            Subset(loader.dataset, indices),
            batch_size=loader.batch_size,
            num_workers=loader.num_workers,
            collate_fn=loader.collate_fn,
            pin_memory=loader.pin_memory,
            worker_init_fn=loader.worker_init_fn,
            multiprocessing_context=loader.multiprocessing_context if loader.num_workers else None,
        )

    def _read_loader(self, wanted: list[int]) -> Iterator[RawBlock]:
        """Cut the loader's batches into blocks; all of them are read unless a subset loader can be built."""
        everything = wanted == list(range(len(self.rows)))
        subset = None if everything else self._subset_loader(wanted)
        order = wanted if subset is not None else list(range(len(self.rows)))
        keep = set(wanted)
        pending: list[tuple[torch.Tensor, torch.Tensor | None]] = []
        held = 0
        position = 0
        for batch in subset if subset is not None else self.images:
            images, targets = split_batch(batch)
            pending.append((images, targets))
            held += images.shape[0]
            while position < len(order) and held >= _size(self.rows[order[position]]):
                size = _size(self.rows[order[position]])
                images, targets, pending = _take(pending, size)
                held -= size
                if order[position] in keep:
                    yield order[position], images, targets
                position += 1
        if position < len(order):
            raise ValueError(f"images: the DataLoader yielded {held} images too few for {self.n} images")


def _size(rows: slice) -> int:
    return rows.stop - rows.start


def _take(
    pending: list[tuple[torch.Tensor, torch.Tensor | None]], size: int
) -> tuple[torch.Tensor, torch.Tensor | None, list[tuple[torch.Tensor, torch.Tensor | None]]]:
    """The first ``size`` images (and targets) of the pending batches, and what is left of them."""
    images = torch.cat([x for x, _ in pending])
    given = [t if t is not None else torch.full((x.shape[0],), -1, dtype=torch.long) for x, t in pending]
    targets = torch.cat(given)
    rest = [(images[size:], targets[size:])] if images.shape[0] > size else []
    block_targets = targets[:size]
    return images[:size], None if bool((block_targets < 0).all()) else block_targets, rest
