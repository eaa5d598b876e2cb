"""SweepBrowser: its order is the held-out gain computed independently, its maps and curves are the metrics', and
browsing (changing the image menu's value) never calls the model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import forgrad_viz as fv
from forgrad_viz.attribution import explain
from forgrad_viz.filters import forgrad
from forgrad_viz.metrics import auc, perturbation_curves
from forgrad_viz.results import CutoffSweep
from forgrad_viz.widgets import SweepBrowser

CUTOFFS = [2.0, 4.0, 8.0, 16.0]
STEPS = 4
FIRST_ID = 2  # the sweep holds images 2..13 of the set: its image_ids are not its positions
N_SET = 14


class Counting(nn.Module):
    """A model that counts its forward calls."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.inner(x)


@pytest.fixture(scope="module")
def model() -> nn.Module:
    return fv.models.load_demo("maxpool_cnn")


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return fv.data.shapes_dataset(N_SET, size=64, seed=5).images


@pytest.fixture(scope="module")
def sweep(model, images) -> CutoffSweep:
    return fv.sweep_cutoffs(
        model,
        images[FIRST_ID:],
        cutoffs=CUTOFFS,
        metrics=("deletion", "insertion"),
        steps=STEPS,
        image_ids=np.arange(FIRST_ID, N_SET),
        model_name="maxpool_cnn",
        progress=False,
    )


@pytest.fixture(scope="module")
def browser(model, images, sweep) -> SweepBrowser:
    return SweepBrowser(sweep, images, model, show=2, n_boot=200)


def _independent_held_out(
    sweep: CutoffSweep, metric: str, fold_of_image: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Per-image gain at the sigma* chosen on the other folds, from the sweep's scores (NumPy, given the folds)."""
    scores, unfiltered = sweep.scores[metric], sweep.unfiltered[metric]
    gains = scores - unfiltered if sweep.higher_is_better[metric] else unfiltered - scores  # (S, N)
    per_image, sigma = np.empty(sweep.n_images), np.empty(sweep.n_images)
    for fold in np.unique(fold_of_image):
        inside = fold_of_image == fold
        best = int(np.argmax(gains[:, ~inside].mean(axis=1)))
        per_image[inside] = gains[best, inside]
        sigma[inside] = sweep.cutoffs[best]
    return per_image, sigma


@pytest.mark.parametrize("metric", ["insertion", "deletion"])
def test_order_is_the_independent_held_out_gain(model, images, sweep, metric):
    browser = SweepBrowser(sweep, images, model, metric=metric, show=3, folds=3, n_boot=200)
    folds = browser.held_out.fold_of_image
    assert sorted(np.bincount(folds).tolist()) == [4, 4, 4]  # a balanced partition of the 12 images
    per_image, sigma = _independent_held_out(sweep, metric, folds)
    expected = sweep.image_ids[np.argsort(-per_image, kind="stable")]
    np.testing.assert_array_equal(browser.ranked_ids, expected)
    np.testing.assert_allclose(browser.ranked_gains, np.sort(per_image)[::-1], rtol=0, atol=1e-12)
    assert np.all(np.diff(browser.ranked_gains) <= 0)
    assert browser.shown_ids == [*expected[:3].tolist(), *expected[-3:].tolist()]
    assert [value for _, value in browser.image_select.options] == browser.shown_ids
    position = {int(i): p for p, i in enumerate(sweep.image_ids)}
    for rank, image_id in enumerate(browser.shown_ids[:3], start=1):
        item = browser.shown[image_id]
        assert item.rank == rank
        assert item.sigma_star == sigma[position[image_id]]
        assert item.gain == pytest.approx(per_image[position[image_id]], abs=1e-12)
    assert browser.shown[browser.shown_ids[-1]].rank == sweep.n_images


def test_browsing_shows_the_metrics_maps_and_curves_without_calling_the_model(model, images, sweep):
    counting = Counting(model).eval()
    browser = SweepBrowser(sweep, images, counting, show=2, n_boot=200)
    calls = counting.calls
    assert calls > 0, "construction must explain the shown images and compute their curves"
    shown_pngs = set()
    for image_id in reversed(browser.shown_ids):
        browser.image_select.value = image_id
        assert browser.image_id == image_id
        item = browser.current
        image = images[image_id : image_id + 1]
        target = int(model(image).argmax(1))  # the sweep explained the predicted class
        assert item.target == target
        attributions = explain(model, image, [target], method="saliency")
        np.testing.assert_allclose(
            browser.raw_map, attributions.mean(1).abs()[0].numpy(), rtol=1e-5, atol=1e-7
        )
        expected = forgrad(attributions, item.sigma_star)
        np.testing.assert_allclose(browser.filtered_map, expected[0].numpy(), rtol=1e-5, atol=1e-7)
        maps = torch.stack([attributions.mean(1).abs(), expected])  # (2, 1, H, W)
        for mode in ("deletion", "insertion"):
            x, curves = perturbation_curves(model, image, maps, [target], mode=mode, steps=STEPS)
            data = browser.curve_data[mode]
            np.testing.assert_allclose(data["x"], x.numpy(), rtol=0, atol=1e-12)
            np.testing.assert_allclose(data["raw"], curves[0, 0].numpy(), rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(data["forgrad"], curves[1, 0].numpy(), rtol=1e-5, atol=1e-6)
        assert f"image {image_id}" in browser.info.value
        shown_pngs.add(browser.filtered_view.value)
    assert counting.calls == calls, "browsing must not call the model"
    assert len(shown_pngs) == len(browser.shown_ids)
    assert browser.last_error is None


def test_recomputed_curves_give_the_sweeps_aucs(browser, sweep):
    position = {int(i): p for p, i in enumerate(sweep.image_ids)}
    for image_id, item in browser.shown.items():
        column = CUTOFFS.index(item.sigma_star)
        for mode, (raw, filtered) in item.auc().items():
            assert raw == pytest.approx(sweep.unfiltered[mode][position[image_id]], abs=1e-5)
            assert filtered == pytest.approx(sweep.scores[mode][column, position[image_id]], abs=1e-5)
        x = torch.from_numpy(item.x)
        assert item.auc()["insertion"][1] == pytest.approx(
            float(auc(x, torch.from_numpy(item.curves["insertion"][1])))
        )


def test_a_saved_sweep_a_dataset_and_precomputed_attributions(model, images, sweep, browser, tmp_path):
    from_tensor = browser
    path = sweep.save(tmp_path / "sweep.json")
    from_file = SweepBrowser(str(path), TensorDataset(images), model, show=2, n_boot=200)
    assert from_file.shown_ids == from_tensor.shown_ids
    for image_id in from_tensor.shown_ids:
        a, b = from_tensor.shown[image_id], from_file.shown[image_id]
        np.testing.assert_allclose(b.filtered_map, a.filtered_map, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(b.curves["insertion"], a.curves["insertion"], rtol=1e-6, atol=1e-9)
    attributions = explain(model, images, method="saliency")
    maps_only = SweepBrowser(sweep, images, attributions=attributions, show=2, n_boot=200)
    for image_id in maps_only.shown_ids:
        maps_only.image_select.value = image_id
        np.testing.assert_allclose(
            maps_only.filtered_map, from_tensor.shown[image_id].filtered_map, rtol=1e-5, atol=1e-7
        )
        assert maps_only.curve_data == {} and maps_only.current.target is None
    by_id = {i: attributions[i] for i in maps_only.shown_ids}
    assert (
        SweepBrowser(sweep, images, attributions=by_id, show=2, n_boot=200).shown_ids == maps_only.shown_ids
    )


def test_metric_options_override_the_sweeps_protocol(model, images, sweep):
    browser = SweepBrowser(sweep, images, model, show=1, n_boot=200, metric_options={"steps": 2})
    for item in browser.shown.values():
        np.testing.assert_allclose(item.x, [0.0, 0.5, 1.0])
        assert item.curves["deletion"].shape == (2, 3)


def test_export_and_display(browser, tmp_path):
    figure = browser.current_figure()
    assert isinstance(figure, Figure) and len(figure.axes) == 5
    paths = browser.export(tmp_path / "browser", formats=("png",))
    assert paths[0].read_bytes().startswith(b"\x89PNG")
    assert "application/vnd.jupyter.widget-view+json" in browser._repr_mimebundle_()


def test_bad_input_raises(model, images, sweep, tmp_path):
    with pytest.raises(TypeError, match="sweep must be a CutoffSweep"):
        SweepBrowser({"method": "saliency"}, images, model)
    with pytest.raises(FileNotFoundError):
        SweepBrowser(tmp_path / "missing.json", images, model)
    with pytest.raises(ValueError, match="metric must be one of"):
        SweepBrowser(sweep, images, model, metric="mufidelity")
    with pytest.raises(ValueError, match="show must be"):
        SweepBrowser(sweep, images, model, show=0)
    with pytest.raises(ValueError, match="images must hold the sweep's whole image set"):
        SweepBrowser(sweep, images[:10], model)
    with pytest.raises(TypeError, match="images must be a tensor"):
        SweepBrowser(sweep, DataLoader(TensorDataset(images)), model)
    with pytest.raises(ValueError, match="needs a model"):
        SweepBrowser(sweep, images)
    with pytest.raises(ValueError, match="attributions must be maps"):
        SweepBrowser(sweep, images, attributions=torch.rand(N_SET, 3, 32, 32))
    with pytest.raises(ValueError, match="attributions lacks"):
        SweepBrowser(sweep, images, attributions={0: torch.rand(3, 64, 64)})
    with pytest.raises(ValueError, match="targets must be"):
        SweepBrowser(sweep, images, model, targets=[0, 1])
    with pytest.raises(ValueError, match="cmap"):
        SweepBrowser(sweep, images, model, cmap="nope")
    with pytest.raises(ValueError, match="metric_options"):
        SweepBrowser(sweep, images, model, metric_options={"stepz": 3})
    described = CutoffSweep.from_dict(
        {**sweep.to_dict(), "params": {**sweep.params, "deletion_baseline": "Tensor"}}
    )
    with pytest.raises(ValueError, match="saved as a description"):
        SweepBrowser(described, images, model, show=1)
    with pytest.raises(ValueError, match="folds"):
        SweepBrowser(sweep, images, model, folds=1)
