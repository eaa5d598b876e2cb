"""Regenerate the PNG baselines of the figure regression tests (run only on purpose, then look at the images).

Usage: ``python tests/make_baseline_images.py [NAME ...]`` from the repository root (all figures by default).
The cases, style, resolution and tolerance live in ``tests/test_plotting.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from test_plotting import BASELINE_DIR, FIGURE_CASES, render_case  # noqa: E402


def main(names: list[str]) -> None:
    unknown = sorted(set(names) - set(FIGURE_CASES))
    if unknown:
        raise SystemExit(f"unknown figure cases {unknown}; known: {sorted(FIGURE_CASES)}")
    BASELINE_DIR.mkdir(exist_ok=True)
    for name in names or sorted(FIGURE_CASES):
        print(render_case(name, BASELINE_DIR / f"{name}.png"))


if __name__ == "__main__":
    main(sys.argv[1:])
