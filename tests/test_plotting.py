"""Figures: structure (axes, labels, plotted data against independent computations), bad input, image regression.

Image regression: each figure in ``FIGURE_CASES`` is rendered to PNG at ``BASELINE_DPI`` with a fixed style and
compared with ``tests/baseline_images/<name>.png`` by :func:`matplotlib.testing.compare.compare_images` at an RMS
tolerance of ``TOLERANCE`` grey levels (of 255). Baselines are regenerated only on purpose, with
``python tests/make_baseline_images.py`` (or ``FORGRAD_VIZ_REGENERATE_BASELINES=1 python -m pytest
tests/test_plotting.py``); look at the new images before committing them.
"""

from __future__ import annotations

import contextlib
import os
import warnings
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import matplotlib as mpl
import matplotlib.style
import numpy as np
import pytest
import torch
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure
from matplotlib.testing.compare import compare_images

from forgrad_viz import palette, plot
from forgrad_viz.results import ArchitectureComparison, CutoffSweep, FaithfulnessResult, bootstrap_ci
from forgrad_viz.spectra import radial_spectrum

BASELINE_DIR = Path(__file__).parent / "baseline_images"
BASELINE_DPI = 50
#: RMS difference allowed between a rendering and its baseline, in grey levels of 255.
TOLERANCE = 2.0
REGENERATE_ENV = "FORGRAD_VIZ_REGENERATE_BASELINES"

# ------------------------------------------------------------------------------------------- synthetic inputs

CUTOFFS = np.array([1.0, 2.0, 4.0, 8.0, 16.0, 32.0])


def make_sweep(
    method: str = "saliency", model: str = "maxpool_cnn", seed: int = 0, peak: float = 8.0
) -> CutoffSweep:
    """An inverted-U insertion curve peaking near ``peak`` and a U-shaped deletion curve, 12 images."""
    rng = np.random.default_rng(seed)
    n = 12
    shape = -((np.log2(CUTOFFS) - np.log2(peak)) ** 2)[:, None] * 0.02
    insertion = 0.6 + shape + rng.normal(0, 0.03, size=(CUTOFFS.size, n))
    deletion = 0.3 - shape + rng.normal(0, 0.03, size=(CUTOFFS.size, n))
    return CutoffSweep(
        method=method,
        kind="ideal",
        cutoffs=CUTOFFS,
        metrics=("insertion", "deletion"),
        scores={"insertion": insertion, "deletion": deletion},
        unfiltered={"insertion": insertion[-1] - 0.08, "deletion": deletion[-1] + 0.05},
        higher_is_better={"insertion": True, "deletion": False},
        image_ids=np.arange(n),
        model_name=model,
        references={
            "rise": {"insertion": rng.normal(0.65, 0.02, n), "deletion": rng.normal(0.25, 0.02, n)},
            "occlusion": {"insertion": rng.normal(0.55, 0.02, n), "deletion": rng.normal(0.3, 0.02, n)},
        },
    )


def make_result(metric: str = "deletion", seed: int = 0) -> FaithfulnessResult:
    """Decreasing (deletion) or increasing (insertion) curves for 8 images at 11 fractions."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0.0, 1.0, 11)
    rates = rng.uniform(2.0, 6.0, size=(8, 1))
    curves = np.exp(-rates * x) if metric == "deletion" else 1.0 - np.exp(-rates * x)
    scores = np.trapezoid(curves, x, axis=1)
    return FaithfulnessResult(
        metric, scores, metric != "deletion", {"score": "probability"}, curves=curves, x=x
    )


def make_comparison() -> ArchitectureComparison:
    sweeps = {
        model: {
            method: make_sweep(method, model, seed=i * 2 + j, peak=peak)
            for j, method in enumerate(("saliency", "smoothgrad"))
        }
        for i, (model, peak) in enumerate((("maxpool_cnn", 4.0), ("antialiased_cnn", 16.0)))
    }
    references = {model: by_method["saliency"].references for model, by_method in sweeps.items()}
    return ArchitectureComparison(sweeps, references)


def make_maps(n: int = 3, size: int = 32, seed: int = 0, noise: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, 3, size, size) in [0, 1] and signed attributions: a smooth blob plus pixel noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    images = np.stack([np.stack([xx, yy, 0.5 + 0.5 * np.sin(6 * xx * (k + 1))]) for k in range(n)])
    blob = np.exp(-((xx - 0.5) ** 2 + (yy - 0.4) ** 2) / 0.02)
    attributions = blob[None, None] * rng.uniform(0.5, 1.5, (n, 3, 1, 1)) + rng.normal(
        0, noise, (n, 3, size, size)
    )
    return images, attributions


def _heatmap_case() -> Figure:
    images, attributions = make_maps(1)
    fig = Figure(figsize=(6, 2.4), layout="constrained")
    axes = fig.subplots(1, 2)
    plot.heatmap(attributions[0, 0], ax=axes[0], title="signed")
    plot.heatmap(np.abs(attributions[0].mean(0)), images[0], ax=axes[1], title="overlay")
    return fig


def _before_after_sigma_star_case() -> Figure:
    """sigma* column framed, shared colour bar per row, and a constant column (0.5 < 1 cycle per image)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "cutoff 0.5 is below 1 cycle per image", UserWarning)
        return plot.before_after(
            *make_maps(2),
            [0.5, 2, 6],
            best_cutoff=2,
            chosen_by="deletion",
            normalization="row",
            colorbar=True,
            method_name="saliency",
        )


FIGURE_CASES: dict[str, Callable[[], Figure]] = {
    "heatmap": _heatmap_case,
    "before_after": lambda: plot.before_after(*make_maps(2), [2, 6], method_name="saliency"),
    "spectrum": lambda: plot.spectrum(
        {"saliency": make_maps(4)[1], "rise": make_maps(4, noise=0.01)[1]}, cutoff=6, show_filtered=True
    ),
    "cutoff_curves": lambda: plot.cutoff_curves(make_sweep(), "insertion"),
    "cutoff_curves_grid": lambda: plot.cutoff_curves(
        [make_sweep("saliency"), make_sweep("smoothgrad", seed=1, peak=4.0)], "deletion", layout="grid"
    ),
    "cutoff_curves_relative": lambda: plot.cutoff_curves(
        [make_sweep("saliency"), make_sweep("smoothgrad", seed=1, peak=4.0)], "deletion", relative=True
    ),
    "before_after_sigma_star": _before_after_sigma_star_case,
    "spectrum_normalized": lambda: plot.spectrum(
        {"saliency": make_maps(4)[1], "rise": 50.0 * make_maps(4, noise=0.01)[1]},
        cutoff=6,
        show_filtered=True,
        normalize=True,
    ),
    "faithfulness_curves": lambda: plot.faithfulness_curves(
        {"saliency": make_result(), "smoothgrad": make_result(seed=1)}, show_images=True
    ),
    "architecture_comparison": lambda: plot.architecture_comparison(make_comparison(), "insertion"),
}


@contextlib.contextmanager
def baseline_style() -> Iterator[None]:
    """A fixed style for baseline renderings: matplotlib defaults, DejaVu Sans, no hinting (as matplotlib's tests)."""
    with (
        mpl.style.context("default"),
        mpl.rc_context({"font.family": "DejaVu Sans", "text.hinting": "none", "figure.figsize": (6.4, 4.8)}),
    ):
        yield


def render_case(name: str, path: Path) -> Path:
    """Render figure case ``name`` to a PNG at ``path``."""
    with baseline_style():
        fig = FIGURE_CASES[name]()
        fig.savefig(path, dpi=BASELINE_DPI, metadata={"Software": None})
    return path


def legend_texts(fig: Figure) -> list[str]:
    """The texts of every legend of a figure (figure legends and axes legends)."""
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    return [text.get_text() for legend in legends for text in legend.get_texts()]


# ------------------------------------------------------------------------------------------- heatmap


def test_heatmap_unsigned_uses_sequential_map_with_percentile_limits() -> None:
    values = np.random.default_rng(0).random((20, 24)) ** 3
    fig = plot.heatmap(values, title="map")
    ax = fig.axes[0]
    shown = ax.images[0]
    np.testing.assert_array_equal(shown.get_array(), values)
    assert shown.get_cmap().name == "magma"
    assert shown.norm.vmin == pytest.approx(values.min())
    assert shown.norm.vmax == pytest.approx(np.percentile(values, 99))
    assert ax.get_title() == "map"
    assert len(fig.axes) == 2  # map + colour bar
    assert fig.axes[1].get_ylim()[1] == pytest.approx(np.percentile(values, 99))


def test_heatmap_signed_is_centred_at_zero_and_accepts_tensors() -> None:
    values = torch.randn(16, 16, generator=torch.Generator().manual_seed(1)) + 0.5
    fig = plot.heatmap(values, clip_percentile=95, colorbar=False)
    shown = fig.axes[0].images[0]
    limit = np.percentile(np.abs(values.numpy().astype(np.float64)), 95)
    assert (shown.norm.vmin, shown.norm.vmax) == pytest.approx((-limit, limit))
    assert shown.norm(0.0) == pytest.approx(0.5)
    assert shown.get_cmap().name == "RdBu_r"
    assert len(fig.axes) == 1


def test_heatmap_overlay_draws_luminance_under_the_map() -> None:
    images, attributions = make_maps(1, size=8)
    fig = plot.heatmap(np.abs(attributions[0, 0]), images[0], alpha=0.4)
    grey, shown = fig.axes[0].images
    expected = 0.299 * images[0, 0] + 0.587 * images[0, 1] + 0.114 * images[0, 2]
    np.testing.assert_allclose(grey.get_array(), expected, atol=1e-12)
    assert shown.get_alpha() == 0.4
    np.testing.assert_array_equal(shown.get_array(), np.abs(attributions[0, 0]))


def test_heatmap_draws_into_given_axes_without_pyplot_figures() -> None:
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    fig = Figure()
    ax = fig.add_subplot()
    assert plot.heatmap(np.ones((4, 4)), ax=ax, colorbar=False) is fig
    assert ax.images[0].norm.vmin == 1.0 and ax.images[0].norm.vmax == 2.0  # constant map: width-1 range
    assert plt.get_fignums() == before


def test_color_limits_reject_bad_percentiles() -> None:
    with pytest.raises(ValueError, match="clip_percentile"):
        plot.color_limits(np.ones((2, 2)), signed=False, clip_percentile=120)


# ------------------------------------------------------------------------------------------- before / after


def _ideal_forgrad_numpy(attributions: np.ndarray, cutoff: float) -> np.ndarray:
    """The paper's pipeline on square maps, written directly with numpy's FFT."""
    raw = np.abs(attributions.mean(axis=1))
    size = raw.shape[-1]
    k = np.fft.fftfreq(size, d=1.0 / size)
    mask = np.hypot(k[:, None], k[None, :]) <= cutoff
    return np.abs(np.fft.ifft2(np.fft.fft2(raw) * mask).real)


def test_before_after_layout_titles_and_panel_data() -> None:
    images, attributions = make_maps(2, size=16)
    fig = plot.before_after(torch.tensor(images), torch.tensor(attributions), [2, 5], method_name="saliency")
    assert len(fig.axes) == 2 * 4
    axes = np.array(fig.axes).reshape(2, 4)
    assert [a.get_title() for a in axes[0]] == ["image", "raw", "σ = 2", "σ = 5"]
    assert all(a.get_title() == "" for a in axes[1])
    assert "saliency" in fig.get_suptitle()
    for row in range(2):
        np.testing.assert_allclose(axes[row, 0].images[0].get_array(), np.moveaxis(images[row], 0, -1))
        np.testing.assert_allclose(axes[row, 1].images[0].get_array(), np.abs(attributions[row].mean(0)))
        for col, cutoff in ((2, 2.0), (3, 5.0)):
            expected = _ideal_forgrad_numpy(attributions, cutoff)[row]
            np.testing.assert_allclose(axes[row, col].images[0].get_array(), expected, atol=1e-5)
            shown = axes[row, col].images[0]
            assert shown.norm.vmax == pytest.approx(np.percentile(np.asarray(shown.get_array()), 99))


def test_before_after_row_normalisation_shares_limits() -> None:
    images, attributions = make_maps(1, size=16)
    fig = plot.before_after(images[0], attributions, 3.0, normalization="row", clip_percentile=90)
    raw = np.abs(attributions[0].mean(0))
    stack = np.stack([raw, _ideal_forgrad_numpy(attributions, 3.0)[0]])
    limits = {(a.images[0].norm.vmin, a.images[0].norm.vmax) for a in fig.axes[1:]}
    assert len(limits) == 1
    assert limits.pop() == pytest.approx((stack.min(), np.percentile(stack, 90)))


@pytest.mark.parametrize(
    ("images", "attributions", "match"),
    [
        (np.zeros((2, 3, 8, 8)), np.zeros((3, 3, 8, 8)), "N=2"),
        (np.zeros((2, 3, 8, 8)), np.zeros((2, 3, 8, 9)), "size"),
        (np.zeros((2, 5, 8, 8)), np.zeros((2, 3, 8, 8)), r"\(N, 3, H, W\)"),
    ],
)
def test_before_after_rejects_mismatched_shapes(
    images: np.ndarray, attributions: np.ndarray, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        plot.before_after(images, attributions, 4.0)


def test_before_after_names_the_metric_that_chose_sigma_star() -> None:
    images, attributions = make_maps(1, size=16)
    best = make_sweep().best_cutoff("deletion", n_boot=50)  # a BestCutoff brings its metric
    fig = plot.before_after(images, attributions, [2.0, best.cutoff, 32.0], best_cutoff=best)
    assert fig.axes[3].get_title() == f"σ* (Deletion)\nσ = {best.cutoff:.3g}"
    fig = plot.before_after(images, attributions, [2.0, 4.0], best_cutoff=4.0, chosen_by="mufidelity")
    assert fig.axes[3].get_title() == "σ* (MuFidelity)\nσ = 4"
    with pytest.raises(ValueError, match="chosen_by must name the metric"):
        plot.before_after(images, attributions, [2.0, 4.0], best_cutoff=4.0)
    with pytest.raises(ValueError, match="chosen_by is 'insertion' but best_cutoff was chosen by 'deletion'"):
        plot.before_after(images, attributions, [2.0, best.cutoff], best_cutoff=best, chosen_by="insertion")
    with pytest.raises(ValueError, match="pass best_cutoff too"):
        plot.before_after(images, attributions, [2.0, 4.0], chosen_by="insertion")


def test_before_after_rejects_bad_cutoffs_and_options() -> None:
    images, attributions = make_maps(1, size=8)
    with pytest.raises(ValueError, match="cutoffs"):
        plot.before_after(images, attributions, [])
    with pytest.raises(ValueError, match="cutoffs"):
        plot.before_after(images, attributions, [-1.0])
    with pytest.raises(ValueError, match="normalization"):
        plot.before_after(images, attributions, 2.0, normalization="global")
    with pytest.raises(ValueError, match="at least 3 Axes"):
        plot.before_after(images, attributions, 2.0, ax=[Figure().add_subplot()])


def test_heatmap_rejects_mismatched_image_and_bad_shapes() -> None:
    with pytest.raises(ValueError, match="must match"):
        plot.heatmap(np.zeros((8, 8)), np.zeros((3, 8, 9)))
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        plot.heatmap(np.zeros((1, 2, 8, 8)))
    with pytest.raises(ValueError, match="NaN"):
        plot.heatmap(np.full((4, 4), np.nan))


# ------------------------------------------------------------------------------------------- spectrum


def test_spectrum_plots_mean_band_cutoff_and_filtered_spectra() -> None:
    _, attributions = make_maps(4, size=32)
    maps = {"saliency": attributions[:, 0], "smoothgrad": np.abs(attributions).mean(1)}
    fig = plot.spectrum(maps, cutoff=6.0, show_filtered=True, band="ci", level=0.9)
    ax = fig.axes[0]
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    lines = {line.get_label(): line for line in ax.get_lines()}
    for label, values in maps.items():
        freqs, power = radial_spectrum(values)
        keep = freqs <= 16  # up to Nyquist of 32 x 32 maps
        np.testing.assert_allclose(lines[label].get_xdata(), freqs[keep])
        np.testing.assert_allclose(lines[label].get_ydata(), power.mean(0)[keep])
        assert lines[label].get_color() == palette.color_for(label)
        _, filtered = radial_spectrum(_ideal_forgrad_numpy(values[:, None], 6.0))
        filtered = filtered[:, keep]
        dashed = lines[f"{label}, FORGrad σ = 6"]
        assert dashed.get_linestyle() == "--"
        assert dashed.get_color() == palette.color_for(label)
        np.testing.assert_allclose(
            dashed.get_ydata(), filtered.mean(0), rtol=1e-4, atol=1e-12 * filtered.max()
        )
    np.testing.assert_allclose(lines["cutoff σ = 6"].get_xdata(), [6.0, 6.0])
    # the 90% CI band of the first set: percentile bootstrap of the mean over images (1000 resamples, seed 0),
    # recomputed here with a plain resampling loop
    freqs, power = radial_spectrum(maps["saliency"])
    power = power[:, freqs <= 16]
    band = ax.collections[0].get_paths()[0].vertices
    draws = np.random.default_rng(0).integers(0, power.shape[0], size=(1000, power.shape[0]))
    boot_means = np.stack([power[row].mean(0) for row in draws])
    low, high = np.percentile(boot_means, [5.0, 95.0], axis=0)
    assert band[:, 1].max() == pytest.approx(high.max(), rel=1e-9)
    assert band[:, 1].min() == pytest.approx(low.min(), rel=1e-9)
    assert band[:, 1].min() > 0  # a bootstrap band of non-negative powers stays positive on the log axis
    removed = [p for p in ax.patches if p.get_label() == "removed (f > σ)"]
    assert len(removed) == 1
    assert removed[0].get_x() == pytest.approx(6.0)
    assert ax.get_xlabel() == "spatial frequency (cycles per image)"


def test_spectrum_accepts_one_array_and_iqr_band() -> None:
    _, attributions = make_maps(5, size=16)
    fig = plot.spectrum(attributions, band="iqr")
    ax = fig.axes[0]
    freqs, power = radial_spectrum(np.abs(attributions.mean(1)))
    power = power[:, freqs <= 8]
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), power.mean(0))
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert band.max() == pytest.approx(np.percentile(power, 75, axis=0).max())
    assert "interquartile range" in legend_texts(fig)


def test_spectrum_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="cutoff"):
        plot.spectrum(np.zeros((2, 8, 8)), show_filtered=True)
    with pytest.raises(ValueError, match="band"):
        plot.spectrum(np.zeros((2, 8, 8)), band="sd")
    with pytest.raises(ValueError, match="at least one"):
        plot.spectrum({})
    with pytest.raises(ValueError, match="shape"):
        plot.spectrum(np.zeros(8))


# ------------------------------------------------------------------------------------------- cutoff curves


def test_cutoff_curves_single_sweep_data_labels_and_references() -> None:
    sweep = make_sweep()
    fig = plot.cutoff_curves(sweep, "insertion", level=0.9)
    ax = fig.axes[0]
    assert len(fig.axes) == 1
    assert ax.get_xscale() == "log"
    assert ax.get_ylabel() == "Insertion AUC\n(higher is better)"
    assert ax.get_xlabel() == "cutoff σ (cycles per image)"
    mean = sweep.scores["insertion"].mean(axis=1)
    curve = ax.get_lines()[0]
    np.testing.assert_allclose(curve.get_xdata(), CUTOFFS)
    np.testing.assert_allclose(curve.get_ydata(), mean)
    assert curve.get_color() == palette.method_color("saliency")
    star = next(line for line in ax.get_lines() if line.get_marker() == "*")
    best = sweep.best_cutoff("insertion", level=0.9)
    assert star.get_xdata()[0] == CUTOFFS[np.argmax(mean)] == best.cutoff
    assert star.get_ydata()[0] == pytest.approx(mean.max())
    errorbar = next(c for c in ax.collections if isinstance(c, LineCollection))
    np.testing.assert_allclose(errorbar.get_segments()[0][:, 0], [best.low, best.high])
    low, high = sweep.confidence_interval("insertion", level=0.9)
    band = next(c for c in ax.collections if isinstance(c, PolyCollection)).get_paths()[0].vertices[:, 1]
    assert (band.min(), band.max()) == pytest.approx((low.min(), high.max()))
    horizontal = {
        line.get_label(): line.get_ydata()[0]
        for line in ax.get_lines()
        if line.get_linestyle() in (":", "--")
    }
    assert horizontal["rise (black-box)"] == pytest.approx(sweep.references["rise"]["insertion"].mean())
    assert horizontal["occlusion (black-box)"] == pytest.approx(
        sweep.references["occlusion"]["insertion"].mean()
    )
    unfiltered = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert unfiltered[0].get_ydata()[0] == pytest.approx(sweep.unfiltered["insertion"].mean())
    legend = legend_texts(fig)
    assert f"saliency: σ* = {best.cutoff:.3g} [{best.low:.3g}, {best.high:.3g}]" in legend
    assert "unfiltered" in legend and "90% bootstrap CI" in legend


def test_cutoff_curves_default_metric_lower_is_better_and_plot_method() -> None:
    sweep = make_sweep()
    assert sweep.plot().axes[0].get_ylabel() == "Insertion AUC\n(higher is better)"
    fig = plot.cutoff_curves(sweep, "deletion", show_references=False, show_unfiltered=False)
    ax = fig.axes[0]
    assert ax.get_ylabel() == "Deletion AUC\n(lower is better)"
    star = next(line for line in ax.get_lines() if line.get_marker() == "*")
    assert star.get_xdata()[0] == CUTOFFS[np.argmin(sweep.scores["deletion"].mean(1))]
    assert not [line for line in ax.get_lines() if line.get_linestyle() in (":", "--")]


def test_cutoff_curves_overlay_colours_by_method_and_grid_layout() -> None:
    sweeps = [make_sweep("saliency"), make_sweep("smoothgrad", seed=1), make_sweep("vargrad", seed=2)]
    fig = plot.cutoff_curves(sweeps, "insertion")
    curves = [line for line in fig.axes[0].get_lines() if line.get_marker() == "o"]
    assert [c.get_color() for c in curves] == [palette.method_color(s.method) for s in sweeps]
    grid = plot.cutoff_curves({"a": sweeps[0], "b": sweeps[1]}, "insertion", layout="grid", title="grid")
    visible = [a for a in grid.axes if a.get_visible()]
    assert [a.get_title() for a in visible] == ["a", "b"]
    assert grid.get_suptitle() == "grid"
    for ax, sweep in zip(visible, sweeps[:2], strict=True):
        np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), sweep.scores["insertion"].mean(1))


def test_cutoff_curves_deduplicates_identical_references() -> None:
    base = make_sweep("saliency")
    other = make_sweep("smoothgrad", seed=1)
    other.references = base.references
    fig = plot.cutoff_curves([base, other], "insertion")
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert labels.count("rise (black-box)") == 1


def test_cutoff_curves_colours_by_model_when_methods_agree() -> None:
    sweeps = [make_sweep(model="maxpool_cnn"), make_sweep(model="patch_vit", seed=3)]
    fig = plot.cutoff_curves(sweeps)
    curves = [line for line in fig.axes[0].get_lines() if line.get_marker() in ("o", "s")]
    assert [c.get_color() for c in curves] == [
        palette.model_color("maxpool_cnn"),
        palette.model_color("patch_vit"),
    ]
    assert [c.get_label().split(":")[0] for c in curves] == ["maxpool_cnn", "patch_vit"]


def test_cutoff_curves_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="at least one CutoffSweep"):
        plot.cutoff_curves([])
    with pytest.raises(ValueError, match=r"\['insertion', 'deletion'\].*'mufidelity'"):
        plot.cutoff_curves(make_sweep(), "mufidelity")
    with pytest.raises(ValueError, match="layout"):
        plot.cutoff_curves(make_sweep(), layout="stacked")
    with pytest.raises(TypeError, match="CutoffSweep"):
        plot.cutoff_curves([make_sweep(), "sweep"])
    with pytest.raises(ValueError, match="level"):
        plot.cutoff_curves(make_sweep(), level=1.5)


# ------------------------------------------------------------------------------------------- faithfulness


def test_faithfulness_curves_mean_band_auc_and_images() -> None:
    result = make_result("insertion")
    fig = plot.faithfulness_curves(result, show_images=True, level=0.9, n_boot=300, seed=2)
    ax = fig.axes[0]
    mean_line = ax.get_lines()[0]
    np.testing.assert_allclose(mean_line.get_xdata(), result.x)
    np.testing.assert_allclose(mean_line.get_ydata(), result.curves.mean(axis=0))
    assert f"AUC = {np.trapezoid(result.curves, result.x, axis=1).mean():.3f}" in mean_line.get_label()
    images = next(c for c in ax.collections if isinstance(c, LineCollection))
    assert len(images.get_segments()) == 8
    np.testing.assert_allclose(images.get_segments()[3][:, 1], result.curves[3])
    band = next(c for c in ax.collections if isinstance(c, PolyCollection)).get_paths()[0].vertices
    for column in (2, 7):
        low, high = bootstrap_ci(result.curves[:, column], level=0.9, n_boot=300, seed=2)
        ys = band[np.isclose(band[:, 0], result.x[column]), 1]
        assert ys.min() == pytest.approx(low) and ys.max() == pytest.approx(high)
    assert ax.get_xlabel() == "fraction of pixels inserted"
    assert ax.get_ylabel() == "target-class probability"
    assert ax.get_title() == "Insertion (higher is better)"


def test_faithfulness_curves_several_results_and_result_plot() -> None:
    results = {"saliency": make_result(), "smoothgrad": make_result(seed=1)}
    fig = plot.faithfulness_curves(results)
    lines = fig.axes[0].get_lines()
    assert [line.get_color() for line in lines] == [
        palette.method_color("saliency"),
        palette.method_color("smoothgrad"),
    ]
    assert lines[1].get_label().startswith("smoothgrad: AUC = ")
    assert fig.axes[0].get_xlabel() == "fraction of pixels removed"
    fig = Figure()
    ax = fig.add_subplot()
    assert results["saliency"].plot(ax=ax) is fig


def test_faithfulness_curves_rejects_mufidelity_and_mixed_metrics() -> None:
    mufidelity = FaithfulnessResult("mufidelity", np.array([0.1, 0.2]), True, {})
    with pytest.raises(ValueError, match="no curves"):
        plot.faithfulness_curves(mufidelity)
    with pytest.raises(ValueError, match="same metric"):
        plot.faithfulness_curves({"a": make_result("deletion"), "b": make_result("insertion")})
    with pytest.raises(ValueError, match="at least one"):
        plot.faithfulness_curves({})
    with pytest.raises(TypeError, match="FaithfulnessResult"):
        plot.faithfulness_curves([make_result()])


# ------------------------------------------------------------------------------------------- comparison


def test_architecture_comparison_points_bars_and_references() -> None:
    comparison = make_comparison()
    fig = plot.architecture_comparison(comparison, "insertion", n_boot=200)
    assert len(fig.axes) == 2
    left, right = fig.axes
    assert [t.get_text() for t in left.get_xticklabels()] == ["maxpool_cnn", "antialiased_cnn"]
    points = [line for line in left.get_lines() if line.get_marker() == "o"]
    bars = right.patches
    errors = [c for c in right.containers if isinstance(c, ErrorbarContainer)]
    assert len(points) == len(bars) == len(errors) == 4
    biased = []
    for (model, method), point, bar, error in zip(
        [(m, k) for m in comparison.models for k in ("saliency", "smoothgrad")],
        points,
        bars,
        errors,
        strict=True,
    ):
        sweep = comparison.sweeps[model][method]
        mean = sweep.scores["insertion"].mean(1)
        assert point.get_ydata()[0] == CUTOFFS[np.argmax(mean)]
        assert point.get_color() == palette.method_color(method)
        # the bar is the held-out gain (sigma* never scored on the images that chose it), with its interval
        held = sweep.held_out("insertion", folds=2, seed=0, n_boot=200)
        assert bar.get_height() == pytest.approx(held.gain, rel=1e-12)
        (segment,) = error.lines[2][0].get_segments()
        assert segment[:, 0] == pytest.approx([bar.get_x() + bar.get_width() / 2] * 2)
        assert sorted(segment[:, 1]) == pytest.approx([held.low, held.high], rel=1e-12)
        biased.append(mean.max() - sweep.unfiltered["insertion"].mean())
        rise = comparison.references[model]["rise"]["insertion"].mean()
        ticks = [c for c in right.collections if c.get_label() == "rise: black-box gain"]
        assert ticks
        centre = bar.get_x() + bar.get_width() / 2
        heights = [
            seg[0, 1]
            for c in right.collections
            for seg in c.get_segments()
            if np.isclose(seg[:, 0].mean(), centre)
            and np.allclose(c.get_color()[0][:3], mpl.colors.to_rgb(palette.method_color("rise")))
        ]
        assert heights == pytest.approx([rise - sweep.unfiltered["insertion"].mean()])
    assert [b.get_height() for b in bars] != pytest.approx(biased, rel=1e-3)  # not the in-sample gain
    assert left.get_yscale() == "log"
    assert "(> 0 is better)" in right.get_ylabel()


def test_architecture_comparison_draws_sigma_in_nyquist_fractions_across_resolutions() -> None:
    comparison = make_comparison()
    for model, size in (("maxpool_cnn", 224), ("antialiased_cnn", 240)):
        for sweep in comparison.sweeps[model].values():
            sweep.params["image_size"] = [size, size + 16]  # Nyquist of the shorter side: size / 2
    fig = plot.architecture_comparison(comparison, "insertion", method="saliency", n_boot=50)
    left = fig.axes[0]
    assert left.get_ylabel() == "σ* (fraction of Nyquist)"
    points = [line.get_ydata()[0] for line in left.get_lines() if line.get_marker() == "o"]
    expected = [
        CUTOFFS[np.argmax(comparison.sweeps[m]["saliency"].scores["insertion"].mean(1))] / (size / 2)
        for m, size in (("maxpool_cnn", 224), ("antialiased_cnn", 240))
    ]
    assert points == pytest.approx(expected, rel=1e-12)
    # one resolution (or an unknown one): cycles per image, and long names are tilted so as not to overlap
    same = make_comparison()
    for by_method in same.sweeps.values():
        for sweep in by_method.values():
            sweep.params["image_size"] = [64, 64]
    left = plot.architecture_comparison(same, "insertion", n_boot=50).axes[0]
    assert left.get_ylabel() == "σ* (cycles per image)"
    assert {t.get_rotation() for t in left.get_xticklabels()} == {20.0}


def test_architecture_comparison_deletion_sign_method_filter_and_axes() -> None:
    comparison = make_comparison()
    fig = Figure()
    axes = fig.subplots(1, 2)
    assert (
        plot.architecture_comparison(comparison, "deletion", method="smoothgrad", ax=axes, n_boot=100) is fig
    )
    bars = axes[1].patches
    assert len(bars) == 2
    sweep = comparison.sweeps["maxpool_cnn"]["smoothgrad"]
    mean = sweep.scores["deletion"].mean(1)
    held = sweep.held_out("deletion", folds=2, seed=0, n_boot=100)
    assert bars[0].get_height() == pytest.approx(held.gain, rel=1e-12)
    # Deletion: lower is better, so a positive bar is a drop of the score below the unfiltered map's
    assert 0 < bars[0].get_height() <= sweep.unfiltered["deletion"].mean() - mean.min() + 0.05
    assert isinstance(comparison.plot(metric="insertion", n_boot=50), Figure)


def test_architecture_comparison_rejects_bad_input() -> None:
    comparison = make_comparison()
    with pytest.raises(ValueError, match="metric must be one of"):
        plot.architecture_comparison(comparison, "mufidelity")
    with pytest.raises(ValueError, match="method must be one of"):
        plot.architecture_comparison(comparison, method="gradcam")
    with pytest.raises(TypeError, match="ArchitectureComparison"):
        plot.architecture_comparison({"a": 1})
    with pytest.raises(ValueError, match="at least 2 Axes"):
        plot.architecture_comparison(comparison, ax=[Figure().add_subplot()])


# ------------------------------------------------------------------------------------------- palette


def test_palette_known_names_are_fixed_and_others_hash_deterministically() -> None:
    assert palette.method_color("saliency") == palette.METHOD_COLORS["saliency"] == "#0072B2"
    assert palette.method_color("SmoothGrad") == palette.METHOD_COLORS["smoothgrad"]
    assert palette.model_color("antialiased_cnn") == "#009E73"
    assert len(set(palette.METHOD_COLORS.values())) == len(palette.METHOD_COLORS)
    assert len(set(palette.MODEL_COLORS.values())) == len(palette.MODEL_COLORS)
    expected = palette.FALLBACK_COLORS[zlib.crc32(b"resnet50") % len(palette.FALLBACK_COLORS)]
    assert palette.model_color("resnet50") == palette.method_color("resnet50") == expected
    assert palette.color_for("patch_vit") == palette.MODEL_COLORS["patch_vit"]
    with pytest.raises(TypeError, match="string"):
        palette.method_color(3)


# ------------------------------------------------------------------------------------------- image regression


@pytest.mark.parametrize("name", sorted(FIGURE_CASES))
def test_figure_matches_baseline_image(name: str, tmp_path: Path) -> None:
    baseline = BASELINE_DIR / f"{name}.png"
    if os.environ.get(REGENERATE_ENV) == "1":
        BASELINE_DIR.mkdir(exist_ok=True)
        render_case(name, baseline)
        pytest.skip(f"baseline {baseline.name} regenerated ({REGENERATE_ENV}=1)")
    assert baseline.exists(), (
        f"missing baseline {baseline}; create it with python tests/make_baseline_images.py"
    )
    actual = render_case(name, tmp_path / f"{name}.png")
    failure = compare_images(str(baseline), str(actual), tol=TOLERANCE)
    assert failure is None, failure
