"""The ``forgrad-viz`` argument parser with its subcommands, and :func:`main`, the entry point."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from forgrad_viz import __version__
from forgrad_viz.cli import bench, compare, demo, merge, sweep
from forgrad_viz.cli.options import PROG, CliError


def build_parser() -> argparse.ArgumentParser:
    """The ``forgrad-viz`` argument parser with its subcommands.

    Examples
    --------
    >>> build_parser().parse_args(["merge", "a.json", "b.json"]).command
    'merge'
    """
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="FORGrad for PyTorch: low-pass filtered white-box attribution maps, cutoff sweeps, figures.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in (demo, sweep, compare, merge, bench):
        command.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``forgrad-viz``; returns the exit status.

    Examples
    --------
    >>> main(["--version"])  # doctest: +SKIP
    forgrad-viz 0.1.0
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except (CliError, ValueError, TypeError, OSError, RuntimeError, ImportError) as error:
        print(f"{PROG}: error: {error_line(error)}", file=sys.stderr)
        return 1


def error_line(error: BaseException) -> str:
    """The message of ``error`` on one line; for an error re-raised from a ``DataLoader`` worker (whose message
    holds the worker's traceback), the original error's last line.

    Examples
    --------
    >>> error_line(ValueError("Caught ValueError in DataLoader worker process 0.\\nOriginal Traceback "
    ...                       "(most recent call last):\\n  File ...\\nValueError: cannot read image a.png"))
    'cannot read image a.png'
    """
    text = str(error)
    if "Original Traceback" in text:
        last = text.strip().splitlines()[-1]
        text = last.split(": ", 1)[1] if ": " in last else last
    return " ".join(text.split()) or type(error).__name__
