"""``padding`` through the sweeps: the scores are the metrics of the padded FORGrad maps, recorded in params and
in the checkpoint's signature; None is the periodic sweep, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from forgrad_viz.filters import forgrad, frequency_mask
from forgrad_viz.metrics import deletion, insertion
from forgrad_viz.sweep import compare_architectures, sweep_cutoffs
from forgrad_viz.sweep.sweeper import representatives

CUTOFFS = [1.0, 1.2, 3.0, 8.0]  # 1 and 1.2 keep the same bins of a 16 x 16 map, not of the padded 32 x 32


def small_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, 3)
    ).eval()


def images(n: int = 4, size: int = 16) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(1))


def _sweep(padding: str | None, **kwargs) -> object:
    model, x = small_net(), images()
    attributions = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    return sweep_cutoffs(
        model,
        x,
        targets=0,
        cutoffs=CUTOFFS,
        metrics=("deletion", "insertion"),
        attributions=attributions,
        steps=4,
        padding=padding,
        progress=False,
        **kwargs,
    )


@pytest.mark.parametrize("padding", ["reflect", "zero"])
def test_padded_sweep_scores_the_padded_maps(padding: str) -> None:
    sweep = _sweep(padding)
    assert sweep.params["padding"] == padding and sweep.params["image_size"] == [16, 16]
    assert sweep.image_size == (16, 16)
    model, x = small_net(), images()
    attributions = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    for i, cutoff in enumerate(CUTOFFS):
        maps = forgrad(attributions, cutoff, padding=padding)
        np.testing.assert_allclose(
            sweep.scores["deletion"][i], deletion(model, x, maps, 0, steps=4).scores, atol=1e-6
        )
        np.testing.assert_allclose(
            sweep.scores["insertion"][i], insertion(model, x, maps, 0, steps=4).scores, atol=1e-6
        )
    # 1 and 1.2 are different filters once padded: their maps differ, and so may their scores
    assert not torch.equal(
        forgrad(attributions, 1.0, padding=padding), forgrad(attributions, 1.2, padding=padding)
    )


def test_padding_none_is_the_default_sweep_bit_for_bit() -> None:
    default, none = _sweep(None).to_dict(), _sweep(None).to_dict()
    assert default == none and default["params"]["padding"] is None


def test_representatives_compare_the_filters_of_the_padded_map() -> None:
    grid = np.array(CUTOFFS)
    assert representatives(grid, 16, 16, "ideal", 2) == [0, 0, 2, 3]
    assert representatives(grid, 16, 16, "ideal", 2, "reflect") == [0, 1, 2, 3]
    padded = frequency_mask(32, 32, [2.0, 2.4])  # the same cutoffs in cycles per padded image
    assert not torch.equal(padded[0], padded[1])


def test_padding_enters_the_checkpoint_signature(tmp_path) -> None:
    path = tmp_path / "sweep.ckpt"
    _sweep(None, checkpoint=path)
    with pytest.raises(ValueError, match="different sweep"):
        _sweep("reflect", checkpoint=path)


def test_compare_architectures_records_padding() -> None:
    comparison = compare_architectures(
        {"a": small_net()},
        images(3),
        metrics=("insertion",),
        references=(),
        cutoffs=[2.0, 4.0],
        steps=3,
        padding="zero",
        progress=False,
    )
    assert comparison.sweeps["a"]["saliency"].params["padding"] == "zero"


@pytest.mark.parametrize("padding", ["mirror", True])
def test_bad_padding_is_refused_before_any_forward_pass(padding: object) -> None:
    class Refuses(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise AssertionError("no forward pass before the arguments are checked")

    with pytest.raises(ValueError, match="padding"):
        sweep_cutoffs(Refuses(), images(2), cutoffs=[2.0], padding=padding, progress=False)
