"""The thread settings under load, each in a fresh process (``forgrad-viz bench policies``).

``bench NAME --load K`` measures load that arrives after a process started. This benchmark measures the other case,
a process started on a busy machine, and compares what a user could set. Each setting runs in a fresh Python
process, on a free machine and with ``busy`` busy processes started before it; the process times ``forgrad``
(``n_maps`` seeded attributions of ``size`` x ``size``, ``n_cutoffs`` cutoffs) and ``deletion`` (the demo
``maxpool_cnn`` on ``n_images`` shapes images, seeded maps, 20 steps): one warm-up run, then the median of
``repeats``. The settings take turns, ``rounds`` times (a fresh process each time), and each keeps its fastest
round, so that a drift in the machine's speed moves them alike. Settings:

* ``as shipped``: ``import forgrad_viz`` first (its wait policy at import, its thread counts following the load);
* ``torch defaults``: ``import torch`` first, forgrad_viz's thread counts kept at torch's (what forgrad_viz did
  before it looked at the load);
* ``PASSIVE``: ``OMP_WAIT_POLICY=PASSIVE`` set by hand, thread counts kept;
* ``1 thread``: ``torch.set_num_threads(1)``.

Ratios are against ``torch defaults`` on the free machine, measured in the same run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

from forgrad_viz._cpu_load import usable_cores
from forgrad_viz._utils import check_positive_int
from forgrad_viz.benchmarks.load import busy_processes

__all__ = ["SETTINGS", "format_report", "run"]

#: Setting -> (environment added, code run before the work).
SETTINGS: dict[str, tuple[dict[str, str], str]] = {
    "as shipped": ({}, "import forgrad_viz, torch"),
    "torch defaults": ({}, "import torch, forgrad_viz; _keep_thread_counts()"),
    "PASSIVE": ({"OMP_WAIT_POLICY": "PASSIVE"}, "import torch, forgrad_viz; _keep_thread_counts()"),
    "1 thread": ({}, "import torch, forgrad_viz; _keep_thread_counts(); torch.set_num_threads(1)"),
}

_CHILD = """
import json, statistics, sys, time
def _keep_thread_counts():
    import forgrad_viz._threads as threads
    threads.recent_free_cores = lambda: 10**6
{setup}
from forgrad_viz import models
from forgrad_viz.data import shapes_dataset
from forgrad_viz.filters import default_cutoffs, forgrad
from forgrad_viz.metrics import deletion
n_maps, size, n_cutoffs, n_images, repeats = {arguments}
generator = torch.Generator().manual_seed(0)
attributions = torch.randn(n_maps, 3, size, size, generator=generator)
cutoffs = default_cutoffs(size, size, n_cutoffs)
model = models.load_demo("maxpool_cnn")
images = shapes_dataset(n_images, size=64, seed=0).images
maps = torch.rand(n_images, 64, 64, generator=generator)
work = {{"forgrad": lambda: forgrad(attributions, cutoffs), "deletion": lambda: deletion(model, images, maps)}}
seconds = {{}}
for name, function in work.items():
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    seconds[name] = statistics.median(times)
print(json.dumps(seconds))
"""


def _child(setting: str, arguments: tuple[int, ...]) -> dict[str, float]:
    """Seconds of the work in a fresh process with ``setting``."""
    environment, setup = SETTINGS[setting]
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    code = _CHILD.format(setup=setup, arguments=arguments)
    done = subprocess.run(
        [sys.executable, "-c", code], env={**env, **environment}, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"setting {setting!r} failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(
    n_maps: int = 64,
    size: int = 224,
    n_cutoffs: int = 32,
    n_images: int = 32,
    repeats: int = 5,
    busy: int = 2,
    rounds: int = 2,
) -> dict[str, Any]:
    """Time ``forgrad`` and ``deletion`` under each setting, free and with ``busy`` busy processes.

    Parameters
    ----------
    n_maps, size, n_cutoffs : int
        The ``forgrad`` work: maps, their size, cutoffs.
    n_images : int
        The ``deletion`` work: demo images (64 x 64).
    repeats : int
        Timed runs per process (the median counts), after one warm-up run.
    busy : int
        Busy processes started before the loaded runs (>= 1).
    rounds : int
        Fresh processes per setting and machine state, taking turns with the other settings; the fastest counts.

    Returns
    -------
    dict
        ``seconds[machine][setting][work]`` with machine ``"free"`` or ``"busy"``, ``ratios`` (same shape,
        against ``torch defaults`` on the free machine) and the settings.

    Examples
    --------
    >>> result = run(n_maps=2, size=32, n_cutoffs=2, n_images=2, repeats=1, busy=1)  # doctest: +SKIP
    >>> sorted(result["seconds"])  # doctest: +SKIP
    ['busy', 'free']
    """
    for value, name in (
        (n_maps, "n_maps"),
        (n_images, "n_images"),
        (repeats, "repeats"),
        (busy, "busy"),
        (rounds, "rounds"),
    ):
        check_positive_int(value, name)
    check_positive_int(size, "size", minimum=2)
    check_positive_int(n_cutoffs, "n_cutoffs", minimum=1)
    arguments = (n_maps, size, n_cutoffs, n_images, repeats)
    seconds: dict[str, dict[str, dict[str, float]]] = {"free": {}, "busy": {}}

    def measure(machine: str) -> None:
        for _ in range(rounds):
            for setting in SETTINGS:
                measured = _child(setting, arguments)
                kept = seconds[machine].setdefault(setting, measured)
                seconds[machine][setting] = {work: min(kept[work], measured[work]) for work in measured}

    measure("free")
    with busy_processes(busy):
        time.sleep(0.5)  # the busy processes running before the measured processes start
        measure("busy")
    baseline = seconds["free"]["torch defaults"]
    ratios = {
        machine: {s: {w: t / baseline[w] for w, t in works.items()} for s, works in by_setting.items()}
        for machine, by_setting in seconds.items()
    }
    settings = {
        "n_maps": n_maps,
        "size": size,
        "n_cutoffs": n_cutoffs,
        "n_images": n_images,
        "repeats": repeats,
        "busy": busy,
        "rounds": rounds,
        "cores": usable_cores(),
    }
    return {"settings": settings, "seconds": seconds, "ratios": ratios}


def format_report(result: dict[str, Any]) -> str:
    """A table: one row per work and machine, one column per setting (seconds and ratio to the free default).

    Examples
    --------
    >>> times = {"as shipped": {"forgrad": 1.0}, "torch defaults": {"forgrad": 1.0}}
    >>> ratios = {"as shipped": {"forgrad": 1.0}, "torch defaults": {"forgrad": 1.0}}
    >>> print(format_report({"settings": {"busy": 2, "cores": 2, "repeats": 5},
    ...     "seconds": {"free": times}, "ratios": {"free": ratios}}))  # doctest: +ELLIPSIS
    thread settings, fresh processes, 2 cores, busy = 2 busy processes started first, median of 5 runs, ...
    ...
    """
    settings = result["settings"]
    names = list(next(iter(result["seconds"].values())))
    lines = [
        f"thread settings, fresh processes, {settings['cores']} cores, busy = {settings['busy']} busy processes "
        f"started first, median of {settings['repeats']} runs, fastest of {settings.get('rounds', 1)} fresh processes",
        f"{'work':<20}" + "".join(f"{name:>20}" for name in names),
    ]
    for machine, by_setting in result["seconds"].items():
        for work in by_setting[names[0]]:
            cells = [
                f"{by_setting[name][work]:.3f} s ({result['ratios'][machine][name][work]:.2f}x)"
                for name in names
            ]
            lines.append(f"{work + ', ' + machine:<20}" + "".join(f"{cell:>20}" for cell in cells))
    return "\n".join(lines)
