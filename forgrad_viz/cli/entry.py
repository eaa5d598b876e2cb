"""The ``forgrad-viz`` argument parser with its subcommands, and :func:`main`, the entry point."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from forgrad_viz import __version__
from forgrad_viz.cli import bench, demo, merge, sweep
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
    for command in (demo, sweep, merge, bench):
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
    except (CliError, ValueError, TypeError, OSError, RuntimeError) as error:
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 1
