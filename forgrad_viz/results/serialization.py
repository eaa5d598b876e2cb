"""Reading and writing results: arrays to and from JSON lists, JSON files tagged by result type, text files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


def _to_list(value: np.ndarray | None) -> list | None:
    """Nested list of floats for JSON (NaN is written as ``NaN``, which :mod:`json` reads back)."""
    return None if value is None else np.asarray(value, dtype=np.float64).tolist()


def _from_list(value: Any) -> np.ndarray | None:
    if value is None:
        return None
    return np.array(value, dtype=np.float64)


def _write_text(text: str, path: str | Path) -> Path:
    """Write ``text`` to ``path`` (creating its folder) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _write_json(data: dict[str, Any], path: str | Path) -> Path:
    return _write_text(json.dumps(data, indent=1, allow_nan=True) + "\n", path)


def _read_json(path: str | Path, kind: str) -> dict[str, Any]:
    data = json.loads(Path(path).read_text())
    if data.get("type") != kind:
        raise ValueError(f"{path} does not hold a {kind} (found type {data.get('type')!r})")
    return data
