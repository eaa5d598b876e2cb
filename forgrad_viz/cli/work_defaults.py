"""The amount of work of a CLI sweep when the user does not set it: the grid, the steps and the MuFidelity subsets.

Two sets of defaults. Small inputs (the demo CNNs, 64x64) and any GPU keep the full ones: 24 cutoffs, 20
Deletion/Insertion steps, 200 MuFidelity subsets. On a CPU, inputs of :data:`LARGE_SIDE` pixels a side or more
(ImageNet models) get the real-model study's settings, 9 cutoffs, 10 steps and 64 subsets: a forward pass of
EfficientNet-Lite0 costs about 10 times one of a demo CNN, and the full defaults cost about 1,150 forward passes per
photograph and method (about 20 minutes for 100 photographs on 2 cores) where these cost about 250 (100
photographs of Lite0 took 4 minutes with ONNX Runtime on 2 idle cores). At 400 photographs they gave held-out intervals of width 0.028-0.035 (Insertion)
and 0.013-0.019 (Deletion); see docs/study. A value the user gives always wins.
"""

from __future__ import annotations

import argparse
from typing import Any

from forgrad_viz.cli.options import positive_int

#: Inputs with both sides at least this many pixels get the CPU defaults for real models on a CPU.
LARGE_SIDE = 224
#: (cutoffs, steps, MuFidelity subsets) by default.
FULL_WORK = (24, 20, 200)
#: The same on a CPU for inputs of at least LARGE_SIDE pixels a side.
CPU_LARGE_WORK = (9, 10, 64)


def add_work_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--n-cutoffs``, ``--steps`` and ``--n-subsets``, unset by default (see :func:`resolve_work`)."""
    full, large = FULL_WORK, CPU_LARGE_WORK
    where = f"on a CPU with inputs of {LARGE_SIDE} px or more"
    parser.add_argument(
        "--n-cutoffs",
        type=positive_int,
        help=f"size of the default grid ({full[0]}; {large[0]} {where})",
    )
    parser.add_argument(
        "--steps", type=positive_int, help=f"Deletion/Insertion steps ({full[1]}; {large[1]} {where})"
    )
    parser.add_argument(
        "--n-subsets", type=positive_int, help=f"MuFidelity subsets ({full[2]}; {large[2]} {where})"
    )


def resolve_work(
    args: argparse.Namespace, height: int, width: int, device: Any, grid: bool = True
) -> str | None:
    """Set the work options left unset in ``args`` from the input size and the device.

    Returns a line to print when the CPU defaults for large inputs filled at least one option that matters (the
    size of the default grid only when ``grid``, i.e. when no cutoffs were given), else None.

    Examples
    --------
    >>> args = argparse.Namespace(n_cutoffs=None, steps=30, n_subsets=None)
    >>> resolve_work(args, 224, 224, "cpu")
    'CPU defaults for 224x224 inputs: 9 cutoffs, 30 Deletion/Insertion steps, 64 MuFidelity subsets (set --n-cutoffs, --n-subsets to change)'
    >>> (args.n_cutoffs, args.steps, args.n_subsets)
    (9, 30, 64)
    """
    import torch

    large = torch.device(device).type == "cpu" and min(height, width) >= LARGE_SIDE
    defaults = CPU_LARGE_WORK if large else FULL_WORK
    names = ("n_cutoffs", "steps", "n_subsets")
    filled = [name for name in names if getattr(args, name) is None and (grid or name != "n_cutoffs")]
    for name, value in zip(names, defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, value)
    if not (large and filled):
        return None
    cutoffs = f"{args.n_cutoffs} cutoffs, " if grid else ""
    return (
        f"CPU defaults for {height}x{width} inputs: {cutoffs}"
        f"{args.steps} Deletion/Insertion steps, {args.n_subsets} MuFidelity subsets (set "
        + ", ".join(f"--{name.replace('_', '-')}" for name in filled)
        + " to change)"
    )
