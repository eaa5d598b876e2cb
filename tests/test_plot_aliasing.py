"""fv.plot.aliasing: the figure draws exactly the report's numbers, reads cleanly and rejects bad input."""

from __future__ import annotations

import dataclasses
import itertools

import matplotlib
import numpy as np
import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from torch import nn

import forgrad_viz as fv
from forgrad_viz.downsampling import AliasingReport
from forgrad_viz.results import bootstrap_ci


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 8, 3, padding=1, stride=2),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 5),
    ).eval()


@pytest.fixture(scope="module")
def report() -> AliasingReport:
    images = torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    return fv.aliasing(_net(), images)


def _bar_heights(ax) -> list[float]:
    return [patch.get_height() for patch in ax.patches]


def test_energy_bars_are_the_energy_removed(report):
    fig = fv.plot.aliasing(report, "energy")
    ax = fig.axes[0]
    rows = [*report.rows, report.all_layers]
    assert [row.name for row in rows] == ["2", "3", "all"]
    assert _bar_heights(ax) == [-row.hf_change for row in rows]
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "2\nmax-pool 2×2",
        "3\nstrided-conv 2×2",
        "all layers",
    ]
    # the interval: bootstrap of the per-image energy removed, whose mean is the bar (float32 sums: 1e-6)
    original = report.hf_energy_images.double().numpy()
    per_image = np.stack([original - row.hf_energy_images.double().numpy() for row in rows])
    np.testing.assert_allclose(per_image.mean(axis=1), [-row.hf_change for row in rows], atol=1e-6)
    low, high = bootstrap_ci(per_image)
    segments = ax.collections[0].get_segments()
    np.testing.assert_allclose([s[0][1] for s in segments], low, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose([s[1][1] for s in segments], high, rtol=1e-12, atol=1e-12)
    assert len(fv.plot.aliasing(report, "energy", interval=False).axes[0].collections) == 0


def test_agreement_bars_are_the_reports_numbers(report):
    ax = fv.plot.aliasing(report, "agreement").axes[0]
    rows = [*report.rows, report.all_layers]
    heights = _bar_heights(ax)
    assert heights[: len(rows)] == [row.agreement for row in rows]
    assert heights[len(rows) :] == [row.prob_change for row in rows]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "predicted class kept",
        "mean |Δp| of the target class",
    ]


def test_spectra_lines_are_the_reports_spectra_with_nyquist_marked(report):
    fig = fv.plot.aliasing(report, "spectra")
    assert len(fig.axes) == len(report.layers)
    for ax, name in zip(fig.axes, report.layers, strict=True):
        assert ax.get_yscale() == "log"
        curves = [line for line in ax.get_lines() if line.get_gid() == name]
        expected = [report.spectrum(name), report.spectrum(name, antialiased=True)]
        assert len(curves) == 2
        for line, spectrum in zip(curves, expected, strict=True):
            np.testing.assert_array_equal(line.get_xdata(), spectrum.frequencies)
            np.testing.assert_array_equal(line.get_ydata(), spectrum.power.double().numpy())
        verticals = sorted(line.get_xdata()[0] for line in ax.get_lines() if line.get_gid() != name)
        row = report.row(name)
        assert verticals == [min(row.out_size) / 2, min(row.in_size) / 2]
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[:2] == ["original model", "all layers anti-aliased"]


def test_full_figure_and_axes_of_the_caller(report, tmp_path):
    before = matplotlib.pyplot.get_fignums()
    fig = fv.plot.aliasing(report)
    assert isinstance(fig, Figure) and matplotlib.pyplot.get_fignums() == before  # nothing on pyplot's stack
    assert len(fig.axes) == 2 + len(report.layers)
    assert _bar_heights(fig.axes[0]) == [-row.hf_change for row in [*report.rows, report.all_layers]]
    for ax in fig.axes:
        assert ax.get_ylabel() or ax is not fig.axes[0]
        assert ax.get_title()
    paths = fv.export_figure(fig, tmp_path / "aliasing", formats=("png",), dpi=60)
    assert paths[0].stat().st_size > 0
    host = Figure()
    one, two = host.subplots(1, 2)
    assert fv.plot.aliasing(report, "agreement", ax=one) is host
    assert fv.plot.aliasing(report, "spectra", layer="3", ax=two) is host
    assert [line.get_gid() for line in two.get_lines()][:2] == ["3", "3"]
    assert fv.plot.aliasing(report, "spectra", ax=host.subplots(1, 2)) is host


def _renamed(report: AliasingReport, names: list[str]) -> AliasingReport:
    """A copy of ``report`` whose layers carry ``names`` (spectra renamed alike)."""
    rows = [dataclasses.replace(row, name=name) for row, name in zip(report.rows, names, strict=True)]
    spectra = [dataclasses.replace(s, name=name) for s, name in zip(report.spectra, names, strict=True)]
    smooth = [
        dataclasses.replace(s, name=name) for s, name in zip(report.spectra_antialiased, names, strict=True)
    ]
    return dataclasses.replace(report, rows=rows, spectra=spectra, spectra_antialiased=smooth)


@pytest.mark.parametrize(
    ("names", "figsize", "rotated"),
    [
        (["a", "b"], (14.0, 6.0), False),
        (["net._blocks.1._depthwise_conv", "net._blocks.11.conv"], None, True),
    ],
)
def test_tick_labels_do_not_overlap(report, names, figsize, rotated):
    """Horizontal labels: disjoint boxes. Rotated ones (parallel lines of text at the same angle): the distance
    between neighbouring anchors across the text direction exceeds the height of a label."""
    fig = fv.plot.aliasing(_renamed(report, names), figsize=figsize)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    for ax in fig.axes[:2]:
        labels = ax.get_xticklabels()
        angle = labels[0].get_rotation()
        assert (angle != 0) == rotated
        if angle == 0:
            boxes = [label.get_window_extent(renderer) for label in labels]
            assert not any(a.overlaps(b) for a, b in itertools.combinations(boxes, 2))
            continue
        assert 0 < angle < 90
        ticks = ax.transData.transform([(x, 0) for x in ax.get_xticks()])[:, 0]
        flat = [Text(text=label.get_text(), fontproperties=label.get_fontproperties()) for label in labels]
        for text in flat:
            text.set_figure(fig)
        height = max(text.get_window_extent(renderer).height for text in flat)
        assert np.min(np.diff(ticks)) * np.sin(np.radians(angle)) > height


def test_a_loaded_report_plots_the_same(report, tmp_path):
    report.save(tmp_path / "report.json")
    loaded = AliasingReport.load(tmp_path / "report.json")
    ax = fv.plot.aliasing(loaded, "energy", interval=False).axes[0]
    assert _bar_heights(ax) == [-row.hf_change for row in [*report.rows, report.all_layers]]


def test_bad_input(report):
    with pytest.raises(TypeError, match="report must be an AliasingReport"):
        fv.plot.aliasing(report.to_dict())
    with pytest.raises(ValueError, match="panel must be one of"):
        fv.plot.aliasing(report, "bars")
    with pytest.raises(ValueError, match="choose panel"):
        fv.plot.aliasing(report, ax=Figure().add_subplot())
    with pytest.raises(ValueError, match="ax must hold at least 2 Axes"):
        fv.plot.aliasing(report, "spectra", ax=Figure().add_subplot())
    with pytest.raises(ValueError, match="not in the report"):
        fv.plot.aliasing(report, "spectra", layer="9")
    with pytest.raises(TypeError, match="layer must be"):
        fv.plot.aliasing(report, "spectra", layer=[3])
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes"):
        fv.plot.aliasing(report, "energy", ax="left")
    with pytest.raises(ValueError, match="level"):
        fv.plot.aliasing(report, level=1.5)


def test_plot_aliasing_is_the_function_even_after_its_module_is_imported():
    import forgrad_viz.plot.aliasing  # noqa: F401  (a submodule import must not shadow fv.plot.aliasing)

    assert callable(fv.plot.aliasing) and fv.plot.aliasing.__module__ == "forgrad_viz.plot.aliasing"
