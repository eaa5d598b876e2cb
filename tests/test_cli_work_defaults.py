"""The CLI's amount of work by default: the full settings for small inputs or a GPU, the study's on a CPU for
ImageNet-sized inputs, and whatever the user sets always kept."""

from __future__ import annotations

import argparse

import pytest

from forgrad_viz.cli.entry import build_parser
from forgrad_viz.cli.work_defaults import CPU_LARGE_WORK, FULL_WORK, LARGE_SIDE, resolve_work


def unset() -> argparse.Namespace:
    return argparse.Namespace(n_cutoffs=None, steps=None, n_subsets=None)


def work(args: argparse.Namespace) -> tuple[int, int, int]:
    return args.n_cutoffs, args.steps, args.n_subsets


@pytest.mark.parametrize(
    ("size", "device", "expected"),
    [
        ((224, 224), "cpu", CPU_LARGE_WORK),
        ((260, 300), "cpu", CPU_LARGE_WORK),
        ((64, 64), "cpu", FULL_WORK),
        ((LARGE_SIDE - 1, 512), "cpu", FULL_WORK),  # both sides count
        ((224, 224), "cuda", FULL_WORK),  # a GPU affords the full settings (no GPU needed to decide)
    ],
)
def test_defaults_follow_the_input_size_and_the_device(size, device, expected):
    args = unset()
    note = resolve_work(args, *size, device)
    assert work(args) == expected
    assert (note is not None) == (expected == CPU_LARGE_WORK)
    assert CPU_LARGE_WORK == (9, 10, 64) and FULL_WORK == (24, 20, 200)


def test_given_values_win_and_the_note_names_only_the_options_it_filled():
    args = argparse.Namespace(n_cutoffs=5, steps=None, n_subsets=300)
    note = resolve_work(args, 224, 224, "cpu")
    assert work(args) == (5, 10, 300)
    assert "--steps" in note and "--n-cutoffs" not in note and "--n-subsets" not in note
    given_cutoffs = argparse.Namespace(n_cutoffs=None, steps=7, n_subsets=300)  # --cutoffs: no grid to size
    assert resolve_work(given_cutoffs, 224, 224, "cpu", grid=False) is None and given_cutoffs.n_cutoffs == 9
    everything = argparse.Namespace(n_cutoffs=5, steps=7, n_subsets=300)
    assert resolve_work(everything, 224, 224, "cpu") is None and work(everything) == (5, 7, 300)


@pytest.mark.parametrize("command", ["sweep", "compare"])
def test_the_commands_leave_the_work_unset_until_they_see_the_inputs(command):
    parser = build_parser()
    args = parser.parse_args([command, "--images", "x", "--model" if command == "sweep" else "--models", "m"])
    assert work(args) == (None, None, None)
    given = parser.parse_args(
        [command, "--images", "x", "--model" if command == "sweep" else "--models", "m", "--steps", "12"]
    )
    assert given.steps == 12
    with pytest.raises(SystemExit):
        parser.parse_args([command, "--images", "x", "--steps", "0"])
