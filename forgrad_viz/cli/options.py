"""What the subcommands share on the command line: the error users can fix, argument types and checks, and the
output options (``--out``, ``--formats``, ``--no-figures``)."""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

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
