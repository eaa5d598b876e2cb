"""The study's architecture table: one column per model, sigma* in a unit that transfers across resolutions.

Reads what `forgrad-viz compare` wrote into docs/study (`comparison.csv`, `differences.csv` and the sweeps' image
sizes) and writes `architectures.md`: for each method and metric, each model's held-out gain with its interval and
sigma* as a fraction of Nyquist (and in cycles per image at the model's own resolution), then every pair of models
whose sigma* were compared (`compare_best_cutoffs`: the ratio of the two sigma* as fractions of Nyquist, with its
paired bootstrap interval over the same photographs).

Run from the repository root: `python docs/study/architectures.py` (no model call; seconds).
"""

from __future__ import annotations

import csv
from pathlib import Path

from forgrad_viz.cli.compare_report import load_sweeps

STUDY = Path(__file__).resolve().parent
METRICS = ("insertion", "deletion", "mufidelity")
SHORT = {"efficientnet_lite0": "Lite0", "efficientnet_lite1": "Lite1", "efficientnet_lite2": "Lite2"}


def _read(name: str) -> list[dict[str, str]]:
    with (STUDY / name).open() as handle:
        return list(csv.DictReader(handle))


def _signed(value: str) -> str:
    return f"{float(value):+.3f}"


def architecture_markdown() -> str:
    """The two tables of `architectures.md` (see the module docstring)."""
    sweeps = load_sweeps(STUDY / "sweeps")
    sizes = {model: min(next(iter(d.values())).params["image_size"]) for model, d in sweeps.items()}
    rows = {(r["model"], r["method"], r["metric"]): r for r in _read("comparison.csv")}
    models = list(sweeps)
    methods = list(dict.fromkeys(method for d in sweeps.values() for method in d))
    names = [f"{SHORT.get(m, m)} ({sizes[m]} px)" for m in models]
    lines = [
        "<!-- written by docs/study/architectures.py from comparison.csv and differences.csv -->",
        "Held-out gain [95% interval] (bold: excludes 0); sigma* chosen on all photographs, as a fraction of Nyquist "
        "(cycles per image at the model's resolution).",
        "",
        "| method | metric | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(models),
    ]
    for method in methods:
        for metric in METRICS:
            cells = []
            for model in models:
                row = rows.get((model, method, metric))
                if row is None:
                    cells.append("–")
                    continue
                gain = f"{_signed(row['held_out_gain'])} [{_signed(row['held_out_low'])}, {_signed(row['held_out_high'])}]"
                if row["held_out_excludes_zero"] == "True":
                    gain = f"**{gain}**"
                sigma = float(row["sigma_star"])
                cells.append(
                    f"{gain}; sigma* {sigma / (sizes[model] / 2):.3f} ({sigma:.0f}), N = {row['n_images']}"
                )
            lines.append(f"| {method} | {metric} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Do two models' sigma* differ? Ratio sigma*_a / sigma*_b in fractions of Nyquist, paired bootstrap over the "
        "same photographs (bold: the interval excludes 1).",
        "",
        "| method | metric | models | N | sigma* a / b (Nyquist) | ratio [95% interval] |",
        "|---|---|---|---|---|---|",
    ]
    for row in _read("differences.csv"):
        ratio = f"{float(row['ratio']):.2f} [{float(row['ratio_low']):.2f}, {float(row['ratio_high']):.2f}]"
        if row["differs"] == "True":
            ratio = f"**{ratio}**"
        pair = f"{SHORT.get(row['model_a'], row['model_a'])} / {SHORT.get(row['model_b'], row['model_b'])}"
        sigmas = f"{float(row['nyquist_a']):.3f} / {float(row['nyquist_b']):.3f}"
        lines.append(
            f"| {row['method']} | {row['metric']} | {pair} | {row['n_images']} | {sigmas} | {ratio} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    (STUDY / "architectures.md").write_text(architecture_markdown())
    print(f"wrote {STUDY / 'architectures.md'}")
