from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage
from skimage import data as skdata
from skimage.transform import resize

from forgrad_viz.data import PHOTOGRAPHS, SHAPES, sample_images, shapes_dataset


@pytest.fixture(scope="module")
def shapes():
    return shapes_dataset(200, size=64, seed=3)


def test_shapes_dataset_types_and_ranges(shapes):
    assert len(shapes) == 200
    assert shapes.images.shape == (200, 3, 64, 64) and shapes.images.dtype == torch.float32
    assert shapes.labels.shape == (200,) and shapes.labels.dtype == torch.int64
    assert shapes.masks.shape == (200, 64, 64) and shapes.masks.dtype == torch.bool
    assert shapes.classes == SHAPES
    assert float(shapes.images.min()) >= 0.0 and float(shapes.images.max()) <= 1.0
    counts = torch.bincount(shapes.labels, minlength=len(SHAPES))
    assert int(counts.max() - counts.min()) <= 1  # balanced classes


def test_shapes_dataset_is_deterministic_per_seed(shapes):
    again = shapes_dataset(200, size=64, seed=3)
    other = shapes_dataset(200, size=64, seed=4)
    assert torch.equal(shapes.images, again.images)
    assert torch.equal(shapes.labels, again.labels)
    assert torch.equal(shapes.masks, again.masks)
    assert not torch.equal(shapes.images, other.images)
    assert not torch.equal(shapes.masks, other.masks)


def test_masks_are_exactly_the_painted_pixels(shapes):
    images = shapes.images.permute(0, 2, 3, 1).numpy()
    masks = shapes.masks.numpy()
    for image, mask in zip(images, masks, strict=True):
        colour = image[mask][0]
        # every mask pixel carries the shape colour, and no pixel outside the mask does (the colour is a random
        # float, the backgrounds are 8-bit photographs): the mask is exactly the painted set
        painted = np.all(image == colour, axis=-1)
        np.testing.assert_array_equal(painted, mask)
        # saturated, bright colour (saturation and value >= 0.7)
        assert colour.max() - colour.min() >= 0.49 - 1e-6 and colour.max() >= 0.7 - 1e-6


def test_masks_are_one_shape_fully_inside_with_the_stated_size(shapes):
    masks = shapes.masks.numpy()
    assert not masks[:, 0, :].any() and not masks[:, -1, :].any()
    assert not masks[:, :, 0].any() and not masks[:, :, -1].any()
    areas = masks.sum(axis=(1, 2))
    # analytic areas for radius r in [7, 14] (disc pi r^2, square 1.96 r^2, triangle 1.3 r^2, cross 1.92 r^2),
    # with slack for rasterisation at pixel centres
    factors = {"disc": np.pi, "square": 1.96, "triangle": 3 * np.sqrt(3) / 4, "cross": 1.92}
    for mask, area, label in zip(masks, areas, shapes.labels.tolist(), strict=True):
        assert ndimage.label(mask, structure=np.ones((3, 3)))[1] == 1  # one 8-connected shape
        factor = factors[SHAPES[label]]
        assert 0.8 * factor * 7**2 <= area <= 1.2 * factor * 14**2


def test_disc_masks_are_discs(shapes):
    # independent check of the rasteriser: a disc mask equals the disc of the same area around its centroid
    yy, xx = np.mgrid[:64, :64]
    for mask in shapes.masks.numpy()[shapes.labels.numpy() == SHAPES.index("disc")]:
        cy, cx = ndimage.center_of_mass(mask)
        radius = np.sqrt(mask.sum() / np.pi)
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2
        iou = (disc & mask).sum() / (disc | mask).sum()
        assert iou > 0.93


def test_shapes_dataset_other_size_scales_the_shapes():
    small = shapes_dataset(16, size=32, seed=0)
    large = shapes_dataset(16, size=128, seed=0)
    assert small.images.shape == (16, 3, 32, 32) and large.masks.shape == (16, 128, 128)
    ratio = large.masks.sum(dim=(1, 2)).float().mean() / small.masks.sum(dim=(1, 2)).float().mean()
    assert 12.0 < float(ratio) < 20.0  # areas scale with size^2 = 16


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"n": 0}, ValueError, "n"),
        ({"n": 2.5}, TypeError, "n"),
        ({"n": 4, "size": 8}, ValueError, "size"),
        ({"n": 4, "seed": "a"}, TypeError, "seed"),
    ],
)
def test_shapes_dataset_bad_input(kwargs, error, name):
    with pytest.raises(error, match=f"^{name} must"):
        shapes_dataset(**kwargs)


def test_sample_images_all_photographs():
    images, names = sample_images(size=48)
    assert names == list(PHOTOGRAPHS)
    assert images.shape == (len(PHOTOGRAPHS), 3, 48, 48) and images.dtype == torch.float32
    assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0
    camera = images[names.index("camera")]
    assert torch.equal(camera[0], camera[1]) and torch.equal(camera[0], camera[2])  # grey -> RGB


def test_sample_images_matches_skimage_resize_of_the_centre_crop():
    images, names = sample_images(["coffee", "astronaut"], size=64)
    assert names == ["coffee", "astronaut"]
    coffee = skdata.coffee()  # 400 x 600: the central 400 x 400 square, resized to 64
    reference = resize(coffee[:, 100:500] / 255.0, (64, 64), anti_aliasing=True)
    ours = images[0].permute(1, 2, 0).numpy()
    assert np.abs(ours - reference).mean() < 0.02
    reference = resize(skdata.astronaut() / 255.0, (64, 64), anti_aliasing=True)
    assert np.abs(images[1].permute(1, 2, 0).numpy() - reference).mean() < 0.02


def test_sample_images_single_name_and_bad_input():
    images, names = sample_images("chelsea", size=32)
    assert images.shape == (1, 3, 32, 32) and names == ["chelsea"]
    with pytest.raises(ValueError, match=r"names.*unknown.*lena"):
        sample_images(["astronaut", "lena"])
    with pytest.raises(ValueError, match="names"):
        sample_images([])
    with pytest.raises(TypeError, match="names"):
        sample_images([1, 2])
    with pytest.raises(ValueError, match="size"):
        sample_images(size=0)
