"""The notebook explorers driven from Python: every control changes the data on display as it must."""

from __future__ import annotations

import io
import zlib

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import forgrad_viz as fv
from forgrad_viz.attribution import explain
from forgrad_viz.filters import forgrad
from forgrad_viz.metrics import deletion, insertion
from forgrad_viz.results import ArchitectureComparison, CutoffSweep
from forgrad_viz.spectra import radial_spectrum
from forgrad_viz.widgets import CutoffCurveExplorer, ForgradExplorer

SIZE = 32


class CountingNet(nn.Module):
    """A small CNN with max-pooling that counts its forward calls."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 8, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.head(self.features(x))


@pytest.fixture
def model() -> CountingNet:
    return CountingNet().eval()


@pytest.fixture
def images() -> torch.Tensor:
    return torch.rand(4, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))


def _decode(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _expected_map(
    model: nn.Module, images: torch.Tensor, index: int, target: int, method: str
) -> torch.Tensor:
    return explain(model, images[index : index + 1], [target], method=method)


def _make_sweep(
    method: str = "saliency", metrics: tuple[str, ...] = ("insertion",), n: int = 4, seed: int = 0
):
    rng = np.random.default_rng(seed)
    cutoffs = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    bump = np.exp(-((np.log2(cutoffs) - 2.0) ** 2))[:, None]  # peaks at 4
    scores = {m: bump + 0.05 * rng.standard_normal((cutoffs.size, n)) for m in metrics}
    return CutoffSweep(
        method=method,
        kind="gaussian",
        cutoffs=cutoffs,
        metrics=metrics,
        scores=scores,
        unfiltered={m: np.full(n, 0.3) for m in metrics},
        higher_is_better=dict.fromkeys(metrics, True),
        image_ids=np.arange(n),
        model_name="tiny",
        references={"rise": {m: np.full(n, 0.7) for m in metrics}},
    )


# --------------------------------------------------------------------------------------- ForgradExplorer


def test_slider_refilters_and_redraws_without_calling_the_model(model, images):
    explorer = ForgradExplorer(model, images, methods=("saliency", "gradient_input"), cutoff=4.0)
    target = int(explorer.targets[0])
    attributions = _expected_map(model, images, 0, target, "saliency")
    calls = model.calls
    shown = []
    for cutoff in (1.5, 3.0, 6.0, 12.0):
        explorer.cutoff_slider.value = cutoff
        expected = forgrad(attributions, explorer.cutoff)[0].numpy()
        np.testing.assert_allclose(explorer.filtered_map, expected, rtol=1e-5, atol=1e-7)
        frequencies, power = radial_spectrum(expected)
        lines = explorer.spectrum_lines
        np.testing.assert_allclose(lines["filtered"][0], frequencies)
        np.testing.assert_allclose(lines["filtered"][1], power, rtol=1e-5, atol=1e-12)
        assert lines["cutoff"] == pytest.approx(explorer.cutoff)
        assert explorer.last_update_ms > 0
        assert explorer.checksum == f"{zlib.crc32(expected.tobytes()):08x}"
        assert explorer.checksum in explorer.info.value
        shown.append(explorer.filtered_view.value)
    assert model.calls == calls, "moving the cutoff slider must not call the model"
    assert len(set(shown)) == len(shown), "each cutoff must show a different image"
    assert explorer.last_error is None


def test_filtered_image_shows_the_colour_mapped_map(model, images):
    explorer = ForgradExplorer(model, images, methods="saliency", cutoff=5.0)
    explorer.clip_slider.value = 100.0
    explorer.cmap_select.value = "gray"
    shown = _decode(explorer.filtered_view.value)
    factor = shown.shape[0] // SIZE
    assert shown.shape[0] == factor * SIZE >= fv.widgets.DISPLAY_PX
    values = explorer.filtered_map / explorer.filtered_map.max()
    expected = np.round(values * 255.0)  # grey ramp; matplotlib's 256-entry lookup table is off by up to 2
    np.testing.assert_allclose(shown[::factor, ::factor, 0], expected, atol=2.0)
    assert np.abs(shown[::factor, ::factor, 0] - expected).mean() < 0.5


def test_raw_map_and_image_and_method_controls(model, images):
    explorer = ForgradExplorer(model, images, methods=("saliency", "gradient_input"), cutoff=4.0)
    explorer.image_select.value = 2
    target = int(explorer.targets[2])
    expected = _expected_map(model, images, 2, target, "saliency")
    np.testing.assert_allclose(explorer.raw_map, expected.mean(dim=1).abs()[0].numpy(), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(explorer.filtered_map, forgrad(expected, 4.0)[0].numpy(), rtol=1e-5, atol=1e-7)
    raw_frequencies, raw_power = radial_spectrum(explorer.raw_map)
    np.testing.assert_allclose(explorer.spectrum_lines["raw"][0], raw_frequencies)
    np.testing.assert_allclose(explorer.spectrum_lines["raw"][1], raw_power, rtol=1e-6)
    np.testing.assert_allclose(
        _decode(explorer.image_view.value)[:: 192 // SIZE, :: 192 // SIZE],
        np.round(images[2].permute(1, 2, 0).numpy() * 255),
        atol=1.0,
    )

    explorer.method_select.value = "gradient_input"
    expected = _expected_map(model, images, 2, target, "gradient_input")
    np.testing.assert_allclose(explorer.filtered_map, forgrad(expected, 4.0)[0].numpy(), rtol=1e-5, atol=1e-7)
    assert explorer.attribution_calls == 3  # (0, saliency), (2, saliency), (2, gradient_input)

    calls = model.calls
    explorer.method_select.value = "saliency"
    explorer.image_select.value = 0
    assert model.calls == calls, "cached attributions must not be recomputed"
    assert explorer.attribution_calls == 3


def test_filter_kind_and_display_options(model, images):
    explorer = ForgradExplorer(model, images, methods="saliency", cutoff=6.0)
    attributions = explorer.attributions.clone()
    for kind in ("gaussian", "butterworth", "ideal"):
        explorer.kind_select.value = kind
        expected = forgrad(attributions, 6.0, kind=kind)[0].numpy()
        np.testing.assert_allclose(explorer.filtered_map, expected, rtol=1e-5, atol=1e-7)
    before_map, before_png = explorer.filtered_map.copy(), explorer.filtered_view.value
    explorer.cmap_select.value = "viridis"
    assert explorer.filtered_view.value != before_png
    np.testing.assert_array_equal(explorer.filtered_map, before_map)
    explorer.opacity_slider.value = 0.0  # the map fully transparent: the image itself is shown
    np.testing.assert_array_equal(_decode(explorer.filtered_view.value), _decode(explorer.image_view.value))
    assert explorer._spectrum.axes.get_yscale() == "log"
    explorer.log_power.value = False
    assert explorer._spectrum.axes.get_yscale() == "linear"


def test_sigma_star_of_a_sweep_is_marked_and_reachable(model, images):
    sweep = _make_sweep(metrics=("insertion", "deletion"))
    explorer = ForgradExplorer(model, images, methods="saliency", sweep=sweep, metric="insertion")
    best = sweep.best_cutoff("insertion")
    expected = float(sweep.cutoffs[np.argmax(sweep.scores["insertion"].mean(axis=1))])
    assert best.cutoff == expected
    assert f"σ* = {expected:.3g}" in explorer.sigma_label.value and "insertion" in explorer.sigma_label.value
    assert explorer._spectrum.sigma_star.get_visible()
    assert np.asarray(explorer._spectrum.sigma_star.get_xdata())[0] == expected
    explorer.sigma_button.click()
    assert explorer.cutoff == pytest.approx(expected, rel=1e-9)


def test_faithfulness_on_request_matches_the_metrics(model, images):
    explorer = ForgradExplorer(
        model, images, methods="saliency", cutoff=4.0, chunk_size=3, metric_options={"steps": 8}
    )
    explorer.image_select.value = 1
    results = explorer.run_faithfulness("current image")
    maps = forgrad(explorer.attributions, 4.0)
    target = explorer.targets[1:2]
    for name, metric in (("deletion", deletion), ("insertion", insertion)):
        expected = metric(model, images[1:2], maps, target, steps=8)
        np.testing.assert_allclose(results[name].scores, expected.scores, rtol=1e-6)
    assert explorer.faithfulness_view.value and explorer.faithfulness_view.layout.display is None

    results = explorer.run_faithfulness("all images")  # two chunks: 3 + 1 images
    assert explorer.progress.max == 2 and explorer.progress.value == 2
    all_maps = forgrad(
        torch.cat([_expected_map(model, images, i, int(explorer.targets[i]), "saliency") for i in range(4)]),
        4.0,
    )
    expected = insertion(model, images, all_maps, explorer.targets, steps=8)
    np.testing.assert_allclose(results["insertion"].scores, expected.scores, rtol=1e-5)
    np.testing.assert_allclose(results["insertion"].curves, expected.curves, rtol=1e-5, atol=1e-7)


def test_export_writes_the_current_view(model, images, tmp_path):
    explorer = ForgradExplorer(model, images, methods="saliency", export_path=str(tmp_path / "view"))
    explorer.export_button.click()
    assert explorer.last_error is None
    for suffix in ("pdf", "svg", "png"):
        assert (tmp_path / f"view.{suffix}").stat().st_size > 1000
    paths = explorer.export(tmp_path / "other", formats=("png",))
    assert [p.name for p in paths] == ["other.png"]
    figure = explorer.current_figure()
    np.testing.assert_allclose(figure.axes[2].images[0].get_array(), explorer.filtered_map)


def test_errors_in_callbacks_are_shown_in_the_widget(model, images):
    explorer = ForgradExplorer(model, images, methods="saliency", metric_options={"steps": 0})
    explorer.faithfulness_button.click()
    assert isinstance(explorer.last_error, ValueError)
    assert "Error" in explorer.status.value and "steps" in explorer.status.value
    explorer.cutoff_slider.value = 3.0  # a later successful update clears the error
    assert explorer.last_error is None


def test_bad_input_raises_at_construction(model, images):
    with pytest.raises(ValueError, match="targets"):
        ForgradExplorer(model, images, targets=[0, 1, 2])
    with pytest.raises(ValueError, match="methods"):
        ForgradExplorer(model, images, methods=("saliency", "nonsense"))
    with pytest.raises(ValueError, match="metric 'deletion' is not in the sweep"):
        ForgradExplorer(model, images, methods="saliency", sweep=_make_sweep(), metric="deletion")
    with pytest.raises(ValueError, match="cutoff"):
        ForgradExplorer(model, images, methods="saliency", cutoff=1000.0)
    with pytest.raises(ValueError, match="image_names"):
        ForgradExplorer(model, images, methods="saliency", image_names=["a"])
    with pytest.raises(TypeError, match="sweep"):
        ForgradExplorer(model, images, methods="saliency", sweep={"insertion": 1})


# --------------------------------------------------------------------------------------- CutoffCurveExplorer


def test_curves_intervals_and_sigma_star(model, images):
    sweep = _make_sweep(metrics=("insertion", "deletion"))
    explorer = CutoffCurveExplorer(sweep, n_boot=200)
    data = explorer.curve_data
    np.testing.assert_allclose(data["mean"], sweep.scores["insertion"].mean(axis=1))
    low, high = sweep.confidence_interval("insertion", n_boot=200)
    np.testing.assert_allclose(data["low"], low)
    np.testing.assert_allclose(data["high"], high)
    assert np.all(data["low"] <= data["mean"]) and np.all(data["mean"] <= data["high"])
    assert data["sigma_star"] == sweep.cutoffs[np.argmax(sweep.scores["insertion"].mean(axis=1))]
    assert data["references"] == {"rise": pytest.approx(0.7)}
    assert explorer.cutoff == data["sigma_star"]
    before = explorer.curve_view.value

    explorer.metric_select.value = "deletion"
    np.testing.assert_allclose(explorer.curve_data["mean"], sweep.scores["deletion"].mean(axis=1))
    assert explorer.curve_view.value != before
    explorer.cutoff_slider.value = 16.0
    assert explorer.curve_data["selected"] == 16.0
    assert np.asarray(explorer._selected_line.get_xdata())[0] == 16.0
    assert explorer.filtered_map is None  # no images: no maps


def test_choosing_a_cutoff_shows_the_maps_at_that_cutoff(model, images):
    sweep = _make_sweep()
    explorer = CutoffCurveExplorer(sweep, images=images, models=model, n_boot=100)
    target = int(model(images[2:3]).argmax())
    explorer.image_select.value = 2
    attributions = _expected_map(model, images, 2, target, "saliency")
    calls = model.calls
    for cutoff in (1.0, 8.0):
        explorer.cutoff_slider.value = cutoff
        expected = forgrad(attributions, cutoff, kind="gaussian")[0].numpy()
        np.testing.assert_allclose(explorer.filtered_map, expected, rtol=1e-5, atol=1e-7)
    assert model.calls == calls
    np.testing.assert_allclose(explorer.raw_map, attributions.mean(dim=1).abs()[0].numpy(), rtol=1e-5)


def test_comparison_menus_and_errors_in_the_widget(model, images):
    comparison = ArchitectureComparison(
        sweeps={
            "a": {
                "saliency": _make_sweep(seed=1),
                "gradient_input": _make_sweep("gradient_input", ("deletion",)),
            },
            "b": {"saliency": _make_sweep(seed=2)},
        }
    )
    explorer = CutoffCurveExplorer(
        comparison, images=images, models={"a": model, "b": CountingNet()}, n_boot=50
    )
    assert list(explorer.method_select.options) == ["saliency", "gradient_input"]
    np.testing.assert_allclose(
        explorer.curve_data["mean"], comparison.sweeps["a"]["saliency"].scores["insertion"].mean(axis=1)
    )
    explorer.model_select.value = "b"
    assert list(explorer.method_select.options) == ["saliency"]
    np.testing.assert_allclose(
        explorer.curve_data["mean"], comparison.sweeps["b"]["saliency"].scores["insertion"].mean(axis=1)
    )
    explorer.model_select.value = "a"
    explorer.method_select.value = "gradient_input"  # its sweep has no insertion: error shown in the widget
    assert isinstance(explorer.last_error, ValueError)
    assert "insertion" in explorer.status.value and "Error" in explorer.status.value
    explorer.metric_select.value = "deletion"
    assert explorer.last_error is None
    np.testing.assert_allclose(
        explorer.curve_data["mean"], comparison.sweeps["a"]["gradient_input"].scores["deletion"].mean(axis=1)
    )


def test_curve_explorer_bad_input_and_export(model, images, tmp_path):
    sweep = _make_sweep()
    with pytest.raises(ValueError, match="metric 'mufidelity' is not in the sweep"):
        CutoffCurveExplorer(sweep, metric="mufidelity")
    with pytest.raises(ValueError, match="images and models"):
        CutoffCurveExplorer(sweep, images=images)
    with pytest.raises(ValueError, match="image_ids"):
        CutoffCurveExplorer(sweep, images=images[:2], models=model)
    with pytest.raises(TypeError, match="CutoffSweep"):
        CutoffCurveExplorer({"saliency": sweep})
    explorer = CutoffCurveExplorer(
        sweep, images=images, models=model, n_boot=50, export_path=tmp_path / "curves"
    )
    explorer.export_button.click()
    assert explorer.last_error is None
    assert (tmp_path / "curves.png").stat().st_size > 1000
    assert len(explorer.current_figure().axes) == 4


def test_explorers_display_as_widgets(model, images):
    explorer = ForgradExplorer(model, images, methods="saliency")
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == explorer.widget.model_id


def test_slider_benchmark_reports_latency_without_model_calls():
    from forgrad_viz.benchmarks.widget import format_report, run

    threads = torch.get_num_threads()
    result = run(size=48, moves=6, warmup=1, threads=1)
    assert torch.get_num_threads() == threads
    assert result["model_calls_during_moves"] == 0
    assert len(result["times_ms"]) == 6 and result["threads"] == 1
    assert 0 < result["median_ms"] <= result["p90_ms"] <= result["max_ms"]
    assert result["median_ms"] == pytest.approx(float(np.median(result["times_ms"])))
    assert f"median {result['median_ms']:.1f} ms" in format_report(result)
