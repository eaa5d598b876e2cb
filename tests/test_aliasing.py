"""Tests of forgrad_viz.downsampling: layer discovery, the blur-pool intervention, gradient spectra and the report."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from forgrad_viz.data import shapes_dataset
from forgrad_viz.downsampling import (
    AliasingReport,
    AntiAliased,
    BlurSubsample,
    aliasing,
    antialias,
    binomial_taps,
    find_downsampling,
)
from forgrad_viz.models import DEMO_MODELS, load_demo
from forgrad_viz.spectra import radial_bins

_HOOKS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One intra-op thread: on a machine shared with other jobs, two spinning threads made this file 5x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class Every2nd(nn.Module):
    """A bare subsampling: keep every second row and column."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., ::2, ::2]


def _snapshot(model: nn.Module) -> tuple[dict[str, torch.Tensor], list[bool]]:
    state = {key: value.clone() for key, value in model.state_dict().items()}
    return state, [module.training for module in model.modules()]


def _assert_untouched(model: nn.Module, snapshot: tuple[dict[str, torch.Tensor], list[bool]]) -> None:
    state, modes = snapshot
    after = model.state_dict()
    assert list(after) == list(state)
    assert all(torch.equal(after[key], value) for key, value in state.items())
    assert [module.training for module in model.modules()] == modes
    for module in model.modules():
        for attr in _HOOKS:
            assert len(getattr(module, attr)) == 0, f"{attr} left on {type(module).__name__}"


# --------------------------------------------------------------------------------------- replica, on paper
SIZE = 32  # input side; the subsampled map is 16 x 16


def _readout_weights() -> torch.Tensor:
    """w[c, y, x] = a_c sin(2 pi y / 16) sin(2 pi 2 x / 16): frequencies (+-1, +-2) on the 16 x 16 grid.

    It vanishes on row 0 and column 0, which makes the reflect-padded blur's adjoint exactly a circular
    convolution on the zero-inserted gradient (see test_replica_of_a_bare_subsampling).
    """
    y = torch.arange(16.0).reshape(16, 1)
    x = torch.arange(16.0).reshape(1, 16)
    pattern = torch.sin(2 * math.pi * y / 16) * torch.sin(2 * math.pi * 2 * x / 16)
    return torch.tensor([1.0, -0.5, 2.0]).reshape(3, 1, 1) * pattern


def _subsampling_model() -> nn.Module:
    readout = nn.Linear(3 * 16 * 16, 2, bias=False)
    with torch.no_grad():
        readout.weight[0] = _readout_weights().reshape(-1)
        readout.weight[1] = -_readout_weights().reshape(-1)
    return nn.Sequential(Every2nd(), nn.Flatten(), readout).eval()


def _radial_sums(power: np.ndarray) -> np.ndarray:
    """Sum of a full (SIZE x SIZE) power spectrum per radius bin (round half up, DC left out), with numpy."""
    k = np.fft.fftfreq(SIZE) * SIZE
    radius = np.hypot(k.reshape(-1, 1), k.reshape(1, -1))
    bins = np.floor(radius + 0.5).astype(int)
    power = power.copy()
    power[0, 0] = 0.0
    return np.bincount(bins.ravel(), weights=power.ravel())


def test_replica_of_a_bare_subsampling() -> None:
    """The gradient of a subsampling layer's input holds a replica of the output gradient's spectrum.

    On paper: the logit is ``sum(w * x[::2, ::2])``, so its gradient with respect to ``x`` (32 x 32) is ``w``
    (16 x 16) upsampled by zero insertion, ``u[2m] = w[m]``, ``u[2m+1] = 0``. Its DFT is
    ``U[k] = sum_m w[m] exp(-2 pi i k 2m / 32) = W[k mod 16]``: the DFT of ``w`` tiled twice per axis. ``w``
    has power only at ``(ky, kx) = (+-1, +-2)``, radius sqrt(5) (bin 2); ``u`` has the same power there and at
    the replicas shifted by 16 along y, x or both: ``(+-15, +-2)`` (radius 15.1, bin 15), ``(+-1, +-14)``
    (14.04, bin 14) and ``(+-15, +-14)`` (20.5, bin 21): four radius bins of equal power.

    Blur-pooling blurs ``x`` with ``b = [1, 2, 1]^T [1, 2, 1] / 16`` before subsampling, so the gradient
    becomes ``b^T u``; with reflect padding the adjoint differs from a circular convolution only through the
    first and last rows and columns of ``u``, which are zero here (row 0 of ``w`` is ``sin 0 = 0``, odd rows of
    ``u`` are zero). So its power is ``|U[k]|^2 H(k)^2``, ``H(ky, kx) = cos^2(pi ky / 32) cos^2(pi kx / 32)``, the
    binomial filter's response, which vanishes at Nyquist (16): the replicas keep ``H^2`` = 1.4e-3 (at
    (1, 14)), 8.5e-5 (at (15, 2)) and 1.3e-7 (at (15, 14)) of their power, the original at (1, 2) keeps 0.91. Tolerances: float32 FFTs, rtol 1e-4 on the
    equalities, 1e-3 on the filtered powers.
    """
    model = _subsampling_model()
    images = torch.rand(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    report = aliasing(model, images, targets=0)
    assert [(r.name, r.kind, r.stride, r.in_size, r.out_size) for r in report.rows] == [
        ("0", "other", (2, 2), (32, 32), (16, 16))
    ]

    # Independent computation with numpy: zero insertion, FFT, tiling.
    w = _readout_weights().numpy().astype(np.float64)
    u = np.zeros((3, SIZE, SIZE))
    u[:, ::2, ::2] = w
    power_u = (np.abs(np.fft.fft2(u)) ** 2 / SIZE**2).mean(axis=0)  # channel-averaged, as the report
    power_w = (np.abs(np.fft.fft2(w)) ** 2 / SIZE**2).mean(axis=0)
    np.testing.assert_allclose(power_u, np.tile(power_w, (2, 2)), atol=1e-12)  # U[k] = W[k mod 16]
    expected = _radial_sums(power_u)
    original, replicas = 2, (14, 15, 21)
    assert np.all(np.isclose(expected[list(replicas)], expected[original], rtol=1e-12))

    # The measured spectrum (mean power per bin) times the bin counts gives the power per radius bin.
    spectrum = report.spectrum("0")
    frequencies, counts = radial_bins(SIZE, SIZE)
    measured = spectrum.power.double().numpy() * counts
    np.testing.assert_array_equal(spectrum.frequencies, frequencies)
    np.testing.assert_allclose(measured, expected[1 : 1 + len(measured)], rtol=1e-4, atol=1e-9)
    for replica in replicas:  # the replica carries as much power as the original frequencies
        assert measured[replica - 1] == pytest.approx(measured[original - 1], rel=1e-4)

    # Blur-pooling multiplies the power by the binomial filter's squared response.
    k = np.fft.fftfreq(SIZE) * SIZE
    response = np.cos(np.pi * k.reshape(-1, 1) / SIZE) ** 2 * np.cos(np.pi * k.reshape(1, -1) / SIZE) ** 2
    expected_blurred = _radial_sums(power_u * response**2)
    blurred = report.spectrum("0", antialiased=True).power.double().numpy() * counts
    np.testing.assert_allclose(blurred, expected_blurred[1 : 1 + len(blurred)], rtol=1e-3, atol=1e-9)
    assert blurred[original - 1] == pytest.approx(0.907 * measured[original - 1], rel=2e-3)
    # Each replica keeps H(k)^2 of its power: 1.4e-3 at (1, 14), 8.5e-5 at (15, 2), 1.3e-7 at (15, 14).
    for replica, (ky, kx) in zip(replicas, [(1, 14), (15, 2), (15, 14)], strict=True):
        kept = (math.cos(math.pi * ky / SIZE) ** 2 * math.cos(math.pi * kx / SIZE) ** 2) ** 2
        assert kept < 1.5e-3
        assert blurred[replica - 1] == pytest.approx(kept * measured[replica - 1], rel=1e-3, abs=1e-9)

    # A linear model's saliency is this same gradient: above 8 cycles per image (the default cutoff at 32 x 32)
    # the maps' energy drops from 0.87 to 0.02 (the absolute value in the map adds harmonics to both).
    assert report.cutoff == 8.0
    assert report.hf_energy > 0.8 and report.all_layers.hf_energy < 0.05


def test_blur_subsample_and_taps() -> None:
    """[1, 2, 1] / 4 at stride 2 (zero response at Nyquist); reflect padding keeps a constant map constant."""
    assert binomial_taps(3).tolist() == [0.25, 0.5, 0.25]
    assert binomial_taps(7).sum().item() == pytest.approx(1.0)
    layer = BlurSubsample(2)
    assert layer(torch.full((1, 2, 9, 9), 3.0)).allclose(torch.full((1, 2, 5, 5), 3.0))
    checker = (torch.arange(8).reshape(8, 1) + torch.arange(8).reshape(1, 8)) % 2  # Nyquist along both axes
    assert layer.blur(checker.float().reshape(1, 1, 8, 8))[..., 1:-1, 1:-1].allclose(torch.tensor(0.5))


@pytest.mark.parametrize(
    "module",
    [
        nn.MaxPool2d(2),
        nn.MaxPool2d(3, stride=2, padding=1),
        nn.MaxPool2d(2, ceil_mode=True),
        nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False),
        nn.Conv2d(3, 3, 3, stride=2, padding=1),
        nn.Conv2d(3, 3, 5, stride=(2, 3), dilation=2),
        nn.Conv2d(3, 3, 4, stride=4),
    ],
)
@pytest.mark.parametrize("size", [(15, 15), (16, 21)])
def test_antialiased_layer_keeps_the_output_size(module: nn.Module, size: tuple[int, int]) -> None:
    x = torch.rand(2, 3, *size)
    assert AntiAliased(module)(x).shape == module(x).shape


def test_find_downsampling_kinds() -> None:
    """Every kind is found by name; stride-1 shrinking layers, lossless and global pools are not downsampling."""
    model = nn.Sequential(
        nn.Conv2d(3, 8, 4, stride=4),  # patch embedding: 64 -> 16
        nn.Conv2d(8, 8, 3),  # valid conv: 16 -> 14, not downsampling
        nn.MaxPool2d(3, stride=1),  # 14 -> 12, not downsampling
        nn.Sequential(nn.ReLU(), nn.MaxPool2d(2)),  # 12 -> 6, found as "3.1", not "3"
        nn.Upsample(scale_factor=4),  # 6 -> 24
        nn.AvgPool2d(2),  # 24 -> 12
        nn.Conv2d(8, 8, 3, stride=2, padding=1),  # 12 -> 6
        nn.PixelUnshuffle(2),  # lossless space-to-depth, 6 -> 3: not reported
        Every2nd(),  # 3 -> 2
        nn.AdaptiveAvgPool2d(1),  # global pool
        nn.Flatten(),
    )
    found = find_downsampling(model, torch.rand(1, 3, 64, 64), include_global=True)
    assert [(layer.name, layer.kind, layer.stride) for layer in found] == [
        ("0", "patch-embedding", (4, 4)),
        ("3.1", "max-pool", (2, 2)),
        ("5", "avg-pool", (2, 2)),
        ("6", "strided-conv", (2, 2)),
        ("8", "other", (2, 2)),
        ("9", "global-pool", (2, 2)),
    ]
    assert found[0].in_size == (64, 64) and found[0].out_size == (16, 16)
    assert found[0].to_dict()["stride"] == [4, 4]
    assert [layer.name for layer in find_downsampling(model, torch.rand(1, 3, 64, 64))][-1] == "8"
    smooth = antialias(model, found[:-1])
    assert smooth(torch.rand(2, 3, 64, 64)).shape == model(torch.rand(2, 3, 64, 64)).shape


# ---------------------------------------------------------------------------------------------- demo models
# Measured on 32 shapes images (seed 0; saliency, cutoff 16 cycles per image; this test runs the first 16):
# maxpool_cnn HF energy 0.338; anti-aliasing the first max-pool removes 0.037, the others ~0.000, all three
# 0.034; agreement 1.00 for every intervention. strided_cnn 0.319; the first strided conv removes 0.096, the
# second 0.012, the third adds 0.004, all three remove 0.111; agreement 1.00, 0.97, 1.00, all 0.94.
# antialiased_cnn 0.296; blurring its blur-pools again changes it by < 0.006; agreement 1.00.
EXPECTED_LAYERS = {
    "maxpool_cnn": [("6", "max-pool"), ("13", "max-pool"), ("20", "max-pool")],
    "strided_cnn": [("3", "strided-conv"), ("9", "strided-conv"), ("15", "strided-conv")],
    "antialiased_cnn": [("7", "blur-pool"), ("15", "blur-pool"), ("23", "blur-pool")],
}
EXPECTED_SIZES = {
    "maxpool_cnn": [(64, 32), (32, 16), (16, 8)],
    "strided_cnn": [(64, 32), (32, 16), (16, 8)],
    "antialiased_cnn": [(63, 32), (31, 16), (15, 8)],
}


@pytest.fixture(scope="module")
def demo_images() -> torch.Tensor:
    return shapes_dataset(16, seed=0).images


@pytest.mark.parametrize("name", list(DEMO_MODELS))
def test_demo_models(name: str, demo_images: torch.Tensor) -> None:
    model = load_demo(name).train()  # a model in training mode comes back in training mode
    snapshot = _snapshot(model)
    images = demo_images.clone()
    report = aliasing(model, images)
    _assert_untouched(model, snapshot)
    assert torch.equal(images, demo_images)

    assert [(row.name, row.kind) for row in report.rows] == EXPECTED_LAYERS[name]
    assert report.layers == [name for name, _ in EXPECTED_LAYERS[name]]
    assert [(row.in_size[0], row.out_size[0]) for row in report.rows] == EXPECTED_SIZES[name]
    assert all(row.stride == (2, 2) for row in report.rows)
    assert len(report.skipped) == 1  # the global average pool
    for row in [*report.rows, report.all_layers]:
        assert row.agreement >= 0.8, (row.name, row.agreement)
        assert 0.0 <= row.hf_energy <= 1.0 and row.prob_change < 0.3
        assert row.hf_change == pytest.approx(row.hf_energy - report.hf_energy, abs=1e-6)
    if name != "antialiased_cnn":  # anti-aliasing the first downsampling layer removes high frequencies
        assert report.rows[0].hf_change < -0.01 and report.all_layers.hf_change < -0.01
    for spectrum, row in zip(report.spectra, report.rows, strict=True):
        assert spectrum.size == row.in_size and spectrum.power.shape == spectrum.frequencies.shape
        assert bool(torch.isfinite(spectrum.power).all()) and spectrum.power.device == images.device
    assert report.hf_energy_images.shape == (16,) and report.hf_energy_images.device == images.device
    table = report.to_markdown()
    assert all(f"| {layer} |" in table for layer in report.layers) and "| all |" in table


# ----------------------------------------------------------------------------------------- report, bad input
def _small_model() -> nn.Module:
    torch.manual_seed(3)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3, stride=2, padding=1),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3),
    ).eval()  # fmt: skip


def test_same_call_twice_same_numbers_and_round_trip(tmp_path) -> None:
    model, images = _small_model(), torch.rand(4, 3, 24, 24, generator=torch.Generator().manual_seed(2))
    first = aliasing(model, images, method="smoothgrad", n_samples=2, cutoff=5.0)
    second = aliasing(model, images, method="smoothgrad", n_samples=2, cutoff=5.0)
    assert first.to_dict() == second.to_dict()
    assert first.cutoff == 5.0 and first.params["cutoff_source"] == "given"
    json.dumps(first.to_dict())
    first.save(tmp_path / "report.json")
    loaded = AliasingReport.load(tmp_path / "report.json")
    assert loaded.to_dict() == first.to_dict()
    assert loaded.row("all").agreement == first.all_layers.agreement
    assert aliasing(model, images, layers=["3"]).layers == ["3"]


def test_cutoff_from_a_sweep() -> None:
    from forgrad_viz.results import CutoffSweep

    sweep = CutoffSweep(
        method="saliency",
        kind="ideal",
        cutoffs=np.array([2.0, 4.0, 8.0]),
        metrics=("deletion", "insertion"),
        scores={"deletion": np.array([[0.3, 0.3], [0.1, 0.1], [0.2, 0.2]]), "insertion": np.ones((3, 2))},
        unfiltered={"deletion": np.array([0.4, 0.4]), "insertion": np.ones(2)},
        higher_is_better={"deletion": False, "insertion": True},
        image_ids=np.arange(2),
    )
    report = aliasing(_small_model(), torch.rand(2, 3, 24, 24), cutoff=sweep, metric="deletion")
    assert report.cutoff == 4.0 and "deletion" in report.params["cutoff_source"]
    with pytest.raises(ValueError, match="metric"):
        aliasing(_small_model(), torch.rand(2, 3, 24, 24), cutoff=sweep, metric="mufidelity")


def test_bad_input() -> None:
    model, images = _small_model(), torch.rand(2, 3, 24, 24)
    flat = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)
    )
    with pytest.raises(ValueError, match="no downsampling layer"):
        aliasing(flat, images)
    with pytest.raises(ValueError, match="images"):
        aliasing(model, images[0])
    with pytest.raises(TypeError, match="images"):
        aliasing(model, (images * 255).to(torch.uint8))
    with pytest.raises(TypeError, match="images"):
        aliasing(model, images.numpy())
    with pytest.raises(ValueError, match="method"):
        aliasing(model, images, method="nope")
    with pytest.raises(ValueError, match="cutoff"):
        aliasing(model, images, cutoff=-1.0)
    with pytest.raises(ValueError, match="layers"):
        aliasing(model, images, layers=["0"])
    with pytest.raises(TypeError, match="model"):
        aliasing("resnet", images)


def test_hooks_removed_on_error() -> None:
    """A model that fails mid-way leaves no hook behind and keeps its mode."""

    class Failing(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.shape[0] > 1:
                raise RuntimeError("boom")
            return x

    model = nn.Sequential(nn.MaxPool2d(2), Failing(), nn.Flatten(), nn.Linear(3 * 8 * 8, 2)).train()
    snapshot = _snapshot(model)
    with pytest.raises(RuntimeError, match="boom"):
        aliasing(model, torch.rand(2, 3, 16, 16))
    _assert_untouched(model, snapshot)


@pytest.mark.cuda
def test_results_on_cuda() -> None:
    model = _small_model().cuda()
    report = aliasing(model, torch.rand(4, 3, 24, 24, device="cuda"))
    assert report.hf_energy_images.device.type == "cuda"
    assert report.spectra[0].power.device.type == "cuda"
    assert report.layers == ["2", "3"]
