"""Checkpoint I/O: the scores of finished units of work in a JSON file, tied to the sweep that wrote them.

A unit of work is one method's chunk of cutoffs on one block of images (:func:`unit_key`). The file holds the
sweep's :func:`signature` (fingerprints of the images, image ids and targets, and the described arguments); a
sweep with another signature refuses the file.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch


class Checkpoint:
    """Results of finished units of work, in a JSON file rewritten atomically after each unit."""

    def __init__(self, path: str | os.PathLike | None, signature: dict[str, Any]) -> None:
        self.path = None if path is None else Path(path)
        self.signature = signature
        self.units: dict[str, dict[str, list]] = {}
        if self.path is not None and self.path.is_file():
            data = json.loads(self.path.read_text())
            if data.get("signature") != signature:
                raise ValueError(
                    f"checkpoint {self.path} was written by a different sweep (other images, method, cutoffs or "
                    "protocol); delete it or pass another checkpoint path"
                )
            self.units = data.get("units", {})

    def get(self, key: str) -> dict[str, np.ndarray] | None:
        unit = self.units.get(key)
        return None if unit is None else {m: np.asarray(v, dtype=np.float64) for m, v in unit.items()}

    def put(self, key: str, scores: dict[str, np.ndarray]) -> None:
        self.units[key] = {m: v.tolist() for m, v in scores.items()}
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps({"signature": self.signature, "units": self.units}))
        os.replace(tmp, self.path)


def unit_key(method: str, block: int, part: list[int], with_unfiltered: bool) -> str:
    """The checkpoint key of one method's cutoff indices ``part`` (and the unfiltered map) on one block."""
    return f"{method}|{block}|{','.join(map(str, part))}|{int(with_unfiltered)}"


def fingerprint(tensor: torch.Tensor) -> str:
    return hashlib.sha1(tensor.detach().cpu().contiguous().numpy().tobytes()).hexdigest()


def signature(
    kind: str, images: torch.Tensor, image_ids: np.ndarray, targets: Any, common: dict[str, Any]
) -> dict[str, Any]:
    """What identifies a sweep in its checkpoint: ``common`` (the described arguments) and fingerprints."""
    target_print = None if targets is None else fingerprint(torch.as_tensor(targets))
    return {
        **common,
        "kind": kind,
        "images": fingerprint(images),
        "image_ids": fingerprint(torch.as_tensor(image_ids)),
        "targets": target_print,
    }
