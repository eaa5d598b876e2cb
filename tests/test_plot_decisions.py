"""Figures of the cutoff decision (issue 12): paired gain curves, sigma* column and shared colour bar of
before/after, constant maps annotated, normalised spectra, and the architecture comparison's legend.

Plotted data are compared with the statistics computed directly (``CutoffSweep.gain``/``gain_interval``) or
with numpy's FFT. Synthetic inputs come from ``tests/test_plotting.py``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from test_plotting import CUTOFFS, legend_texts, make_comparison, make_maps, make_sweep

from forgrad_viz import plot
from forgrad_viz.results import CutoffSweep

# ------------------------------------------------------------------------------------------- relative curves


def _band_low_high(ax, index: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The lower and upper edges of the ``index``-th band (fill_between's path: a start vertex, the S lows, the
    last high, the S highs reversed, a closing vertex)."""
    band = [c for c in ax.collections if isinstance(c, PolyCollection)][index]
    vertices = band.get_paths()[0].vertices
    size = CUTOFFS.size
    np.testing.assert_array_equal(vertices[1 : size + 1, 0], CUTOFFS)
    np.testing.assert_array_equal(vertices[size + 2 : 2 * size + 2, 0], CUTOFFS[::-1])
    return vertices[1 : size + 1, 1], vertices[size + 2 : 2 * size + 2, 1][::-1]


@pytest.mark.parametrize("metric", ["deletion", "insertion"])
def test_relative_cutoff_curves_draw_the_paired_gain_and_its_band(metric: str) -> None:
    sweep = make_sweep()
    fig = plot.cutoff_curves(sweep, metric, relative=True, level=0.9, n_boot=300, seed=3)
    ax = fig.axes[0]
    gain = sweep.gain(metric)
    # independent: the mean over images of the signed paired difference
    sign = 1.0 if sweep.higher_is_better[metric] else -1.0
    np.testing.assert_allclose(
        gain, sign * (sweep.scores[metric] - sweep.unfiltered[metric]).mean(1), atol=1e-12
    )
    curve = ax.get_lines()[0]
    np.testing.assert_array_equal(curve.get_xdata(), CUTOFFS)
    np.testing.assert_array_equal(curve.get_ydata(), gain)
    low, high = sweep.gain_interval(metric, level=0.9, n_boot=300, seed=3)
    drawn_low, drawn_high = _band_low_high(ax)
    np.testing.assert_array_equal(drawn_low, low)
    np.testing.assert_array_equal(drawn_high, high)
    star = next(line for line in ax.get_lines() if line.get_marker() == "*")
    best = int(np.argmax(gain))  # sigma* maximises the gain whichever way the metric is better
    assert (
        star.get_xdata()[0]
        == CUTOFFS[best]
        == sweep.best_cutoff(metric, level=0.9, n_boot=300, seed=3).cutoff
    )
    assert star.get_ydata()[0] == gain[best]
    zero = [line for line in ax.get_lines() if list(line.get_ydata()) == [0.0, 0.0]]
    assert len(zero) == 1 and zero[0].get_color() == "black"
    assert not [
        line for line in ax.get_lines() if line.get_linestyle() == "--"
    ]  # no absolute unfiltered line
    references = {
        line.get_label(): line.get_ydata()[0] for line in ax.get_lines() if line.get_linestyle() == ":"
    }
    rise = sign * (sweep.references["rise"][metric] - sweep.unfiltered[metric]).mean()
    assert references["rise (black-box)"] == pytest.approx(rise, abs=1e-12)
    assert (
        ax.get_ylabel()
        == f"{'Deletion' if metric == 'deletion' else 'Insertion'} AUC gain\n(paired; > 0 is better)"
    )
    legend = legend_texts(fig)
    assert "unfiltered (gain 0)" in legend and "90% paired bootstrap CI" in legend


def test_relative_cutoff_curves_overlay_and_grid() -> None:
    sweeps = {"a": make_sweep("saliency"), "b": make_sweep("smoothgrad", seed=1, peak=4.0)}
    overlay = plot.cutoff_curves(sweeps, "deletion", relative=True, n_boot=200)
    curves = [line for line in overlay.axes[0].get_lines() if line.get_marker() in ("o", "s")]
    for curve, sweep in zip(curves, sweeps.values(), strict=True):
        np.testing.assert_array_equal(curve.get_ydata(), sweep.gain("deletion"))
    for index, sweep in enumerate(sweeps.values()):
        low, high = sweep.gain_interval("deletion", n_boot=200)
        np.testing.assert_array_equal(_band_low_high(overlay.axes[0], index), (low, high))
    grid = plot.cutoff_curves(sweeps, "deletion", relative=True, layout="grid", n_boot=200)
    visible = [a for a in grid.axes if a.get_visible()]
    assert len(visible) == 2
    for ax, sweep in zip(visible, sweeps.values(), strict=True):
        np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), sweep.gain("deletion"))
        assert [line for line in ax.get_lines() if list(line.get_ydata()) == [0.0, 0.0]]
    given = Figure().add_subplot()
    assert plot.cutoff_curves(sweeps["a"], "insertion", relative=True, ax=given) is given.figure
    assert "unfiltered (gain 0)" in legend_texts(given.figure)


def test_relative_curve_of_a_cutoff_equal_to_unfiltered_is_zero() -> None:
    rng = np.random.default_rng(0)
    scores = rng.normal(0.5, 0.1, size=(3, 10))
    sweep = CutoffSweep(
        "saliency", "ideal", [2.0, 4.0, 8.0], ("insertion",), {"insertion": scores},
        {"insertion": scores[-1]}, {"insertion": True}, np.arange(10),
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sigma* may sit at the grid's edge
        ax = plot.cutoff_curves(sweep, relative=True, n_boot=100).axes[0]
    assert ax.get_lines()[0].get_ydata()[-1] == 0.0
    assert _band_low_high_any(ax)[-1] == (0.0, 0.0)


def _band_low_high_any(ax) -> list[tuple[float, float]]:
    vertices = next(c for c in ax.collections if isinstance(c, PolyCollection)).get_paths()[0].vertices
    size = (len(vertices) - 3) // 2
    lows, highs = vertices[1 : size + 1, 1], vertices[size + 2 : 2 * size + 2, 1][::-1]
    return list(zip(lows.tolist(), highs.tolist(), strict=True))


# ------------------------------------------------------------------------------------------- before / after


def _panels(fig: Figure, n_rows: int, n_cols: int) -> np.ndarray:
    """The image and map panels (the colour bars, added after them, left out)."""
    return np.array(fig.axes[: n_rows * n_cols], dtype=object).reshape(n_rows, n_cols)


def test_before_after_marks_the_sigma_star_column() -> None:
    images, attributions = make_maps(2, size=16)
    fig = plot.before_after(images, attributions, [2, 4, 8], best_cutoff=4.0, chosen_by="insertion")
    axes = _panels(fig, 2, 5)
    assert [a.get_title() for a in axes[0]] == ["image", "raw", "σ = 2", "σ* (Insertion)\nσ = 4", "σ = 8"]
    framed = [
        col for col in range(5) if all(a.spines["left"].get_linewidth() > 2 for a in axes[:, col])
    ]  # fmt: skip
    assert framed == [3]
    with pytest.raises(ValueError, match=r"best_cutoff must be one of the cutoffs \[2.0, 4.0, 8.0\]"):
        plot.before_after(images, attributions, [2, 4, 8], best_cutoff=5.0, chosen_by="insertion")


@pytest.mark.parametrize("normalization", ["row", "figure"])
def test_before_after_shared_colorbar_matches_the_shared_limits(normalization: str) -> None:
    images, attributions = make_maps(2, size=16)
    fig = plot.before_after(
        images, attributions, [2, 6], normalization=normalization, colorbar=True, clip_percentile=95
    )
    axes = _panels(fig, 2, 4)
    bars = fig.axes[8:]
    assert len(bars) == (2 if normalization == "row" else 1)
    raw = np.abs(attributions.mean(axis=1))
    filtered = np.stack([_numpy_forgrad(attributions, c) for c in (2.0, 6.0)], axis=1)
    shown = np.concatenate([raw[:, None], filtered], axis=1)  # (N, 3, H, W)
    for row in range(2):
        values = shown[row] if normalization == "row" else shown
        expected = (values.min(), np.percentile(values, 95))
        for panel in axes[row, 1:]:
            norm = panel.images[0].norm
            assert (norm.vmin, norm.vmax) == pytest.approx(expected, rel=1e-6)
        bar = bars[row if normalization == "row" else 0]
        assert bar.get_ylim() == pytest.approx(expected, rel=1e-6)
        assert bar.get_ylabel() == "|attribution|"


def test_before_after_colorbar_needs_shared_limits() -> None:
    images, attributions = make_maps(1, size=16)
    with pytest.raises(ValueError, match=r"colorbar=True.*normalization='row' or 'figure'"):
        plot.before_after(images, attributions, 4.0, colorbar=True)
    with pytest.raises(ValueError, match="normalization"):
        plot.before_after(images, attributions, 4.0, normalization="image")


def _numpy_forgrad(attributions: np.ndarray, cutoff: float) -> np.ndarray:
    """The paper's pipeline on square maps with numpy's FFT."""
    raw = np.abs(attributions.mean(axis=1))
    k = np.fft.fftfreq(raw.shape[-1], d=1.0 / raw.shape[-1])
    mask = np.hypot(k[:, None], k[None, :]) <= cutoff
    return np.abs(np.fft.ifft2(np.fft.fft2(raw) * mask).real)


def _panel_texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def test_before_after_says_when_a_map_is_constant() -> None:
    images, attributions = make_maps(2, size=16)
    with pytest.warns(UserWarning, match="only the mean survives"):
        fig = plot.before_after(images, attributions, [0.5, 4.0])
    axes = _panels(fig, 2, 4)
    for row in range(2):
        drawn = np.asarray(axes[row, 2].images[0].get_array())
        assert np.ptp(drawn) <= 1e-6 * drawn.max()  # the sigma = 0.5 map is indeed constant
        assert _panel_texts(axes[row, 2]) == ["constant map:\nonly the mean\nsurvives at σ < 1"]
        assert _panel_texts(axes[row, 1]) == _panel_texts(axes[row, 3]) == []  # non-constant maps: no note
    flat = attributions.copy()
    flat[1] = 0.0  # an all-zero attribution: its raw map is constant too, for another reason
    fig = plot.before_after(images, flat, 4.0)
    axes = _panels(fig, 2, 3)
    assert _panel_texts(axes[1, 1]) == _panel_texts(axes[1, 2]) == ["constant map"]
    assert _panel_texts(axes[0, 1]) == []


def test_is_constant_against_peak_to_peak() -> None:
    rng = np.random.default_rng(0)
    assert plot.is_constant(np.full((8, 8), 3.0) + rng.normal(0, 1e-7, (8, 8)))
    assert plot.is_constant(np.zeros((4, 4)))
    assert not plot.is_constant(np.full((8, 8), 3.0) + rng.normal(0, 1e-3, (8, 8)))


# ------------------------------------------------------------------------------------------- spectra


def _numpy_ring_power(maps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per map (N, H, W square): unit-total-power ring means up to Nyquist, the rings' bin counts, and the
    normalised power left in the corner rings beyond Nyquist; written with numpy's full FFT."""
    size = maps.shape[-1]
    power = np.abs(np.fft.fft2(maps)) ** 2 / size**2
    k = np.fft.fftfreq(size, d=1.0 / size)
    ring = np.rint(np.hypot(k[:, None], k[None, :])).astype(int)  # bin k holds radii in [k - 0.5, k + 0.5)
    power[:, 0, 0] = 0.0  # DC left out
    power /= power.sum(axis=(1, 2), keepdims=True)
    rings = np.arange(1, size // 2 + 1)
    counts = np.array([(ring == r).sum() for r in rings])
    means = np.stack([[p[ring == r].mean() for r in rings] for p in power])
    beyond = np.array([p[ring > size // 2].sum() for p in power])
    return means, counts, beyond


def test_spectrum_normalize_gives_each_map_unit_power() -> None:
    _, small = make_maps(1, size=16, noise=0.01)
    _, large = make_maps(1, size=16, seed=1)
    maps = {"a": np.abs(small.mean(1)) * 1e-4, "b": np.abs(large.mean(1)) * 30.0}  # scales 5 decades apart
    fig = plot.spectrum(maps, normalize=True, band=None)
    ax = fig.axes[0]
    assert ax.get_ylabel() == "power (share of each map's total)"
    for line, values in zip(ax.get_lines(), maps.values(), strict=True):
        means, counts, beyond = _numpy_ring_power(values)
        np.testing.assert_allclose(line.get_ydata(), means[0], rtol=1e-9)
        # the plotted powers times their rings' counts, plus the corners past Nyquist, sum to 1
        assert np.sum(line.get_ydata() * counts) + beyond[0] == pytest.approx(1.0, abs=1e-9)


def test_spectrum_normalize_averages_normalised_maps_and_keeps_the_default_absolute() -> None:
    _, attributions = make_maps(4, size=16)
    maps = np.abs(attributions.mean(1)) * np.array([1.0, 10.0, 100.0, 1000.0])[:, None, None]
    normalised = plot.spectrum(maps, normalize=True, band=None).axes[0].get_lines()[0].get_ydata()
    np.testing.assert_allclose(normalised, _numpy_ring_power(maps)[0].mean(axis=0), rtol=1e-9)
    absolute = plot.spectrum(maps, band=None).axes[0]
    _, power = _fv_radial_mean(maps)
    np.testing.assert_allclose(absolute.get_lines()[0].get_ydata(), power, rtol=1e-9)
    assert absolute.get_ylabel() == "power"


def _fv_radial_mean(maps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies up to Nyquist and mean power over maps, from forgrad_viz.spectra.radial_spectrum."""
    from forgrad_viz.spectra import radial_spectrum

    freqs, power = radial_spectrum(maps)
    keep = freqs <= maps.shape[-1] / 2
    return freqs[keep], np.asarray(power)[:, keep].mean(axis=0)


@pytest.mark.parametrize("normalize", [False, True])
def test_spectrum_y_range_encloses_the_data_tightly(normalize: bool) -> None:
    _, attributions = make_maps(4, size=16)
    fig = plot.spectrum({"a": attributions, "b": attributions * 0.01}, normalize=normalize)
    ax = fig.axes[0]
    drawn = np.concatenate(
        [line.get_ydata() for line in ax.get_lines()]
        + [c.get_paths()[0].vertices[:, 1] for c in ax.collections if isinstance(c, PolyCollection)]
    )
    low, high = ax.get_ylim()
    assert low <= drawn.min() and drawn.max() <= high
    # within the stated margin of 1.25 on each side: no empty decades
    assert drawn.min() / low == pytest.approx(1.25) and high / drawn.max() == pytest.approx(1.25)


# ------------------------------------------------------------------------------------------- comparison


@pytest.mark.parametrize(("metric", "label"), [("insertion", "Insertion AUC"), ("deletion", "Deletion AUC")])
def test_architecture_comparison_names_its_metric_and_explains_its_markers(metric: str, label: str) -> None:
    fig = plot.architecture_comparison(make_comparison(), metric, level=0.9, n_boot=100)
    left, right = fig.axes
    assert left.get_title() == f"σ* for {label}"
    assert label in right.get_ylabel() and "held-out gain" in right.get_title()
    legend = legend_texts(fig)
    for text in (
        "saliency",
        "smoothgrad",
        "σ* and its 90% interval",
        "bar: FORGrad's held-out gain",
        "its paired 90% interval",
        "unfiltered map (gain 0)",
        "rise: black-box gain",
        "occlusion: black-box gain",
    ):
        assert text in legend
    zero = [line for line in right.get_lines() if list(line.get_ydata()) == [0.0, 0.0]]
    assert len(zero) == 1  # the line the legend calls the unfiltered map is drawn
    given = Figure().subplots(1, 2)
    plot.architecture_comparison(make_comparison(), metric, n_boot=50, ax=given)
    assert "unfiltered map (gain 0)" in [t.get_text() for t in given[1].get_legend().get_texts()]
