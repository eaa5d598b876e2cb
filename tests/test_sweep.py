"""Tests of forgrad_viz.sweep: cutoff sweeps, resume, refine search and architecture comparisons."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from forgrad_viz.attribution import explain
from forgrad_viz.filters import default_cutoffs, forgrad, max_cutoff
from forgrad_viz.metrics import deletion, insertion, mufidelity
from forgrad_viz.models import load_demo
from forgrad_viz.results import ArchitectureComparison, CutoffSweep
from forgrad_viz.sweep import compare_architectures, scoring, search, sweep_cutoffs, sweeper

MUFI = {"grid_size": 4, "n_subsets": 16}


def small_net(seed: int = 0, classes: int = 3) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(32, classes),
    ).eval()


def images(n: int = 5, size: int = 16, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def without_passes(sweep: CutoffSweep) -> dict:
    data = sweep.to_dict()
    data["params"] = {k: v for k, v in data["params"].items() if "forward_passes" not in k}
    return data


@pytest.mark.slow
def test_sweep_equals_metrics_called_cutoff_by_cutoff():
    model, x = small_net(), images(5)
    cutoffs = [1.5, 3.0, 6.0, 11.5]
    sweep = sweep_cutoffs(
        model, x, cutoffs=cutoffs, steps=4, mufidelity=MUFI, block_size=3, progress=False, model_name="net"
    )
    targets = model(x).argmax(dim=1)
    attributions = explain(model, x, targets)
    for i, cutoff in enumerate(cutoffs):
        maps = forgrad(attributions, cutoff)
        expected = {
            "deletion": deletion(model, x, maps, targets, steps=4).scores,
            "insertion": insertion(model, x, maps, targets, steps=4).scores,
            "mufidelity": mufidelity(model, x, maps, targets, **MUFI).scores,
        }
        for metric, values in expected.items():
            np.testing.assert_allclose(sweep.scores[metric][i], values, atol=1e-6, rtol=0)
    raw = attributions.mean(dim=1).abs()
    np.testing.assert_allclose(
        sweep.unfiltered["deletion"], deletion(model, x, raw, targets, steps=4).scores, atol=1e-6
    )
    np.testing.assert_allclose(
        sweep.unfiltered["mufidelity"], mufidelity(model, x, raw, targets, **MUFI).scores, atol=1e-6
    )
    assert sweep.scores["deletion"].shape == (4, 5)
    assert sweep.model_name == "net" and sweep.image_ids.tolist() == [0, 1, 2, 3, 4]
    assert sweep.params["forward_passes"] == sum(sweep.params["forward_passes_by_stage"].values())


def test_default_grid_and_identical_filters_scored_once():
    model, x = small_net(), images(3, size=32)
    sweep = sweep_cutoffs(model, x, metrics=("deletion",), steps=2, progress=False)
    np.testing.assert_array_equal(sweep.cutoffs, default_cutoffs(32, 32))  # one per distinct ideal filter
    assert sweep.cutoffs.shape == (19,) and sweep.cutoffs[0] == 1.0
    assert sweep.cutoffs[-1] == pytest.approx(max_cutoff(32, 32))
    # on a log grid of 24, 1.0 and the next value keep the same DFT bins: same maps, same scores, scored once
    grid = np.geomspace(1.0, max_cutoff(32, 32), 24)
    sweep = sweep_cutoffs(model, x, cutoffs=grid, metrics=("deletion",), steps=2, progress=False)
    np.testing.assert_array_equal(sweep.scores["deletion"][0], sweep.scores["deletion"][1])
    n_distinct = len(set(sweeper.representatives(grid, 32, 32, "ideal", 2)))
    assert n_distinct == 19
    per_map = 3 * (2 - 1)  # images x interior steps
    assert sweep.params["forward_passes_by_stage"]["curves"] == (n_distinct + 1) * per_map + 2 * 3


def test_sweep_reuses_given_attributions_and_restores_model():
    model, x = small_net(), images(4)
    model.train()
    attributions = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    before = attributions.clone()
    sweep = sweep_cutoffs(
        model,
        x,
        targets=[0, 1, 2, 0],
        cutoffs=[2.0, 5.0],
        metrics=("mufidelity",),
        attributions=attributions,
        mufidelity=MUFI,
        progress=False,
    )
    assert model.training and all(m.training for m in model.modules())
    assert not any(m._forward_hooks for m in model.modules())
    torch.testing.assert_close(attributions, before)
    assert "attributions" not in sweep.params["forward_passes_by_stage"]
    expected = mufidelity(model.eval(), x, forgrad(attributions, 5.0), [0, 1, 2, 0], **MUFI).scores
    np.testing.assert_allclose(sweep.scores["mufidelity"][1], expected, atol=1e-6)


class LinearScore(nn.Module):
    """logit_0 = <w, x> (summed over channels), logit_1 = -logit_0."""

    def __init__(self, weights: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("w", weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value = (x * self.w).sum(dim=(1, 2, 3))
        return torch.stack([value, -value], dim=1)


def test_best_cutoff_on_synthetic_case_with_known_optimum():
    # A linear model whose exact attribution is a smooth positive blob (spectrum within ~3 cycles per image);
    # the given maps multiply it by (1 + a * checkerboard): noise around the highest frequency of the grid
    # (radius max_cutoff = 22.6). Mid cutoffs keep the blob and remove the noise, so Deletion reaches the score
    # of the exact attribution (the known optimum); low cutoffs blur the blob (ringing changes the ranking) and
    # the unfiltered map keeps the noise. So sigma* and its interval lie inside the mid band.
    size, n = 32, 8
    yy, xx = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    blob = torch.exp(-((yy - 15.5) ** 2 + (xx - 15.5) ** 2) / (2 * 5.0**2))
    model = LinearScore(blob.expand(3, size, size).clone())
    x = torch.ones(n, 3, size, size)
    checker = ((yy + xx) % 2) * 2 - 1
    amplitude = torch.linspace(0.3, 0.9, n).reshape(n, 1, 1)
    attributions = blob * (1 + amplitude * checker)
    cutoffs = default_cutoffs(size, size, n=16)  # 1, 1.23, ..., 8, 9.85, 12.1, 14.9, 18.4, 22.6
    sweep = sweep_cutoffs(
        model,
        x,
        targets=0,
        cutoffs=cutoffs,
        metrics=("deletion",),
        attributions=attributions,
        score="logit",
        steps=64,
        progress=False,
    )
    optimum = deletion(model, x, blob.expand(n, size, size), 0, steps=64, score="logit").mean()
    best = sweep.best_cutoff("deletion")
    band = (8.0 - 1e-9, 18.4)
    assert best.score == pytest.approx(optimum, rel=1e-6)
    assert band[0] <= best.low <= best.cutoff <= best.high <= band[1]
    means = sweep.mean("deletion")
    assert means[0] > optimum + 1.0 and means[-1] > optimum + 10.0
    assert best.unfiltered > optimum + 10.0


def test_resume_after_interruption_gives_identical_result_with_fewer_passes(tmp_path, monkeypatch):
    model, x = small_net(), images(6)
    kwargs = dict(cutoffs=[1.5, 3.0, 6.0, 11.5], steps=3, mufidelity=MUFI, block_size=2, progress=False)
    reference = sweep_cutoffs(model, x, **kwargs)

    real = scoring.curves_and_ranking
    calls = {"n": 0}

    def interrupted(*args, **kw):
        calls["n"] += 1
        if calls["n"] > 3:
            raise KeyboardInterrupt
        return real(*args, **kw)

    path = tmp_path / "ckpt.json"
    monkeypatch.setattr(scoring, "curves_and_ranking", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sweep_cutoffs(model, x, checkpoint=path, **kwargs)
    assert path.is_file()
    monkeypatch.setattr(scoring, "curves_and_ranking", real)
    resumed = sweep_cutoffs(model, x, checkpoint=path, **kwargs)
    assert without_passes(resumed) == without_passes(reference)
    assert 0 < resumed.params["forward_passes"] < reference.params["forward_passes"]
    # a finished checkpoint answers without any forward pass; another sweep cannot use it
    again = sweep_cutoffs(model, x, checkpoint=path, **kwargs)
    assert again.params["forward_passes"] == 0 and without_passes(again) == without_passes(reference)
    with pytest.raises(ValueError, match="different sweep"):
        sweep_cutoffs(model, x, checkpoint=path, **{**kwargs, "steps": 4})


@pytest.mark.slow
def test_shards_merge_to_the_unsharded_sweep_exactly():
    model, x = small_net(), images(6)
    kwargs = dict(cutoffs=[2.0, 5.0], steps=3, mufidelity=MUFI, block_size=2, progress=False)
    whole = sweep_cutoffs(model, x, **kwargs)
    parts = [
        sweep_cutoffs(model, x[rows], image_ids=list(range(6))[rows], **kwargs)
        for rows in (slice(4, 6), slice(0, 4))
    ]
    merged = CutoffSweep.merge(parts)
    for metric in whole.metrics:
        np.testing.assert_array_equal(merged.scores[metric], whole.scores[metric])
        np.testing.assert_array_equal(merged.unfiltered[metric], whole.unfiltered[metric])


@pytest.mark.slow
def test_refine_finds_the_grid_optimum_with_three_times_fewer_forward_passes():
    try:
        model = load_demo("maxpool_cnn")
    except FileNotFoundError as error:
        pytest.skip(f"demo weights not shipped: {error}")
    from forgrad_viz.data import shapes_dataset

    x = shapes_dataset(32, seed=7).images
    kwargs = dict(metrics=("deletion",), steps=10, progress=False)
    grid = sweep_cutoffs(model, x, **kwargs)
    refine = sweep_cutoffs(model, x, search="refine", **kwargs)
    full = list(grid.cutoffs)
    assert (
        abs(
            full.index(refine.best_cutoff("deletion").cutoff)
            - full.index(grid.best_cutoff("deletion").cutoff)
        )
        <= 1
    )
    assert grid.params["forward_passes"] >= 3 * refine.params["forward_passes"]
    # the cutoffs refine scored have exactly the grid's scores
    rows = [full.index(c) for c in refine.cutoffs]
    np.testing.assert_allclose(refine.scores["deletion"], grid.scores["deletion"][rows], atol=1e-6)


def test_refine_search_logic_finds_any_unimodal_peak():
    n = 24
    for peak in range(n):
        evaluated = sorted({round(0.382 * (n - 1)), round(0.618 * (n - 1))})
        while True:
            best = max(evaluated, key=lambda i: -abs(i - peak))
            point = search.next_point(best, evaluated, n)
            if point is None:
                break
            assert point not in evaluated
            evaluated = sorted({*evaluated, point})
        assert abs(best - peak) <= 1
        assert len(evaluated) <= 6


def test_compare_architectures_shares_work_and_scores_references():
    models = {"a": small_net(0), "b": small_net(1)}
    x = images(4)
    refs = {"rise": {"n_masks": 32}, "occlusion": {"window": 8, "stride": 4}}
    comparison = compare_architectures(
        models,
        x,
        metrics=("deletion", "mufidelity"),
        cutoffs=[2.0, 6.0],
        steps=3,
        mufidelity=MUFI,
        reference_options=refs,
        progress=False,
    )
    assert isinstance(comparison, ArchitectureComparison)
    for name, model in models.items():
        alone = sweep_cutoffs(
            model,
            x,
            cutoffs=[2.0, 6.0],
            metrics=("deletion", "mufidelity"),
            steps=3,
            mufidelity=MUFI,
            progress=False,
            model_name=name,
        )
        got = comparison.sweeps[name]["saliency"]
        for metric in alone.metrics:
            np.testing.assert_allclose(got.scores[metric], alone.scores[metric], atol=1e-6)
        targets = model(x).argmax(dim=1)
        for ref, options in refs.items():
            maps = explain(model, x, targets, ref, **options).mean(dim=1).abs()
            expected = deletion(model, x, maps, targets, steps=3).scores
            np.testing.assert_allclose(comparison.references[name][ref]["deletion"], expected, atol=1e-6)
            np.testing.assert_array_equal(
                got.references[ref]["deletion"], comparison.references[name][ref]["deletion"]
            )
    rows = comparison.rows()
    assert {(r["model"], r["method"]) for r in rows} == {
        (m, k) for m in models for k in ("saliency", "rise", "occlusion")
    }
    assert "| a | saliency | deletion |" in comparison.to_markdown()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"metrics": ("accuracy",)}, ValueError, "metrics"),
        ({"cutoffs": [4.0, 2.0]}, ValueError, "ascending"),
        ({"cutoffs": [0.0, 2.0]}, ValueError, "positive"),
        ({"search": "random"}, ValueError, "search"),
        ({"method": "lime"}, ValueError, "method"),
        ({"kind": "box"}, ValueError, "kind"),
        ({"method_options": {"n_steps": 4}}, TypeError, "saliency"),
        ({"mufidelity": {"grid": 3}}, TypeError, "mufidelity"),
        ({"image_ids": [0, 0, 1]}, ValueError, "image_ids"),
        ({"attributions": torch.zeros(2, 16, 16)}, ValueError, "attributions"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        sweep_cutoffs(small_net(), images(3), progress=False, **kwargs)
