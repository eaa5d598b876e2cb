"""Scoring maps with the metrics of the protocol, block by block, and the unfiltered map scored next to them.

The endpoints of the Deletion/Insertion curves (the image's and the baseline's scores) are shared by all the maps
scored in one call of :func:`~forgrad_viz.metrics.perturbation_curves`; MuFidelity reuses the block's perturbed
predictions (:class:`~forgrad_viz.sweep.blocks.Block`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from forgrad_viz.metrics import auc, mufidelity_scores
from forgrad_viz.metrics.curves import curves_and_ranking
from forgrad_viz.sweep.blocks import Block
from forgrad_viz.sweep.forward_counter import ForwardCounter
from forgrad_viz.sweep.protocol import Protocol

#: What a sweep's unfiltered map is (stored in the result's ``params``).
UNFILTERED = "abs(channel mean) of the attributions: the FORGrad pipeline without the low-pass"


def unfiltered(attributions: torch.Tensor) -> torch.Tensor:
    """abs(channel mean) of (N, C, H, W) attributions (abs of (N, H, W)): the map FORGrad filters."""
    maps = attributions.mean(dim=1) if attributions.dim() == 4 else attributions
    return maps.abs()


class Scorer:
    """Scores maps of a block with every metric, sharing the block's targets and MuFidelity work."""

    def __init__(self, model: nn.Module, protocol: Protocol, counter: ForwardCounter) -> None:
        self.model = model
        self.protocol = protocol
        self.counter = counter

    def score(self, block: Block, maps: torch.Tensor) -> dict[str, np.ndarray]:
        """Scores of maps (k, n, H, W) of one block: metric -> (k, n) float64."""
        protocol = self.protocol
        out: dict[str, np.ndarray] = {}
        ranking = None  # Deletion's and Insertion's ranking of the maps: the same, computed once
        for metric in protocol.metrics:
            if metric == "mufidelity":
                assert block.perturbations is not None
                values = mufidelity_scores(maps, block.perturbations)
            else:
                baseline = protocol.deletion_baseline if metric == "deletion" else protocol.insertion_baseline
                with self.counter.stage("curves"):
                    x, curves, ranking = curves_and_ranking(
                        self.model,
                        block.images,
                        maps,
                        block.targets,
                        mode=metric,
                        steps=protocol.steps,
                        baseline=baseline,
                        score=protocol.score,
                        batch_size=protocol.batch_size,
                        precision=protocol.precision,
                        backend=protocol.backend,
                        ranking=ranking,
                    )
                values = auc(x, curves)
            out[metric] = values.double().cpu().numpy()
        return out
