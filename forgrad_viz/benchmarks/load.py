"""Measuring under load: busy processes for the duration of a benchmark, and loaded/idle ratios.

``forgrad-viz bench NAME --load K`` runs the benchmark once as is ("idle": whatever else the machine is doing),
then again while K extra processes spin (pure Python, one core each), and prints loaded/idle for every
timing of the report. The busy processes are always stopped, also on an error or Ctrl-C.

Examples
--------
>>> with busy_processes(1) as children:
...     alive = [child.poll() is None for child in children]
>>> alive, [child.poll() is None for child in children]
([True], [False])
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

from forgrad_viz._cpu_load import usable_cores
from forgrad_viz._utils import check_positive_int

__all__ = ["busy_processes", "format_load_report", "loaded_over_idle", "run_under_load", "timings"]

#: What each busy process runs: one core's worth of pure-Python spinning, for as long as its parent lives (so that
#: a benchmark killed by SIGTERM or SIGKILL, which skips the ``finally`` below, leaves no spinning child behind).
BUSY_CODE = "import os\nparent = os.getppid()\nwhile os.getppid() == parent: pass"


@contextlib.contextmanager
def busy_processes(count: int) -> Iterator[list[subprocess.Popen]]:
    """Start ``count`` busy processes for the block; kill and reap them on exit, whatever happens.

    Parameters
    ----------
    count : int
        Number of processes (>= 0), each spinning one core in pure Python.

    Yields
    ------
    list of subprocess.Popen
        The running processes (empty for ``count=0``).

    Examples
    --------
    >>> with busy_processes(0) as children:
    ...     children
    []
    """
    check_positive_int(count, "count", minimum=0)
    children: list[subprocess.Popen] = []
    try:
        for _ in range(count):
            children.append(
                subprocess.Popen(
                    [sys.executable, "-S", "-c", BUSY_CODE],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        yield children
    finally:
        for child in children:
            child.kill()
        for child in children:
            child.wait()


def timings(result: Any, prefix: str = "", timed: bool = False) -> dict[str, float]:
    """Every timing of a benchmark result: numbers under a ``seconds`` key or a key ending in ``_s``.

    Nested keys are joined with ``.``; ``None`` (a contender not run) is left out.

    Examples
    --------
    >>> timings({"ours_s": 2.0, "parts_s": {"a": 1.5}, "seconds": {"floor": 1.0, "peer": None}, "ratio": 0.5})
    {'ours_s': 2.0, 'parts_s.a': 1.5, 'seconds.floor': 1.0}
    """
    found: dict[str, float] = {}
    if not isinstance(result, dict):
        return found
    for key, value in result.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        is_timing = timed or key == "seconds" or str(key).endswith("_s")
        if isinstance(value, dict):
            found.update(timings(value, path, is_timing))
        elif is_timing and isinstance(value, (int, float)) and not isinstance(value, bool):
            found[path] = float(value)
    return found


def loaded_over_idle(idle: Any, loaded: Any) -> dict[str, dict[str, float]]:
    """``{timing: {"idle": s, "loaded": s, "ratio": loaded / idle}}`` for the timings both results have.

    Examples
    --------
    >>> loaded_over_idle({"ours_s": 2.0}, {"ours_s": 5.0})
    {'ours_s': {'idle': 2.0, 'loaded': 5.0, 'ratio': 2.5}}
    """
    before, after = timings(idle), timings(loaded)
    return {
        key: {"idle": before[key], "loaded": after[key], "ratio": after[key] / before[key]}
        for key in before
        if key in after and before[key] > 0
    }


def run_under_load(run: Callable[[], Any], load: int) -> dict[str, Any]:
    """Run ``run()`` idle, then again with ``load`` busy processes; both results, ratios and load averages.

    Returns
    -------
    dict
        ``idle`` and ``loaded`` (the two results), ``load`` (K), ``loadavg_idle``/``loadavg_loaded`` (the
        1-minute load average after each run, as reported by the OS) and ``loaded_over_idle``.

    Examples
    --------
    >>> out = run_under_load(lambda: {"seconds": {"x": 1.0}}, 1)
    >>> out["loaded_over_idle"]["seconds.x"]["ratio"]
    1.0
    """
    check_positive_int(load, "load")
    idle = run()
    loadavg_idle = _loadavg()
    with busy_processes(load):
        loaded = run()
        loadavg_loaded = _loadavg()
    return {
        "load": load,
        "idle": idle,
        "loaded": loaded,
        "loadavg_idle": loadavg_idle,
        "loadavg_loaded": loadavg_loaded,
        "loaded_over_idle": loaded_over_idle(idle, loaded),
    }


def _loadavg() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def format_load_report(measured: dict[str, Any]) -> str:
    """The loaded/idle table of :func:`run_under_load`'s result (one line per timing).

    Examples
    --------
    >>> print(format_load_report(run_under_load(lambda: {"ours_s": 1.0}, 1)))  # doctest: +ELLIPSIS
    under load: 1 busy process(es), ...
    """
    cores = usable_cores()
    lines = [
        f"under load: {measured['load']} busy process(es), {cores} cores, 1-min load average "
        f"{_fmt(measured['loadavg_idle'])} after the idle run, {_fmt(measured['loadavg_loaded'])} loaded",
        f"  {'timing':<44} {'idle s':>9} {'loaded s':>9} {'loaded/idle':>12}",
    ]
    for key, row in measured["loaded_over_idle"].items():
        lines.append(f"  {key:<44} {row['idle']:>9.3f} {row['loaded']:>9.3f} {row['ratio']:>11.2f}x")
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"
