"""A booktabs LaTeX table of an architecture comparison (held-out gain first), for a paper."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

_METRIC_NAMES = {"deletion": "Deletion", "insertion": "Insertion", "mufidelity": r"$\mu$Fidelity"}


def _escape(text: str) -> str:
    """Text safe inside a LaTeX table cell (``_``, ``&``, ``%``, ``#`` escaped)."""
    for char in ("\\", "&", "%", "#", "_", "$"):
        text = text.replace(char, "\\" + char)
    return text


def _gain(row: Mapping[str, Any]) -> str:
    """``+0.012 [+0.004, +0.020]``, bold when the interval excludes 0."""
    cell = f"{row['held_out_gain']:+.3f} [{row['held_out_low']:+.3f}, {row['held_out_high']:+.3f}]"
    return rf"\textbf{{{cell}}}" if row["held_out_excludes_zero"] is True else cell


def latex_table(rows: Sequence[Mapping[str, Any]], caption: str = "", label: str = "tab:forgrad") -> str:
    """A ``booktabs`` table of comparison rows (:meth:`ArchitectureComparison.rows`): one line per model x method
    x metric with N, sigma* and its interval, the unfiltered score, the held-out gain with its interval (bold when
    it excludes 0); black-box references show their score only. Needs ``\\usepackage{booktabs}``.

    Parameters
    ----------
    rows : sequence of dict
        Rows with the fields of :data:`~forgrad_viz.results.comparison_rows.ROW_FIELDS`.
    caption, label : str
        The table's caption and label.

    Returns
    -------
    str
        A ``table`` environment.

    Examples
    --------
    >>> row = {"model": "cnn", "method": "saliency", "metric": "insertion", "n_images": 4, "sigma_star": 2.0,
    ...        "sigma_low": 1.0, "sigma_high": 4.0, "unfiltered": 0.5, "held_out_gain": 0.1,
    ...        "held_out_low": 0.05, "held_out_high": 0.15, "held_out_excludes_zero": True}
    >>> print(latex_table([row]).splitlines()[7])
    cnn & saliency & Insertion & 4 & 2 [1, 4] & 0.500 & \\textbf{+0.100 [+0.050, +0.150]} \\\\
    """
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        r"\small",
        r"\begin{tabular}{lllrlrl}",
        r"\toprule",
        r"model & method & metric & $N$ & $\sigma^*$ [95\%] & unfiltered & held-out gain [95\%] \\",
        r"\midrule",
    ]
    previous = None
    for row in rows:
        if previous is not None and row["model"] != previous:
            lines.append(r"\midrule")
        previous = row["model"]
        metric = _METRIC_NAMES.get(row["metric"], _escape(row["metric"]))
        if math.isfinite(row["sigma_star"]):
            sigma = f"{row['sigma_star']:.3g} [{row['sigma_low']:.3g}, {row['sigma_high']:.3g}]"
            gain = _gain(row)
        else:  # a black-box reference: its score only
            sigma, gain = "--", "--"
        cells = [_escape(row["model"]), _escape(row["method"]), metric, str(row["n_images"]), sigma]
        cells += [f"{row['unfiltered']:.3f}", gain]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if caption:
        lines.append(rf"\caption{{{caption}}}")
    lines += [rf"\label{{{label}}}", r"\end{table}"]
    return "\n".join(lines) + "\n"
