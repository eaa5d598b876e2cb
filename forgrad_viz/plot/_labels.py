"""Words and colours shared by the figures: metric names on axes, which way is better, colours of overlaid sets."""

from __future__ import annotations

from forgrad_viz.palette import FALLBACK_COLORS, colors_for

#: How each metric's score is named on axes.
METRIC_LABELS: dict[str, str] = {
    "deletion": "Deletion AUC",
    "insertion": "Insertion AUC",
    "mufidelity": "MuFidelity (Spearman)",
}


def _metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric)


def _better(higher_is_better: bool) -> str:
    return "higher is better" if higher_is_better else "lower is better"


def _set_colors(labels: list[str | None]) -> list[str]:
    """Distinct colours for overlaid sets: unlabelled sets take the fallback palette in order, labelled ones
    their method's or model's colour unless another set has it already (see :func:`palette.colors_for`)."""
    if all(label is None for label in labels):
        return [FALLBACK_COLORS[index % len(FALLBACK_COLORS)] for index in range(len(labels))]
    return colors_for([label if label is not None else f"set {index}" for index, label in enumerate(labels)])
