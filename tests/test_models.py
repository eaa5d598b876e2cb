from __future__ import annotations

import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from torchvision.models import ResNet18_Weights

from forgrad_viz import models
from forgrad_viz.data import SHAPES, shapes_dataset
from forgrad_viz.models import (
    DEMO_MODELS,
    BlurPool,
    ImageTransform,
    Normalize,
    build_demo_model,
    demo_card,
    load_demo,
    load_torchvision,
)

MEAN = torch.tensor([0.485, 0.456, 0.406]).reshape(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).reshape(1, 3, 1, 1)
#: Allowed shortfall of the accuracy measured in the test (512 images) below the model card's (1,000 images).
ACCURACY_MARGIN = 0.03


@pytest.fixture(scope="module")
def resnet():
    return load_torchvision("resnet18", seed=1)


@pytest.fixture(scope="module")
def images():
    return torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))


def _outputs(model, x):
    with torch.inference_mode():
        return model(x)


def test_load_torchvision_random_init_is_wrapped_and_in_eval_mode(resnet, images):
    model, transform = resnet
    assert not any(module.training for module in model.modules())
    assert isinstance(model, torch.nn.Sequential) and isinstance(model[0], Normalize)
    assert isinstance(model.net, torchvision.models.ResNet)
    # the first layer is the ImageNet normalisation, computed here by hand
    expected = model.net((images - MEAN) / STD)
    torch.testing.assert_close(_outputs(model, images), expected.detach(), rtol=0, atol=1e-6)
    assert (transform.resize_size, transform.crop_size) == (256, 224)


def test_load_torchvision_seed_is_reproducible_and_leaves_global_rng_alone(resnet):
    state = torch.random.get_rng_state()
    again, _ = load_torchvision("resnet18", seed=1)
    other, _ = load_torchvision("resnet18", seed=2)
    assert torch.equal(torch.random.get_rng_state(), state)
    weight = resnet.model.net.conv1.weight
    assert torch.equal(again.net.conv1.weight, weight)
    assert not torch.equal(other.net.conv1.weight, weight)


def test_state_dict_round_trip_file_and_dict_offline(resnet, images, tmp_path):
    model = resnet.model
    path = tmp_path / "resnet18.pth"
    torch.save(model.net.state_dict(), path)
    expected = _outputs(model, images)
    from_file, _ = load_torchvision("resnet18", weights=str(path), seed=5)
    from_path, _ = load_torchvision("resnet18", weights=path, seed=5)
    from_dict, _ = load_torchvision("resnet18", weights=model.net.state_dict(), seed=5)
    unloaded, _ = load_torchvision("resnet18", seed=5)
    assert not torch.allclose(_outputs(unloaded, images), expected)  # the loading is what makes them equal
    for loaded in (from_file, from_path, from_dict):
        assert not loaded.training
        torch.testing.assert_close(_outputs(loaded, images), expected, rtol=0, atol=0)


def test_state_dict_variants_wrapper_dataparallel_checkpoint(resnet, images):
    model = resnet.model
    expected = _outputs(model, images)
    net_state = model.net.state_dict()
    variants = {
        "wrapper": model.state_dict(),
        "dataparallel": {f"module.{key}": value for key, value in net_state.items()},
        "checkpoint": {"state_dict": net_state, "epoch": 3},
    }
    for state in variants.values():
        loaded, _ = load_torchvision("resnet18", weights=state, seed=7)
        torch.testing.assert_close(_outputs(loaded, images), expected, rtol=0, atol=0)


def test_mismatching_state_dict_raises_value_error_naming_weights(resnet, tmp_path):
    state = dict(resnet.model.net.state_dict())
    missing = {key: value for key, value in state.items() if key != "fc.bias"}
    with pytest.raises(ValueError, match=r"weights .*missing keys \['fc.bias'\]"):
        load_torchvision("resnet18", weights=missing)
    extra = {**state, "head.weight": torch.zeros(3)}
    with pytest.raises(ValueError, match=r"weights .*unexpected keys \['head.weight'\]"):
        load_torchvision("resnet18", weights=extra)
    path = tmp_path / "squeezenet.pt"
    torch.save(load_torchvision("squeezenet1_1").model.net.state_dict(), path)
    with pytest.raises(ValueError, match=r"weights .*squeezenet.pt.* do not match"):
        load_torchvision("resnet18", weights=path)
    ten_classes = load_torchvision("resnet18", num_classes=10).model.net.state_dict()
    with pytest.raises(ValueError, match=r"weights .*wrong shape.*fc.weight.*num_classes"):
        load_torchvision("resnet18", weights=ten_classes)
    loaded, _ = load_torchvision("resnet18", weights=ten_classes, num_classes=10)
    assert loaded(torch.rand(1, 3, 32, 32)).shape == (1, 10)


def test_bad_names_and_weights(tmp_path):
    with pytest.raises(ValueError, match=r"name 'resnet19'.*list_models"):
        load_torchvision("resnet19")
    with pytest.raises(TypeError, match="name"):
        load_torchvision(18)
    with pytest.raises(ValueError, match=r"weights 'IMAGENET9K'.*ResNet18_Weights.IMAGENET1K_V1"):
        load_torchvision("resnet18", weights="IMAGENET9K")
    with pytest.raises(
        ValueError, match=r"weights 'ResNet34_Weights.IMAGENET1K_V1' is neither .* of 'resnet18'"
    ):
        load_torchvision("resnet18", weights="ResNet34_Weights.IMAGENET1K_V1")
    with pytest.raises(ValueError, match="do not belong"):
        load_torchvision("resnet18", weights=torchvision.models.ResNet34_Weights.IMAGENET1K_V1)
    with pytest.raises(FileNotFoundError, match="weights file not found"):
        load_torchvision("resnet18", weights="/nonexistent/resnet18.pth")
    with pytest.raises(FileNotFoundError, match="weights file not found"):
        load_torchvision("resnet18", weights=tmp_path / "missing")
    with pytest.raises(TypeError, match="weights must be"):
        load_torchvision("resnet18", weights=3)


def test_published_weights_offline_give_a_clear_error(monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", offline)
    for weights in (
        "DEFAULT",
        "IMAGENET1K_V1",
        "ResNet18_Weights.IMAGENET1K_V1",
        ResNet18_Weights.IMAGENET1K_V1,
    ):
        with pytest.raises(RuntimeError, match=r"could not download.*Offline, pass weights= a local file"):
            load_torchvision("resnet18", weights=weights)


def test_transform_matches_torchvision_preset_without_normalisation():
    preset = ResNet18_Weights.IMAGENET1K_V1.transforms()
    transform = load_torchvision("squeezenet1_0").transform  # same 256/224 bilinear preset
    batch = torch.rand(2, 3, 300, 260, generator=torch.Generator().manual_seed(1))
    out = transform(batch)
    assert out.shape == (2, 3, 224, 224) and out.dtype == torch.float32
    # the torchvision preset normalises; undo it to get the reference in [0, 1]
    reference = preset(batch) * STD + MEAN
    torch.testing.assert_close(out, reference.clamp(0, 1), rtol=0, atol=1e-5)
    torch.testing.assert_close(transform(batch[0]), out[0])
    # PIL and uint8 inputs (greyscale PIL converted to RGB)
    pixels = (batch[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    from_pil = transform(Image.fromarray(pixels))
    from_uint8 = transform(torch.from_numpy(pixels).permute(2, 0, 1))
    torch.testing.assert_close(from_pil, from_uint8)
    assert transform(Image.fromarray(pixels[:, :, 0])).shape == (3, 224, 224)
    with pytest.raises(ValueError, match="image must have shape"):
        transform(torch.rand(4, 32, 32))
    with pytest.raises(TypeError, match="image must be"):
        transform([1, 2, 3])


def test_normalize_layer_and_blurpool_against_numpy():
    layer = Normalize((0.1, 0.2, 0.3), (0.5, 0.25, 2.0))
    x = torch.rand(2, 3, 4, 5)
    expected = (x.numpy() - np.array([0.1, 0.2, 0.3])[:, None, None]) / np.array([0.5, 0.25, 2.0])[
        :, None, None
    ]
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="std must be > 0"):
        Normalize((0.0,), (0.0,))
    with pytest.raises(ValueError, match="expected images of shape"):
        layer(torch.rand(1, 1, 4, 4))

    blur = BlurPool(2)
    x = torch.rand(1, 2, 7, 8)
    padded = np.pad(x.numpy()[0], ((0, 0), (1, 1), (1, 1)), mode="reflect")
    kernel = np.outer([1, 2, 1], [1, 2, 1]) / 16.0
    naive = np.zeros((2, 7, 8))
    for c in range(2):
        for i in range(7):
            for j in range(8):
                naive[c, i, j] = (padded[c, i : i + 3, j : j + 3] * kernel).sum()
    np.testing.assert_allclose(blur(x)[0].numpy(), naive[:, ::2, ::2], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", list(DEMO_MODELS))
def test_build_demo_model_shapes(name):
    torch.manual_seed(0)
    model = build_demo_model(name)
    assert model(torch.rand(3, 3, 64, 64)).shape == (3, len(SHAPES))


def test_demo_cnns_differ_only_in_downsampling():
    counts = {
        name: sum(p.numel() for p in build_demo_model(name).parameters())
        for name in ("maxpool_cnn", "strided_cnn", "antialiased_cnn")
    }
    assert len(set(counts.values())) == 1
    layers = {name: {type(m) for m in build_demo_model(name).modules()} for name in counts}
    assert torch.nn.MaxPool2d in layers["maxpool_cnn"] and BlurPool not in layers["maxpool_cnn"]
    assert torch.nn.MaxPool2d not in layers["strided_cnn"]
    assert BlurPool in layers["antialiased_cnn"]


@pytest.fixture(scope="module")
def eval_sets():
    cache = {}

    def get(seed):
        if seed not in cache:
            cache[seed] = shapes_dataset(512, size=64, seed=seed)
        return cache[seed]

    return get


@pytest.mark.parametrize("name", list(DEMO_MODELS))
def test_demo_models_load_and_reach_their_stated_accuracy(name, eval_sets):
    card = demo_card(name)
    assert card["name"] == name and card["eval_seed"] != card["train_seed"]
    assert card["eval_accuracy"] >= 0.9
    model = load_demo(name)
    assert not any(module.training for module in model.modules())
    data = eval_sets(card["eval_seed"])
    with torch.inference_mode():
        predictions = torch.cat([model(data.images[i : i + 128]).argmax(1) for i in range(0, 512, 128)])
    accuracy = float((predictions == data.labels).float().mean())
    assert accuracy >= 0.9
    assert accuracy >= card["eval_accuracy"] - ACCURACY_MARGIN


def test_demo_assets_are_small_and_load_with_weights_only():
    total = 0
    for name in DEMO_MODELS:
        path = models.ASSETS_DIR / f"{name}.pt"
        state = torch.load(path, weights_only=True)
        assert all(value.dtype in (torch.float32, torch.int64) for value in state.values())
        assert (models.ASSETS_DIR / f"{name}.md").read_text().startswith(f"# Demo model `{name}`")
        total += path.stat().st_size
    assert total <= 5 * 1024 * 1024


def test_unknown_demo_name():
    with pytest.raises(ValueError, match=r"name must be one of .*maxpool_cnn"):
        load_demo("resnet_cnn")
    with pytest.raises(ValueError, match="name must be one of"):
        demo_card("nope")
    with pytest.raises(ValueError, match="name must be one of"):
        build_demo_model("nope")


def test_image_transform_without_resize():
    transform = ImageTransform(resize_size=None, crop_size=8)
    x = torch.rand(1, 3, 10, 12)
    torch.testing.assert_close(transform(x), x[:, :, 1:9, 2:10])


# ------------------------------------------------------------------------------------------- weights provenance


def test_demo_weights_are_recorded_as_package_version_path_inside_and_hash():
    import hashlib
    import importlib.metadata

    source = models.weights_source(load_demo("maxpool_cnn"))
    record = source.to_dict()
    assert record["kind"] == "demo" and record["detail"] == "maxpool_cnn"
    assert record["package"] == "forgrad-viz"
    assert record["version"] == importlib.metadata.version("forgrad-viz")
    assert (
        record["path"] == "forgrad_viz/assets/maxpool_cnn.pt"
    )  # inside the package, not this machine's path
    file = models.ASSETS_DIR / "maxpool_cnn.pt"
    assert source.locate() == file.resolve()
    assert record["sha256"] == hashlib.sha256(file.read_bytes()).hexdigest()  # computed here independently
    assert str(source) == (
        f"demo, maxpool_cnn, forgrad-viz=={record['version']}, file forgrad_viz/assets/maxpool_cnn.pt, "
        f"sha256 {record['sha256']}"
    )


def test_a_users_weights_file_is_recorded_as_the_path_given(resnet, tmp_path, monkeypatch):
    import hashlib

    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    torch.save(resnet.model.net.state_dict(), tmp_path / "runs" / "resnet18.pth")
    loaded, _ = load_torchvision("resnet18", weights="runs/resnet18.pth")
    record = models.weights_source(loaded).to_dict()
    sha = hashlib.sha256((tmp_path / "runs" / "resnet18.pth").read_bytes()).hexdigest()
    assert record == {"kind": "file", "detail": "", "path": "runs/resnet18.pth", "sha256": sha}
    assert models.weights_source(loaded).locate() == Path("runs/resnet18.pth")  # relative: found from here


def test_weights_source_from_package_refuses_a_file_outside_the_package(tmp_path):
    outside = tmp_path / "w.pt"
    outside.write_bytes(b"abc")
    with pytest.raises(ValueError, match="not inside the package 'forgrad_viz'"):
        models.WeightsSource.from_package("demo", outside, "forgrad-viz", "forgrad_viz")
    with pytest.raises(ValueError, match="module must name an installed package"):
        models.WeightsSource.from_package("demo", outside, "forgrad-viz", "no_such_module_here")
