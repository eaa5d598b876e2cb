"""The filter's FFTs on the cores other processes leave free, where the thread count does not change the bits.

See :mod:`forgrad_viz._threads`. The FFTs of a call run on fewer threads only when every transform of the call was
checked to give the same bits there (on seeded data of the same shape: the verdict depends on MKL's code path, not
on the values); element-wise work (mask multiply, ``abs``) is exact on any count.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from forgrad_viz._threads import SameBits, wanted_threads

#: Output values from which a CPU call may run on fewer threads (smaller calls run as they are: reading the load
#: costs a few milliseconds, at most every second).
MIN_VALUES = 2**20

VERDICTS = SameBits()


def _transform(kind: str, batch: int, height: int, width: int, dtype: torch.dtype) -> torch.Tensor:
    """``rfft2`` of seeded real maps, or ``irfft2`` of a seeded half spectrum, ``batch`` of them."""
    generator = torch.Generator().manual_seed(0)
    if kind == "rfft2":
        return torch.fft.rfft2(torch.randn(batch, height, width, generator=generator, dtype=dtype))
    real = torch.randn(2, batch, height, width // 2 + 1, generator=generator, dtype=dtype)
    return torch.fft.irfft2(torch.complex(real[0], real[1]), s=(height, width))


def same_bits(kind: str, batch: int, height: int, width: int, dtype: torch.dtype, threads: int) -> bool:
    """Whether the CPU transform ``kind`` gives the same bits on ``threads`` threads as on the current count.

    Examples
    --------
    >>> same_bits("irfft2", 4, 48, 48, torch.float32, torch.get_num_threads())
    True
    """
    return VERDICTS.check(
        (kind, batch, height, width, dtype), lambda: _transform(kind, batch, height, width, dtype), threads
    )


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
    if n_values < MIN_VALUES:
        return current
    wanted = wanted_threads(device)
    if wanted == current:
        return current
    agree = all(same_bits(kind, batch, height, width, dtype, wanted) for kind, batch in set(transforms))
    return wanted if agree else current
