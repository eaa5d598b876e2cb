"""The package's public surface: every advertised name resolves, the console script answers."""

from __future__ import annotations

import subprocess
import sys

import pytest

import forgrad_viz as fv


@pytest.mark.parametrize("name", sorted(fv.__all__))
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(fv, name) is not None


def test_unknown_attribute_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        fv.no_such_name  # noqa: B018


def test_plot_is_the_plot_package() -> None:
    import forgrad_viz.plot

    assert fv.plot is forgrad_viz.plot
    assert not hasattr(fv, "plotting")
    assert callable(fv.plot.cutoff_curves) and callable(fv.plot.before_after)


def test_command_line_prints_version_and_help() -> None:
    run = [sys.executable, "-c", "from forgrad_viz.cli import main; raise SystemExit(main())"]
    version = subprocess.run([*run, "--version"], capture_output=True, text=True, check=True)
    assert fv.__version__ in version.stdout
    help_text = subprocess.run([*run, "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("demo", "sweep", "merge", "bench"):
        assert command in help_text


def test_aliasing_is_the_function_even_after_its_package_is_imported():
    import forgrad_viz.downsampling.analysis  # a submodule import must not shadow fv.aliasing

    assert callable(fv.aliasing) and fv.aliasing is forgrad_viz.downsampling.aliasing
    assert fv.AliasingReport is forgrad_viz.downsampling.AliasingReport
