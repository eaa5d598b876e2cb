"""What the other processes on this machine are doing right now: runnable tasks and the cores left free.

Linux counts the runnable tasks of the whole machine in the fourth field of ``/proc/loadavg``
(``"running/total"``), this process's own threads included; each thread's state is the third field of
``/proc/self/task/<tid>/stat``. One reading is noisy (a short-lived task shows up in about 1% of readings on an
idle machine, and at the start of a process far more often), so the count is the median of a few readings half a
millisecond apart. Without ``/proc`` (not Linux) nothing is known and the machine counts as free.

Examples
--------
>>> runnable_elsewhere(samples=3) >= 0
True
>>> 1 <= free_cores() <= usable_cores()
True
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

#: Readings per estimate and the pause between them.
SAMPLES = 5
INTERVAL_S = 0.0005

LOADAVG = Path("/proc/loadavg")
OWN_TASKS = Path("/proc/self/task")


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity mask)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _runnable_on_machine(loadavg: Path) -> int | None:
    """Runnable tasks of the whole machine (this process's included), or None when unreadable."""
    try:
        return int(loadavg.read_text().split()[3].split("/")[0])
    except (OSError, IndexError, ValueError):
        return None


def _runnable_here(tasks: Path) -> int:
    """Threads of this process that are runnable now (at least 1: the one reading)."""
    running = 0
    try:
        entries = list(tasks.iterdir())
    except OSError:
        return 1
    for task in entries:
        try:
            stat = (task / "stat").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        running += stat[stat.rfind(")") + 2 : stat.rfind(")") + 3] == "R"
    return max(running, 1)


def runnable_elsewhere(
    samples: int = SAMPLES,
    interval: float = INTERVAL_S,
    loadavg: str | os.PathLike = LOADAVG,
    tasks: str | os.PathLike = OWN_TASKS,
) -> int:
    """Runnable tasks that are not this process's threads: the median of ``samples`` readings.

    Parameters
    ----------
    samples : int
        Readings (>= 1), ``interval`` seconds apart.
    interval : float
        Pause between readings, in seconds.
    loadavg, tasks : path
        ``/proc/loadavg`` and this process's ``/proc/self/task`` (other paths for tests).

    Returns
    -------
    int
        0 when nothing else wants a core, or when ``loadavg`` cannot be read.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile("w", suffix="loadavg", delete=False) as handle:
    ...     _ = handle.write("0.10 0.20 0.30 3/200 999")
    >>> runnable_elsewhere(samples=1, loadavg=handle.name, tasks="/nonexistent")
    2
    """
    loadavg, tasks = Path(loadavg), Path(tasks)
    counts = []
    for index in range(samples):
        if index:
            time.sleep(interval)
        total = _runnable_on_machine(loadavg)
        if total is None:
            return 0
        counts.append(max(total - _runnable_here(tasks), 0))
    return int(statistics.median_low(counts))


def free_cores(cores: int | None = None, **reading: object) -> int:
    """Cores no other process wants now: ``usable_cores() - runnable_elsewhere()``, at least 1.

    Examples
    --------
    >>> free_cores(cores=4, samples=1, loadavg="/nonexistent")
    4
    """
    cores = usable_cores() if cores is None else cores
    return max(1, cores - runnable_elsewhere(**reading))


#: How long a reading of :func:`recent_free_cores` is reused, in seconds.
READING_MAX_AGE_S = 1.0
_last_reading: list[tuple[float, int]] = []


def recent_free_cores() -> int:
    """:func:`free_cores`, read at most every ``READING_MAX_AGE_S`` seconds (a reading takes a few ms).

    Examples
    --------
    >>> recent_free_cores() == recent_free_cores()
    True
    """
    now = time.monotonic()
    if not _last_reading or now - _last_reading[0][0] > READING_MAX_AGE_S:
        _last_reading[:] = [(now, free_cores())]
    return _last_reading[0][1]
