"""Paired agreement of two runs of the same sweep on the same photographs (one setting changed).

Used by the study for the scoring backend (PyTorch fp32 against ONNX Runtime) and for the map's borders (reflect
padding against none). For each metric it reports: the per-photograph change of every score (unfiltered and at
every cutoff), sigma* of each run (in sample and per held-out fold), the held-out gain of each run with its
interval and verdict, and the paired difference of the two held-out gains with a percentile bootstrap interval
over photographs.

Run from the repository root::

    python docs/study/agreement.py BASELINE.json VARIANT.json --label "padding reflect vs none" --out FILE.md
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from forgrad_viz.results import CutoffSweep

FOLDS = 5  # as in run_study.sh
N_BOOT = 1000


def _aligned(base: CutoffSweep, variant: CutoffSweep) -> np.ndarray:
    """Indices into ``variant`` of ``base``'s photographs, in ``base``'s order (every photograph in both)."""
    where = {int(i): k for k, i in enumerate(variant.image_ids)}
    missing = [int(i) for i in base.image_ids if int(i) not in where]
    if missing or len(where) != len(base.image_ids):
        raise SystemExit(
            f"the runs hold different photographs ({len(missing)} of the baseline's are missing)"
        )
    if not np.allclose(base.cutoffs, variant.cutoffs):
        raise SystemExit("the runs have different cutoffs")
    return np.array([where[int(i)] for i in base.image_ids])


def _interval(values: np.ndarray, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(N_BOOT, len(values)))].mean(axis=1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def _sigma(sweep: CutoffSweep, cutoff: float) -> str:
    nyquist = sweep.nyquist(cutoff)
    return f"{cutoff:.3g}" + (f" ({nyquist:.3f} Nyq.)" if nyquist is not None else "")


def _verdict(low: float, high: float) -> str:
    return "helps" if low > 0 else "hurts" if high < 0 else "no verdict"


def report(base: CutoffSweep, variant: CutoffSweep, label: str) -> str:
    """A Markdown report of ``variant`` against ``base`` (see the module docstring)."""
    order = _aligned(base, variant)
    lines = [
        f"# {label}: {base.model_name or 'model'}, {base.method}, {base.n_images} photographs",
        "",
        "Paired on the same photographs. Score changes are variant minus baseline, over every photograph and every"
        " cutoff (and the unfiltered map). Held-out gains: sigma* chosen on 4 of 5 folds, scored on the fifth,"
        f" minus the unfiltered map; 95% percentile bootstrap intervals over photographs ({N_BOOT} resamples).",
        "",
        "| metric | median abs. score change | largest abs. change | sigma* baseline | sigma* variant | held-out"
        " sigma* per fold (baseline / variant) | held-out gain baseline | held-out gain variant | variant minus"
        " baseline (paired) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for metric in base.metrics:
        a = np.vstack([base.unfiltered[metric], base.scores[metric]])  # (1 + cutoffs, photographs)
        b = np.vstack([variant.unfiltered[metric], variant.scores[metric]])[:, order]
        change = np.abs(b - a)
        held = [s.held_out(metric, folds=FOLDS) for s in (base, variant)]
        difference = held[1].per_image[order] - held[0].per_image
        low, high = _interval(difference)
        folds = " / ".join(",".join(f"{c:.3g}" for c in h.fold_cutoffs) for h in held)
        gains = [f"{h.gain:+.4f} [{h.low:+.4f}, {h.high:+.4f}] {_verdict(h.low, h.high)}" for h in held]
        best = [_sigma(s, s.best_cutoff(metric, warn_at_edge=False).cutoff) for s in (base, variant)]
        lines.append(
            f"| {metric} | {np.median(change):.2e} | {change.max():.2e} | {best[0]} | {best[1]} | {folds} |"
            f" {gains[0]} | {gains[1]} | {difference.mean():+.4f} [{low:+.4f}, {high:+.4f}] |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("baseline", type=Path)
    parser.add_argument("variant", type=Path)
    parser.add_argument("--label", required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    text = report(CutoffSweep.load(args.baseline), CutoffSweep.load(args.variant), args.label)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
