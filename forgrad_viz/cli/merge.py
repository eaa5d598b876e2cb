"""``forgrad-viz merge``: combine the JSON results of sweep shards into one sweep per method."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from forgrad_viz.cli.options import CliError, add_folds, add_formats, add_out, figure_formats, writable_folder
from forgrad_viz.cli.outputs import DEFAULT_FOLDS, output_stem, sweep_table, weights_text, write_sweep
from forgrad_viz.cli.overwrite import add_overwrite, refuse_overwrite


def add_parser(commands: Any) -> None:
    """Add the ``merge`` subcommand to the subparsers ``commands``."""
    merge = commands.add_parser(
        "merge",
        help="combine the JSON results of sweep shards into one sweep per method",
        description="Combine CutoffSweep JSON files of disjoint image shards (from sweep --shard i/n, named "
        "MODEL_METHOD_shard-i-of-n.json): files are grouped by model and method and merged in image order; prints "
        "and writes the held-out gain first, as sweep does: MODEL_METHOD.json, .csv, _curves.csv, .md and figures.",
    )
    merge.add_argument("inputs", nargs="+", help="shard JSON files or folders holding them")
    add_out(merge, "forgrad_viz_merged")
    add_overwrite(merge)
    add_folds(merge, DEFAULT_FOLDS)
    add_formats(merge, optional=True)
    merge.set_defaults(func=run)


def _shard_files(inputs: Sequence[str]) -> list[Path]:
    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():  # the shards' files (MODEL_METHOD_shard-i-of-n.json), else every JSON file
            found = [p for p in path.glob("*_shard-*-of-*.json") if p.is_file()]
            files += sorted(found or (p for p in path.glob("*.json") if p.is_file()))
        elif path.is_file():
            files.append(path)
        else:
            raise CliError(f"no such file or folder: {item}")
    if not files:
        raise CliError("no JSON files to merge")
    return files


def merge_sweeps(paths: Sequence[str | Path]) -> dict[str, Any]:
    """Load CutoffSweep JSON files, group them by (model, method), and merge each group.

    The merged ``params["forward_passes"]`` and ``params["job_forward_passes"]`` (and their splits by stage) are
    the shards' sums, its
    ``params["skipped_images"]`` their union. Shards whose weights (``params["weights"]``) or settings
    (``params["signature"]``) differ are refused.

    Examples
    --------
    >>> merge_sweeps([])
    {}
    """
    from forgrad_viz.results import CutoffSweep

    groups: dict[tuple[str, str], list[Any]] = {}
    for path in paths:
        try:
            sweep = CutoffSweep.load(path)
        except (KeyError, json.JSONDecodeError) as error:
            raise CliError(f"{path} is not a CutoffSweep JSON file ({error})") from None
        groups.setdefault((sweep.model_name, sweep.method), []).append(sweep)
    merged = {}
    for (model, method), parts in groups.items():
        weights = {weights_text(p.params.get("weights")) for p in parts}
        if len(weights) > 1:
            raise CliError(
                f"the shards of {model or 'the model'} / {method} have different weights: {sorted(weights)}"
            )
        if len({json.dumps(p.params.get("signature"), sort_keys=True) for p in parts}) > 1:
            raise CliError(f"the shards of {model or 'the model'} / {method} were run with other settings")
        sweep = CutoffSweep.merge(parts)
        sweep.params["forward_passes"] = sum(int(p.params.get("forward_passes", 0)) for p in parts)
        sweep.params["forward_passes_by_stage"] = _summed_stages(parts, "forward_passes_by_stage")
        if all(
            "job_forward_passes" in p.params for p in parts
        ):  # the whole job's, resumed checkpoints included
            sweep.params["job_forward_passes"] = sum(int(p.params["job_forward_passes"]) for p in parts)
            sweep.params["job_forward_passes_by_stage"] = _summed_stages(parts, "job_forward_passes_by_stage")
        skipped = {path for part in parts for path in part.params.get("skipped_images", [])}
        sweep.params["skipped_images"] = sorted(skipped)
        merged[method if len({m for _, m in groups}) == len(groups) else f"{sweep.model_name}_{method}"] = (
            sweep
        )
    return merged


def _summed_stages(parts: list[Any], key: str) -> dict[str, int]:
    """The shards' forward passes by stage (``params[key]``), summed."""
    stages: dict[str, int] = {}
    for part in parts:
        for stage, value in part.params.get(key, {}).items():
            stages[stage] = stages.get(stage, 0) + int(value)
    return dict(sorted(stages.items()))


def run(args: argparse.Namespace) -> int:
    """Run ``forgrad-viz merge``: merge the shards and write, per model and method, the outputs of ``sweep``."""
    formats = figure_formats(args)
    files = _shard_files(args.inputs)
    out = writable_folder(args.out)
    merged = merge_sweeps(files)
    stems = {name: output_stem(sweep.model_name, sweep.method) for name, sweep in merged.items()}
    for name, sweep in merged.items():
        refuse_overwrite(out, stems[name], sweep.params.get("signature"), args.overwrite)
    written = []
    for name, sweep in merged.items():
        written += write_sweep(sweep, out, stems[name], formats, args.folds)
    print(sweep_table(list(merged.values()), args.folds))
    images = {int(i) for sweep in merged.values() for i in sweep.image_ids}
    print(
        f"merged {len(files)} files: {len(images)} images, {len(merged)} sweeps ({', '.join(merged)}); wrote "
        f"{len(written)} files to {out}/"
    )
    return 0
