"""No silent overwrite: a sweep's settings (its signature, kept in the JSON as ``params["signature"]``), and the
check, made before any work starts, that the outputs a run would write hold no results of other settings."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from forgrad_viz.cli.options import CliError
from forgrad_viz.cli.outputs import output_files


def add_overwrite(parser: argparse.ArgumentParser) -> None:
    """Add ``--overwrite``."""
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace outputs of the same name written with other settings (refused otherwise; outputs of the "
        "same settings, a repeated or resumed run, are always rewritten)",
    )


def images_fingerprint(
    root: str | os.PathLike, files: Sequence[Path], targets: Sequence[int]
) -> dict[str, Any]:
    """The image set in a signature: how many files, and a hash of their paths relative to ``root``, their sizes
    and their targets (cheap: one ``stat`` per file, no read).

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> _ = (root / "a.png").write_bytes(b"1234")
    >>> images_fingerprint(root, [root / "a.png"], [-1])["n"]
    1
    """
    digest = hashlib.sha256()
    for path, target in zip(files, targets, strict=True):
        digest.update(f"{path.relative_to(root).as_posix()}\t{path.stat().st_size}\t{target}\n".encode())
    return {"n": len(files), "files": digest.hexdigest()[:16]}


def normalized(signature: Mapping[str, Any]) -> dict[str, Any]:
    """``signature`` as it reads back from JSON (tuples become lists), so that it compares with a stored one."""
    return json.loads(json.dumps(dict(signature)))


def _differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    keys = [key for key in dict.fromkeys([*new, *old]) if old.get(key) != new.get(key)]
    shown = []
    for key in keys[:3]:
        before, after = (json.dumps(d.get(key), sort_keys=True) for d in (old, new))
        shown.append(f"{key} {_short(before)} -> {_short(after)}")
    return "; ".join(shown) + ("; ..." if len(keys) > 3 else "")


def _short(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def refuse_overwrite(out: Path, stem: str, signature: Mapping[str, Any] | None, overwrite: bool) -> None:
    """Raise a :class:`CliError` naming ``--overwrite`` when ``out`` holds outputs named ``stem`` (JSON, CSVs,
    Markdown) that were written with other settings than ``signature``; pass when ``overwrite`` is set, when
    there are none, or when their JSON records the same signature (a repeated or resumed run).

    Outputs whose settings cannot be told (no JSON, a JSON without a signature, or ``signature`` None) count as
    written with other settings.

    Examples
    --------
    >>> import tempfile
    >>> refuse_overwrite(Path(tempfile.mkdtemp()), "cnn_saliency", {"steps": 20}, overwrite=False)
    """
    if overwrite:
        return
    existing = [path for path in output_files(out, stem) if path.exists()]
    if not existing:
        return
    json_path = existing[0]
    if json_path.suffix != ".json":
        why = f"{json_path} exists without {stem}.json (its settings are unknown)"
    else:
        try:
            recorded = json.loads(json_path.read_text()).get("params", {}).get("signature")
        except (OSError, ValueError, AttributeError):
            recorded = None
        if recorded is not None and signature is not None and recorded == normalized(signature):
            return
        if recorded is None or signature is None:
            why = f"{json_path} holds results whose settings are not recorded"
        else:
            why = f"{json_path} holds results of other settings ({_differences(recorded, normalized(signature))})"
    raise CliError(f"{why}; pass --overwrite to replace them, or choose another --out")
