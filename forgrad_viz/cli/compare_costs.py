"""What a map costs: seconds per image of each method's attribution, measured on a few images after the sweep."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

#: Images timed per method (after one warm-up call on the first of them).
TIMED_IMAGES = 4


def seconds_per_image(
    model: Any,
    images: Any,
    methods: Sequence[str],
    options: Mapping[str, Mapping[str, Any]],
    precision: str,
    backend: str,
) -> dict[str, float]:
    """Wall seconds per image of ``explain`` for each method on ``images`` (N, 3, H, W), the predicted class:
    white-box methods on the model in fp32, black-box ones on the scoring model (as a sweep runs them). The
    filter itself (FORGrad) costs about a millisecond per map on top of its method.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    >>> costs = seconds_per_image(net, torch.rand(2, 3, 8, 8), ["saliency"], {}, "fp32", "torch")
    >>> costs["saliency"] > 0
    True
    """
    from forgrad_viz.attribution import METHODS, explain
    from forgrad_viz.scoring import scoring_model

    costs = {}
    for method in methods:
        runner = model if METHODS[method].kind != "black-box" else scoring_model(model, precision, backend)
        explain(runner, images[:1], method=method, **options.get(method, {}))  # warm-up: exports, kernels
        start = time.perf_counter()
        explain(runner, images, method=method, **options.get(method, {}))
        costs[method] = (time.perf_counter() - start) / images.shape[0]
    return costs
