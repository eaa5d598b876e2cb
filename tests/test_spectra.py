"""Tests of forgrad_viz.spectra against numpy's full fft2, brute-force binning and known spectra."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from forgrad_viz.filters import lowpass
from forgrad_viz.spectra import high_frequency_energy, radial_bins, radial_spectrum

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def cosine(height: int, width: int, ky: int, kx: int) -> np.ndarray:
    """cos(2 pi (ky y / H + kx x / W)) plus an offset, so that the DC bin is not empty."""
    y, x = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    return 0.3 + np.cos(2 * np.pi * (ky * y / height + kx * x / width))


def brute_spectrum(image: np.ndarray, include_dc: bool) -> dict[int, tuple[float, int]]:
    """{bin: (sum of power, count)} by a loop over the full fft2 spectrum, power = |F|^2 / (H W)."""
    height, width = image.shape
    spectrum = np.fft.fft2(image)
    bins: dict[int, tuple[float, int]] = {}
    for i in range(height):
        for j in range(width):
            if i == 0 and j == 0 and not include_dc:
                continue
            ky, kx = np.fft.fftfreq(height)[i], np.fft.fftfreq(width)[j]
            radius = math.hypot(ky, kx) * min(height, width)
            index = math.floor(radius + 0.5)
            total, count = bins.get(index, (0.0, 0))
            bins[index] = (total + abs(spectrum[i, j]) ** 2 / (height * width), count + 1)
    return bins


def non_dc_energy(image: np.ndarray) -> float:
    """Sum of |F|^2 / (H W) over every bin but DC, from numpy's full fft2."""
    power = np.abs(np.fft.fft2(image)) ** 2 / image.size
    return float(power.sum() - power[0, 0])


@pytest.mark.parametrize(("height", "width"), [(8, 8), (7, 9), (16, 10), (5, 5), (21, 6)])
@pytest.mark.parametrize("include_dc", [False, True])
def test_radial_spectrum_matches_brute_force(height: int, width: int, include_dc: bool) -> None:
    image = np.random.default_rng(0).normal(size=(height, width))
    reference = brute_spectrum(image, include_dc)
    frequencies, counts = radial_bins(height, width, include_dc=include_dc)
    _, mean = radial_spectrum(image, include_dc=include_dc)
    _, total = radial_spectrum(image, include_dc=include_dc, reduce="sum")
    assert sorted(reference) == frequencies.astype(int).tolist()
    for index, frequency in enumerate(frequencies.astype(int)):
        expected_sum, expected_count = reference[frequency]
        assert counts[index] == expected_count
        assert total[index] == pytest.approx(expected_sum, rel=1e-10, abs=1e-12)
        assert mean[index] == pytest.approx(expected_sum / expected_count, rel=1e-10, abs=1e-12)


@pytest.mark.parametrize(
    ("height", "width", "ky", "kx", "expected_bin"),
    [
        (32, 32, 0, 5, 5),  # along x
        (32, 32, 7, 0, 7),  # along y
        (32, 32, 3, 4, 5),  # diagonal: radius sqrt(3^2 + 4^2) = 5
        (33, 33, 6, 8, 10),  # odd size, diagonal
        (32, 48, 0, 6, 4),  # non-square: 6 cycles over 48 px = 6 * 32 / 48 = 4 cycles per image (short side)
        (32, 48, 4, 0, 4),
    ],
)
def test_cosine_power_lands_in_its_bin(height: int, width: int, ky: int, kx: int, expected_bin: int) -> None:
    image = cosine(height, width, ky, kx)
    frequencies, power = radial_spectrum(image, reduce="sum")
    assert frequencies[int(np.argmax(power))] == expected_bin
    in_bin = power[frequencies == expected_bin].item()
    assert in_bin == pytest.approx(non_dc_energy(image), rel=1e-10)
    assert power.sum() - in_bin == pytest.approx(0.0, abs=1e-9 * in_bin)


def test_white_noise_is_flat() -> None:
    # Unit-variance white noise has expected power 1 in every bin (power = |F|^2 / (H W)). A bin of the radial
    # spectrum averages n DFT bins, i.e. n / 2 independent conjugate pairs each Exp(1)-distributed (the few
    # real-valued bins are chi2(1), variance 2 instead of 1), over M maps: its standard deviation is close to
    # sqrt(2 / (M n)). We allow 5 standard deviations per bin (a false alarm about once in 1.7 million bins;
    # the data are seeded anyway) and require at least 4 DFT bins per radius bin.
    n_maps, size = 64, 64
    maps = torch.randn(n_maps, size, size, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    frequencies, power = radial_spectrum(maps)
    _, counts = radial_bins(size, size)
    mean_power = power.mean(dim=0).numpy()
    usable = counts >= 4
    tolerance = 5 * np.sqrt(2.0 / (n_maps * counts[usable]))
    assert usable.sum() >= 40
    assert np.all(np.abs(mean_power[usable] - 1.0) <= tolerance)
    assert frequencies[0] == 1.0


@pytest.mark.parametrize(("height", "width"), [(8, 8), (7, 9), (16, 10), (5, 5)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_parseval(height: int, width: int, dtype: type) -> None:
    maps = np.random.default_rng(1).normal(loc=0.5, size=(3, height, width)).astype(dtype)
    _, counts = radial_bins(height, width)
    _, mean = radial_spectrum(maps)
    assert mean.dtype == dtype and mean.shape == (3, counts.size)
    rtol = 1e-6 if dtype == np.float64 else 1e-5
    for index in range(3):
        expected = non_dc_energy(maps[index].astype(np.float64))
        assert float((mean[index].astype(np.float64) * counts).sum()) == pytest.approx(expected, rel=rtol)
    _, with_dc = radial_spectrum(maps, include_dc=True, reduce="sum")
    np.testing.assert_allclose(
        with_dc.sum(axis=-1), (maps.astype(np.float64) ** 2).sum(axis=(-2, -1)), rtol=rtol
    )


def test_normalize_and_n_bins_and_batch_shape() -> None:
    maps = torch.rand(2, 3, 12, 12, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    frequencies, normalized = radial_spectrum(maps, normalize=True)
    _, counts = radial_bins(12, 12)
    assert normalized.shape == (2, 3, frequencies.size)
    torch.testing.assert_close(
        (normalized * torch.from_numpy(counts)).sum(dim=-1), torch.ones(2, 3, dtype=torch.float64)
    )
    first, head = radial_spectrum(maps, n_bins=4)
    _, full = radial_spectrum(maps)
    np.testing.assert_array_equal(first, [1.0, 2.0, 3.0, 4.0])
    torch.testing.assert_close(head, full[..., :4])
    _, constant = radial_spectrum(torch.ones(2, 12, 12), normalize=True)
    assert torch.equal(constant, torch.zeros_like(constant))


def test_elongated_map_keeps_non_dc_bins_near_zero_radius() -> None:
    # On a 40 x 8 map the bin ky = 1 lies at radius 8 / 40 = 0.2: it belongs to bin 0, which is then reported.
    image = cosine(40, 8, 1, 0)
    frequencies, power = radial_spectrum(image, reduce="sum")
    assert frequencies[0] == 0.0
    assert power[0] == pytest.approx(non_dc_energy(image), rel=1e-10)


# ------------------------------------------------------------------------------------ high-frequency energy
@pytest.mark.parametrize(
    ("height", "width", "ky", "kx", "radius"), [(32, 32, 3, 4, 5.0), (24, 36, 0, 9, 6.0)]
)
def test_high_frequency_energy_of_cosine(height: int, width: int, ky: int, kx: int, radius: float) -> None:
    image = cosine(height, width, ky, kx)
    cutoffs = [0.5, radius - 0.5, radius - 1e-6, radius, radius + 0.5, 40.0]
    fractions = high_frequency_energy(image, cutoffs)
    assert fractions.shape == (len(cutoffs),)
    np.testing.assert_allclose(fractions, [1, 1, 1, 0, 0, 0], atol=1e-12)


@pytest.mark.parametrize(("height", "width"), [(16, 16), (15, 11)])
@pytest.mark.parametrize("cutoff", [1.0, 2.5, 4.0, 7.0])
def test_high_frequency_energy_matches_lowpass(height: int, width: int, cutoff: float) -> None:
    maps = np.random.default_rng(3).normal(loc=1.0, size=(2, 3, height, width))
    fractions = high_frequency_energy(maps, cutoff)
    assert fractions.shape == (2, 3)
    kept = lowpass(maps, cutoff)
    kept_energy = ((kept - kept.mean(axis=(-2, -1), keepdims=True)) ** 2).sum(axis=(-2, -1))
    total = ((maps - maps.mean(axis=(-2, -1), keepdims=True)) ** 2).sum(axis=(-2, -1))
    np.testing.assert_allclose(fractions, 1 - kept_energy / total, atol=1e-12)


def test_high_frequency_energy_constant_map_is_zero_and_keeps_type() -> None:
    maps = torch.ones(3, 10, 10)
    fractions = high_frequency_energy(maps, [1.0, 3.0])
    assert isinstance(fractions, torch.Tensor) and fractions.dtype == torch.float32
    assert torch.equal(fractions, torch.zeros(2, 3))


# ---------------------------------------------------------------------------------------------- validation
def test_spectra_bad_input() -> None:
    maps = torch.rand(2, 8, 8)
    with pytest.raises(ValueError, match="reduce"):
        radial_spectrum(maps, reduce="median")
    with pytest.raises(ValueError, match="n_bins"):
        radial_spectrum(maps, n_bins=100)
    with pytest.raises(ValueError, match="n_bins"):
        radial_spectrum(maps, n_bins=0)
    with pytest.raises(TypeError, match="maps"):
        radial_spectrum(torch.ones(2, 8, 8, dtype=torch.complex64))
    with pytest.raises(ValueError, match="maps"):
        radial_spectrum(torch.rand(8))
    with pytest.raises(ValueError, match="maps"):
        high_frequency_energy(torch.rand(2, 1, 8), 2.0)
    with pytest.raises(ValueError, match="cutoff"):
        high_frequency_energy(maps, -2.0)
    with pytest.raises(TypeError, match="maps"):
        high_frequency_energy(np.ones((4, 4), dtype=np.int64), 2.0)


# -------------------------------------------------------------------------------------------------- CUDA
@pytest.mark.cuda
@cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cuda_spectra_match_cpu(dtype: torch.dtype) -> None:
    maps = torch.randn(3, 17, 12, generator=torch.Generator().manual_seed(4), dtype=dtype)
    frequencies, power = radial_spectrum(maps.cuda())
    expected_frequencies, expected = radial_spectrum(maps)
    assert power.device.type == "cuda" and power.dtype == dtype
    np.testing.assert_array_equal(frequencies, expected_frequencies)
    torch.testing.assert_close(power.cpu(), expected, rtol=1e-5, atol=1e-6)
    fractions = high_frequency_energy(maps.cuda(), [1.0, 3.0])
    torch.testing.assert_close(fractions.cpu(), high_frequency_energy(maps, [1.0, 3.0]), rtol=1e-5, atol=1e-6)
