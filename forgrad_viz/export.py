"""Paper style presets and reproducible figure export.

:func:`paper_style` sets matplotlib's parameters for a venue: the figure width of one column or the full text,
8-9 pt fonts, fonts embedded as TrueType (Type 42) in PDF and PostScript, text kept as text in SVG, saved files
the size of the figure and a fixed SVG hash salt. The widths come from the venues' LaTeX style files:

========  ===========================================  ==========================================
venue     ``columns=1``                                ``columns=2``
========  ===========================================  ==========================================
icml      3.25 in (one column of the two-column page)  6.75 in (``\\textwidth`` of icml20xx.sty)
neurips   2.7 in (half the text width, for subfigures) 5.5 in (``\\textwidth`` of neurips_20xx.sty)
default   6.4 in (matplotlib's default)                6.4 in
========  ===========================================  ==========================================

:func:`export_figure` writes a figure to PDF, SVG and PNG files that are byte-identical for the same figure:
no creation dates or software versions that change between runs, fixed SVG element ids. Its files keep the
figure's width (a figure made for a column is exactly that column wide, title or not): only the empty space above
and below the drawing is cropped, and titles that would stick out past the figure's sides are wrapped. (A tight
bounding box cropped the sides too: a PDF a little narrower than the column, or wider when a title stuck out.)

Examples
--------
>>> from matplotlib.figure import Figure
>>> with paper_style("icml", columns=1):
...     fig = Figure()
...     _ = fig.add_subplot().plot([1, 2, 3])
>>> [float(v) for v in fig.get_size_inches()]
[3.25, 2.4375]
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
from cycler import cycler
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from forgrad_viz._utils import check_choice, check_finite_number
from forgrad_viz.palette import FALLBACK_COLORS

#: Figure widths in inches per venue and number of columns spanned (see the module docstring).
VENUE_WIDTHS: dict[str, dict[int, float]] = {
    "icml": {1: 3.25, 2: 6.75},
    "neurips": {1: 2.7, 2: 5.5},
    "default": {1: 6.4, 2: 6.4},
}
#: Height / width of a figure when no aspect is given (matplotlib's default 4.8 / 6.4).
DEFAULT_ASPECT = 0.75
#: Formats :func:`export_figure` writes.
FORMATS = ("pdf", "svg", "png")
#: Salt of SVG element ids, fixed so that SVG output is reproducible.
SVG_HASH_SALT = "forgrad_viz"

#: Parameters that make the exported files embed TrueType fonts, keep SVG text and reproduce byte for byte.
_EXPORT_RC: dict[str, Any] = {
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "svg.fonttype": "none",
    "svg.hashsalt": SVG_HASH_SALT,
}
#: Metadata entries cleared in each format (matplotlib writes dates and versions there by default).
_METADATA: dict[str, dict[str, Any]] = {
    "pdf": {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None},
    "svg": {"Date": None, "Creator": None},
    "png": {"Software": None},
}


def _check_columns(columns: Any) -> int:
    if isinstance(columns, bool) or columns not in (1, 2):
        raise ValueError(f"columns must be 1 or 2; got {columns!r}")
    return int(columns)


def figure_size(
    venue: str = "default", columns: int = 1, aspect: float = DEFAULT_ASPECT
) -> tuple[float, float]:
    """Figure size ``(width, height)`` in inches for a venue's column(s).

    Parameters
    ----------
    venue : {"icml", "neurips", "default"}
        The venue (widths in the module docstring).
    columns : {1, 2}
        Number of columns spanned: ICML 1 = one column, 2 = both; NeurIPS (single-column) 1 = half the text
        width, 2 = the full text width.
    aspect : float
        Height divided by width.

    Returns
    -------
    tuple of float
        ``(width, height)`` in inches.

    Examples
    --------
    >>> figure_size("neurips", columns=2, aspect=0.5)
    (5.5, 2.75)
    """
    check_choice(venue, "venue", tuple(VENUE_WIDTHS))
    width = VENUE_WIDTHS[venue][_check_columns(columns)]
    return width, width * check_finite_number(aspect, "aspect", positive=True)


def style_params(venue: str = "default", columns: int = 1, aspect: float = DEFAULT_ASPECT) -> dict[str, Any]:
    """The matplotlib parameters that :func:`paper_style` applies (a dict for ``matplotlib.rc_context``).

    Examples
    --------
    >>> style_params("icml")["pdf.fonttype"]
    42
    """
    small = venue != "default"
    base, label, tick = (8, 8, 7) if small else (10, 10, 9)
    return {
        "figure.figsize": figure_size(venue, columns, aspect),
        "figure.dpi": 100,
        "savefig.dpi": 300,
        "savefig.bbox": "standard",
        "savefig.pad_inches": 0.02,
        "font.family": "sans-serif",
        "font.sans-serif": ["DejaVu Sans"],
        "mathtext.fontset": "dejavusans",
        "font.size": base,
        "axes.titlesize": base + 1,
        "axes.labelsize": label,
        "xtick.labelsize": tick,
        "ytick.labelsize": tick,
        "legend.fontsize": tick,
        "legend.title_fontsize": tick,
        "figure.titlesize": base + 1,
        "lines.linewidth": 1.2 if small else 1.5,
        "lines.markersize": 4 if small else 6,
        "axes.linewidth": 0.6 if small else 0.8,
        "axes.prop_cycle": cycler(color=list(FALLBACK_COLORS)),
        **_EXPORT_RC,
    }


@contextlib.contextmanager
def paper_style(venue: str = "default", columns: int = 1, aspect: float = DEFAULT_ASPECT) -> Iterator[dict]:
    """Context manager: figures made inside fit the venue's column and export with embedded TrueType fonts.

    Inside the block, new figures default to :func:`figure_size` (the figure functions of
    :mod:`forgrad_viz.plot` take their width from it), fonts are DejaVu Sans at 7-9 pt for ICML and NeurIPS
    (10 pt for ``"default"``), PDF/PS fonts are embedded as TrueType (``pdf.fonttype`` 42, no Type 3), SVG text
    stays text (``svg.fonttype`` "none"), ``savefig`` writes the whole figure (``savefig.bbox`` "standard": the
    file is the column's width; :func:`export_figure` also crops the empty space above and below), and SVG ids use
    a fixed salt.

    Parameters
    ----------
    venue : {"icml", "neurips", "default"}
        The venue.
    columns : {1, 2}
        Number of columns spanned (see :func:`figure_size`).
    aspect : float
        Default height / width of new figures.

    Yields
    ------
    dict
        The parameters in effect (:func:`style_params`).

    Examples
    --------
    >>> import matplotlib as mpl
    >>> with paper_style("neurips", columns=2):
    ...     mpl.rcParams["svg.fonttype"]
    'none'
    """
    params = style_params(venue, columns, aspect)
    with mpl.rc_context(params):
        yield params


def _output_paths(path: str | Path, formats: Sequence[str]) -> list[Path]:
    """One path per format: a known format suffix on ``path`` is replaced, any other suffix is kept."""
    path = Path(path)
    stem = path.with_suffix("") if path.suffix.lower().lstrip(".") in FORMATS else path
    return [stem.parent / f"{stem.name}.{fmt}" for fmt in formats]


def _check_formats(formats: str | Sequence[str]) -> tuple[str, ...]:
    formats = (formats,) if isinstance(formats, str) else tuple(formats)
    if not formats:
        raise ValueError(f"formats must name at least one of {list(FORMATS)}")
    for fmt in formats:
        check_choice(fmt, "formats", FORMATS)
    return tuple(dict.fromkeys(formats))


def export_figure(
    fig: Figure,
    path: str | Path,
    formats: str | Sequence[str] = FORMATS,
    dpi: int = 300,
    bbox_inches: str | None = "tight",
) -> list[Path]:
    """Write ``fig`` as PDF, SVG and/or PNG files that are byte-identical for the same figure.

    The PDF embeds its fonts as TrueType (Type 42, never Type 3) and carries no creation/modification date or
    producer; the SVG keeps text as ``<text>`` elements (``svg.fonttype`` "none"), has no date and uses a fixed
    id salt; the PNG carries no software tag. These settings apply while saving whatever the current style.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    path : str or pathlib.Path
        Output path without suffix (``figs/cutoff`` -> ``figs/cutoff.pdf``, ...). A ``.pdf``/``.svg``/``.png``
        suffix is replaced by each format's; any other suffix is kept (``fig.v2`` -> ``fig.v2.pdf``). Parent
        folders are created.
    formats : str or sequence of str
        Any of ``"pdf"``, ``"svg"``, ``"png"``.
    dpi : int
        Resolution of the PNG and of raster images (heatmaps) inside the PDF and SVG.
    bbox_inches : {"tight", None}
        ``"tight"`` keeps the figure's width and crops its height to the drawn content (``savefig.pad_inches``
        above and below); titles (figure, axes) that would stick out past the figure's sides are wrapped first,
        for this export only. Content that still sticks out (a legend wider than the figure) widens the files,
        with a warning. ``None`` keeps the figure size.

    Returns
    -------
    list of pathlib.Path
        The files written, in the order of ``formats``.

    Examples
    --------
    >>> import tempfile
    >>> fig = Figure()
    >>> _ = fig.add_subplot().plot([0, 1], [1, 0])
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     [p.name for p in export_figure(fig, Path(tmp) / "line", formats=("pdf", "png"))]
    ['line.pdf', 'line.png']
    """
    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib.figure.Figure; got {type(fig).__name__}")
    if bbox_inches not in ("tight", None):
        raise ValueError(f"bbox_inches must be 'tight' or None; got {bbox_inches!r}")
    formats = _check_formats(formats)
    dpi = int(check_finite_number(dpi, "dpi", positive=True))
    paths = _output_paths(path, formats)
    with (
        mpl.rc_context(_EXPORT_RC),
        _wrapped_titles(fig, bbox_inches == "tight"),
        _frozen_layout(fig),
    ):
        box = _full_width_box(fig) if bbox_inches == "tight" else None
        for fmt, out in zip(formats, paths, strict=True):
            out.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(out, format=fmt, dpi=dpi, metadata=_METADATA[fmt], bbox_inches=box)
    return paths


def _titles(fig: Figure) -> list[Text]:
    """The figure's and its axes' titles and x-labels (texts a layout engine does not shrink to fit)."""
    found = [fig._suptitle, *fig.texts]  # no public getter for the suptitle
    for ax in fig.get_axes():
        found += [ax.title, ax._left_title, ax._right_title, ax.xaxis.label]
    return [t for t in found if t is not None and t.get_visible() and t.get_text()]


def _sticks_out(artist: Any, fig: Figure) -> bool:
    """Whether the drawn artist reaches past the figure's left or right side (by more than half a point)."""
    box = artist.get_window_extent()
    return bool(box.x0 < -0.5 * fig.dpi / 72 or box.x1 > fig.bbox.width + 0.5 * fig.dpi / 72)


@contextlib.contextmanager
def _wrapped_titles(fig: Figure, wrap: bool) -> Iterator[None]:
    """While exporting, wrap the titles that stick out past the figure's sides (matplotlib wraps them at the
    figure's edges and the layout engine makes room for the extra lines); restored afterwards."""
    wrapped: list[Text] = []
    if wrap:
        for _ in range(3):  # a wrapped title can move the others: check again after each layout
            fig.draw_without_rendering()  # runs the layout engine and places the texts
            out = [t for t in _titles(fig) if not t.get_wrap() and _sticks_out(t, fig)]
            if not out:
                break
            for title in out:
                title.set_wrap(True)
            wrapped += out
    try:
        yield
    finally:
        for title in wrapped:
            title.set_wrap(False)


def _full_width_box(fig: Figure) -> Bbox:
    """The box to save, in inches: the figure's full width, its height cropped to the drawn content plus
    ``savefig.pad_inches``; wider (with a warning) if content still sticks out past the figure's sides."""
    width = float(fig.get_figwidth())
    drawn = fig.get_tightbbox()
    pad = float(mpl.rcParams["savefig.pad_inches"])
    left, right = min(0.0, drawn.x0), max(width, drawn.x1)
    if right - left > width * (1 + 1e-3):
        warnings.warn(
            f"the figure's content is {right - left:.3g} in wide, wider than the figure ({width:.3g} in): the "
            "exported files are that wide; make the figure's legend or labels narrower to keep its width",
            UserWarning,
            stacklevel=3,
        )
    return Bbox.from_extents(left, drawn.y0 - pad, right, drawn.y1 + pad)


@contextlib.contextmanager
def _frozen_layout(fig: Figure) -> Iterator[None]:
    """Run the figure's layout engine once, round the axes positions and keep them fixed while saving.

    A layout engine (constrained layout) starts from the positions of the previous draw, so re-laying out a
    figure that was already drawn moves its axes in the last bits: enough to change SVG clip-path ids (hashes of
    the clip boxes). Rounding the positions to 1e-10 of the figure makes every export of the figure identical;
    the engine is restored afterwards.
    """
    engine = fig.get_layout_engine()
    if engine is None:
        yield
        return
    fig.draw_without_rendering()  # lays the figure out
    for ax in fig.get_axes():
        ax.set_position(np.round(ax.get_position().bounds, 10))
    fig.set_layout_engine("none")
    try:
        yield
    finally:
        fig.set_layout_engine(engine)
