"""What the explorers share: the status line, export row, progress bar, error capture and notebook display."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as widgets
from matplotlib.figure import Figure

from forgrad_viz.export import export_figure

__all__ = ["ExplorerBase", "control_value", "status_html", "titled"]


def status_html(text: str, error: bool = False) -> str:
    """``text`` as the HTML of a status line (red for an error)."""
    colour = "#b00020" if error else "#444"
    return f"<span style='color:{colour}'>{html.escape(text)}</span>"


def titled(title: str, child: widgets.Widget) -> widgets.VBox:
    """``child`` under a bold ``title``."""
    return widgets.VBox([widgets.HTML(f"<b>{html.escape(title)}</b>"), child])


def control_value(control: str, cast: Callable[[Any], Any], doc: str) -> property:
    """A read-only property: the value of the explorer's control named ``control``, converted by ``cast``."""
    return property(lambda self: cast(getattr(self, control).value), doc=doc)


class ExplorerBase:
    """Status line, export row, progress bar, error capture and notebook display shared by the explorers."""

    widget: widgets.VBox

    def __init__(self, export_path: str | Path) -> None:
        self.last_error: Exception | None = None
        self.status = widgets.HTML(status_html("ready"))
        self.status.add_class("forgrad-status")
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="", bar_style="info")
        self.progress.layout.visibility = "hidden"
        self.export_path = widgets.Text(
            value=str(export_path), description="export to", continuous_update=False
        )
        self.export_button = widgets.Button(description="Export figure", icon="download")
        self.export_button.on_click(self._guard(lambda _button: self.export()))

    def _guard(self, handler: Callable[..., Any]) -> Callable[..., None]:
        """Wrap a control's handler so that an error is shown in the status line rather than lost."""

        def guarded(*args: Any) -> None:
            try:
                handler(*args)
            except Exception as error:  # a notebook callback has nowhere else to report its error
                self.last_error = error
                self.status.value = status_html(f"Error: {error}", error=True)
                self.progress.layout.visibility = "hidden"
            else:
                self.last_error = None

        return guarded

    def _start_progress(self, total: int, description: str) -> None:
        self.progress.max = max(1, total)
        self.progress.value = 0
        self.progress.description = description
        self.progress.layout.visibility = "visible"

    def _step_progress(self) -> None:
        self.progress.value += 1

    def _end_progress(self) -> None:
        self.progress.layout.visibility = "hidden"

    def current_figure(self) -> Figure:
        """A Figure of the current view (drawn by each explorer)."""
        raise NotImplementedError

    def export(
        self, path: str | Path | None = None, formats: Sequence[str] = ("pdf", "svg", "png")
    ) -> list[Path]:
        """Write the current view with :func:`forgrad_viz.export_figure` (``path`` defaults to the text box).

        Returns the paths written.
        """
        paths = export_figure(
            self.current_figure(), path if path is not None else self.export_path.value, formats
        )
        self.status.value = status_html("exported " + ", ".join(str(p) for p in paths))
        return paths

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)
