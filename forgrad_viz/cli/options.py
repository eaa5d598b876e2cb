"""What the subcommands share on the command line: the error users can fix, argument types and checks, and the
output options (``--out``, ``--formats``, ``--no-figures``)."""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PROG = "forgrad-viz"
_FIGURE_FORMATS = ("pdf", "svg", "png")


class CliError(Exception):
    """An error the user can fix; printed as one line without a traceback."""


def _int_at_least(text: str, minimum: int, expected: str) -> int:
    """``text`` as an integer >= ``minimum``; otherwise an argparse error saying ``expected``."""
    try:
        value = int(text)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected {expected}; got {text!r}")
    return value


def positive_int(text: str) -> int:
    """Argument type of options that take a positive integer.

    Examples
    --------
    >>> positive_int("3")
    3
    """
    return _int_at_least(text, 1, "a positive integer")


def nonnegative_int(text: str) -> int:
    """Argument type of options that take an integer >= 0.

    Examples
    --------
    >>> nonnegative_int("0")
    0
    """
    return _int_at_least(text, 0, "an integer >= 0")


def fold_count(text: str) -> int:
    """Argument type of ``--folds``: an integer >= 2 (one fold chooses sigma*, another scores it).

    Examples
    --------
    >>> fold_count("5")
    5
    """
    return _int_at_least(text, 2, "an integer >= 2")


def add_folds(parser: argparse.ArgumentParser, default: int) -> None:
    """Add ``--folds``, the folds of the held-out gain."""
    parser.add_argument(
        "--folds",
        type=fold_count,
        default=default,
        help=f"folds of the held-out gain: sigma* chosen on the other folds, scored on the one left out ({default}; "
        "at most the number of images)",
    )


def writable_folder(folder: str | os.PathLike, option: str = "--out") -> Path:
    """Create ``folder`` (and its parents) and check that a file can be written in it, before any work starts.

    Raises a :class:`CliError` naming ``option`` when the folder cannot be created or written to.

    Examples
    --------
    >>> writable_folder(tempfile.mkdtemp()).is_dir()
    True
    """
    path = Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise CliError(f"{option} {os.fspath(folder)} is not a writable folder ({reason})") from None
    return path


def add_out(parser: argparse.ArgumentParser, default: str) -> None:
    """Add ``--out``, the output folder, defaulting to ``./default``."""
    parser.add_argument("--out", default=default, help=f"output folder (default: ./{default})")


def add_formats(parser: argparse.ArgumentParser, *, optional: bool) -> None:
    """Add ``--formats``, and ``--no-figures`` where the figures are ``optional``."""
    parser.add_argument("--formats", default="pdf,svg,png", help="figure formats (default: pdf,svg,png)")
    if optional:
        parser.add_argument("--no-figures", action="store_true", help="write no figures")


def parse_formats(text: str) -> tuple[str, ...]:
    """The figure formats of ``--formats``: a comma-separated subset of pdf, svg and png.

    Examples
    --------
    >>> parse_formats("PNG, pdf")
    ('png', 'pdf')
    """
    formats = tuple(f.strip().lower() for f in text.split(",") if f.strip())
    bad = [f for f in formats if f not in _FIGURE_FORMATS]
    if bad or not formats:
        raise CliError(f"--formats must be a comma-separated subset of pdf,svg,png; got {text!r}")
    return formats


def figure_formats(args: argparse.Namespace) -> tuple[str, ...] | None:
    """The figure formats asked for, or None under ``--no-figures``."""
    return None if args.no_figures else parse_formats(args.formats)


def check_methods(methods: Sequence[str]) -> list[str]:
    """The attribution methods named, in order and without repeats; a :class:`CliError` for an unknown one."""
    from forgrad_viz.attribution import METHODS

    for method in methods:
        if method not in METHODS:
            raise CliError(f"unknown method {method!r}; valid methods: {', '.join(METHODS)}")
    return list(dict.fromkeys(methods))


def add_scoring_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--precision`` and ``--backend``: how the forward passes that score maps run (attributions always run
    in PyTorch fp32)."""
    parser.add_argument(
        "--precision",
        default="fp32",
        choices=("fp32", "bf16", "fp16"),
        help="precision of the scoring forward passes (fp32; bf16 is fast only on CPUs with AVX-512 BF16 or "
        "AMX and on GPUs; fp16 on CUDA only)",
    )
    parser.add_argument(
        "--backend",
        default="auto",
        choices=("auto", "torch", "onnxruntime"),
        help="backend of the scoring forward passes: onnxruntime (fp32 numbers, 2-7x faster than PyTorch on "
        "EfficientNet-Lite0 on 2 CPU cores, threads that sleep under load; the 'onnx' extra), torch, or auto "
        "(onnxruntime for fp32 on the CPU when installed, else torch)",
    )


def add_padding(parser: argparse.ArgumentParser) -> None:
    """Add ``--padding``: how FORGrad's low-pass filter treats the borders of a map (``none``: the paper's periodic
    filter; passed to the sweeps as ``padding=None``, ``"reflect"`` or ``"zero"``)."""
    parser.add_argument(
        "--padding",
        default="none",
        choices=("none", "reflect", "zero"),
        help="borders of the maps before the low-pass filter: none (periodic, the paper's), reflect or zero "
        "(half the map on each side, cropped back)",
    )


def add_memory_budget(parser: argparse.ArgumentParser) -> None:
    """Add ``--memory-budget MIB``: the sweep's working memory, from which its batch sizes and chunk of cutoffs
    follow (passed as ``memory_budget`` in bytes; default: the engine's, 1.25 GiB on the CPU)."""
    parser.add_argument(
        "--memory-budget",
        type=positive_int,
        metavar="MIB",
        help="working memory of the sweep in MiB, beyond the model and the libraries: batch sizes and the chunk "
        "of cutoffs follow from it (default: 1280 on the CPU, about 2 GB resident for a 224-px EfficientNet)",
    )


def memory_budget(args: argparse.Namespace) -> int | None:
    """``--memory-budget`` in bytes (None: the engine's default).

    Examples
    --------
    >>> memory_budget(argparse.Namespace(memory_budget=512))
    536870912
    """
    return None if args.memory_budget is None else args.memory_budget * 2**20


def resolve_backend(backend: str, precision: str, device: Any) -> str:
    """The backend ``--backend`` means here: ``auto`` is onnxruntime for fp32 on the CPU when it is installed,
    else torch; an explicit choice that cannot run gives a :class:`CliError`.

    Examples
    --------
    >>> resolve_backend("torch", "bf16", "cpu")
    'torch'
    """
    import importlib.util

    from forgrad_viz.scoring import check_scoring_options

    kind = getattr(device, "type", str(device))
    if backend == "auto":
        installed = all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "onnx"))
        backend = "onnxruntime" if precision == "fp32" and kind == "cpu" and installed else "torch"
    import torch

    try:
        check_scoring_options(precision, backend, torch.device(device))
    except ValueError as error:
        raise CliError(f"--precision {precision} --backend {backend}: {error}") from None
    return backend
