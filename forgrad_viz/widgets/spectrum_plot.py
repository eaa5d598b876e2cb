"""The spectrum plot of :class:`~forgrad_viz.widgets.ForgradExplorer`: a matplotlib Figure redrawn by blitting."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from forgrad_viz.widgets.rendering import png_bytes

__all__ = ["SpectrumPlot"]


class SpectrumPlot:
    """Raw and FORGrad radial power spectra with the cutoff (and sigma*) line, redrawn by blitting.

    The static part (axes, ticks, raw spectrum, sigma*) is drawn once and kept as a background; a cutoff move
    restores it and draws only the FORGrad line and the cutoff line. The power axis only grows while the image
    and method stay the same: when a FORGrad spectrum leaves it, the whole plot is redrawn with wider limits.
    On a log axis the limits reach at most two decades below the raw spectrum's smallest value.
    """

    def __init__(self, raw_color: str, filtered_color: str, size: tuple[float, float] = (4.4, 2.7)) -> None:
        self.figure = Figure(figsize=size, dpi=80)
        self.canvas = FigureCanvasAgg(self.figure)
        self.figure.subplots_adjust(left=0.17, right=0.97, bottom=0.18, top=0.9)
        self.axes = self.figure.add_subplot()
        self.axes.set_xscale("log")
        self.axes.set_yscale("log", nonpositive="mask")
        self.axes.set_xlabel("frequency (cycles per image)")
        self.axes.set_ylabel("power")
        self.axes.set_title("radially averaged power spectrum", fontsize=9)
        (self.raw,) = self.axes.plot([], [], color=raw_color, lw=1.2, label="raw map")
        (self.filtered,) = self.axes.plot(
            [], [], color=filtered_color, lw=1.4, label="FORGrad map", animated=True
        )
        self.cutoff = self.axes.axvline(1.0, color="black", ls="--", lw=1.0, label="cutoff", animated=True)
        self.sigma_star = self.axes.axvline(1.0, color="0.45", ls=":", lw=1.2, visible=False)
        self.axes.legend(loc="lower left", fontsize=7, frameon=False)
        self._background: Any = None
        self._limits: tuple[float, float] | None = None

    def set_raw(self, frequencies: np.ndarray, power: np.ndarray, color: str) -> None:
        """Show the raw map's spectrum (a new image or method): limits and background are reset."""
        self.raw.set_data(frequencies, power)
        self.raw.set_color(color)
        self.axes.set_xlim(float(frequencies.min()) / 1.2, float(frequencies.max()) * 1.2)
        self._background, self._limits = None, None

    def set_sigma_star(self, value: float | None) -> None:
        """Mark sigma* with a dotted line and a legend entry (``None``: no mark)."""
        self.sigma_star.set_visible(value is not None)
        self.sigma_star.set_label("_hidden" if value is None else f"σ* = {value:.3g}")
        if value is not None:
            self.sigma_star.set_xdata([value, value])
        self.axes.legend(loc="lower left", fontsize=7, frameon=False)
        self._background = None

    def _limits_for(self, power: np.ndarray, log_power: bool) -> tuple[float, float]:
        """Power-axis limits that hold the raw spectrum and ``power``; on the same scale never narrower than now."""
        raw = np.asarray(self.raw.get_ydata())
        if log_power:
            positive = np.concatenate([raw, power])
            positive = positive[np.isfinite(positive) & (positive > 0)]
            if positive.size == 0:
                return 1e-12, 1.0
            raw_floor = float(raw[raw > 0].min()) / 100.0 if np.any(raw > 0) else 0.0
            low, high = max(float(positive.min()) / 1.5, raw_floor), float(positive.max()) * 1.5
        else:
            low, high = 0.0, 1.05 * max(float(raw.max()), float(power.max()), 1e-12)
        if self._limits is not None and (self.axes.get_yscale() == "log") == log_power:
            low, high = min(low, self._limits[0]), max(high, self._limits[1])
        return low, high

    def render(self, frequencies: np.ndarray, power: np.ndarray, cutoff: float, log_power: bool) -> bytes:
        """Update the FORGrad line and the cutoff line and return the plot as PNG bytes."""
        self.filtered.set_data(frequencies, power)
        self.cutoff.set_xdata([cutoff, cutoff])
        limits = self._limits_for(power, log_power)
        if (
            self._background is None
            or limits != self._limits
            or (self.axes.get_yscale() == "log") != log_power
        ):
            if (self.axes.get_yscale() == "log") != log_power:
                self.axes.set_yscale("log" if log_power else "linear")
            self.axes.set_ylim(*limits)
            self._limits = limits
            self.canvas.draw()  # everything but the animated lines
            self._background = self.canvas.copy_from_bbox(self.figure.bbox)
        else:
            self.canvas.restore_region(self._background)
        self.axes.draw_artist(self.filtered)
        self.axes.draw_artist(self.cutoff)
        return png_bytes(np.asarray(self.canvas.buffer_rgba())[..., :3])
