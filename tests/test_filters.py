"""Tests of forgrad_viz.filters against independent numpy computations (brute-force masks, full fft2)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from forgrad_viz.filters import (
    cutoff_to_nyquist,
    default_cutoffs,
    forgrad,
    frequency_mask,
    frequency_radius,
    iter_forgrad,
    lowpass,
    max_cutoff,
    nyquist_to_cutoff,
)

SIZES = [(8, 8), (7, 9), (16, 10), (5, 5), (9, 4)]
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def brute_radius(height: int, width: int, ky: int, kx: int) -> float:
    """Radius in cycles per image of the bin with signed indices (ky, kx), written from the definition."""
    return math.sqrt((ky / height) ** 2 + (kx / width) ** 2) * min(height, width)


def signed(index: int, n: int) -> int:
    """Signed frequency of DFT index ``index`` of length ``n`` (numpy's fftfreq convention)."""
    return index if index < (n + 1) // 2 else index - n


def brute_ideal_full(height: int, width: int, cutoff: float) -> np.ndarray:
    """(H, W) full-spectrum ideal mask by a double loop over the DFT bins."""
    mask = np.zeros((height, width))
    for i in range(height):
        for j in range(width):
            radius = brute_radius(height, width, signed(i, height), signed(j, width))
            mask[i, j] = 1.0 if radius <= cutoff + 1e-9 else 0.0
    return mask


def numpy_lowpass(maps: np.ndarray, cutoff: float) -> np.ndarray:
    """Ideal low-pass with the full complex fft2 and the brute-force mask."""
    mask = brute_ideal_full(maps.shape[-2], maps.shape[-1], cutoff)
    return np.fft.ifft2(np.fft.fft2(maps) * mask).real


def numpy_forgrad(attributions: np.ndarray, cutoff: float) -> np.ndarray:
    """The paper's pipeline written out: channel mean, abs, mask in the Fourier domain, abs."""
    maps = attributions.mean(axis=1) if attributions.ndim == 4 else attributions
    mask = brute_ideal_full(maps.shape[-2], maps.shape[-1], cutoff)
    return np.abs(np.fft.ifft2(np.fft.fft2(np.abs(maps)) * mask))


# --------------------------------------------------------------------------------------------- frequencies
@pytest.mark.parametrize(("height", "width"), SIZES)
@pytest.mark.parametrize("cutoff", [0.5, 1.0, 2.0, 2.5, 3.0, math.sqrt(2.0), math.sqrt(5.0)])
def test_ideal_mask_matches_brute_force(height: int, width: int, cutoff: float) -> None:
    full = brute_ideal_full(height, width, cutoff)
    mask = frequency_mask(height, width, cutoff, dtype=torch.float64)
    assert mask.shape == (1, height, width // 2 + 1)
    np.testing.assert_array_equal(mask[0].numpy(), full[:, : width // 2 + 1])


@pytest.mark.parametrize(("height", "width"), SIZES)
def test_radius_matches_definition(height: int, width: int) -> None:
    radius = frequency_radius(height, width, dtype=torch.float64).numpy()
    for i in range(height):
        for j in range(width // 2 + 1):
            assert radius[i, j] == pytest.approx(brute_radius(height, width, signed(i, height), j), abs=1e-12)
    corner = max(
        brute_radius(height, width, signed(i, height), signed(j, width))
        for i in range(height)
        for j in range(width)
    )
    assert max_cutoff(height, width) == pytest.approx(corner, abs=1e-12)


def test_square_radius_is_paper_radius_in_bins() -> None:
    radius = frequency_radius(224, 224, dtype=torch.float64)
    assert float(radius[3, 4]) == pytest.approx(5.0, abs=1e-12)
    assert float(radius[-15, 0]) == pytest.approx(15.0, abs=1e-12)
    assert max_cutoff(224, 224) == pytest.approx(112 * math.sqrt(2))


def test_nyquist_conversions() -> None:
    assert cutoff_to_nyquist(56.0, 224, 224) == pytest.approx(0.5)
    assert cutoff_to_nyquist(16.0, 64, 100) == pytest.approx(16.0 / 32.0)
    fractions = np.array([0.1, 0.25, 1.0])
    np.testing.assert_allclose(nyquist_to_cutoff(fractions, 299, 299), fractions * 149.5)
    np.testing.assert_allclose(cutoff_to_nyquist(nyquist_to_cutoff(fractions, 30, 47), 30, 47), fractions)


def test_default_cutoffs_log_spaced_to_max() -> None:
    cutoffs = default_cutoffs(64, 48, n=10)
    assert cutoffs[0] == pytest.approx(1.0)
    assert cutoffs[-1] == pytest.approx(max_cutoff(64, 48))
    ratios = cutoffs[1:] / cutoffs[:-1]
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-10)


def full_ideal_masks(height: int, width: int, cutoffs: np.ndarray) -> np.ndarray:
    """(S, H, W) full-spectrum ideal masks from numpy's fftfreq, written from the definition (vectorised)."""
    ky = np.fft.fftfreq(height)[:, None]  # cycles per pixel
    kx = np.fft.fftfreq(width)[None, :]
    radius = np.sqrt(ky**2 + kx**2) * min(height, width)
    return radius[None] <= np.asarray(cutoffs)[:, None, None] * (1 + 1e-9)


@pytest.mark.parametrize(
    ("height", "width", "n", "expected"),
    [
        (224, 224, 24, 22),
        (240, 240, 24, 22),
        (260, 260, 24, 22),
        (64, 64, 24, 20),
        (64, 48, 10, 10),
        (9, 4, 24, 9),
    ],
)
def test_default_cutoffs_one_per_distinct_ideal_filter(
    height: int, width: int, n: int, expected: int
) -> None:
    """The log-spaced grid with each value whose ideal mask equals the previous one's dropped: every filter of
    the grid is there once, at its smallest cutoff."""
    cutoffs = default_cutoffs(height, width, n=n)
    grid = np.geomspace(1.0, max_cutoff(height, width), n)
    masks = full_ideal_masks(height, width, grid)
    first = [i for i in range(n) if i == 0 or not np.array_equal(masks[i], masks[i - 1])]
    np.testing.assert_array_equal(cutoffs, grid[first])
    assert len(cutoffs) == expected
    kept = {mask.tobytes() for mask in full_ideal_masks(height, width, cutoffs)}
    assert len(kept) == len(cutoffs)  # pairwise distinct
    assert kept == {mask.tobytes() for mask in masks}  # no filter of the grid lost
    assert cutoffs[0] == 1.0 and cutoffs[-1] == pytest.approx(max_cutoff(height, width))


def test_default_cutoffs_224_drops_the_second_value() -> None:
    """At 224 x 224, 1 and 1.25 cycles per image keep the same 5 bins (the mean and its 4 neighbours)."""
    grid = np.geomspace(1.0, max_cutoff(224, 224), 24)
    assert (
        int(full_ideal_masks(224, 224, grid[:1]).sum())
        == int(full_ideal_masks(224, 224, grid[1:2]).sum())
        == 5
    )
    cutoffs = default_cutoffs(224, 224)
    assert grid[1] not in cutoffs and cutoffs[1] == grid[2]


@pytest.mark.parametrize("n", [1, 0, 2.5, True])
def test_default_cutoffs_bad_n(n: object) -> None:
    with pytest.raises((ValueError, TypeError), match="n"):
        default_cutoffs(32, 32, n=n)


@pytest.mark.parametrize("kind", ["gaussian", "butterworth"])
@pytest.mark.parametrize("order", [1, 2, 5])
def test_smooth_gain_at_cutoff_is_minus_3db(kind: str, order: int) -> None:
    # bin (ky, kx) = (3, 4) of a 32 x 32 map lies exactly at radius 5; (0, 6) of a 12 x 24 map at radius 3.
    mask = frequency_mask(32, 32, 5.0, kind=kind, order=order, dtype=torch.float64)
    assert float(mask[0, 3, 4]) == pytest.approx(1 / math.sqrt(2), abs=1e-12)
    assert float(mask[0, 0, 0]) == pytest.approx(1.0)
    mask = frequency_mask(12, 24, 3.0, kind=kind, order=order, dtype=torch.float64)
    assert brute_radius(12, 24, 0, 6) == pytest.approx(3.0)
    assert float(mask[0, 0, 6]) == pytest.approx(1 / math.sqrt(2), abs=1e-12)


def test_smooth_masks_decrease_with_radius() -> None:
    radius = frequency_radius(20, 20, dtype=torch.float64).flatten()
    order = torch.argsort(radius)
    for kind in ("gaussian", "butterworth"):
        gains = frequency_mask(20, 20, 4.0, kind=kind, dtype=torch.float64)[0].flatten()[order]
        assert bool((gains[1:] <= gains[:-1] + 1e-15).all())
    butterworth = frequency_mask(20, 20, 4.0, kind="butterworth", order=3, dtype=torch.float64)[0]
    expected = 1 / torch.sqrt(1 + (frequency_radius(20, 20, dtype=torch.float64) / 4.0) ** 6)
    torch.testing.assert_close(butterworth, expected)


# ------------------------------------------------------------------------------------------------- lowpass
@pytest.mark.parametrize(("height", "width"), SIZES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lowpass_past_max_cutoff_is_identity(height: int, width: int, dtype: type) -> None:
    maps = np.random.default_rng(0).normal(size=(3, height, width)).astype(dtype)
    for cutoff in (max_cutoff(height, width), 2 * max_cutoff(height, width)):
        out = lowpass(maps, cutoff)
        assert out.dtype == dtype
        np.testing.assert_allclose(out, maps, atol=1e-5)


@pytest.mark.parametrize(("height", "width"), SIZES)
def test_tiny_cutoff_keeps_only_the_mean(height: int, width: int) -> None:
    # the smallest non-DC radius is min(H, W) / max(H, W) >= 4 / 9 for these sizes: 0.4 keeps DC only
    maps = torch.rand(2, 3, height, width, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with pytest.warns(UserWarning, match="only the mean survives"):
        out = lowpass(maps, 0.4)
    torch.testing.assert_close(out, maps.mean(dim=(-2, -1), keepdim=True).expand_as(maps))


@pytest.mark.parametrize(("height", "width"), [(7, 9), (13, 6), (8, 8)])
@pytest.mark.parametrize("cutoff", [1.0, 2.2, 3.0])
def test_lowpass_matches_numpy_full_fft(height: int, width: int, cutoff: float) -> None:
    maps = np.random.default_rng(1).normal(size=(4, height, width))
    out = lowpass(maps, cutoff)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64 and out.shape == maps.shape
    np.testing.assert_allclose(out, numpy_lowpass(maps, cutoff), atol=1e-12)


def test_lowpass_is_linear_and_real() -> None:
    generator = torch.Generator().manual_seed(0)
    x, y = torch.randn(2, 3, 11, 15, generator=generator, dtype=torch.float64)
    for kind in ("ideal", "gaussian", "butterworth"):
        combined = lowpass(2.5 * x - 0.7 * y, 3.0, kind=kind)
        assert not combined.is_complex()
        torch.testing.assert_close(
            combined, 2.5 * lowpass(x, 3.0, kind=kind) - 0.7 * lowpass(y, 3.0, kind=kind)
        )


@pytest.mark.parametrize("kind", ["ideal", "gaussian", "butterworth"])
def test_many_cutoffs_equal_separate_calls(kind: str) -> None:
    maps = torch.randn(2, 5, 17, 12, generator=torch.Generator().manual_seed(2))
    cutoffs = [0.75, 2.0, 3.5, 9.0]  # 0.75 > 12 / 17: above the mean-only cutoff of these maps
    out = lowpass(maps, cutoffs, kind=kind, order=3)
    assert out.shape == (4, 2, 5, 17, 12)
    for index, cutoff in enumerate(cutoffs):
        torch.testing.assert_close(out[index], lowpass(maps, cutoff, kind=kind, order=3), atol=1e-6, rtol=0)
    array_out = lowpass(maps, np.array(cutoffs), kind=kind, order=3)
    tensor_out = lowpass(maps, torch.tensor(cutoffs), kind=kind, order=3)
    torch.testing.assert_close(array_out, out)
    torch.testing.assert_close(tensor_out, out)


def test_many_cutoffs_large_batch_crosses_tiles() -> None:
    # 64 maps of 96 x 96 make more than one 2 MiB tile per cutoff: results must not depend on the tiling.
    maps = torch.randn(64, 96, 96, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    out = lowpass(maps, [4.0, 20.0])
    expected = numpy_lowpass(maps.numpy(), 20.0)
    np.testing.assert_allclose(out[1].numpy(), expected, atol=1e-10)


def test_lowpass_keeps_dtype_and_low_precision() -> None:
    maps = torch.randn(2, 16, 16, generator=torch.Generator().manual_seed(4))
    for dtype in (torch.float32, torch.float64, torch.float16, torch.bfloat16):
        out = lowpass(maps.to(dtype), 3.0)
        assert out.dtype == dtype
        reference = lowpass(maps.double(), 3.0)
        tolerance = 1e-5 if dtype in (torch.float32, torch.float64) else 5e-2
        torch.testing.assert_close(out.double(), reference, atol=tolerance, rtol=0)
    half = lowpass(maps.numpy().astype(np.float16), 3.0)
    assert half.dtype == np.float16


def test_lowpass_does_not_modify_input() -> None:
    maps = np.random.default_rng(5).normal(size=(3, 9, 9))
    copy = maps.copy()
    lowpass(maps, [1.0, 2.0])
    np.testing.assert_array_equal(maps, copy)


# ------------------------------------------------------------------------------------------------- forgrad
@pytest.mark.parametrize("shape", [(3, 3, 12, 12), (2, 3, 7, 9), (4, 10, 15), (2, 1, 6, 11)])
@pytest.mark.parametrize("cutoff", [1.0, 2.5, 4.0])
def test_forgrad_matches_numpy_pipeline(shape: tuple[int, ...], cutoff: float) -> None:
    attributions = np.random.default_rng(6).normal(size=shape)
    copy = attributions.copy()
    out = forgrad(attributions, cutoff)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    assert out.shape == (shape[0], *shape[-2:])
    np.testing.assert_allclose(out, numpy_forgrad(attributions, cutoff), atol=1e-12)
    np.testing.assert_array_equal(attributions, copy)
    assert (out >= 0).all()


@pytest.mark.parametrize("cutoff", [1.0, 3.0, 7.5, 15.0])
def test_forgrad_matches_reference_algorithm_on_even_square_maps(cutoff: float) -> None:
    # The reference implementation's mask: a disc around the centre of the shifted spectrum, un-shifted.
    size = 32
    attributions = np.random.default_rng(12).normal(size=(2, 3, size, size))
    y_grid, x_grid = np.ogrid[:size, :size]
    disc = np.hypot(y_grid - size // 2, x_grid - size // 2) <= cutoff
    mask = np.fft.fftshift(disc)[:, : size // 2 + 1]
    maps = np.abs(attributions.mean(axis=1))
    expected = np.abs(np.fft.irfft2(np.fft.rfft2(maps) * mask, s=(size, size)))
    np.testing.assert_allclose(forgrad(attributions, cutoff), expected, atol=1e-12)


def test_forgrad_tensor_and_many_cutoffs() -> None:
    attributions = torch.randn(3, 3, 10, 13, generator=torch.Generator().manual_seed(7))
    copy = attributions.clone()
    cutoffs = [1.0, 3.0, 6.0]
    out = forgrad(attributions, cutoffs)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.shape == (3, 3, 10, 13)
    torch.testing.assert_close(attributions, copy, rtol=0, atol=0)
    for index, cutoff in enumerate(cutoffs):
        expected = numpy_forgrad(attributions.double().numpy(), cutoff)
        np.testing.assert_allclose(out[index].numpy(), expected, atol=1e-5)


def test_forgrad_float32_numpy() -> None:
    attributions = np.random.default_rng(8).normal(size=(2, 3, 9, 9)).astype(np.float32)
    out = forgrad(attributions, 2.0)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, numpy_forgrad(attributions.astype(np.float64), 2.0), atol=1e-5)


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 8])
def test_iter_forgrad_chunks_equal_forgrad(chunk_size: int) -> None:
    attributions = torch.randn(2, 3, 14, 11, generator=torch.Generator().manual_seed(9))
    cutoffs = default_cutoffs(14, 11, n=7)
    chunks = list(iter_forgrad(attributions, cutoffs, chunk_size=chunk_size, kind="gaussian"))
    assert [len(values) for values, _ in chunks] == [
        min(chunk_size, 7 - start) for start in range(0, 7, chunk_size)
    ]
    np.testing.assert_array_equal(np.concatenate([values for values, _ in chunks]), cutoffs)
    torch.testing.assert_close(
        torch.cat([maps for _, maps in chunks]), forgrad(attributions, cutoffs, kind="gaussian")
    )


def test_iter_forgrad_numpy_and_validates_at_call() -> None:
    attributions = np.random.default_rng(10).normal(size=(2, 8, 8))
    (_values, maps), *_ = iter_forgrad(attributions, [2.0, 3.0])
    assert isinstance(maps, np.ndarray) and maps.shape == (2, 2, 8, 8)
    np.testing.assert_allclose(maps[1], numpy_forgrad(attributions, 3.0), atol=1e-12)
    with pytest.raises(ValueError, match="cutoff"):
        iter_forgrad(attributions, [2.0, -1.0])  # raises at the call, before any chunk is requested


# ---------------------------------------------------------------------------------------------- validation
@pytest.mark.parametrize("cutoff", [0, -1.0, float("nan"), float("inf"), [1.0, 0.0], [], [[1.0, 2.0]]])
def test_bad_cutoff_raises_value_error(cutoff: object) -> None:
    maps = torch.rand(2, 8, 8)
    with pytest.raises(ValueError, match="cutoff"):
        lowpass(maps, cutoff)
    with pytest.raises(ValueError, match="cutoff"):
        forgrad(maps, cutoff)


@pytest.mark.parametrize("cutoff", ["5", True, None, [1.0, "a"], 2 + 1j])
def test_bad_cutoff_type_raises_type_error(cutoff: object) -> None:
    with pytest.raises(TypeError, match="cutoff"):
        lowpass(torch.rand(2, 8, 8), cutoff)


@pytest.mark.parametrize(
    ("maps", "error"),
    [
        (torch.rand(8), ValueError),
        (torch.zeros(0, 8, 8), ValueError),
        (torch.rand(3, 1, 8), ValueError),
        (torch.rand(3, 8, 1), ValueError),
        (torch.ones(2, 8, 8, dtype=torch.int64), TypeError),
        (torch.ones(2, 8, 8, dtype=torch.bool), TypeError),
        (torch.ones(2, 8, 8, dtype=torch.complex64), TypeError),
        (np.ones((2, 8, 8), dtype=np.int32), TypeError),
        (np.ones((2, 8, 8), dtype=np.complex128), TypeError),
        ([[1.0, 2.0], [3.0, 4.0]], TypeError),
    ],
)
def test_bad_maps_raise(maps: object, error: type) -> None:
    with pytest.raises(error, match="maps"):
        lowpass(maps, 2.0)


def test_nan_maps_raise() -> None:
    maps = torch.rand(2, 8, 8)
    maps[1, 3, 3] = float("nan")
    with pytest.raises(ValueError, match=r"maps.*NaN"):
        lowpass(maps, 2.0)
    with pytest.raises(ValueError, match=r"attributions.*NaN"):
        forgrad(maps, 2.0)
    attributions = torch.rand(2, 3, 8, 8)
    attributions[0, 2, 1, 1] = float("nan")
    with pytest.raises(ValueError, match=r"attributions.*NaN"):
        forgrad(attributions, 2.0)
    attributions[0, 2, 1, 1], attributions[0, 0, 1, 1] = float("inf"), float("-inf")
    with pytest.raises(ValueError, match=r"attributions.*infinite"):
        forgrad(attributions.numpy(), [1.0, 2.0])
    with pytest.raises(ValueError, match=r"maps.*infinite"):
        lowpass(attributions, 2.0)


@pytest.mark.parametrize("shape", [(8, 8), (1, 2, 3, 8, 8)])
def test_forgrad_wrong_dims_raise(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="attributions"):
        forgrad(torch.rand(shape), 2.0)
    with pytest.raises(TypeError, match="attributions"):
        forgrad(torch.ones(2, 8, 8, dtype=torch.int32), 2.0)


def test_bad_kind_and_order_raise() -> None:
    maps = torch.rand(2, 8, 8)
    with pytest.raises(ValueError, match="kind"):
        lowpass(maps, 2.0, kind="box")
    with pytest.raises(ValueError, match="order"):
        lowpass(maps, 2.0, kind="butterworth", order=0)
    with pytest.raises(TypeError, match="order"):
        lowpass(maps, 2.0, kind="butterworth", order=1.5)
    with pytest.raises(ValueError, match="chunk_size"):
        iter_forgrad(maps, [1.0], chunk_size=0)
    with pytest.raises(ValueError, match="height"):
        frequency_mask(1, 8, 2.0)
    with pytest.raises(ValueError, match="fraction"):
        nyquist_to_cutoff(0.0, 8, 8)


# -------------------------------------------------------------------------------------------------- CUDA
@pytest.mark.cuda
@cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cuda_matches_cpu(dtype: torch.dtype) -> None:
    attributions = torch.randn(4, 3, 21, 16, generator=torch.Generator().manual_seed(11), dtype=dtype)
    cutoffs = [1.0, 4.0, 30.0]
    for kind in ("ideal", "gaussian", "butterworth"):
        on_gpu = forgrad(attributions.cuda(), cutoffs, kind=kind)
        assert on_gpu.device.type == "cuda" and on_gpu.dtype == dtype
        torch.testing.assert_close(
            on_gpu.cpu(), forgrad(attributions, cutoffs, kind=kind), atol=1e-5, rtol=1e-5
        )
        low = lowpass(attributions.cuda(), 2.0, kind=kind)
        torch.testing.assert_close(low.cpu(), lowpass(attributions, 2.0, kind=kind), atol=1e-5, rtol=1e-5)
    chunks = [maps for _, maps in iter_forgrad(attributions.cuda(), cutoffs, chunk_size=2)]
    torch.testing.assert_close(torch.cat(chunks).cpu(), forgrad(attributions, cutoffs), atol=1e-5, rtol=1e-5)
    assert frequency_mask(21, 16, 4.0, device="cuda").device.type == "cuda"


# --------------------------------------------------------------------------------------------- mean-only warning
@pytest.mark.parametrize(
    "call",
    [
        lambda x: forgrad(x, [0.3, 0.7, 2.0, 4.0]),
        lambda x: lowpass(x.mean(axis=1), [0.3, 0.7, 2.0]),
        lambda x: list(iter_forgrad(x, [0.3, 0.7, 2.0], chunk_size=1)),
    ],
    ids=["forgrad", "lowpass", "iter_forgrad"],
)
def test_ideal_cutoff_below_one_cycle_warns_once_and_the_map_is_constant(call) -> None:
    attributions = np.random.default_rng(0).normal(size=(2, 3, 12, 12))
    with pytest.warns(
        UserWarning, match=r"\[0\.3, 0\.7\] is below 1 cycle per image.*only the mean"
    ) as record:
        call(attributions)
    assert len([w for w in record if "only the mean" in str(w.message)]) == 1  # one per call, not per cutoff
    # what the warning says is true: the filtered map is the raw map's mean everywhere
    raw = np.abs(attributions.mean(axis=1))
    with pytest.warns(UserWarning, match="only the mean"):
        out = forgrad(attributions, 0.7)
    np.testing.assert_allclose(
        out, np.broadcast_to(raw.mean(axis=(1, 2), keepdims=True), raw.shape), atol=1e-12
    )


def test_cutoff_of_one_cycle_or_more_and_smooth_filters_do_not_warn() -> None:
    attributions = np.random.default_rng(1).normal(size=(2, 3, 12, 12))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = forgrad(attributions, [1.0, 1.5, 6.0])
        lowpass(attributions[:, 0], 1.0)
        forgrad(attributions, 0.5, kind="gaussian")  # smooth filters keep some of every frequency
    assert np.ptp(out[0], axis=(-2, -1)).min() > 0  # at 1 cycle per image the map is not constant


def test_mean_only_threshold_follows_the_shorter_side_on_non_square_maps() -> None:
    maps = np.random.default_rng(2).normal(size=(3, 8, 16))  # lowest non-zero frequency: 0.5 cycle per image
    with pytest.warns(UserWarning, match=r"0\.4 is below 0\.5 cycle"):
        lowpass(maps, 0.4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kept = lowpass(maps, 0.6)  # the first harmonic along the longer side survives: not constant
    assert np.ptp(kept, axis=(-2, -1)).min() > 0


# --------------------------------------------------------------------------------------------- padding
PADDINGS = ["reflect", "zero"]


def numpy_padded_lowpass(maps: np.ndarray, cutoff: float, padding: str) -> np.ndarray:
    """Pad each side by half the map with numpy, keep the physical frequencies of radius <= cutoff cycles per
    original image on the padded full spectrum, crop back."""
    height, width = maps.shape[-2:]
    top, left = height // 2, width // 2
    pads = [(0, 0)] * (maps.ndim - 2) + [(top, height - top), (left, width - left)]
    padded = np.pad(maps, pads, mode="reflect" if padding == "reflect" else "constant")
    fy = np.fft.fftfreq(padded.shape[-2])[:, None]  # cycles per pixel
    fx = np.fft.fftfreq(padded.shape[-1])[None, :]
    mask = np.sqrt(fy**2 + fx**2) * min(height, width) <= cutoff * (1 + 1e-9)
    out = np.fft.ifft2(np.fft.fft2(padded) * mask).real
    return out[..., top : top + height, left : left + width]


@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize(("height", "width"), [(16, 16), (16, 10), (9, 4), (7, 9)])
@pytest.mark.parametrize("cutoff", [1.3, 3.3])
def test_padded_lowpass_and_forgrad_match_numpy(padding: str, height: int, width: int, cutoff: float) -> None:
    rng = np.random.default_rng(height * width)
    maps = rng.normal(size=(2, height, width))
    out = lowpass(maps, cutoff, padding=padding)
    assert out.shape == maps.shape and out.flags.c_contiguous
    np.testing.assert_allclose(out, numpy_padded_lowpass(maps, cutoff, padding), atol=1e-10)
    attributions = rng.normal(size=(2, 3, height, width))
    expected = np.abs(numpy_padded_lowpass(np.abs(attributions.mean(axis=1)), cutoff, padding))
    np.testing.assert_allclose(forgrad(attributions, cutoff, padding=padding), expected, atol=1e-10)


@pytest.mark.parametrize("cutoff", [2.0, 4.0])
def test_padding_stops_the_wrap_around(cutoff: float) -> None:
    """A bright patch at the left edge lights up the right edge of the periodic filter, not of a padded one."""
    maps = torch.zeros(1, 32, 32, dtype=torch.float64)
    maps[0, 12:20, 0:3] = 1.0

    def right_over_left(padding: str | None) -> float:
        out = forgrad(maps, cutoff, padding=padding)[0]
        return float(out[12:20, -1].mean() / out[12:20, 0].mean())

    assert right_over_left(None) > 0.5  # the periodic FFT wraps the patch onto the opposite edge
    for padding in PADDINGS:
        assert right_over_left(padding) < 0.05


@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize(("height", "width"), [(12, 16), (11, 14)])
def test_padded_filter_past_max_cutoff_is_identity(padding: str, height: int, width: int) -> None:
    """Padding changes only what lies beyond the border: a cutoff that keeps every frequency of the padded map
    keeps the map. On an even size that is the unpadded map's max_cutoff; on an odd one it is larger (the
    padded map reaches 0.5 cycle per pixel), and the unpadded max_cutoff still removes something there."""
    maps = torch.randn(3, height, width, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    top = max_cutoff(height, width, padding=padding)
    torch.testing.assert_close(lowpass(maps, top, padding=padding), maps, atol=1e-12, rtol=0)
    if height % 2 == 0 and width % 2 == 0:
        assert top == max_cutoff(height, width)
    else:
        assert top > max_cutoff(height, width)
        assert not torch.allclose(lowpass(maps, max_cutoff(height, width), padding=padding), maps, atol=1e-6)


def test_padding_none_is_the_periodic_filter_bit_for_bit() -> None:
    attributions = torch.randn(3, 2, 20, 14, generator=torch.Generator().manual_seed(4))
    cutoffs = [1.5, 3.0, 7.0]
    assert torch.equal(forgrad(attributions, cutoffs, padding=None), forgrad(attributions, cutoffs))
    assert torch.equal(lowpass(attributions, 3.0, padding=None), lowpass(attributions, 3.0))
    chunks = [maps for _, maps in iter_forgrad(attributions, cutoffs, chunk_size=2, padding=None)]
    assert torch.equal(
        torch.cat(chunks), torch.cat([maps for _, maps in iter_forgrad(attributions, cutoffs, 2)])
    )
    np.testing.assert_allclose(
        lowpass(attributions.double(), 3.0).numpy(),
        numpy_lowpass(attributions.double().numpy(), 3.0),
        atol=1e-10,
    )


@pytest.mark.parametrize("padding", PADDINGS)
def test_padded_iter_forgrad_equals_padded_forgrad(padding: str) -> None:
    attributions = torch.randn(2, 3, 14, 11, generator=torch.Generator().manual_seed(9))
    cutoffs = [0.8, 2.0, 5.0]
    chunks = [maps for _, maps in iter_forgrad(attributions, cutoffs, chunk_size=2, padding=padding)]
    assert [tuple(c.shape) for c in chunks] == [(2, 2, 14, 11), (1, 2, 14, 11)]
    torch.testing.assert_close(torch.cat(chunks), forgrad(attributions, cutoffs, padding=padding))
    low = lowpass(attributions.numpy().astype(np.float32), 2.0, padding=padding)
    assert isinstance(low, np.ndarray) and low.dtype == np.float32 and low.shape == (2, 3, 14, 11)


def test_padded_maps_keep_frequencies_below_one_cycle() -> None:
    """Padded to twice its size, a map has a frequency at 0.5 cycle per original image: 0.75 is not the mean."""
    attributions = np.random.default_rng(3).normal(size=(2, 3, 16, 16))
    with pytest.warns(UserWarning, match="only the mean"):
        forgrad(attributions, 0.75)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = forgrad(attributions, 0.75, padding="reflect")
    assert float(out.std(axis=(1, 2)).min()) > 0
    with pytest.warns(
        UserWarning, match=r"below 0\.5 cycle per image on 16 x 16 maps \(32 x 32 once padded\)"
    ):
        forgrad(attributions, 0.25, padding="zero")


@pytest.mark.parametrize("padding", ["symmetric", "Reflect", True, 0, "none"])
def test_bad_padding_raises_value_error_naming_it(padding: object) -> None:
    maps = torch.rand(2, 8, 8)
    for call in (
        lambda: lowpass(maps, 2.0, padding=padding),
        lambda: forgrad(maps, 2.0, padding=padding),
        lambda: iter_forgrad(maps, [2.0], padding=padding),  # at the call, before iterating
    ):
        with pytest.raises(ValueError, match="padding"):
            call()


@pytest.mark.cuda
@cuda
@pytest.mark.parametrize("padding", PADDINGS)
def test_cuda_padding_matches_cpu(padding: str) -> None:
    attributions = torch.randn(4, 3, 21, 16, generator=torch.Generator().manual_seed(11))
    on_gpu = forgrad(attributions.cuda(), [1.0, 4.0], padding=padding)
    assert on_gpu.device.type == "cuda"
    torch.testing.assert_close(
        on_gpu.cpu(), forgrad(attributions, [1.0, 4.0], padding=padding), atol=1e-5, rtol=1e-5
    )
