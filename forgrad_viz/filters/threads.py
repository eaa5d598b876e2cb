"""The filter's FFTs on the cores other processes leave free, where the thread count does not change the bits.

torch's OpenMP threads spin while they wait for each other. With more threads than free cores (other processes
started after torch, so the wait policy chosen at import could not help), each of the filter's many short
parallel regions waits for a thread that has no core: ``forgrad`` on 2 cores with two busy processes ran 5.8x
slower on 2 threads. A large CPU call therefore runs on ``min(torch threads, free cores)`` threads
(:func:`forgrad_viz._cpu_load.recent_free_cores`).

The results must not depend on the machine's load, and MKL's FFT does not always give the same bits on 1 and 2
threads (measured: inverse transforms of 16, 32 and 64-pixel maps differ in the last bit; 48 to 512 pixels,
odd sizes included, do not). So fewer threads are used only for transforms checked to give the same bits: each
(transform, batch, size, dtype, thread counts) is run once on seeded data at both counts and the verdict kept
for the process. Element-wise work (mask multiply, ``abs``) is exact on any count.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import torch

from forgrad_viz._cpu_load import recent_free_cores

#: Output values from which a CPU call may run on fewer threads (smaller calls run as they are: reading the load
#: costs a few milliseconds, at most every 2 seconds).
MIN_VALUES = 2**20

_SAME_BITS: dict[tuple, bool] = {}


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run the block on ``threads`` torch threads (nothing changes when it is the current count); restore after.

    Examples
    --------
    >>> before = torch.get_num_threads()
    >>> with torch_threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    current = torch.get_num_threads()
    if threads == current:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(current)


def _transform(kind: str, batch: int, height: int, width: int, dtype: torch.dtype) -> torch.Tensor:
    """``rfft2`` of seeded real maps, or ``irfft2`` of a seeded half spectrum, ``batch`` of them."""
    generator = torch.Generator().manual_seed(0)
    if kind == "rfft2":
        return torch.fft.rfft2(torch.randn(batch, height, width, generator=generator, dtype=dtype))
    real = torch.randn(2, batch, height, width // 2 + 1, generator=generator, dtype=dtype)
    return torch.fft.irfft2(torch.complex(real[0], real[1]), s=(height, width))


def same_bits(kind: str, batch: int, height: int, width: int, dtype: torch.dtype, threads: int) -> bool:
    """Whether the CPU transform ``kind`` gives the same bits on ``threads`` threads as on the current count.

    Checked once per process for each argument set and thread count, on seeded data.

    Examples
    --------
    >>> same_bits("irfft2", 4, 48, 48, torch.float32, torch.get_num_threads())
    True
    """
    current = torch.get_num_threads()
    key = (kind, batch, height, width, dtype, threads, current)
    if key not in _SAME_BITS:
        reference = _transform(kind, batch, height, width, dtype)
        with torch_threads(threads):
            candidate = _transform(kind, batch, height, width, dtype)
        _SAME_BITS[key] = torch.equal(reference, candidate)
    return _SAME_BITS[key]


def fft_threads(
    device: torch.device,
    n_values: int,
    transforms: Iterable[tuple[str, int]],
    height: int,
    width: int,
    dtype: torch.dtype,
) -> int:
    """Torch threads for one filter call: fewer than torch's count only when cores are taken and bits agree.

    Parameters
    ----------
    device : torch.device
        Where the call runs (only the CPU is concerned).
    n_values : int
        Output values of the call; below :data:`MIN_VALUES` the current count is kept.
    transforms : iterable of (str, int)
        The call's transforms: ``("rfft2" or "irfft2", batch)``.
    height, width : int
        Map size.
    dtype : torch.dtype
        Real dtype of the maps.

    Returns
    -------
    int
        ``min(torch.get_num_threads(), free cores)`` when every transform gives the same bits there, else
        ``torch.get_num_threads()``.

    Examples
    --------
    >>> fft_threads(torch.device("cpu"), 10, [("irfft2", 4)], 64, 64, torch.float32) == torch.get_num_threads()
    True
    """
    current = torch.get_num_threads()
    if device.type != "cpu" or n_values < MIN_VALUES or current == 1:
        return current
    wanted = min(current, recent_free_cores())
    if wanted == current:
        return current
    agree = all(same_bits(kind, batch, height, width, dtype, wanted) for kind, batch in set(transforms))
    return wanted if agree else current
