"""AliasingExplorer driven from Python: maps of the original and anti-aliased models, cached, slider without calls."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from forgrad_viz.attribution import explain
from forgrad_viz.downsampling import antialias, find_downsampling
from forgrad_viz.filters import forgrad
from forgrad_viz.widgets import AliasingExplorer

_HOOKS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")


class CountingNet(nn.Module):
    """Max-pool then strided conv; every forward call of this class (the model and its deep copies) is counted."""

    calls = 0

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(4)
        self.features = nn.Sequential(
            nn.Conv2d(3, 6, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 8, 3, padding=1, stride=2),
            nn.ReLU(),
        )
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        type(self).calls += 1
        return self.head(self.features(x))


@pytest.fixture(scope="module")
def setup():
    model = CountingNet().eval()
    images = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    explorer = AliasingExplorer(model, images, names=["a", "b", "c"], cutoff=6.0, progress=False)
    return model, images, state, explorer


def _expected(model, images, index, cutoff):
    target = model(images[index : index + 1]).argmax(dim=1)
    attributions = explain(model, images[index : index + 1], target, method="saliency")
    return attributions.mean(dim=1).abs()[0].numpy(), forgrad(attributions, cutoff)[0].numpy()


def test_maps_are_the_original_and_antialiased_models_maps(setup):
    model, images, _, explorer = setup
    assert explorer.report.layers == ["features.2", "features.3"]
    assert [label for label, _ in explorer.layer_select.options] == [
        "features.2 (max-pool)",
        "features.3 (strided-conv)",
        "all layers",
    ]
    layers = {layer.name: layer for layer in find_downsampling(model, images)}
    for layer, chosen in (("features.3", [layers["features.3"]]), ("all", list(layers.values()))):
        explorer.layer_select.value = layer
        explorer.image_select.value = 1
        raw, filtered = _expected(model, images, 1, 6.0)
        np.testing.assert_allclose(explorer.maps["original_raw"], raw, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(explorer.maps["original_forgrad"], filtered, rtol=1e-4, atol=1e-6)
        raw, filtered = _expected(antialias(model, chosen), images, 1, 6.0)
        np.testing.assert_allclose(explorer.maps["antialiased_raw"], raw, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(explorer.maps["antialiased_forgrad"], filtered, rtol=1e-4, atol=1e-6)
        assert not np.allclose(explorer.maps["antialiased_raw"], explorer.maps["original_raw"])
        row = explorer.report.row(layer)
        numbers = explorer.numbers
        assert (numbers["hf_energy"], numbers["agreement"], numbers["prob_change"]) == (
            row.hf_energy,
            row.agreement,
            row.prob_change,
        )
        assert numbers["image_hf_antialiased"] == float(row.hf_energy_images[1])
        assert f"{row.hf_energy:.3f}" in explorer.numbers_view.value
        assert f"{row.agreement:.0%}" in explorer.numbers_view.value


def test_slider_and_cached_selections_make_no_model_calls(setup):
    model, images, _, explorer = setup
    explorer.layer_select.value = "features.2"
    explorer.image_select.value = 0
    before = CountingNet.calls
    shown = explorer.views["antialiased_forgrad"].value
    for cutoff in (2.0, 3.5, 9.0, 12.0):
        explorer.cutoff_slider.value = cutoff
        _, filtered = _expected(antialias(model, [find_downsampling(model, images)[0]]), images, 0, cutoff)
        np.testing.assert_allclose(explorer.maps["antialiased_forgrad"], filtered, rtol=1e-4, atol=1e-6)
        before = CountingNet.calls  # the expected maps above called the model; the widget must not
    explorer.kind_select.value = "gaussian"
    explorer.cmap_select.value = "gray"
    explorer.clip_slider.value = 95.0
    assert CountingNet.calls == before
    assert explorer.views["antialiased_forgrad"].value != shown
    # back to an (image, layer) seen before: cached, no call; a new one: calls
    explorer.layer_select.value = "features.3"
    explorer.image_select.value = 1
    assert CountingNet.calls == before
    explorer.image_select.value = 2
    assert CountingNet.calls > before
    assert explorer.last_error is None


def test_model_untouched_and_export(setup, tmp_path):
    model, _, state, explorer = setup
    after = model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in state.items())
    assert not model.training
    for module in model.modules():
        assert all(len(getattr(module, attr)) == 0 for attr in _HOOKS)
    paths = explorer.export(tmp_path / "view", formats=("png",))
    assert paths[0].stat().st_size > 0
    assert "exported" in explorer.status.value


def test_bad_input(setup):
    model, images, _, _ = setup
    with pytest.raises(ValueError, match="names must have one name per image"):
        AliasingExplorer(model, images, names=["a"])
    with pytest.raises(ValueError, match="cutoff must lie in"):
        AliasingExplorer(model, images, cutoff=1e3)
    with pytest.raises(ValueError, match="kind must be one of"):
        AliasingExplorer(model, images, kind="box")
    with pytest.raises(ValueError, match="method must be one of"):
        AliasingExplorer(model, images, method="nope")
    with pytest.raises(TypeError, match="model must be"):
        AliasingExplorer("model", images)
