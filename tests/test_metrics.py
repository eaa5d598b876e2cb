"""Tests of forgrad_viz.metrics against hand computations, naive loops and scipy."""

from __future__ import annotations

import json
import math
import warnings
from fractions import Fraction

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TVF
from scipy import stats
from torch import nn

from forgrad_viz import _utils
from forgrad_viz import metrics as fm
from forgrad_viz._threads import in_thread_check
from forgrad_viz.results import FaithfulnessResult

# ------------------------------------------------------------------------------------------------- models


class PixelLinear(nn.Module):
    """Logit of class 0 = sum(weights * x) + bias; class 1 is constant 0 (a closed-form toy model)."""

    def __init__(self, weights: torch.Tensor, bias: float = 0.0) -> None:
        super().__init__()
        self.weights = nn.Parameter(weights.clone())
        self.bias = bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logit = (x * self.weights).flatten(1).sum(dim=1) + self.bias
        return torch.stack([logit, torch.zeros_like(logit)], dim=1)


def tiny_cnn(dtype: torch.dtype = torch.float64) -> nn.Module:
    torch.manual_seed(1)
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, padding=1),
        nn.BatchNorm2d(6),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(6, 3),
    )
    with torch.no_grad():
        net[4].running_mean.uniform_(-0.1, 0.1)
        net[4].running_var.uniform_(0.5, 1.5)
    return net.to(dtype).eval()


class CountingModel(nn.Module):
    """Counts the inputs it sees (``seen``), apart from those of the library's bit-for-bit repeat of a batch on
    another thread count when the machine is busy (``repeated``: inside ``thread_check``, which forward counters
    leave out too)."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.seen = 0
        self.repeated = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if in_thread_check():
            self.repeated += x.shape[0]
        else:
            self.seen += x.shape[0]
        return self.inner(x)


def images_and_maps(n: int = 3, size: int = 12, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(n, 3, size, size, generator=generator, dtype=torch.float64)
    maps = torch.rand(n, size, size, generator=generator, dtype=torch.float64)
    return images, maps


# ----------------------------------------------------------------------------------- independent references


def naive_curve(model, image, map2d, target, steps, baseline_image, mode):
    """One image, one step at a time: rank pixels by (-value, index), perturb, forward, softmax."""
    h, w = map2d.shape
    values = map2d.flatten().tolist()
    order = sorted(range(h * w), key=lambda p: (-values[p], p))
    scores = []
    for k in range(steps + 1):
        count = math.floor(Fraction(k * h * w, steps) + Fraction(1, 2))
        x = image.clone() if mode == "deletion" else baseline_image.clone()
        source = baseline_image if mode == "deletion" else image
        for p in order[:count]:
            x[:, p // w, p % w] = source[:, p // w, p % w]
        with torch.no_grad():
            probs = torch.softmax(model(x[None]), dim=1)[0]
        scores.append(float(probs[target]))
    fractions = [math.floor(Fraction(k * h * w, steps) + Fraction(1, 2)) / (h * w) for k in range(steps + 1)]
    return np.array(fractions), np.array(scores)


# --------------------------------------------------------------------------------------------- closed form


@pytest.fixture
def linear_2x2():
    """1-channel 2x2 image [1, 2, 3, 4], weights [0.5, -1, 2, 1], bias 0.25: contributions [0.5, -2, 6, 4]."""
    weights = torch.tensor([[[0.5, -1.0], [2.0, 1.0]]], dtype=torch.float64)
    image = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]], dtype=torch.float64)
    saliency = torch.tensor([[[0.1, 0.4], [0.3, 0.2]]], dtype=torch.float64)  # order: 1, 2, 3, 0
    return PixelLinear(weights, bias=0.25), image, saliency


@pytest.mark.filterwarnings("ignore:images hold values")  # hand-computed pixels 1..4
def test_deletion_closed_form(linear_2x2):
    model, image, saliency = linear_2x2
    result = fm.deletion(model, image, saliency, targets=0, steps=4, score="logit")
    # logit 8.75; remove pixel 1 (-2): 10.75; pixel 2 (+6): 4.75; pixel 3 (+4): 0.75; pixel 0: bias 0.25
    np.testing.assert_allclose(result.curves[0], [8.75, 10.75, 4.75, 0.75, 0.25], atol=1e-12)
    np.testing.assert_allclose(result.x, [0.0, 0.25, 0.5, 0.75, 1.0], atol=1e-12)
    assert result.scores[0] == pytest.approx(0.25 * (9.75 + 7.75 + 2.75 + 0.5), abs=1e-12)  # 5.1875
    assert result.metric == "deletion" and result.higher_is_better is False


@pytest.mark.filterwarnings("ignore:images hold values")  # hand-computed pixels 1..4
def test_insertion_closed_form(linear_2x2):
    model, image, saliency = linear_2x2
    result = fm.insertion(model, image, saliency, targets=0, steps=4, score="logit", baseline=0.0)
    np.testing.assert_allclose(result.curves[0], [0.25, -1.75, 4.25, 8.25, 8.75], atol=1e-12)
    assert result.scores[0] == pytest.approx(0.25 * (-0.75 + 1.25 + 6.25 + 8.5), abs=1e-12)  # 3.8125
    assert result.metric == "insertion" and result.higher_is_better is True


@pytest.mark.filterwarnings("ignore:images hold values")  # hand-computed pixels 1..4
def test_step_fractions_round_half_up(linear_2x2):
    model, image, saliency = linear_2x2
    # 4 pixels, 8 steps: k * 4 / 8 = 0, .5, 1, 1.5, ... rounds half up to 0, 1, 1, 2, 2, 3, 3, 4, 4
    result = fm.deletion(model, image, saliency, targets=0, steps=8, score="logit")
    np.testing.assert_allclose(result.x, [0, 0.25, 0.25, 0.5, 0.5, 0.75, 0.75, 1, 1], atol=1e-12)
    np.testing.assert_allclose(result.curves[0], [8.75, 10.75, 10.75, 4.75, 4.75, 0.75, 0.75, 0.25, 0.25])
    # 3 steps: counts round(4/3) = 1, round(8/3) = 3
    result = fm.deletion(model, image, saliency, targets=0, steps=3, score="logit")
    np.testing.assert_allclose(result.x, [0.0, 0.25, 0.75, 1.0], atol=1e-12)
    np.testing.assert_allclose(result.curves[0], [8.75, 10.75, 0.75, 0.25], atol=1e-12)


def test_pixel_removed_in_all_channels():
    weights = torch.arange(1.0, 13.0, dtype=torch.float64).reshape(3, 2, 2)
    model = PixelLinear(weights)
    image = torch.ones(1, 3, 2, 2, dtype=torch.float64)
    saliency = torch.tensor([[[4.0, 3.0], [2.0, 1.0]]], dtype=torch.float64)
    result = fm.deletion(model, image, saliency, targets=0, steps=4, score="logit")
    # pixel (0, 0) carries weights 1 + 5 + 9 = 15, (0, 1) 2 + 6 + 10 = 18, (1, 0) 21, (1, 1) 24; total 78
    np.testing.assert_allclose(result.curves[0], [78, 63, 45, 24, 0], atol=1e-12)


def test_mufidelity_exact_linear_attribution_is_one():
    torch.manual_seed(3)
    weights = torch.randn(3, 12, 12, dtype=torch.float64)
    model = PixelLinear(weights)
    images = torch.rand(2, 3, 12, 12, dtype=torch.float64)
    exact = images * weights  # gradient x input: the exact contribution of each value, baseline 0
    for maps in (exact.sum(dim=1), exact):  # (N, H, W), and (N, C, H, W) reduced by the channel mean
        result = fm.mufidelity(model, images, maps, targets=0, score="logit", grid_size=4, n_subsets=40)
        np.testing.assert_allclose(result.scores, [1.0, 1.0], atol=1e-12)
    anti = fm.mufidelity(model, images, -exact.sum(1), targets=0, score="logit", grid_size=4, n_subsets=40)
    np.testing.assert_allclose(anti.scores, [-1.0, -1.0], atol=1e-12)


# ---------------------------------------------------------------------------------------------- endpoints


def test_curves_start_and_end_at_image_and_baseline_scores():
    model = tiny_cnn()
    images, maps = images_and_maps()
    with torch.no_grad():
        probs = torch.softmax(model(images), dim=1)
        targets = probs.argmax(dim=1)
        image_scores = probs[torch.arange(3), targets].numpy()
        baseline = torch.full_like(images, 0.3)
        baseline_scores = torch.softmax(model(baseline), 1)[torch.arange(3), targets].numpy()
        blurred = TVF.gaussian_blur(images, kernel_size=7, sigma=12 / 16)  # 2 * ceil(3 * 0.75) + 1 = 7
        blur_scores = torch.softmax(model(blurred), 1)[torch.arange(3), targets].numpy()
    dele = fm.deletion(model, images, maps, steps=5, baseline=0.3)
    np.testing.assert_allclose(dele.curves[:, 0], image_scores, atol=1e-10)
    np.testing.assert_allclose(dele.curves[:, -1], baseline_scores, atol=1e-10)
    ins = fm.insertion(model, images, maps, steps=5)
    np.testing.assert_allclose(ins.curves[:, 0], blur_scores, atol=1e-10)
    np.testing.assert_allclose(ins.curves[:, -1], image_scores, atol=1e-10)
    assert ins.params["baseline"] == "blur(sigma=0.75)" and dele.params["baseline"] == "0.3"


def test_blur_matches_torchvision():
    images = torch.rand(2, 3, 32, 20, dtype=torch.float64)
    sigma = 20 / 16  # min(H, W) / 16; kernel 2 * ceil(3.75) + 1 = 9
    expected = TVF.gaussian_blur(images, kernel_size=9, sigma=sigma)
    torch.testing.assert_close(fm.blur(images), expected, atol=1e-10, rtol=0)
    torch.testing.assert_close(fm.blur(images, 2.0), TVF.gaussian_blur(images, 13, 2.0), atol=1e-10, rtol=0)


# -------------------------------------------------------------------------------------------------- ties


@pytest.mark.filterwarnings("ignore:images hold values")  # hand-computed pixels 1..4
def test_ties_broken_by_pixel_index(linear_2x2):
    model, image, _ = linear_2x2
    tied = torch.tensor([[[1.0, 1.0], [1.0, 0.0]]], dtype=torch.float64)  # order 0, 1, 2 (tied), then 3
    result = fm.deletion(model, image, tied, targets=0, steps=4, score="logit")
    # contributions [0.5, -2, 6, 4] + bias 0.25
    np.testing.assert_allclose(result.curves[0], [8.75, 8.25, 10.25, 4.25, 0.25], atol=1e-12)
    again = fm.deletion(model, image, tied, targets=0, steps=4, score="logit")
    np.testing.assert_array_equal(result.curves, again.curves)


def test_constant_map_warns_and_ranks_in_index_order():
    model = tiny_cnn()
    images, _ = images_and_maps(n=2)
    constant = torch.full((2, 12, 12), 0.5, dtype=torch.float64)
    index_order = -torch.arange(144, dtype=torch.float64).reshape(1, 12, 12).expand(2, 12, 12)
    for metric in (fm.deletion, fm.insertion):
        with pytest.warns(UserWarning, match="map is constant; pixels ranked in index order"):
            result = metric(model, images, constant, steps=6)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            reference = metric(model, images, index_order, steps=6)
        assert np.isfinite(result.scores).all()
        np.testing.assert_allclose(result.curves, reference.curves, atol=1e-12)


def test_mufidelity_constant_gives_zero():
    images, _ = images_and_maps(n=2)
    zero = fm.mufidelity(tiny_cnn(), images, torch.zeros(2, 12, 12), grid_size=4, n_subsets=20)
    np.testing.assert_array_equal(zero.scores, [0.0, 0.0])

    class Constant(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.ones(x.shape[0], 2, dtype=x.dtype)

    flat = fm.mufidelity(Constant(), images, torch.rand(2, 12, 12), grid_size=4, n_subsets=20)
    np.testing.assert_array_equal(flat.scores, [0.0, 0.0])


# ---------------------------------------------------------------------------------------- naive reference


@pytest.mark.parametrize("mode", ["deletion", "insertion"])
def test_curves_match_naive_loop(mode):
    model = tiny_cnn(torch.float32)
    images, maps = images_and_maps(n=3)
    images, maps = images.float(), maps.float()
    maps[0, :3, :3] = 0.7  # ties
    metric = fm.deletion if mode == "deletion" else fm.insertion
    result = metric(model, images, maps, targets=[0, 1, 2], steps=7)
    for i in range(3):
        if mode == "deletion":
            baseline_image = torch.zeros_like(images[i])
        else:
            baseline_image = TVF.gaussian_blur(images[i : i + 1], kernel_size=7, sigma=0.75)[0]
        x, curve = naive_curve(model, images[i], maps[i], i, 7, baseline_image, mode)
        np.testing.assert_allclose(result.x, x, atol=1e-12)
        np.testing.assert_allclose(result.curves[i], curve, atol=1e-5)
        assert result.scores[i] == pytest.approx(np.trapezoid(curve, x), abs=1e-5)


def test_mufidelity_matches_naive_loop():
    model = tiny_cnn()
    images, maps = images_and_maps(n=2, size=10)
    pert = fm.mufidelity_perturbations(model, images, grid_size=3, n_subsets=30, seed=5)
    subsets = pert.subsets.numpy()
    # 10 pixels in 3 cells: rows/cols 0-3, 4-6, 7-9
    for block in (slice(0, 4), slice(4, 7), slice(7, 10)):
        for other in (slice(0, 4), slice(4, 7), slice(7, 10)):
            cell = subsets[:, block, other]
            assert (cell == cell[:, :1, :1]).all()
    with torch.no_grad():
        probs = torch.softmax(model(images), 1)
    targets = probs.argmax(1)
    result = fm.mufidelity(model, images, maps, grid_size=3, n_subsets=30, seed=5)
    for i in range(2):
        drops, sums = [], []
        for mask in subsets:
            x = images[i].clone()
            x[:, torch.from_numpy(mask)] = 0.0
            with torch.no_grad():
                drops.append(float(probs[i, targets[i]] - torch.softmax(model(x[None]), 1)[0, targets[i]]))
            sums.append(float(maps[i].numpy()[mask].sum()))
        np.testing.assert_allclose(pert.drops[i].numpy(), drops, atol=1e-10)
        assert result.scores[i] == pytest.approx(stats.spearmanr(sums, drops).statistic, abs=1e-10)


def test_spearman_matches_scipy_with_ties():
    generator = torch.Generator().manual_seed(0)
    a = torch.randint(0, 5, (4, 3, 25), generator=generator).double()
    b = torch.randn(4, 3, 25, generator=generator, dtype=torch.float64)
    b[..., :6] = 0.25  # ties in both
    ours = fm.spearman(a, b).numpy()
    for i in range(4):
        for j in range(3):
            assert ours[i, j] == pytest.approx(stats.spearmanr(a[i, j], b[i, j]).statistic, abs=1e-12)
    assert fm.spearman(torch.ones(5), torch.arange(5.0)).item() == 0.0


def test_mufidelity_subsets_follow_the_fraction():
    pert = fm.mufidelity_perturbations(
        tiny_cnn(), torch.rand(1, 3, 9, 9, dtype=torch.float64), grid_size=9, n_subsets=400
    )
    assert pert.subsets.double().mean().item() == pytest.approx(0.2, abs=0.01)  # 32,400 cells
    assert pert.params["n_subsets"] == 400 and pert.params["grid_size"] == 9


# ----------------------------------------------------------------------------------- chunking, seeds, reuse


def test_chunked_runs_are_identical():
    model = tiny_cnn()
    images, maps = images_and_maps(n=3)
    for metric, kwargs in (
        (fm.deletion, {"steps": 6}),
        (fm.insertion, {"steps": 6}),
        (fm.mufidelity, {"grid_size": 4, "n_subsets": 25}),
    ):
        results = [metric(model, images, maps, batch_size=b, **kwargs) for b in (1, 3, None)]
        for other in results[1:]:
            np.testing.assert_allclose(other.scores, results[0].scores, rtol=0, atol=1e-12)
            if other.curves is not None:
                np.testing.assert_allclose(other.curves, results[0].curves, rtol=0, atol=1e-12)


class BatchDependent(nn.Module):
    """tiny_cnn whose logits move with the size of their batch, as EfficientNet-Lite0's do in the last bits."""

    def __init__(self) -> None:
        super().__init__()
        self.net = tiny_cnn()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x) + 1e-3 * x.shape[0]


def test_cpu_batch_size_is_fixed_by_the_input_size_never_by_timings(monkeypatch):
    import time

    from forgrad_viz._threads import in_thread_check

    model = BatchDependent()
    images, maps = images_and_maps(n=4)
    fixed = _utils.cpu_batch_size(_utils.input_key(images))
    assert fixed == _utils.CPU_FORWARD_BATCH == 16  # 12 x 12 inputs: the largest size
    sizes = []
    model.register_forward_pre_hook(
        lambda _m, inputs: None if in_thread_check() else sizes.append(inputs[0].shape[0])
    )
    clock = iter(range(10**6))
    results = []
    for scale in (1e-6, 1.0):  # chunks that look fast, then slow: nothing may follow the clock
        monkeypatch.setattr(time, "perf_counter", lambda s=scale: s * next(clock) ** 2)
        sizes.clear()
        results.append(fm.deletion(model, images, maps, steps=40))  # 4 x 39 = 156 middle passes
        assert sizes == [4, 4, *[16] * 9, 12]  # targets, baseline, then the curves in fixed chunks
    monkeypatch.undo()
    explicit = fm.deletion(model, images, maps, steps=40, batch_size=fixed)
    for result in [*results[1:], explicit]:
        np.testing.assert_array_equal(result.curves, results[0].curves)
    other = fm.deletion(model, images, maps, steps=40, batch_size=64)  # another composition: other values
    assert np.abs(other.curves - explicit.curves).max() > 0


def test_cpu_batch_size_shrinks_with_the_input_size():
    def key(size: int) -> tuple:
        return ((3, size, size), torch.float32, 2)

    # at most 16 x 3 x 224 x 224 input values per batch, at most 16 images, a power of two
    assert [_utils.cpu_batch_size(key(s)) for s in (12, 64, 128, 224, 260, 512, 1024)] == [
        16,
        16,
        16,
        16,
        8,
        2,
        1,
    ]
    sizer = _utils.BatchSizer(nn.Linear(1, 1), None, torch.device("cpu"), key(224))
    assert [sizer.next_size(r) for r in (1000, 20, 3)] == [16, 16, 16]


def test_forward_logits_uses_the_fixed_cpu_batch_size():
    model = tiny_cnn()
    sizes = []
    handle = model.register_forward_pre_hook(lambda _m, inputs: sizes.append(inputs[0].shape[0]))
    images = torch.rand(40, 3, 12, 12, dtype=torch.float64)
    expected = model(images).detach()
    sizes.clear()
    logits = _utils.forward_logits(model, images)
    handle.remove()
    assert sizes == [16, 16, 8]
    torch.testing.assert_close(logits, expected, rtol=0, atol=1e-12)


def test_cuda_out_of_memory_back_off():
    sizer = _utils.BatchSizer(nn.Linear(1, 1), None, torch.device("cuda"), ((3, 8, 8), torch.float32))
    assert sizer.next_size() == 512
    assert sizer.back_off(RuntimeError("CUDA out of memory. Tried to allocate 2 GiB"))
    assert sizer.next_size() == 256
    assert not sizer.back_off(RuntimeError("shape mismatch"))
    fixed = _utils.BatchSizer(nn.Linear(1, 1), 8, torch.device("cuda"), ((3, 8, 8), torch.float32))
    assert not fixed.back_off(RuntimeError("CUDA out of memory"))


def test_same_seed_same_mufidelity():
    model = tiny_cnn()
    images, maps = images_and_maps(n=2)
    first = fm.mufidelity(model, images, maps, grid_size=4, n_subsets=30, seed=7)
    second = fm.mufidelity(model, images, maps, grid_size=4, n_subsets=30, seed=7)
    other = fm.mufidelity_perturbations(model, images, grid_size=4, n_subsets=30, seed=8)
    np.testing.assert_array_equal(first.scores, second.scores)
    assert first.params["seed"] == 7
    base = fm.mufidelity_perturbations(model, images, grid_size=4, n_subsets=30, seed=7)
    assert not torch.equal(base.subsets, other.subsets)


def test_stacked_maps_share_endpoints_and_count_forward_passes():
    model = CountingModel(tiny_cnn())
    images, _ = images_and_maps(n=3)
    stacked = torch.rand(4, 3, 12, 12, dtype=torch.float64)
    steps = 5
    x, curves = fm.perturbation_curves(model, images, stacked, mode="insertion", steps=steps)
    assert model.seen == 4 * 3 * (steps - 1) + 2 * 3
    assert curves.shape == (4, 3, steps + 1)
    for s in range(4):
        single = fm.insertion(model, images, stacked[s], steps=steps)
        np.testing.assert_allclose(curves[s].numpy(), single.curves, atol=1e-12)
        np.testing.assert_allclose(fm.auc(x, curves[s]).numpy(), single.scores, atol=1e-12)
    pert = fm.mufidelity_perturbations(model, images, grid_size=4, n_subsets=20)
    many = fm.mufidelity_scores(stacked, pert)
    for s in range(4):
        single = fm.mufidelity(model, images, stacked[s], grid_size=4, n_subsets=20)
        np.testing.assert_allclose(many[s].numpy(), single.scores, atol=1e-12)


def test_auc_matches_numpy():
    x = torch.tensor([0.0, 0.1, 0.5, 1.0], dtype=torch.float64)
    curves = torch.rand(2, 3, 4, dtype=torch.float64)
    np.testing.assert_allclose(fm.auc(x, curves).numpy(), np.trapezoid(curves.numpy(), x.numpy(), axis=-1))
    with pytest.raises(ValueError, match="curves"):
        fm.auc(x, curves[..., :3])


def test_baseline_kinds_agree():
    model = tiny_cnn()
    images, maps = images_and_maps(n=2)
    number = fm.deletion(model, images, maps, steps=4, baseline=0.5)
    tensor = fm.deletion(model, images, maps, steps=4, baseline=torch.full((3, 1, 1), 0.5))
    function = fm.deletion(model, images, maps, steps=4, baseline=lambda x: torch.full_like(x, 0.5))
    np.testing.assert_allclose(tensor.curves, number.curves, atol=1e-12)
    np.testing.assert_allclose(function.curves, number.curves, atol=1e-12)
    assert (tensor.params["baseline"], function.params["baseline"]) == ("tensor", "callable")


def test_result_roundtrip(tmp_path):
    model = tiny_cnn()
    images, maps = images_and_maps(n=3)
    result = fm.deletion(model, images, maps, steps=4)
    json.dumps(result.params)
    loaded = FaithfulnessResult.load(result.save(tmp_path / "deletion.json"))
    np.testing.assert_array_equal(loaded.curves, result.curves)
    assert loaded.params == result.params and loaded.mean() == pytest.approx(result.scores.mean())
    low, high = result.confidence_interval()
    assert low <= result.mean() <= high


# --------------------------------------------------------------------------------------- safety, devices


def test_inputs_untouched_and_model_restored():
    model = tiny_cnn().train()
    model[6].eval()  # a submodule with its own mode
    state = {k: v.clone() for k, v in model.state_dict().items()}
    images, maps = images_and_maps(n=2)
    images_copy, maps_copy = images.clone(), maps.clone()
    fm.deletion(model, images, maps, steps=3)
    fm.insertion(model, images, maps, steps=3, baseline=lambda x: x.mul_(0.0))  # a callable that mutates
    fm.mufidelity(model, images, maps, grid_size=3, n_subsets=10)
    assert torch.equal(images, images_copy) and torch.equal(maps, maps_copy)
    assert model.training and not model[6].training
    assert all(m.training for i, m in enumerate(model) if i != 6)
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_numpy_maps_accepted():
    model = tiny_cnn()
    images, maps = images_and_maps(n=2)
    from_numpy = fm.deletion(model, images, maps.numpy(), steps=4)
    np.testing.assert_array_equal(from_numpy.curves, fm.deletion(model, images, maps, steps=4).curves)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    model = tiny_cnn()
    images, maps = images_and_maps(n=3)
    cpu = [
        fm.deletion(model, images, maps, steps=5).scores,
        fm.insertion(model, images, maps, steps=5).scores,
        fm.mufidelity(model, images, maps, grid_size=4, n_subsets=30).scores,
    ]
    gpu_model = tiny_cnn().cuda()
    gpu = [
        fm.deletion(gpu_model, images.cuda(), maps, steps=5).scores,  # maps are moved to the model's device
        fm.insertion(gpu_model, images, maps.cuda(), steps=5, batch_size=7).scores,
        fm.mufidelity(gpu_model, images.cuda(), maps.cuda(), grid_size=4, n_subsets=30).scores,
    ]
    for a, b in zip(cpu, gpu, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-8)


# --------------------------------------------------------------------------------------------- bad input


def test_bad_input_errors():
    model = tiny_cnn()
    images, maps = images_and_maps(n=2)
    with pytest.raises(ValueError, match="maps"):
        fm.deletion(model, images, maps[:, :10], steps=4)
    with pytest.raises(ValueError, match="maps"):
        fm.insertion(model, images, maps[:1], steps=4)
    with pytest.raises(ValueError, match="maps"):
        fm.perturbation_curves(model, images, torch.rand(2, 3, 12, 12), mode="deletion")
    with pytest.raises(ValueError, match="steps"):
        fm.deletion(model, images, maps, steps=0)
    with pytest.raises(ValueError, match="baseline"):
        fm.deletion(model, images, maps, baseline=torch.zeros(2, 2, 12, 12))
    with pytest.raises(ValueError, match="baseline"):
        fm.insertion(model, images, maps, baseline=lambda x: x[:, :1])
    with pytest.raises(ValueError, match="baseline"):
        fm.deletion(model, images, maps, baseline="zeros")
    bad = maps.clone()
    bad[0, 1, 1] = float("nan")
    for metric in (fm.deletion, fm.insertion, fm.mufidelity):
        with pytest.raises(ValueError, match="maps contains NaN"):
            metric(model, images, bad)
    with pytest.raises(ValueError, match="score"):
        fm.deletion(model, images, maps, score="loss")
    with pytest.raises(ValueError, match="mode"):
        fm.perturbation_curves(model, images, maps, mode="both")
    with pytest.raises(ValueError, match="grid_size"):
        fm.mufidelity(model, images, maps, grid_size=13)
    with pytest.raises(ValueError, match="subset_fraction"):
        fm.mufidelity(model, images, maps, subset_fraction=1.5)
    with pytest.raises(ValueError, match="targets"):
        fm.deletion(model, images, maps, targets=[0, 7])


# ------------------------------------------------------------------------------------------- localisation


def test_localisation_hand_computed():
    maps = torch.tensor([[[1.0, 3.0], [0.0, -2.0]], [[2.0, 2.0], [2.0, 2.0]]])
    masks = torch.tensor([[[False, True], [True, True]], [[True, False], [False, False]]])
    np.testing.assert_allclose(fm.localisation(maps, masks), [3.0 / 4.0, 0.25])
    four_d = torch.stack([maps, 3 * maps], dim=1)  # channel mean = 2 * maps: same shares
    np.testing.assert_allclose(fm.localisation(four_d, masks.numpy()), [0.75, 0.25])


def test_localisation_without_positive_mass():
    maps = torch.tensor([[[-1.0, 0.0], [0.0, -2.0]], [[1.0, 0.0], [0.0, 0.0]]])
    masks = torch.ones(2, 2, 2, dtype=torch.bool)
    with pytest.warns(UserWarning, match="no positive attribution mass"):
        scores = fm.localisation(maps, masks)
    np.testing.assert_array_equal(scores, [0.0, 1.0])


def test_localisation_bad_input():
    with pytest.raises(ValueError, match="H, W"):
        fm.localisation(torch.rand(2, 4, 4), torch.ones(2, 4, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="maps"):
        fm.localisation(torch.rand(3, 4, 4), torch.ones(2, 4, 4, dtype=torch.bool))
    with pytest.raises(TypeError, match="masks"):
        fm.localisation(torch.rand(2, 4, 4), torch.ones(2, 4, 4))
    with pytest.raises(ValueError, match="NaN"):
        fm.localisation(torch.full((1, 2, 2), float("nan")), torch.ones(1, 2, 2, dtype=torch.bool))


def test_job_groups_cut_jobs_like_a_naive_loop():
    from forgrad_viz.metrics._forward import job_groups

    for start, stop, period in [(0, 1, 1), (7, 13, 4), (0, 27, 9), (5, 6, 9), (3, 40, 3)]:
        naive: dict[int, list[int]] = {}
        for job in range(start, stop):
            naive.setdefault(job // period, []).append(job)
        assert job_groups(start, stop, period) == [(g, jobs[0], jobs[-1] + 1) for g, jobs in naive.items()]


def test_a_shared_ranking_gives_the_curves_of_an_unshared_one_and_is_checked():
    from forgrad_viz.metrics.curves import curves_and_ranking

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    images, maps = torch.rand(3, 3, 10, 10), torch.rand(4, 3, 10, 10)
    _, deleted, ranking = curves_and_ranking(net, images, maps, mode="deletion", steps=5, batch_size=7)
    assert ranking.shape == maps.shape and ranking.dtype == torch.int32
    assert int(ranking.min()) == 1 and int(ranking.max()) == 5  # every pixel is perturbed at some step 1..5
    for mode, shared in [("deletion", deleted), ("insertion", None)]:
        _, alone = fm.perturbation_curves(net, images, maps, mode=mode, steps=5, batch_size=7)
        _, reused, _ = curves_and_ranking(
            net, images, maps, mode=mode, steps=5, batch_size=7, ranking=ranking
        )
        assert torch.equal(reused, alone)
        if shared is not None:
            assert torch.equal(shared, alone)
    with pytest.raises(ValueError, match="ranking must have the maps' shape"):
        curves_and_ranking(net, images, maps, mode="insertion", steps=5, ranking=ranking[:2])
