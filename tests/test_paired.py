"""Paired gain over the unfiltered map, held-out sigma*, and comparison of two sweeps' sigma*."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from forgrad_viz.filters import cutoff_to_nyquist
from forgrad_viz.results import ArchitectureComparison, CutoffSweep
from forgrad_viz.results.best_cutoffs import CYCLES, NYQUIST, CutoffComparison, compare_best_cutoffs
from forgrad_viz.results.paired import (
    HeldOutGain,
    gain,
    gain_interval,
    held_out,
    paired_gains,
)

CUTOFFS = 2.0 ** np.arange(12)  # 1 .. 2048 cycles per image


def make_sweep(
    scores: np.ndarray,
    unfiltered: np.ndarray,
    metric: str = "insertion",
    higher_is_better: bool = True,
    cutoffs: np.ndarray | None = None,
    image_ids: np.ndarray | None = None,
    name: str = "",
) -> CutoffSweep:
    scores = np.asarray(scores, dtype=np.float64)
    n_cutoffs, n_images = scores.shape
    return CutoffSweep(
        method="saliency",
        kind="ideal",
        cutoffs=CUTOFFS[:n_cutoffs] if cutoffs is None else cutoffs,
        metrics=(metric,),
        scores={metric: scores},
        unfiltered={metric: unfiltered},
        higher_is_better={metric: higher_is_better},
        image_ids=np.arange(n_images) if image_ids is None else image_ids,
        model_name=name,
    )


def null_sweep(seed: int, n_images: int = 64, n_cutoffs: int = 12) -> CutoffSweep:
    """No cutoff effect: every map scores the image's base value plus independent noise."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.2, 0.8, n_images)
    scores = base[None, :] + 0.05 * rng.standard_normal((n_cutoffs, n_images))
    unfiltered = base + 0.05 * rng.standard_normal(n_images)
    return make_sweep(scores, unfiltered)


def planted_sweep(
    peak: float, seed: int = 0, n_images: int = 64, name: str = "", image_ids: np.ndarray | None = None
) -> CutoffSweep:
    """A gain of 0.2 at ``peak``, falling by 0.1 per octave away from it, plus per-image noise."""
    rng = np.random.default_rng(seed)
    cutoffs = CUTOFFS[:8]
    base = rng.uniform(0.2, 0.6, n_images)
    effect = 0.2 - 0.1 * np.abs(np.log2(cutoffs / peak))
    scores = base[None, :] + effect[:, None] + 0.03 * rng.standard_normal((cutoffs.shape[0], n_images))
    unfiltered = base + 0.03 * rng.standard_normal(n_images)
    return make_sweep(scores, unfiltered, cutoffs=cutoffs, image_ids=image_ids, name=name)


def random_sweep(seed: int = 3, n_cutoffs: int = 5, n_images: int = 17, higher_is_better: bool = True):
    rng = np.random.default_rng(seed)
    metric = "insertion" if higher_is_better else "deletion"
    return make_sweep(
        rng.uniform(size=(n_cutoffs, n_images)),
        rng.uniform(size=n_images),
        metric=metric,
        higher_is_better=higher_is_better,
    )


# ------------------------------------------------------------------------------------------- hand computations


def test_gain_matches_hand_computation() -> None:
    sweep = make_sweep(np.array([[0.2, 0.4, 0.9], [0.6, 0.8, 0.1]]), np.array([0.3, 0.5, 0.5]))
    np.testing.assert_allclose(
        paired_gains(sweep, "insertion"), [[-0.1, -0.1, 0.4], [0.3, 0.3, -0.4]], atol=1e-15
    )
    np.testing.assert_allclose(gain(sweep, "insertion"), [0.2 / 3, 0.2 / 3], atol=1e-15)
    assert gain(sweep, "insertion").shape == (2,)


def test_deletion_gain_is_unfiltered_minus_score() -> None:
    scores = np.array([[0.1, 0.2], [0.5, 0.6]])
    unfiltered = np.array([0.3, 0.3])
    deletion = make_sweep(scores, unfiltered, metric="deletion", higher_is_better=False)
    np.testing.assert_allclose(paired_gains(deletion, "deletion"), [[0.2, 0.1], [-0.2, -0.3]], atol=1e-15)
    np.testing.assert_allclose(gain(deletion, "deletion"), [0.15, -0.25], atol=1e-15)
    # the lower-deletion cutoff (the first) is the better one, so held-out and comparison pick it
    rng = np.random.default_rng(0)
    scores = np.vstack([np.full(40, 0.1), np.full(40, 0.3), np.full(40, 0.5)]) + 0.01 * rng.random((3, 40))
    deletion = make_sweep(scores, np.full(40, 0.3), metric="deletion", higher_is_better=False)
    result = held_out(deletion, "deletion", n_boot=200)
    assert result.fold_cutoffs.tolist() == [1.0, 1.0]
    assert result.gain > 0 and result.low > 0
    low, high = gain_interval(deletion, "deletion", n_boot=200)
    assert low[0] > 0 and high[2] < 0
    assert compare_best_cutoffs(deletion, deletion, "deletion", n_boot=50).cutoff_a == 1.0


def naive_interval(gains: np.ndarray, level: float, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    n_images = gains.shape[1]
    draws = np.random.default_rng(seed).integers(0, n_images, size=(n_boot, n_images))
    means = np.empty((gains.shape[0], n_boot))
    for b in range(n_boot):
        means[:, b] = gains[:, draws[b]].mean(axis=1)
    tail = (1 - level) / 2 * 100
    return np.percentile(means, tail, axis=1), np.percentile(means, 100 - tail, axis=1)


@pytest.mark.parametrize("higher_is_better", [True, False])
def test_gain_interval_matches_naive_loop(higher_is_better: bool) -> None:
    sweep = random_sweep(higher_is_better=higher_is_better)
    metric = sweep.metrics[0]
    low, high = gain_interval(sweep, metric, level=0.9, n_boot=300, seed=7)
    expected_low, expected_high = naive_interval(paired_gains(sweep, metric), 0.9, 300, 7)
    assert low.shape == high.shape == (5,)
    np.testing.assert_allclose(low, expected_low, rtol=0, atol=1e-12)
    np.testing.assert_allclose(high, expected_high, rtol=0, atol=1e-12)
    assert np.all(low <= gain(sweep, metric) + 1e-12) and np.all(gain(sweep, metric) <= high + 1e-12)


@pytest.mark.parametrize("folds", [2, 3, 5, 17])
def test_held_out_matches_naive_loop_over_folds(folds: int) -> None:
    sweep = random_sweep()
    result = held_out(sweep, "insertion", folds=folds, seed=4, n_boot=250)
    gains = paired_gains(sweep, "insertion")
    # folds as equal as possible, every image in exactly one fold
    sizes = np.bincount(result.fold_of_image, minlength=folds)
    assert sizes.shape == (folds,) and sizes.max() - sizes.min() <= 1 and sizes.sum() == 17
    expected = np.empty(17)
    expected_cutoffs = []
    for k in range(folds):
        inside = result.fold_of_image == k
        best = int(np.argmax(gains[:, ~inside].mean(axis=1)))
        expected_cutoffs.append(sweep.cutoffs[best])
        expected[inside] = gains[best, inside]
    np.testing.assert_array_equal(result.fold_cutoffs, expected_cutoffs)
    np.testing.assert_allclose(result.per_image, expected, rtol=0, atol=1e-15)
    assert result.gain == pytest.approx(expected.mean(), abs=1e-15)
    low, high = naive_interval(expected[None, :], 0.95, 250, 4)
    assert result.low == pytest.approx(low[0], abs=1e-12) and result.high == pytest.approx(high[0], abs=1e-12)
    assert result.folds == folds and result.n_images == 17 and result.level == 0.95


def test_ties_go_to_the_smallest_cutoff() -> None:
    scores = np.vstack([np.full(10, 0.2), np.full(10, 0.5), np.full(10, 0.5), np.full(10, 0.1)])
    sweep = make_sweep(scores, np.full(10, 0.3))
    assert held_out(sweep, "insertion", folds=5, n_boot=20).fold_cutoffs.tolist() == [2.0] * 5
    other = make_sweep(scores, np.full(10, 0.3), name="b")
    comparison = compare_best_cutoffs(sweep, other, "insertion", n_boot=20)
    assert comparison.cutoff_a == comparison.cutoff_b == 2.0
    assert comparison.low == comparison.high == 1.0 and not comparison.differs


def test_the_same_fraction_of_nyquist_at_two_resolutions_does_not_differ() -> None:
    # the study's grid: fractions of Nyquist given to 3 digits, in cycles per image at 224 and 240 px
    fractions = np.array([0.0714, 0.107, 0.143, 0.286])
    scores = np.vstack([np.full(12, 0.2), np.full(12, 0.3), np.full(12, 0.6), np.full(12, 0.4)])
    scores = scores + 0.01 * np.random.default_rng(0).standard_normal(scores.shape)
    sweeps = []
    for size in (224, 240):
        sweep = make_sweep(scores, np.full(12, 0.1), cutoffs=fractions * size / 2, name=f"{size} px")
        sweep.params["image_size"] = [size, size]
        sweeps.append(sweep)
    comparison = compare_best_cutoffs(*sweeps, "insertion", n_boot=100)
    assert comparison.unit == NYQUIST and comparison.nyquist_a == pytest.approx(0.143)
    assert comparison.ratio == pytest.approx(1.0, rel=1e-12) and comparison.ratio != 1.0  # float rounding
    assert not comparison.differs
    assert CutoffComparison("insertion", 4.0, 8.0, 0.5, 0.25, 1.0 - 1e-6, 0.95, 12).differs


# ------------------------------------------------------------------------------------------- honesty


def test_null_in_sample_gain_is_biased_but_held_out_interval_covers_zero() -> None:
    start = time.perf_counter()
    in_sample, covers, held = [], [], []
    for seed in range(200):
        sweep = null_sweep(seed)
        in_sample.append(gain(sweep, "insertion").max())
        result = held_out(sweep, "insertion", folds=2, seed=seed, n_boot=500)
        covers.append(result.low <= 0.0 <= result.high)
        held.append(result.gain)
    in_sample, held = np.array(in_sample), np.array(held)
    standard_error = in_sample.std(ddof=1) / np.sqrt(in_sample.size)
    assert in_sample.mean() > 3 * standard_error  # the in-sample sigma* flatters FORGrad
    assert abs(held.mean()) < 3 * held.std(ddof=1) / np.sqrt(held.size)  # the held-out gain does not
    assert np.mean(covers) >= 0.9
    assert time.perf_counter() - start < 10


def test_planted_peak_is_recovered_in_every_fold() -> None:
    sweep = planted_sweep(peak=8.0)
    for folds in (2, 4):
        result = held_out(sweep, "insertion", folds=folds, n_boot=500)
        assert result.fold_cutoffs.tolist() == [8.0] * folds
        assert result.low > 0 and result.excludes_zero
        assert result.gain == pytest.approx(0.2, abs=0.03)
    assert int(np.argmax(gain(sweep, "insertion"))) == 3


def test_compare_best_cutoffs_planted_peaks() -> None:
    sweep_a = planted_sweep(peak=4.0, seed=1, name="resnet")
    sweep_b = planted_sweep(peak=16.0, seed=2, name="vit")
    comparison = compare_best_cutoffs(sweep_a, sweep_b, "insertion", n_boot=500)
    assert isinstance(comparison, CutoffComparison)
    assert (comparison.cutoff_a, comparison.cutoff_b, comparison.ratio) == (4.0, 16.0, 0.25)
    assert comparison.differs and comparison.low <= 0.25 <= comparison.high < 1.0
    assert (comparison.name_a, comparison.name_b) == ("resnet", "vit")
    same = compare_best_cutoffs(sweep_a, sweep_a, "insertion", n_boot=500)
    assert same.ratio == 1.0 and same.low == same.high == 1.0 and not same.differs
    # same peak, independent noise: no difference either
    twin = compare_best_cutoffs(sweep_a, planted_sweep(peak=4.0, seed=5), "insertion", n_boot=500)
    assert not twin.differs


def test_compare_aligns_images_by_id() -> None:
    ids = np.arange(100, 164)
    sweep_a = planted_sweep(peak=4.0, seed=1, image_ids=ids)
    sweep_b = planted_sweep(peak=8.0, seed=2, image_ids=ids)
    order = np.random.default_rng(0).permutation(64)
    shuffled = CutoffSweep(
        method="saliency",
        kind="ideal",
        cutoffs=sweep_b.cutoffs,
        metrics=sweep_b.metrics,
        scores={"insertion": sweep_b.scores["insertion"][:, order]},
        unfiltered={"insertion": sweep_b.unfiltered["insertion"][order]},
        higher_is_better=sweep_b.higher_is_better,
        image_ids=ids[order],
    )
    aligned = compare_best_cutoffs(sweep_a, sweep_b, "insertion", n_boot=300, seed=3)
    realigned = compare_best_cutoffs(sweep_a, shuffled, "insertion", n_boot=300, seed=3)
    assert aligned.to_dict() == realigned.to_dict()
    # and both equal a naive loop over the same resamples on the sweeps as given (already aligned)
    naive = naive_compare(sweep_a, sweep_b, n_boot=300, seed=3)
    assert (aligned.low, aligned.high) == naive


def _sized(sweep: CutoffSweep, size: int, scale: float = 1.0) -> CutoffSweep:
    """The sweep with its cutoffs multiplied by ``scale`` and ``params["image_size"] = [size, size]``."""
    data = sweep.to_dict()
    data["cutoffs"] = (np.asarray(data["cutoffs"]) * scale).tolist()
    data["params"] = {"image_size": [size, size]}
    return CutoffSweep.from_dict(data)


def test_compare_best_cutoffs_across_resolutions_in_fractions_of_nyquist() -> None:
    """A 224-px and a 240-px model whose sigma* lie at the same fraction of Nyquist do not differ there, while
    in cycles per image their ratio is 224 / 240; the interval scales by the same factor."""
    sweep_a = _sized(planted_sweep(peak=16.0, seed=1, name="lite0"), 224)
    sweep_b = _sized(planted_sweep(peak=16.0, seed=2, name="lite1"), 240, scale=240 / 224)
    nyquist = compare_best_cutoffs(sweep_a, sweep_b, "insertion", n_boot=400, seed=4)
    assert nyquist.unit == NYQUIST
    assert (nyquist.cutoff_a, nyquist.cutoff_b) == (16.0, pytest.approx(16.0 * 240 / 224, rel=1e-12))
    assert nyquist.nyquist_a == pytest.approx(cutoff_to_nyquist(16.0, 224, 224), rel=1e-12)
    assert nyquist.nyquist_b == pytest.approx(cutoff_to_nyquist(nyquist.cutoff_b, 240, 240), rel=1e-12)
    assert nyquist.ratio == pytest.approx(1.0, rel=1e-12) and not nyquist.differs
    # one sweep without its size: cycles per image, named as such, a ratio of 224 / 240
    unsized = planted_sweep(peak=16.0, seed=2)
    unsized.cutoffs = sweep_b.cutoffs
    cycles = compare_best_cutoffs(sweep_a, unsized, "insertion", n_boot=400, seed=4)
    assert cycles.unit == CYCLES and cycles.nyquist_b is None
    assert cycles.ratio == pytest.approx(224 / 240, rel=1e-12)
    factor = 240 / 224  # (2 / 224) / (2 / 240): cycles per image -> fractions of Nyquist
    assert (nyquist.low, nyquist.high) == pytest.approx(
        (factor * cycles.low, factor * cycles.high), rel=1e-12
    )
    # the interval is the naive loop's, in cycles per image
    assert (cycles.low, cycles.high) == pytest.approx(naive_compare(sweep_a, unsized, 400, 4), rel=1e-12)
    # the unit travels with the result: dict, rows, CSV, Markdown
    data = json.loads(json.dumps(nyquist.to_dict()))
    assert data["unit"] == "fraction of Nyquist" and data["nyquist_a"] == pytest.approx(nyquist.nyquist_a)
    comparison = ArchitectureComparison({"lite0": {"saliency": sweep_a}, "lite1": {"saliency": sweep_b}})
    row = comparison.differences(n_boot=400, seed=4)[0]
    assert row["ratio_unit"] == NYQUIST and row["ratio"] == nyquist.ratio
    assert "fraction of Nyquist" in comparison.differences_to_csv()
    markdown = comparison.differences_to_markdown()
    assert "| ratio in |" in markdown.splitlines()[0] and "| fraction of Nyquist |" in markdown
    assert f"16 ({nyquist.nyquist_a:.3g} Nyquist)" in markdown


def naive_compare(sweep_a: CutoffSweep, sweep_b: CutoffSweep, n_boot: int, seed: int) -> tuple[float, float]:
    gains_a, gains_b = paired_gains(sweep_a, "insertion"), paired_gains(sweep_b, "insertion")
    n_images = gains_a.shape[1]
    draws = np.random.default_rng(seed).integers(0, n_images, size=(n_boot, n_images))
    logs = []
    for b in range(n_boot):
        best_a = sweep_a.cutoffs[np.argmax(gains_a[:, draws[b]].mean(axis=1))]
        best_b = sweep_b.cutoffs[np.argmax(gains_b[:, draws[b]].mean(axis=1))]
        logs.append(np.log2(best_a / best_b))
    low, high = np.percentile(logs, [2.5, 97.5], method="nearest")
    return float(2.0**low), float(2.0**high)


# ------------------------------------------------------------------------------------------- outputs


def test_to_dict_is_json_ready_and_calls_are_reproducible() -> None:
    sweep = planted_sweep(peak=8.0)
    first = held_out(sweep, "insertion", folds=3, seed=11, n_boot=200)
    second = held_out(sweep, "insertion", folds=3, seed=11, n_boot=200)
    assert isinstance(first, HeldOutGain)
    assert first.to_dict() == second.to_dict()
    assert held_out(sweep, "insertion", folds=3, seed=12, n_boot=200).to_dict() != first.to_dict()
    data = json.loads(json.dumps(first.to_dict()))
    assert data["fold_cutoffs"] == [8.0, 8.0, 8.0] and len(data["per_image"]) == 64
    assert data["excludes_zero"] is True and isinstance(data["gain"], float)
    low, high = gain_interval(sweep, "insertion", n_boot=200, seed=5)
    again = gain_interval(sweep, "insertion", n_boot=200, seed=5)
    np.testing.assert_array_equal(low, again[0])
    np.testing.assert_array_equal(high, again[1])
    other = planted_sweep(peak=2.0, seed=9)
    comparison = compare_best_cutoffs(sweep, other, "insertion", n_boot=200, seed=5)
    assert (
        comparison.to_dict() == compare_best_cutoffs(sweep, other, "insertion", n_boot=200, seed=5).to_dict()
    )
    data = json.loads(json.dumps(comparison.to_dict()))
    assert data["ratio"] == 4.0 and data["differs"] is True and data["n_images"] == 64


# ------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda s, o: held_out(s, "insertion", folds=1), "folds"),
        (lambda s, o: held_out(s, "insertion", folds=65), "folds"),
        (lambda s, o: held_out(s, "insertion", folds=2.0), "folds"),
        (lambda s, o: held_out(s, "insertion", folds=True), "folds"),
        (lambda s, o: held_out(s, "insertion", level=0.0), "level"),
        (lambda s, o: held_out(s, "insertion", level=1.0), "level"),
        (lambda s, o: held_out(s, "insertion", n_boot=0), "n_boot"),
        (lambda s, o: held_out(s, "deletion"), "metric"),
        (lambda s, o: gain(s, "deletion"), "metric"),
        (lambda s, o: gain_interval(s, "insertion", level=1.5), "level"),
        (lambda s, o: gain_interval(s, "insertion", n_boot=0), "n_boot"),
        (lambda s, o: gain_interval(s, "nope"), "metric"),
        (lambda s, o: compare_best_cutoffs(s, o, "insertion"), "sweep_a and sweep_b"),
        (lambda s, o: compare_best_cutoffs(s, s, "insertion", level=-0.1), "level"),
        (lambda s, o: compare_best_cutoffs(s, s, "insertion", n_boot=0), "n_boot"),
        (lambda s, o: compare_best_cutoffs(s, s, "mufidelity"), "metric"),
    ],
)
def test_bad_input_names_the_argument(call, name: str) -> None:
    sweep = planted_sweep(peak=8.0)
    other = planted_sweep(peak=8.0, image_ids=np.arange(1, 65))
    with pytest.raises(ValueError, match=name) as error:
        call(sweep, other)
    if name == "metric":
        assert "['insertion']" in str(error.value)  # lists the available metrics
