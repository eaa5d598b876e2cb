"""``forgrad-viz bench``: run a benchmark of :mod:`forgrad_viz.benchmarks` and print (and save) its report."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from forgrad_viz.cli.options import CliError, positive_int

_BENCHMARKS = ("filter", "metrics", "sweep", "widget", "policies", "scoring")


def add_parser(commands: Any) -> None:
    """Add the ``bench`` subcommand to the subparsers ``commands``."""
    bench = commands.add_parser(
        "bench",
        help="time the filter, the metrics or a sweep against baselines in the same process",
        description="Run forgrad_viz.benchmarks.<name>.run(...) and print its report.",
    )
    bench.add_argument("name", choices=_BENCHMARKS, help="what to time")
    bench.add_argument("--device", help="torch device (default: the benchmark's)")
    bench.add_argument("--n-images", type=positive_int, help="number of images (default: the benchmark's)")
    bench.add_argument("--repeats", type=positive_int, help="timing repeats (default: the benchmark's)")
    bench.add_argument(
        "--threads", type=positive_int, help="torch CPU threads (filter, widget; default: torch's)"
    )
    bench.add_argument(
        "--model",
        help="sweep, scoring: a demo model or a pretrained one (efficientnet_lite0: photographs at 224 x 224)",
    )
    bench.add_argument(
        "--images",
        metavar="DIR",
        help="scoring only: a folder of photographs (the first --n-images, through the model's transform)",
    )
    bench.add_argument(
        "--compile",
        action="store_true",
        help="scoring only: also time torch.compile fp32 (compiling takes 30-60 s on a CPU)",
    )
    bench.add_argument(
        "--load",
        type=positive_int,
        metavar="K",
        help="also run the benchmark with K busy processes and print loaded/idle for every timing "
        "(policies: the number of busy processes started before its loaded runs; scoring: started mid-run)",
    )
    bench.add_argument(
        "--precision",
        choices=("fp32", "bf16", "fp16"),
        help="sweep only: precision of the scoring forward passes (default fp32)",
    )
    bench.add_argument(
        "--backend",
        choices=("torch", "onnxruntime"),
        help="sweep only: backend of the scoring forward passes (default torch; the floor runs the same)",
    )
    bench.add_argument("--json", metavar="OUT", help="also write the result as JSON to OUT")
    bench.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``forgrad-viz bench``: pass the options the benchmark takes, print its report, write its JSON."""
    import importlib
    import inspect

    try:
        module = importlib.import_module(f"forgrad_viz.benchmarks.{args.name}")
    except ModuleNotFoundError as error:
        raise CliError(f"benchmark {args.name!r} is not available ({error})") from None
    accepted = inspect.signature(module.run).parameters
    images_key = "n_maps" if "n_maps" in accepted else "n_images"  # the filter benchmark times maps
    requested = {
        "device": args.device,
        images_key: args.n_images,
        "repeats": args.repeats,
        "threads": args.threads,
        "model": args.model,
        "images": args.images,
        "compile": True if args.compile else None,
        "precision": args.precision,
        "backend": args.backend,
    }
    ignored = [k for k, v in requested.items() if v is not None and k not in accepted]
    if args.model is not None and args.name not in (
        "sweep",
        "scoring",
    ):  # the metrics benchmark takes a module, not a name
        ignored.append("model")
    if ignored:
        raise CliError(f"bench {args.name} does not take --{ignored[0].replace('_', '-')}")
    options = {k: v for k, v in requested.items() if v is not None}
    if args.load and "busy" in accepted:  # the benchmark starts its busy processes itself
        options["busy"] = args.load
        result = module.run(**options)
        print(module.format_report(result))
    elif args.load:
        from forgrad_viz.benchmarks.load import format_load_report, run_under_load

        measured = run_under_load(lambda: module.run(**options), args.load)
        result = measured
        print(module.format_report(measured["idle"]))
        print(format_load_report(measured))
    else:
        result = module.run(**options)
        print(module.format_report(result))
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(_jsonable(result), indent=1) + "\n")
        print(f"wrote {path}")
    return 0


def _jsonable(value: Any) -> Any:
    import dataclasses

    if hasattr(value, "to_dict"):
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
