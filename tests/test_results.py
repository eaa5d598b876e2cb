"""Result containers: bootstrap intervals against a naive loop, sigma* on known optima, JSON round trips, merging."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest

from forgrad_viz.filters import cutoff_to_nyquist, max_cutoff
from forgrad_viz.results import (
    ArchitectureComparison,
    CutoffSweep,
    FaithfulnessResult,
    bootstrap_ci,
    compare_best_cutoffs,
)
from forgrad_viz.results.comparison_rows import DIFFERENCE_FIELDS, ROW_FIELDS
from forgrad_viz.results.edges import EDGE_NOTES


def _sweep(scores: np.ndarray, image_ids: np.ndarray | None = None, **kwargs) -> CutoffSweep:
    """A one-metric (insertion) sweep over cutoffs 1, 2, 4, ... with the given (S, N) scores."""
    n_cutoffs, n_images = scores.shape
    return CutoffSweep(
        method="saliency",
        kind="ideal",
        cutoffs=2.0 ** np.arange(n_cutoffs),
        metrics=("insertion",),
        scores={"insertion": scores},
        unfiltered={"insertion": np.full(n_images, 0.1)},
        higher_is_better={"insertion": True},
        image_ids=np.arange(n_images) if image_ids is None else image_ids,
        **kwargs,
    )


def test_bootstrap_ci_matches_a_naive_resampling_loop() -> None:
    values = np.random.default_rng(1).normal(size=37)
    low, high = bootstrap_ci(values, level=0.9, n_boot=500, seed=3)
    rng = np.random.default_rng(3)
    indices = rng.integers(0, 37, size=(500, 37))
    means = [values[row].mean() for row in indices]
    assert low == pytest.approx(np.percentile(means, 5.0), abs=1e-12)
    assert high == pytest.approx(np.percentile(means, 95.0), abs=1e-12)
    assert low < values.mean() < high


def test_bootstrap_ci_rows_are_independent_intervals_of_each_row() -> None:
    values = np.random.default_rng(2).normal(size=(3, 20))
    low, high = bootstrap_ci(values, n_boot=200, seed=0)
    for row in range(3):
        row_low, row_high = bootstrap_ci(values[row], n_boot=200, seed=0)
        assert low[row] == pytest.approx(row_low) and high[row] == pytest.approx(row_high)


def test_bootstrap_ci_of_a_constant_is_that_constant() -> None:
    low, high = bootstrap_ci(np.full(10, 0.25))
    assert low == pytest.approx(0.25, abs=1e-12) and high == pytest.approx(0.25, abs=1e-12)


@pytest.mark.parametrize("level", [0.0, 1.0, 1.5])
def test_bootstrap_ci_rejects_levels_outside_the_unit_interval(level: float) -> None:
    with pytest.raises(ValueError, match="level"):
        bootstrap_ci(np.ones(3), level=level)


def test_faithfulness_result_round_trips_through_json(tmp_path) -> None:
    result = FaithfulnessResult(
        "deletion",
        np.array([0.2, 0.4]),
        False,
        {"steps": 2, "baseline": "0.0"},
        curves=np.array([[1.0, 0.5, 0.0], [1.0, 0.8, 0.0]]),
        x=np.array([0.0, 0.5, 1.0]),
    )
    loaded = FaithfulnessResult.load(result.save(tmp_path / "r.json"))
    assert loaded.metric == "deletion" and loaded.params == result.params
    np.testing.assert_array_equal(loaded.scores, result.scores)
    np.testing.assert_array_equal(loaded.curves, result.curves)
    assert loaded.mean() == pytest.approx(0.3)


def test_faithfulness_result_rejects_curves_that_do_not_match_the_scores() -> None:
    with pytest.raises(ValueError, match="curves"):
        FaithfulnessResult("deletion", np.zeros(2), False, curves=np.zeros((3, 4)), x=np.linspace(0, 1, 4))


def test_best_cutoff_is_the_argmax_for_higher_is_better_and_argmin_for_lower() -> None:
    peak = np.array([0.1, 0.5, 0.9, 0.4])[:, None] + np.zeros((1, 8))
    sweep = _sweep(peak)
    best = sweep.best_cutoff("insertion")
    assert best.cutoff == 4.0 and best.low == 4.0 and best.high == 4.0
    assert best.score == pytest.approx(0.9) and best.unfiltered == pytest.approx(0.1)

    lower = CutoffSweep(
        "saliency",
        "ideal",
        [1.0, 2.0, 4.0],
        ("deletion",),
        {"deletion": np.array([[0.5, 0.5], [0.2, 0.2], [0.3, 0.3]])},
        {"deletion": np.array([0.6, 0.6])},
        {"deletion": False},
        [0, 1],
    )
    assert lower.best_cutoff("deletion").cutoff == 2.0


def test_best_cutoff_interval_spreads_over_the_optima_of_the_images() -> None:
    # Half of the images peak at cutoff 2, the other half at cutoff 8, with equal heights: bootstrap resamples
    # pick either, so the interval must cover both and nothing outside [2, 8].
    scores = np.zeros((5, 40))
    scores[1, :20] = 1.0
    scores[3, 20:] = 1.0
    scores[3, 20] = 1.001  # break the exact tie of the full sample deterministically
    best = _sweep(scores).best_cutoff("insertion", n_boot=400)
    assert best.cutoff == 8.0
    assert best.low == 2.0 and best.high == 8.0


TOP = max_cutoff(16, 16)  # the largest radius of a 16 x 16 map: an ideal cutoff there removes nothing


def _edge_sweep(cutoffs: list[float], peak: int, kind: str, size: tuple[int, int] | None) -> CutoffSweep:
    scores = np.zeros((len(cutoffs), 6))
    scores[peak] = 1.0
    return CutoffSweep(
        "saliency",
        kind,
        cutoffs,
        ("insertion",),
        {"insertion": scores},
        {"insertion": np.zeros(6)},
        {"insertion": True},
        np.arange(6),
        model_name="net",
        params={} if size is None else {"image_size": list(size)},
    )


@pytest.mark.parametrize(
    ("cutoffs", "peak", "kind", "size", "edge", "says", "never"),
    [
        ([1.0, 2.0, TOP], 0, "ideal", (16, 16), "mean", "a lower cutoff cannot help", "extend"),
        ([0.5, 2.0, TOP], 0, "gaussian", None, "mean", "only the mean survives", "extend"),
        ([2.0, 4.0, TOP], 0, "ideal", (16, 16), "grid", "smallest cutoff of the grid; the optimum", "blob"),
        (
            [1.0, 2.0, TOP],
            2,
            "ideal",
            (16, 16),
            "unfiltered",
            "the filter does not help on insertion",
            "extend",
        ),
        ([1.0, 2.0, 2 * TOP], 2, "ideal", (16, 16), "unfiltered", "removes nothing", "extend"),
        ([1.0, 2.0, TOP], 2, "ideal", None, "grid", "extend the grid", "does not help"),  # size unknown
        (
            [1.0, 2.0, TOP],
            2,
            "gaussian",
            (16, 16),
            "grid",
            "extend the grid",
            "does not help",
        ),  # always filters
        ([1.0, 2.0, 8.0], 2, "ideal", (16, 16), "grid", "largest cutoff of the grid", "does not help"),
    ],
)
def test_a_sigma_star_at_an_end_of_the_grid_says_what_that_end_means(
    cutoffs: list[float], peak: int, kind: str, size: tuple | None, edge: str, says: str, never: str
) -> None:
    sweep = _edge_sweep(cutoffs, peak, kind, size)
    with pytest.warns(UserWarning) as record:
        best = sweep.best_cutoff("insertion", n_boot=50)
    assert len(record) == 1
    message = str(record[0].message)
    assert message.startswith("net, saliency, insertion: sigma* = ")
    assert says in message and never not in message
    assert best.edge == edge
    row = ArchitectureComparison({"net": {"saliency": sweep}}).rows(n_boot=50)[0]
    assert row["note"] == EDGE_NOTES[edge]


@pytest.mark.parametrize(("cutoffs", "peak"), [([1.0, 2.0, TOP], 1), ([1.0], 0)])
def test_no_edge_inside_the_grid_or_on_a_grid_of_one(cutoffs: list[float], peak: int, recwarn) -> None:
    sweep = _edge_sweep(cutoffs, peak, "ideal", (16, 16))
    best = sweep.best_cutoff("insertion", n_boot=50)
    assert best.edge == "" and not recwarn.list
    assert ArchitectureComparison({"net": {"saliency": sweep}}).rows(n_boot=50)[0]["note"] == ""


def test_best_cutoff_as_a_fraction_of_nyquist() -> None:
    peak = np.array([0.1, 0.5, 0.9, 0.4])[:, None] + np.zeros((1, 8))  # sigma* = 4 cycles per image
    for size, expected in (([224, 224], 4 / 112), ([240, 320], 4 / 120)):
        sweep = CutoffSweep.from_dict(_sweep(peak, params={"image_size": size}).to_dict())  # through JSON
        assert sweep.image_size == tuple(size)
        best = sweep.best_cutoff("insertion", n_boot=50)
        assert best.nyquist == pytest.approx(expected, rel=1e-12)
        assert best.nyquist == pytest.approx(cutoff_to_nyquist(4.0, *size), rel=1e-12)
    unsized = _sweep(peak)
    assert unsized.image_size is None and unsized.best_cutoff("insertion", n_boot=50).nyquist is None


@pytest.mark.parametrize("size", [[224], [224, 1], "224x224", [224.0, 224], [True, 224]])
def test_a_bad_image_size_names_it(size: object) -> None:
    sweep = _sweep(np.ones((3, 4)), params={"image_size": size})
    with pytest.raises(ValueError, match="image_size"):
        sweep.best_cutoff("insertion", n_boot=50, warn_at_edge=False)


def test_sweep_mean_and_interval_per_cutoff() -> None:
    scores = np.random.default_rng(0).uniform(size=(4, 25))
    sweep = _sweep(scores)
    np.testing.assert_allclose(sweep.mean("insertion"), scores.mean(axis=1))
    low, high = sweep.confidence_interval("insertion")
    assert low.shape == high.shape == (4,)
    assert np.all(low <= scores.mean(axis=1)) and np.all(scores.mean(axis=1) <= high)


def test_sweep_rejects_unknown_metric_and_bad_shapes() -> None:
    sweep = _sweep(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="metric"):
        sweep.mean("deletion")
    with pytest.raises(ValueError, match="shape"):
        _sweep(np.zeros((3, 2)), image_ids=np.arange(3))
    with pytest.raises(ValueError, match="ascending"):
        CutoffSweep("s", "ideal", [2.0, 1.0], ("insertion",), {"insertion": np.zeros((2, 1))},
                    {"insertion": np.zeros(1)}, {"insertion": True}, [0])  # fmt: skip


def test_sweep_round_trips_through_json_with_references(tmp_path) -> None:
    sweep = _sweep(
        np.random.default_rng(0).uniform(size=(3, 4)), references={"rise": {"insertion": np.ones(4)}}
    )
    loaded = CutoffSweep.load(sweep.save(tmp_path / "sweep.json"))
    assert loaded.to_dict() == sweep.to_dict()
    with pytest.raises(ValueError, match="CutoffSweep"):
        FaithfulnessResult.load(tmp_path / "sweep.json")


def test_merging_shards_equals_the_whole_sweep() -> None:
    scores = np.random.default_rng(0).uniform(size=(3, 7))
    whole = _sweep(scores, references={"rise": {"insertion": np.arange(7.0)}})
    odd, even = np.arange(1, 7, 2), np.arange(0, 7, 2)
    shards = [
        _sweep(scores[:, ids], image_ids=ids, references={"rise": {"insertion": ids.astype(float)}})
        for ids in (odd, even)
    ]
    merged = CutoffSweep.merge(shards)
    assert merged.to_dict() == whole.to_dict()
    with pytest.raises(ValueError, match="distinct"):
        CutoffSweep.merge([shards[0], shards[0]])
    with pytest.raises(ValueError, match="at least one"):
        CutoffSweep.merge([])


def test_architecture_comparison_rows_tables_and_round_trip(tmp_path) -> None:
    rising = np.array([0.2, 0.6, 0.4])[:, None] + np.zeros((1, 5))
    comparison = ArchitectureComparison(
        sweeps={"cnn_a": {"saliency": _sweep(rising)}, "cnn_b": {"saliency": _sweep(rising[::-1].copy())}},
        references={"cnn_a": {"rise": {"insertion": np.full(5, 0.7)}}},
    )
    rows = comparison.rows()
    assert [(r["model"], r["method"]) for r in rows] == [
        ("cnn_a", "saliency"),
        ("cnn_a", "rise"),
        ("cnn_b", "saliency"),
    ]
    assert rows[0]["sigma_star"] == 2.0 and rows[2]["sigma_star"] == 2.0
    assert rows[0]["improvement"] == pytest.approx(0.6 - 0.1)
    assert math.isnan(rows[1]["sigma_star"]) and rows[1]["at_sigma_star"] == pytest.approx(0.7)

    parsed = list(csv.DictReader(io.StringIO(comparison.to_csv(tmp_path / "table.csv"))))
    assert len(parsed) == 3 and float(parsed[0]["at_sigma_star"]) == pytest.approx(0.6)
    assert (tmp_path / "table.csv").read_text() == comparison.to_csv()

    markdown = comparison.to_markdown().splitlines()
    assert len(markdown) == 2 + 3 and markdown[3].startswith("| cnn_a | rise | insertion | 5 | — |")

    loaded = ArchitectureComparison.load(comparison.save(tmp_path / "comparison.json"))
    assert loaded.to_markdown() == comparison.to_markdown()
    assert comparison.models == ["cnn_a", "cnn_b"] and comparison.methods == ["saliency"]


def test_architecture_comparison_needs_sweeps() -> None:
    with pytest.raises(ValueError, match="sweeps"):
        ArchitectureComparison(sweeps={})


def _noisy_sweep(peak: int, name: str, n_images: int = 24, seed: int = 0) -> CutoffSweep:
    """Insertion and Deletion scores with a peak at cutoff index ``peak`` and per-image noise."""
    rng = np.random.default_rng(seed)
    cutoffs = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    bump = 0.3 * np.exp(-((np.arange(5) - peak) ** 2))[:, None]
    insertion = 0.4 + bump + 0.05 * rng.standard_normal((5, n_images))
    deletion = 0.5 - bump + 0.05 * rng.standard_normal((5, n_images))
    return CutoffSweep(
        "saliency",
        "ideal",
        cutoffs,
        ("insertion", "deletion"),
        {"insertion": insertion, "deletion": deletion},
        {"insertion": insertion[-1] - 0.01, "deletion": deletion[-1] + 0.01},
        {"insertion": True, "deletion": False},
        np.arange(n_images),
        model_name=name,
    )


def test_architecture_comparison_rows_equal_the_direct_calls(tmp_path) -> None:
    sweeps = {"a": _noisy_sweep(1, "a"), "b": _noisy_sweep(3, "b", seed=1), "c": _noisy_sweep(0, "c", seed=2)}
    comparison = ArchitectureComparison(
        {name: {"saliency": sweep} for name, sweep in sweeps.items()},
        weights_sources={"a": {"kind": "demo", "detail": "a.pt", "path": None, "sha256": "ab12"}},
    )
    rows = comparison.rows(n_boot=300, seed=3, folds=3)
    assert [(r["model"], r["metric"]) for r in rows] == [
        (m, k) for m in "abc" for k in ("insertion", "deletion")
    ]
    for row in rows:
        sweep = sweeps[row["model"]]
        metric = row["metric"]
        # independent computation: sigma* by argmax of the mean score, the in-sample gain at it by hand
        sign = 1.0 if metric == "insertion" else -1.0
        means = sweep.scores[metric].mean(axis=1)
        best = int(np.argmax(sign * means))
        assert row["sigma_star"] == sweep.cutoffs[best]
        expected_gain = sign * (means[best] - sweep.unfiltered[metric].mean())
        assert row["improvement"] == pytest.approx(expected_gain, abs=1e-12)
        held = sweep.held_out(metric, folds=3, seed=3, n_boot=300)
        assert (row["held_out_gain"], row["held_out_low"], row["held_out_high"]) == (
            held.gain,
            held.low,
            held.high,
        )
        assert row["held_out_excludes_zero"] == (held.low > 0 or held.high < 0)
        interval = sweep.best_cutoff(metric, n_boot=300, seed=3, warn_at_edge=False)
        assert (row["sigma_low"], row["sigma_high"]) == (interval.low, interval.high)
        assert row["n_images"] == 24 and row["folds"] == 3
        # the edge note: the smallest cutoff is 1 cycle per image (a near-constant map); the largest, 16, has no
        # known image size to say whether it removes nothing: a grid to extend
        assert row["note"] == ("" if 0 < best < 4 else EDGE_NOTES["mean" if best == 0 else "grid"])
    assert rows[0]["weights"] == "demo, a.pt, ab12" and rows[2]["weights"] == ""
    assert any(row["note"] for row in rows)  # model c peaks at the first cutoff

    parsed = list(csv.DictReader(io.StringIO(comparison.to_csv())))
    assert list(parsed[0]) == [*ROW_FIELDS, "weights"]
    default_rows = comparison.rows()
    for line, row in zip(parsed, default_rows, strict=True):
        assert float(line["held_out_gain"]) == pytest.approx(row["held_out_gain"], rel=1e-5)
        assert line["note"] == row["note"]
    header = comparison.to_markdown().splitlines()[0]
    for column in (
        "sigma* interval",
        "in-sample gain",
        "held-out gain",
        "held-out interval",
        "excludes 0",
        "N",
    ):
        assert f"| {column} |" in header


@pytest.mark.parametrize(
    ("kind", "first", "edge"),
    [
        ("ideal", 1.0, "mean"),
        ("ideal", 1.00016, "mean"),  # 0.00893 of Nyquist at 224 px: the same ideal filter as 1 cycle
        ("ideal", 1.41, "mean"),
        ("ideal", 2**0.5, "grid"),  # keeps the diagonal frequencies (1, 1): another filter
        ("gaussian", 1.0, "mean"),
        ("gaussian", 1.00016, "grid"),  # a smooth filter changes with any cutoff
    ],
)
def test_the_lower_edge_is_the_near_constant_map_while_the_filter_equals_one_cycles(
    kind, first, edge
) -> None:
    from forgrad_viz.filters import lowpass
    from forgrad_viz.results.edges import grid_edge

    sweep = CutoffSweep(kind, kind, [first, 4.0, 8.0], ("insertion",), {"insertion": [[0.1]] * 3},
                        {"insertion": [0.1]}, {"insertion": True}, [0])  # fmt: skip
    assert grid_edge(sweep, 0) == edge
    if kind == "ideal":  # independent check: the ideal filter at this cutoff against the one at 1 cycle
        import torch

        maps = torch.rand(1, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
        same = torch.equal(lowpass(maps, first), lowpass(maps, 1.0))
        assert same == (edge == "mean")


def test_architecture_comparison_differences_equal_compare_best_cutoffs(tmp_path) -> None:
    sweeps = {"a": _noisy_sweep(1, "a"), "b": _noisy_sweep(3, "b", seed=1), "c": _noisy_sweep(1, "c", seed=2)}
    comparison = ArchitectureComparison({name: {"saliency": sweep} for name, sweep in sweeps.items()})
    rows = comparison.differences(n_boot=400, seed=5)
    pairs = [("a", "b"), ("a", "c"), ("b", "c")]
    assert [(r["model_a"], r["model_b"], r["metric"]) for r in rows] == [
        (a, b, m) for a, b in pairs for m in ("insertion", "deletion")
    ]
    for row in rows:
        direct = compare_best_cutoffs(
            sweeps[row["model_a"]], sweeps[row["model_b"]], row["metric"], n_boot=400, seed=5
        )
        assert (row["ratio"], row["ratio_low"], row["ratio_high"]) == (direct.ratio, direct.low, direct.high)
        assert row["differs"] == direct.differs
    # peaks 4x apart (cutoff 2 against 8) differ; the same peak does not
    by_pair = {(r["model_a"], r["model_b"], r["metric"]): r for r in rows}
    assert by_pair[("a", "b", "insertion")]["ratio"] == 0.25 and by_pair[("a", "b", "insertion")]["differs"]
    assert not by_pair[("a", "c", "insertion")]["differs"]

    parsed = list(csv.DictReader(io.StringIO(comparison.differences_to_csv(tmp_path / "d.csv"))))
    assert list(parsed[0]) == list(DIFFERENCE_FIELDS) and len(parsed) == 6
    assert (
        parsed[0]["differs"] == "True" and (tmp_path / "d.csv").read_text() == comparison.differences_to_csv()
    )
    markdown = comparison.differences_to_markdown().splitlines()
    assert len(markdown) == 2 + 6 and markdown[2].startswith(
        "| saliency | insertion | a | b | 24 | 2 | 8 | 0.25 |"
    )
    saved = json.loads(comparison.save(tmp_path / "c.json").read_text())
    assert [r["differs"] for r in saved["differences"]] == [r["differs"] for r in comparison.differences()]


def test_architecture_comparison_rows_reject_bad_folds() -> None:
    comparison = ArchitectureComparison({"a": {"saliency": _noisy_sweep(1, "a", n_images=4)}})
    with pytest.raises(ValueError, match="folds"):
        comparison.rows(folds=5)
