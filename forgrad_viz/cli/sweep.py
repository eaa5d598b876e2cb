"""``forgrad-viz sweep``: sweep cutoffs for a torchvision model over a folder of images (resumable, shardable)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from forgrad_viz.cli.images import image_files, load_images
from forgrad_viz.cli.options import (
    CliError,
    add_formats,
    add_out,
    check_methods,
    figure_formats,
    positive_int,
)
from forgrad_viz.cli.outputs import sweep_table, write_sweep

_METRICS = ("deletion", "insertion", "mufidelity")


def add_parser(commands: Any) -> None:
    """Add the ``sweep`` subcommand to the subparsers ``commands``."""
    sweep = commands.add_parser(
        "sweep",
        help="sweep cutoffs for a torchvision model over a folder of images (resumable, shardable)",
        description="Score FORGrad maps at many cutoffs with Deletion, Insertion and MuFidelity on a folder of "
        "images (flat, or one subfolder per class as in torchvision's ImageFolder: the class index is then "
        "the target, the folder's name if every class folder is named by an integer, else its rank in sorted "
        "order). Writes one JSON (CutoffSweep) and one CSV per method, and figures.",
    )
    sweep.add_argument("--model", required=True, help="torchvision classification model, e.g. resnet18")
    sweep.add_argument(
        "--weights",
        help="a weights file (torch.save'd state dict) or a torchvision weights name such as DEFAULT "
        "(downloaded when online); default: random initialisation",
    )
    sweep.add_argument("--images", required=True, help="folder of images (flat or ImageFolder)")
    sweep.add_argument(
        "--methods", nargs="+", default=["saliency"], metavar="METHOD", help="attribution methods"
    )
    sweep.add_argument("--metrics", nargs="+", default=list(_METRICS), choices=_METRICS, metavar="METRIC")
    sweep.add_argument(
        "--cutoffs", help="comma-separated cutoffs in cycles per image (default: log-spaced grid)"
    )
    sweep.add_argument("--n-cutoffs", type=positive_int, default=24, help="size of the default grid (24)")
    sweep.add_argument("--kind", default="ideal", choices=("ideal", "gaussian", "butterworth"))
    sweep.add_argument("--search", default="grid", choices=("grid", "refine"))
    sweep.add_argument("--steps", type=positive_int, default=20, help="Deletion/Insertion steps (20)")
    sweep.add_argument("--n-subsets", type=positive_int, default=200, help="MuFidelity subsets (200)")
    sweep.add_argument("--max-images", type=positive_int, help="use only the first N images")
    sweep.add_argument("--device", default="cpu", help="torch device, e.g. cuda or cuda:1 (default: cpu)")
    sweep.add_argument("--batch-size", type=positive_int, help="inputs per forward pass (default: automatic)")
    sweep.add_argument("--block-size", type=positive_int, default=32, help="images per block of work (32)")
    sweep.add_argument("--shard", help="run shard i of n (i/n, 0-based) of the images; combine with merge")
    add_out(sweep, "forgrad_viz_sweep")
    sweep.add_argument(
        "--checkpoint",
        help="checkpoint folder (default: OUT/checkpoints); a run that is interrupted resumes from it",
    )
    sweep.add_argument("--no-checkpoint", action="store_true", help="do not write or read checkpoints")
    add_formats(sweep, optional=True)
    sweep.add_argument("--seed", type=int, default=0, help="seed of stochastic methods and MuFidelity (0)")
    sweep.add_argument("--no-progress", action="store_true", help="hide progress bars")
    sweep.set_defaults(func=run)


def _parse_shard(text: str | None) -> tuple[int, int]:
    if text is None:
        return 0, 1
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise CliError(f"--shard must be i/n with integers 0 <= i < n; got {text!r}") from None
    if count < 1 or not 0 <= index < count:
        raise CliError(f"--shard must be i/n with integers 0 <= i < n; got {text!r}")
    return index, count


def shard_rows(n_images: int, block_size: int, index: int, count: int) -> range:
    """The image indices of shard ``index`` of ``count``: whole blocks of ``block_size`` images, contiguous.

    Shards start on block boundaries so that every block of work sees the same images as in an unsharded run
    (on the CPU the merged result is then identical to the unsharded one; CUDA kernels may differ in the last
    bits with the batch composition, measured up to 5e-4 in a Deletion AUC).

    Examples
    --------
    >>> list(shard_rows(10, 2, 1, 2))
    [4, 5, 6, 7, 8, 9]
    """
    n_blocks = math.ceil(n_images / block_size)
    first, last = index * n_blocks // count, (index + 1) * n_blocks // count
    return range(min(first * block_size, n_images), min(last * block_size, n_images))


def _parse_cutoffs(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise CliError(f"--cutoffs must be comma-separated numbers; got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    """Run ``forgrad-viz sweep``: one CutoffSweep per method, written as JSON, CSV and figures."""
    import torch

    from forgrad_viz.models import load_torchvision
    from forgrad_viz.sweep import sweep_cutoffs

    methods = check_methods(args.methods)
    formats = figure_formats(args)
    cutoffs = _parse_cutoffs(args.cutoffs)
    index, count = _parse_shard(args.shard)
    if count > 1 and args.search == "refine":
        raise CliError("--search refine picks cutoffs from all the images; it cannot run on shards")
    files, labels = image_files(args.images)
    if args.max_images is not None:
        files, labels = files[: args.max_images], None if labels is None else labels[: args.max_images]
    rows = shard_rows(len(files), args.block_size, index, count)
    if len(rows) == 0:
        raise CliError(
            f"shard {index}/{count} holds no images ({len(files)} images, blocks of {args.block_size})"
        )
    try:
        device = torch.device(args.device)
    except RuntimeError as error:
        raise CliError(f"invalid --device {args.device!r}: {error}") from None
    model, transform = load_torchvision(args.model, weights=args.weights, device=device)
    images = load_images([files[i] for i in rows], transform).to(device)
    targets = None if labels is None else [labels[i] for i in rows]
    if cutoffs is None:
        from forgrad_viz.filters import default_cutoffs

        cutoffs = default_cutoffs(images.shape[-2], images.shape[-1], n=args.n_cutoffs)
    out = Path(args.out)
    suffix = "" if count == 1 else f"_shard-{index}-of-{count}"
    checkpoints = None if args.no_checkpoint else Path(args.checkpoint or out / "checkpoints")
    print(
        f"{len(rows)} images ({rows.start}..{rows.stop - 1} of {len(files)}), model {args.model}, methods "
        f"{', '.join(methods)}, {len(cutoffs)} cutoffs, metrics {', '.join(args.metrics)}, device {device}"
    )
    sweeps, written = [], []
    for method in methods:
        sweep = sweep_cutoffs(
            model,
            images,
            targets,
            method=method,
            cutoffs=cutoffs,
            metrics=tuple(args.metrics),
            kind=args.kind,
            search=args.search,
            steps=args.steps,
            mufidelity={"n_subsets": args.n_subsets, "seed": args.seed},
            batch_size=args.batch_size,
            block_size=args.block_size,
            progress=not args.no_progress,
            checkpoint=None if checkpoints is None else checkpoints / f"sweep_{method}{suffix}.json",
            seed=args.seed,
            model_name=args.model,
            image_ids=list(rows),
        )
        sweeps.append(sweep)
        written += write_sweep(sweep, out, f"sweep_{method}{suffix}", formats if count == 1 else None)
    print(sweep_table(sweeps))
    print(f"wrote {len(written)} files to {out}/")
    return 0
