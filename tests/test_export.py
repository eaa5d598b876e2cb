"""Export: venue sizes, the paper style context, byte-identical files, TrueType fonts in PDF, text in SVG."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pytest
from matplotlib.figure import Figure
from test_plotting import make_sweep

from forgrad_viz import plot
from forgrad_viz.export import FORMATS, export_figure, figure_size, paper_style


def _figure() -> Figure:
    """A figure with text (title, labels, legend, mathtext), lines and an image."""
    fig = Figure(figsize=(3.0, 2.0), layout="constrained")
    ax = fig.add_subplot()
    ax.plot([1, 2, 3], [0.2, 0.6, 0.4], label="saliency σ* = 8")
    ax.imshow(np.random.default_rng(0).random((6, 6)), extent=(1, 3, 0, 1), aspect="auto")
    ax.set_title(r"Insertion $\sigma^*$")
    ax.set_xlabel("cutoff")
    ax.legend()
    return fig


@pytest.mark.parametrize(
    ("venue", "columns", "width"),
    [("icml", 1, 3.25), ("icml", 2, 6.75), ("neurips", 1, 2.7), ("neurips", 2, 5.5), ("default", 1, 6.4)],
)
def test_figure_size_matches_venue_widths(venue: str, columns: int, width: float) -> None:
    assert figure_size(venue, columns, aspect=0.5) == pytest.approx((width, width / 2))


def test_figure_size_rejects_unknown_venue_and_columns() -> None:
    with pytest.raises(ValueError, match="venue"):
        figure_size("cvpr")
    with pytest.raises(ValueError, match="columns"):
        figure_size("icml", 3)
    with pytest.raises(ValueError, match="aspect"):
        figure_size("icml", 1, aspect=-1.0)


def test_paper_style_sets_parameters_and_restores_them() -> None:
    before = dict(mpl.rcParams)
    with paper_style("icml", columns=1) as params:
        assert params["pdf.fonttype"] == 42
        assert mpl.rcParams["pdf.fonttype"] == 42 and mpl.rcParams["ps.fonttype"] == 42
        assert mpl.rcParams["svg.fonttype"] == "none"
        assert (
            mpl.rcParams["savefig.bbox"] is None
        )  # "standard": a saved file is the figure's (column's) width
        assert mpl.rcParams["svg.hashsalt"] is not None
        assert 7 <= mpl.rcParams["font.size"] <= 9
        assert Figure().get_size_inches() == pytest.approx((3.25, 3.25 * 0.75))
    assert dict(mpl.rcParams) == before


def test_plotting_figures_take_the_venue_width() -> None:
    with paper_style("neurips", columns=2):
        fig = plot.cutoff_curves(make_sweep())
        image = plot.heatmap(np.random.default_rng(0).random((8, 8)), colorbar=False)
    assert fig.get_figwidth() == pytest.approx(5.5)
    assert image.get_figheight() == pytest.approx(5.5 * 0.75)


def _styled_figure() -> Figure:
    with paper_style("icml", 2):
        return _figure()


def _cutoff_figure() -> Figure:
    return plot.cutoff_curves(make_sweep(), n_boot=100)


@pytest.mark.parametrize("build", [_figure, _styled_figure, _cutoff_figure])
def test_exports_are_byte_identical(tmp_path: Path, build) -> None:
    first = export_figure(build(), tmp_path / "a" / "figure", dpi=100)
    second = export_figure(build(), tmp_path / "b" / "figure", dpi=100)
    fig = build()
    third = export_figure(fig, tmp_path / "c" / "figure", dpi=100)
    # the same figure exported again, after it was drawn
    fourth = export_figure(fig, tmp_path / "d" / "figure", dpi=100)
    assert [p.suffix for p in first] == [".pdf", ".svg", ".png"]
    for paths in zip(first, second, third, fourth, strict=True):
        contents = {p.read_bytes() for p in paths}
        assert len(contents) == 1, f"{paths[0].suffix} differs between exports"


def test_pdf_embeds_truetype_fonts_without_dates(tmp_path: Path) -> None:
    (pdf,) = export_figure(_figure(), tmp_path / "figure", formats="pdf")
    data = pdf.read_bytes()
    assert b"/FontFile2" in data  # embedded TrueType font program
    assert re.search(rb"/Subtype\s*/(TrueType|CIDFontType2)", data)
    assert not re.search(rb"/Subtype\s*/Type3", data)
    assert b"/CreationDate" not in data and b"/ModDate" not in data


def test_svg_keeps_text_as_text(tmp_path: Path) -> None:
    (svg,) = export_figure(_figure(), tmp_path / "figure", formats=["svg"])
    text = svg.read_text()
    assert "<text" in text
    assert "cutoff" in text and "saliency σ* = 8" in text
    assert "<dc:date>" not in text


def test_png_has_no_software_tag_and_requested_dpi(tmp_path: Path) -> None:
    (png,) = export_figure(_figure(), tmp_path / "figure", formats="png", dpi=100, bbox_inches=None)
    data = png.read_bytes()
    assert b"Software" not in data
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (300, 200)


def _pdf_size(path: Path) -> tuple[float, float]:
    """Width and height in inches of a one-page PDF, from its /MediaBox (72 points per inch)."""
    box = re.search(
        rb"/MediaBox\s*\[\s*([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s*\]", path.read_bytes()
    )
    assert box, f"no /MediaBox in {path}"
    x0, y0, x1, y1 = (float(v) for v in box.groups())
    return (x1 - x0) / 72.0, (y1 - y0) / 72.0


def _titled_figures() -> dict[str, Figure]:
    """Figures with and without titles, made inside the current style; some titles wider than one column."""
    plain = Figure(layout="constrained")
    plain.add_subplot().plot([1, 2, 3], [0.2, 0.6, 0.4])
    titled = Figure(layout="constrained")
    titled.add_subplot().plot([1, 2, 3], [0.2, 0.6, 0.4])
    titled.suptitle("saliency, efficientnet_lite0: raw versus FORGrad-filtered maps at three cutoffs")
    two = [make_sweep("saliency"), make_sweep("smoothgrad", seed=1)]
    return {
        "plain": plain,
        "suptitle": titled,
        "no layout engine": Figure(),
        "curves, title": plot.cutoff_curves(
            make_sweep(), n_boot=50, title="saliency on maxpool_cnn, 12 images"
        ),
        "grid, title": plot.cutoff_curves(two, layout="grid", n_boot=50, title="two methods, one model"),
    }


@pytest.mark.parametrize(("venue", "columns"), [("icml", 1), ("icml", 2)])
def test_exported_pdf_is_exactly_the_column_wide_with_or_without_a_title(
    tmp_path: Path, venue: str, columns: int
) -> None:
    column = figure_size(venue, columns)[0]
    assert column == {1: 3.25, 2: 6.75}[columns]  # ICML's column and text widths (icml20xx.sty)
    with paper_style(venue, columns):
        figures = _titled_figures()
        for name, fig in figures.items():
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # nothing sticks out past the sides once titles are wrapped
                (pdf,) = export_figure(fig, tmp_path / name, formats="pdf")
            width, height = _pdf_size(pdf)
            assert width == pytest.approx(column, rel=0.01), name
            assert 0 < height <= fig.get_figheight() + 0.5, name  # cropped above and below, not stretched
        (png,) = export_figure(figures["suptitle"], tmp_path / "suptitle", formats="png", dpi=50)
        assert int.from_bytes(png.read_bytes()[16:20], "big") == pytest.approx(column * 50, abs=1)
        # the wrap is for the export only: the figure keeps its titles as they were
        assert not figures["suptitle"].get_suptitle() == "" and not figures["suptitle"]._suptitle.get_wrap()


def test_savefig_in_paper_style_writes_the_column_width(tmp_path: Path) -> None:
    with paper_style("icml", 1):
        fig = plot.cutoff_curves(make_sweep(), n_boot=50, title="a title")
        fig.savefig(tmp_path / "plain.pdf")
    assert _pdf_size(tmp_path / "plain.pdf")[0] == pytest.approx(3.25, rel=0.01)


def test_content_wider_than_the_figure_widens_the_export_with_a_warning(tmp_path: Path) -> None:
    fig = Figure(figsize=(2.0, 2.0), layout="constrained")
    ax = fig.add_subplot()
    ax.plot([0, 1], label="a legend entry far too long to fit into a figure two inches wide")
    fig.legend(loc="outside lower center")
    with pytest.warns(UserWarning, match=r"wider than the figure \(2 in\)"):
        (pdf,) = export_figure(fig, tmp_path / "wide", formats="pdf")
    assert _pdf_size(pdf)[0] > 2.2  # the legend is kept whole rather than cut


def test_export_paths_replace_known_suffixes_and_keep_others(tmp_path: Path) -> None:
    paths = export_figure(_figure(), tmp_path / "deep" / "fig.png", formats=("svg", "pdf"))
    assert paths == [tmp_path / "deep" / "fig.svg", tmp_path / "deep" / "fig.pdf"]
    assert all(p.is_file() for p in paths)
    (kept,) = export_figure(_figure(), tmp_path / "fig.v2", formats="png")
    assert kept == tmp_path / "fig.v2.png"


def test_export_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="formats"):
        export_figure(_figure(), tmp_path / "f", formats=("pdf", "jpg"))
    with pytest.raises(ValueError, match="formats"):
        export_figure(_figure(), tmp_path / "f", formats=())
    with pytest.raises(TypeError, match="Figure"):
        export_figure(_figure().axes[0], tmp_path / "f")
    with pytest.raises(ValueError, match="bbox_inches"):
        export_figure(_figure(), tmp_path / "f", bbox_inches="standard")
    with pytest.raises(ValueError, match="dpi"):
        export_figure(_figure(), tmp_path / "f", dpi=0)
    assert set(FORMATS) == {"pdf", "svg", "png"}
    assert not list(tmp_path.iterdir())
