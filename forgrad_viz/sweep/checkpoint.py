"""Checkpoint I/O: finished units of work appended to a JSON Lines file, tied to the sweep that wrote them.

A unit of work is one method's chunk of cutoffs on one block of images (:func:`unit_key`). The file's first line
is a header ``{"format": "forgrad_viz.sweep.checkpoint", "version": 2, "signature": ...}`` (the sweep's
:func:`signature`: the described arguments, the number of images and fingerprints of the image ids and targets);
every later line is one finished unit ``{"key": ..., "images": <fingerprint of the block's images>, "scores":
...}``, appended, flushed and fsynced as soon as the unit is done; the file is never rewritten. A sweep killed at
any moment loses at most the unit in flight: a torn last line (killed mid-write) is ignored and cut off before
the next append. A sweep with another signature, a unit whose block holds other images, or a file in another
format or version is refused with a clear error.

In a distributed run (:mod:`~forgrad_viz.sweep.distributed`) rank ``r`` appends to ``PATH.rank<r>``; every rank
reads ``PATH`` and all the ``PATH.rank*`` files, so a checkpoint resumes under any number of processes.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

FORMAT = "forgrad_viz.sweep.checkpoint"
VERSION = 2


class Checkpoint:
    """Results of finished units of work, read from ``path`` (and its ``.rank*`` siblings), appended to
    ``path`` (or ``path.rank<rank>`` in a distributed run)."""

    def __init__(
        self, path: str | os.PathLike | None, signature: dict[str, Any], rank: int | None = None
    ) -> None:
        self.path = None if path is None else Path(path)
        self.signature = signature
        self.units: dict[str, dict[str, Any]] = {}
        self.target = None
        if self.path is None:
            return
        self.target = self.path if rank is None else self.path.with_name(f"{self.path.name}.rank{rank}")
        siblings = (
            sorted(self.path.parent.glob(f"{self.path.name}.rank*")) if self.path.parent.is_dir() else []
        )
        for file in [self.path, *siblings]:
            if file.is_file():
                self._read(file)

    def _read(self, file: Path) -> None:
        lines = file.read_bytes().split(b"\n")
        complete = lines[:-1]  # the last piece has no newline: empty, or a line torn by a kill
        if not complete:
            return
        try:
            header = json.loads(complete[0])
        except json.JSONDecodeError:
            header = None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise ValueError(
                f"checkpoint {file} is not a forgrad_viz sweep checkpoint of version {VERSION} (an older "
                "forgrad_viz wrote one JSON file); delete it or pass another checkpoint path"
            )
        if header.get("version") != VERSION:
            raise ValueError(
                f"checkpoint {file} has format version {header.get('version')}; this forgrad_viz reads version "
                f"{VERSION}: delete it or pass another checkpoint path"
            )
        if header.get("signature") != self.signature:
            raise ValueError(
                f"checkpoint {file} was written by a different sweep (other images, method, cutoffs or "
                "protocol); delete it or pass another checkpoint path"
            )
        for number, line in enumerate(complete[1:], start=2):
            try:
                unit = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"checkpoint {file} line {number} is corrupt: {error}") from None
            self.units[unit["key"]] = unit

    def get(self, key: str, images: str | None) -> dict[str, np.ndarray] | None:
        """A finished unit's scores (metric -> array), or None; ``images`` is its block's fingerprint."""
        unit = self.units.get(key)
        if unit is None:
            return None
        if unit["images"] != images:
            raise ValueError(
                f"checkpoint {self.path}: the images of unit {key!r} differ from the ones given now (same number "
                "of images, other pixels); delete it or pass another checkpoint path"
            )
        return {m: np.asarray(v, dtype=np.float64) for m, v in unit["scores"].items()}

    def put(self, key: str, images: str | None, scores: dict[str, np.ndarray]) -> None:
        """Record a finished unit: one line appended, flushed and fsynced."""
        unit = {"key": key, "images": images, "scores": {m: v.tolist() for m, v in scores.items()}}
        self.units[key] = unit
        if self.target is None:
            return
        self.target.parent.mkdir(parents=True, exist_ok=True)
        with open(self.target, "ab+") as file:
            size = file.seek(0, os.SEEK_END)
            if size:
                file.seek(max(0, size - 1))
                if file.read(1) != b"\n":  # a torn line: cut it off before appending
                    file.seek(0)
                    file.truncate(file.read().rfind(b"\n") + 1)
                    size = file.seek(0, os.SEEK_END)
            if not size:
                header = {"format": FORMAT, "version": VERSION, "signature": self.signature}
                file.write(json.dumps(header).encode() + b"\n")
            file.write(json.dumps(unit).encode() + b"\n")
            file.flush()
            os.fsync(file.fileno())


def unit_key(method: str, block: int, part: list[int], with_unfiltered: bool) -> str:
    """The checkpoint key of one method's cutoff indices ``part`` (and the unfiltered map) on one block."""
    return f"{method}|{block}|{','.join(map(str, part))}|{int(with_unfiltered)}"


def fingerprint(tensor: torch.Tensor) -> str:
    return hashlib.sha1(tensor.detach().cpu().contiguous().numpy().tobytes()).hexdigest()


def signature(
    kind: str, n_images: int, image_ids: np.ndarray, targets: Any, common: dict[str, Any]
) -> dict[str, Any]:
    """What identifies a sweep in its checkpoint: ``common`` (the described arguments), the number of images and
    fingerprints of the image ids and explicit targets (each unit carries its block's image fingerprint)."""
    target_print = None if targets is None else fingerprint(torch.as_tensor(targets))
    return {
        **common,
        "kind": kind,
        "n_images": n_images,
        "image_ids": fingerprint(torch.as_tensor(image_ids)),
        "targets": target_print,
    }
