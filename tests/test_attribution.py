"""Tests of forgrad_viz.attribution: explain() and METHODS."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from forgrad_viz.attribution import METHODS, explain

torch.set_num_threads(min(2, torch.get_num_threads()))

N_CLASSES = 5
SIZE = 16
#: Small option values so that every method runs in well under a second on a tiny CNN.
FAST = {
    "integrated_gradients": {"n_steps": 8},
    "smoothgrad": {"n_samples": 4},
    "squaregrad": {"n_samples": 4},
    "vargrad": {"n_samples": 4},
    "occlusion": {"window": 4},
    "rise": {"n_masks": 64},
}
STOCHASTIC = {"smoothgrad", "squaregrad", "vargrad", "rise"}
SINGLE_CHANNEL = {"gradcam", "occlusion", "rise"}


def tiny_cnn(inplace: bool = False, seed: int = 0) -> nn.Sequential:
    """conv-bn-relu-maxpool x2, dropout, linear; BatchNorm statistics set away from their defaults."""
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(inplace=inplace),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(inplace=inplace),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.5),
        nn.Linear(16 * (SIZE // 4) ** 2, N_CLASSES),
    )
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 1.5)
        net[-1].weight.mul_(10.0)
    return net


def make_images(n: int = 3, dtype: torch.dtype = torch.float32, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, SIZE, SIZE, generator=generator, dtype=dtype)


def gradient_of_target(model: nn.Module, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """d logit[target] / d images, computed directly with torch.autograd.grad."""
    x = images.clone().requires_grad_(True)
    logits = model(x)
    (grad,) = torch.autograd.grad(logits[torch.arange(len(targets)), targets].sum(), x)
    return grad


def hook_count(model: nn.Module) -> int:
    return sum(
        len(getattr(module, attr))
        for module in model.modules()
        for attr in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
    )


# ----------------------------------------------------------------------------------------------------------
# exact checks against independent computations


def test_saliency_is_the_signed_gradient_of_the_predicted_logit() -> None:
    model, images = tiny_cnn().train(), make_images(4)
    maps = explain(model, images)
    model.eval()
    with torch.no_grad():
        predicted = model(images).argmax(dim=1)
    expected = gradient_of_target(model, images, predicted)
    torch.testing.assert_close(maps, expected, rtol=1e-5, atol=1e-7)
    assert (maps < 0).any(), "saliency is signed (abs=False)"


def test_saliency_with_explicit_targets() -> None:
    model, images = tiny_cnn().eval(), make_images(3)
    targets = [4, 0, 2]
    expected = gradient_of_target(model, images, torch.tensor(targets))
    torch.testing.assert_close(explain(model, images, targets), expected, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(explain(model, images, torch.tensor(targets)), expected, rtol=1e-5, atol=1e-7)
    same_class = gradient_of_target(model, images, torch.full((3,), 1))
    torch.testing.assert_close(explain(model, images, 1), same_class, rtol=1e-5, atol=1e-7)


def test_gradient_input_is_images_times_gradient() -> None:
    model, images = tiny_cnn().eval(), make_images(3)
    targets = torch.tensor([1, 2, 3])
    expected = images * gradient_of_target(model, images, targets)
    torch.testing.assert_close(
        explain(model, images, targets, "gradient_input"), expected, rtol=1e-5, atol=1e-7
    )


def smooth_cnn() -> nn.Sequential:
    torch.manual_seed(3)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.Tanh(),
        nn.AvgPool2d(2),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.Softplus(),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(8 * (SIZE // 4) ** 2, N_CLASSES),
    ).double()
    with torch.no_grad():
        net[-1].weight.mul_(100.0)
    return net


@pytest.mark.parametrize("baseline", [0.0, 0.5, torch.tensor([0.2, 0.4, 0.6]).view(3, 1, 1)])
def test_integrated_gradients_completeness(baseline: float | torch.Tensor) -> None:
    """Sum of IG attributions = f(x) - f(baseline) for the target logit.

    On a smooth (tanh/softplus/avg-pool) network the integrand is smooth, so Gauss-Legendre quadrature with 16
    points is exact to ~1e-8 (float64): tolerance 1e-6 relative to |f(x) - f(baseline)|.
    """
    model, images = smooth_cnn(), make_images(4, torch.float64)
    targets = torch.tensor([0, 1, 2, 4])
    maps = explain(model, images, targets, "integrated_gradients", n_steps=16, baseline=baseline)
    reference = torch.zeros_like(images) + (baseline.double() if torch.is_tensor(baseline) else baseline)
    with torch.no_grad():
        rows = torch.arange(4)
        delta = model(images)[rows, targets] - model(reference)[rows, targets]
    assert delta.abs().min() > 0.05  # a meaningful difference to recover
    torch.testing.assert_close(maps.sum(dim=(1, 2, 3)), delta, rtol=1e-6, atol=1e-9)


def test_integrated_gradients_completeness_relu_network() -> None:
    """On a ReLU/max-pool CNN the integrand is piecewise constant: within 3% of max |delta| at 256 steps."""
    model, images = tiny_cnn().eval(), make_images(2)
    maps = explain(model, images, method="integrated_gradients", n_steps=256, batch_size=512)
    with torch.no_grad():
        logits = model(images)
        targets = logits.argmax(dim=1)
        rows = torch.arange(2)
        delta = logits[rows, targets] - model(torch.zeros_like(images))[rows, targets]
    error = (maps.sum(dim=(1, 2, 3)) - delta).abs().max()
    assert error <= 0.03 * delta.abs().max()


def test_noise_tunnel_methods_agree_with_each_other_and_with_saliency() -> None:
    model, images = tiny_cnn().eval(), make_images(3)
    targets = torch.tensor([0, 3, 1])
    options = {"n_samples": 6, "stdev": 0.2, "seed": 7}
    mean = explain(model, images, targets, "smoothgrad", **options)
    square = explain(model, images, targets, "squaregrad", **options)
    variance = explain(model, images, targets, "vargrad", **options)
    # same seed -> same noise: VarGrad = E[g^2] - E[g]^2 exactly
    torch.testing.assert_close(variance, square - mean**2, rtol=1e-4, atol=1e-9)
    assert (variance > 0).any()
    # with vanishing noise SmoothGrad is the gradient, SquareGrad its square
    gradient = gradient_of_target(model, images, targets)
    tiny = {"n_samples": 3, "stdev": 1e-7}
    torch.testing.assert_close(
        explain(model, images, targets, "smoothgrad", **tiny), gradient, rtol=1e-3, atol=1e-6
    )
    torch.testing.assert_close(
        explain(model, images, targets, "squaregrad", **tiny), gradient**2, rtol=1e-3, atol=1e-8
    )


def test_smoothgrad_noise_has_the_requested_stdev() -> None:
    """For a linear model the gradient is constant, so SmoothGrad = gradient; a model of squared pixels has
    gradient 2x, so SquareGrad = E[(2(x + e))^2] = 4 (x^2 + stdev^2)."""

    class SquaredPixels(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.stack([(x**2).sum(dim=(1, 2, 3)), torch.zeros(len(x))], dim=1)

    images = make_images(2, torch.float64)
    stdev = 0.3
    maps = explain(
        SquaredPixels(), images, 0, "squaregrad", n_samples=4000, stdev=stdev, batch_size=8000
    ).double()
    expected = 4 * (images**2 + stdev**2)
    # mean over 4000 samples: relative standard error of E[(x+e)^2] is below 5%; averaged over pixels far less
    assert abs(float(maps.mean() / expected.mean()) - 1) < 0.01
    assert float(((maps - expected).abs() / expected).median()) < 0.05


def test_guided_backprop_matches_a_hand_computation() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Flatten(), nn.Linear(3 * 8 * 8, 20), nn.ReLU(inplace=True), nn.Linear(20, N_CLASSES)
    )
    images = torch.rand(3, 3, 8, 8)
    targets = torch.tensor([0, 2, 4])
    maps = explain(model, images, targets, "guided_backprop")
    first, second = model[1], model[3]
    pre_activation = images.flatten(1) @ first.weight.T + first.bias
    # guided backprop through a ReLU: keep positive gradients where the input was positive
    signal = torch.relu(second.weight[targets]) * (pre_activation > 0)
    expected = (signal @ first.weight).view_as(images)
    torch.testing.assert_close(maps, expected.detach(), rtol=1e-5, atol=1e-7)
    assert not torch.allclose(maps, gradient_of_target(model, images, targets))


def manual_gradcam(
    model: nn.Sequential, index: int, images: torch.Tensor, targets: torch.Tensor
) -> torch.Tensor:
    """Grad-CAM at the output of model[index]: ReLU(sum_k mean(dy/dA_k) A_k), bilinear upsampling."""
    features = model[: index + 1](images)
    logits = model[index + 1 :](features)
    (grad,) = torch.autograd.grad(logits[torch.arange(len(targets)), targets].sum(), features)
    cam = torch.relu((grad.mean(dim=(2, 3), keepdim=True) * features).sum(dim=1, keepdim=True))
    return F.interpolate(cam, size=images.shape[-2:], mode="bilinear", align_corners=False).detach()


@pytest.mark.parametrize("inplace", [False, True])
def test_gradcam_matches_a_hand_computation(inplace: bool) -> None:
    model, images = tiny_cnn(inplace=inplace).eval(), make_images(3)
    targets = torch.tensor([1, 0, 4])
    last_conv = manual_gradcam(tiny_cnn().eval(), 4, images, targets)
    torch.testing.assert_close(explain(model, images, targets, "gradcam"), last_conv, rtol=1e-5, atol=1e-7)
    first_conv = manual_gradcam(tiny_cnn().eval(), 0, images, targets)
    torch.testing.assert_close(
        explain(model, images, targets, "gradcam", layer="0"), first_conv, rtol=1e-5, atol=1e-7
    )
    pooled = manual_gradcam(tiny_cnn().eval(), 7, images, targets)
    torch.testing.assert_close(
        explain(model, images, targets, "gradcam", layer=model[7]), pooled, rtol=1e-5, atol=1e-7
    )


class RegionModel(nn.Module):
    """Two classes; the logit of class 0 depends only on the pixels of a known square region."""

    rows, cols = slice(3, 8), slice(9, 14)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        region = x[:, :, self.rows, self.cols].mean(dim=(1, 2, 3))
        return torch.stack([6 * region - 3, torch.zeros_like(region)], dim=1)


def region_contrast(maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    inside = torch.zeros(SIZE, SIZE, dtype=torch.bool)
    inside[RegionModel.rows, RegionModel.cols] = True
    maps = maps[:, 0]
    return maps[:, inside].mean(dim=1), maps[:, ~inside]


def test_occlusion_puts_its_mass_on_the_region_that_matters() -> None:
    images = 0.6 + 0.4 * make_images(2)
    maps = explain(RegionModel(), images, 0, "occlusion")
    inside, outside = region_contrast(maps)
    assert (inside > 0).all()
    assert (inside > 20 * outside.abs().mean(dim=1)).all()


def test_occlusion_matches_a_naive_loop() -> None:
    """Non-overlapping windows: each pixel gets p(x) - p(x with its window set to the baseline)."""
    model, images = RegionModel(), make_images(2)
    window, baseline = 4, 0.25
    maps = explain(model, images, 0, "occlusion", window=window, stride=window, baseline=baseline)
    expected = torch.zeros(2, 1, SIZE, SIZE)
    with torch.no_grad():
        full = model(images).softmax(dim=1)[:, 0]
        for top in range(0, SIZE, window):
            for left in range(0, SIZE, window):
                occluded = images.clone()
                occluded[:, :, top : top + window, left : left + window] = baseline
                drop = full - model(occluded).softmax(dim=1)[:, 0]
                expected[:, 0, top : top + window, left : left + window] = drop.view(2, 1, 1)
    torch.testing.assert_close(maps, expected, rtol=1e-5, atol=1e-7)
    logit_maps = explain(model, images, 0, "occlusion", window=window, stride=window, score="logit")
    assert not torch.allclose(logit_maps, maps)


def test_rise_puts_its_mass_on_the_region_that_matters() -> None:
    """RISE's map is E[score | pixel kept]: about E[score] away from the region, higher on it.

    The masks are smooth over a cell (4 px here), so pixels next to the region share some of its mass;
    pixels at least 3 px away from it must be flat, and the region far above them.
    """
    images = 0.6 + 0.4 * make_images(2)
    maps = explain(RegionModel(), images, 0, "rise", n_masks=1000, grid=4)
    inside, outside = region_contrast(maps)
    assert ((inside - outside.mean(dim=1)) > 2.5 * outside.std(dim=1)).all()
    far = torch.ones(SIZE, SIZE, dtype=torch.bool)
    far[0:11, 6:16] = False
    far_values = maps[:, 0][:, far]
    assert ((inside - far_values.mean(dim=1)) > 8 * far_values.std(dim=1)).all()
    argmax = maps[:, 0].flatten(1).argmax(dim=1)
    rows, cols = argmax // SIZE, argmax % SIZE
    assert ((rows >= 3) & (rows < 8) & (cols >= 9) & (cols < 14)).all()


def test_rise_normalisation_on_a_constant_model() -> None:
    """A constant score c gives sum_i c M_i / (N p) ~= c: the masks' mean is p."""

    class Constant(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.tensor([[2.0, 0.0]]).expand(len(x), 2)

    images = make_images(1)
    for p in (0.3, 0.5):
        maps = explain(Constant(), images, 0, "rise", n_masks=1000, p=p, score="logit")
        # pixel means of 1000 masks: standard error <= 0.5 / sqrt(1000) / p relative; pixel-average ~exact
        assert abs(float(maps.mean()) - 2.0) < 0.05
        assert float((maps - 2.0).abs().max()) < 2.0 * 6 * 0.5 / math.sqrt(1000) / p


# ----------------------------------------------------------------------------------------------------------
# contract of every method


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_contract(method: str) -> None:
    model = tiny_cnn().train()
    images = make_images(3)
    original = images.clone()
    modes = [module.training for module in model.modules()]
    state = torch.get_rng_state()
    options = FAST.get(method, {})

    maps = explain(model, images, method=method, seed=3, **options)

    channels = 1 if method in SINGLE_CHANNEL else 3
    assert maps.shape == (3, channels, SIZE, SIZE)
    assert maps.dtype == images.dtype and maps.device == images.device
    assert not maps.requires_grad and torch.isfinite(maps).all()
    assert maps.abs().sum() > 0
    assert METHODS[method].single_channel == (method in SINGLE_CHANNEL)
    # model, hooks, inputs, parameter gradients and the caller's random state are untouched
    assert [module.training for module in model.modules()] == modes
    assert hook_count(model) == 0
    assert all(parameter.grad is None for parameter in model.parameters())
    assert torch.equal(images, original) and not images.requires_grad
    assert torch.equal(torch.get_rng_state(), state)
    # reproducible, seed-dependent only for the stochastic methods, independent of the batching when exact
    again = explain(model, images, method=method, seed=3, **options)
    assert torch.equal(maps, again)
    other_seed = explain(model, images, method=method, seed=4, **options)
    assert torch.equal(maps, other_seed) != (method in STOCHASTIC)
    assert METHODS[method].stochastic == (method in STOCHASTIC)
    if method not in {"smoothgrad", "squaregrad", "vargrad"}:  # noise drawn chunk by chunk (documented)
        batch_size = {"integrated_gradients": 8, "occlusion": 50, "rise": 50}.get(method, 2)  # other chunks
        rechunked = explain(model, images, method=method, seed=3, batch_size=batch_size, **options)
        torch.testing.assert_close(rechunked, maps, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_float64_images_give_float64_maps(method: str) -> None:
    model = tiny_cnn().double()
    maps = explain(model, make_images(2, torch.float64), method=method, **FAST.get(method, {}))
    assert maps.dtype == torch.float64


@pytest.mark.parametrize("method", sorted(METHODS))
def test_cost_counts_the_model_passes(method: str) -> None:
    """METHODS[m].cost() equals the forward/backward passes counted with hooks (per image)."""
    model, images = tiny_cnn().eval(), make_images(2)
    counts = {"forward": 0, "backward": 0}

    def count_backward(grad: torch.Tensor) -> None:
        counts["backward"] += grad.shape[0]

    def count_forward(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        counts["forward"] += output.shape[0]
        if output.requires_grad:
            output.register_hook(count_backward)

    handle = model.register_forward_hook(count_forward)
    try:
        explain(model, images, [0, 1], method=method, batch_size=7, **FAST.get(method, {}))
    finally:
        handle.remove()
    expected = METHODS[method].cost(image_size=(SIZE, SIZE), **FAST.get(method, {}))
    # explicit targets cost one forward pass of one image (to read the number of classes)
    assert counts == {"forward": 2 * expected["forward"] + 1, "backward": 2 * expected["backward"]}


def test_occlusion_cost_counts_windows() -> None:
    info = METHODS["occlusion"]
    # default at 64x64: window 8, stride 4 -> 15 positions per axis; at 224: window 28, stride 14 -> 15
    assert info.cost(image_size=(64, 64)) == {"forward": 15 * 15 + 1, "backward": 0}
    assert info.cost(image_size=(224, 224)) == {"forward": 15 * 15 + 1, "backward": 0}
    # last window flush with the border: ceil((30 - 8) / 5) + 1 = 6 rows, ceil((20 - 8) / 8) + 1 = 3 columns
    assert info.cost(image_size=(30, 20), window=8, stride=(5, 8))["forward"] == 6 * 3 + 1
    assert METHODS["rise"].cost(n_masks=500) == {"forward": 500, "backward": 0}
    assert METHODS["smoothgrad"].cost() == {"forward": 16, "backward": 16}
    with pytest.raises(ValueError, match="image_size"):
        info.cost()


def test_gradcam_single_channel_and_guided_backprop_with_inplace_relu() -> None:
    plain, inplace, images = tiny_cnn().eval(), tiny_cnn(inplace=True).eval(), make_images(2)
    for method in ("guided_backprop", "gradcam", "saliency"):
        torch.testing.assert_close(
            explain(inplace, images, method=method), explain(plain, images, method=method)
        )


def test_progress_bar_gives_the_same_maps() -> None:
    model, images = tiny_cnn().eval(), make_images(3)
    quiet = explain(model, images, method="rise", n_masks=32, batch_size=16)
    loud = explain(model, images, method="rise", n_masks=32, batch_size=16, progress=True)
    torch.testing.assert_close(loud, quiet)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_on_cuda(method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # cuDNN convolutions default to TF32 (about 1e-3 relative error), which differences of probabilities such
    # as Occlusion's amplify: compare CPU and CUDA in full float32.
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    model, images = tiny_cnn().cuda(), make_images(2).cuda()
    options = FAST.get(method, {})
    state = torch.cuda.get_rng_state()
    maps = explain(model, images, method=method, **options)
    assert maps.device == images.device and maps.shape[0] == 2
    assert torch.equal(torch.cuda.get_rng_state(), state)
    # seeded on the device: the same call gives the same maps (up to non-deterministic CUDA kernels)
    torch.testing.assert_close(explain(model, images, method=method, **options), maps, rtol=1e-4, atol=1e-6)
    cpu = explain(model.cpu(), images.cpu(), method=method, **options)
    if method not in STOCHASTIC:
        torch.testing.assert_close(maps.cpu(), cpu, rtol=1e-3, atol=1e-5)
    with pytest.raises(ValueError, match="device"):
        explain(model, images, method=method)


# ----------------------------------------------------------------------------------------------------------
# bad input


def test_unknown_method() -> None:
    with pytest.raises(ValueError, match=r"method must be one of .*saliency"):
        explain(tiny_cnn(), make_images(1), method="lime")


@pytest.mark.parametrize(
    ("targets", "error", "match"),
    [
        (N_CLASSES, ValueError, r"targets must lie in \[0, 4\]"),
        ([-1, 0], ValueError, "targets must lie"),
        ([0, 1, 2], ValueError, "one class index per image"),
        ([0.5, 1.0], TypeError, "integers"),
        ("cat", TypeError, "targets"),
    ],
)
def test_bad_targets(targets: object, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        explain(tiny_cnn(), make_images(2), targets)


@pytest.mark.parametrize(
    ("images", "error", "match"),
    [
        (torch.rand(3, SIZE, SIZE), ValueError, r"\(N, C, H, W\)"),
        (torch.randint(0, 255, (1, 3, SIZE, SIZE)), TypeError, "floating-point"),
        ([[0.0]], TypeError, "torch.Tensor"),
        (torch.full((1, 3, SIZE, SIZE), float("nan")), ValueError, "NaN"),
    ],
)
def test_bad_images(images: object, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        explain(tiny_cnn(), images)


def test_options_that_do_not_apply() -> None:
    images = make_images(1)
    with pytest.raises(TypeError, match=r"'n_samples'.*'saliency'.*valid options: none"):
        explain(tiny_cnn(), images, n_samples=8)
    with pytest.raises(TypeError, match=r"'n_masks'.*'smoothgrad'.*valid options: n_samples, stdev"):
        explain(tiny_cnn(), images, method="smoothgrad", n_masks=8)


@pytest.mark.parametrize(
    ("method", "options", "error", "match"),
    [
        ("integrated_gradients", {"n_steps": 0}, ValueError, "n_steps"),
        ("integrated_gradients", {"n_steps": 2.5}, TypeError, "n_steps"),
        ("integrated_gradients", {"baseline": torch.zeros(2, 2)}, ValueError, "baseline must broadcast"),
        ("smoothgrad", {"stdev": -0.1}, ValueError, "stdev"),
        ("rise", {"p": 1.5}, ValueError, "p must lie in"),
        ("rise", {"score": "softmax"}, ValueError, "score"),
        ("occlusion", {"window": SIZE + 1}, ValueError, "window"),
        ("occlusion", {"window": 4, "stride": 5}, ValueError, "stride"),
        ("occlusion", {"window": (2, 2, 2)}, TypeError, "window"),
        ("gradcam", {"layer": "nope"}, ValueError, "'nope' is not a submodule"),
        ("gradcam", {"layer": nn.Conv2d(1, 1, 1)}, ValueError, "submodule"),
        ("gradcam", {"layer": 3}, TypeError, "layer"),
        ("gradcam", {"relu": "yes"}, TypeError, "relu"),
    ],
)
def test_bad_option_values(method: str, options: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        explain(tiny_cnn(), make_images(1), method=method, **options)


def test_bad_batch_size_seed_and_model() -> None:
    images = make_images(1)
    with pytest.raises(ValueError, match="batch_size"):
        explain(tiny_cnn(), images, batch_size=0)
    with pytest.raises(TypeError, match="seed"):
        explain(tiny_cnn(), images, seed=1.5)
    with pytest.raises(TypeError, match="model"):
        explain(lambda x: x, images)
    flat = nn.Sequential(nn.Flatten(), nn.Linear(3 * SIZE * SIZE, N_CLASSES))
    with pytest.raises(ValueError, match=r"no nn\.Conv2d"):
        explain(flat, images, method="gradcam")


def test_non_finite_maps_raise() -> None:
    class Exploding(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.stack([x.sum(dim=(1, 2, 3)) * float("inf"), x.sum(dim=(1, 2, 3))], dim=1)

    with pytest.raises(RuntimeError, match="NaN or infinite"):
        explain(Exploding(), make_images(1), 0, method="gradient_input")
