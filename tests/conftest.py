"""Shared pytest configuration: the ``cuda`` marker skips cleanly on machines without a GPU."""

from __future__ import annotations

import importlib.util
import os

import matplotlib
import pytest
import torch

matplotlib.use("Agg")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip_cuda = pytest.mark.skip(reason="needs a CUDA GPU (none available)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip_cuda)


@pytest.fixture(autouse=True)
def _fixed_seed() -> None:
    """Every test starts from the same global RNG state, so tests do not depend on their order."""
    torch.manual_seed(0)


def require_modules(*modules: str) -> None:
    """Skip the calling test when an optional package (the ``pretrained`` extra) is missing.

    CI installs the extra and sets ``FORGRAD_REQUIRE_PRETRAINED=1``: there a missing package fails the test instead of
    skipping it, so a broken install cannot hide behind skips.
    """
    for module in modules:
        if importlib.util.find_spec(module) is None:
            if os.environ.get("FORGRAD_REQUIRE_PRETRAINED") == "1":
                pytest.fail(f"{module} is not installed but FORGRAD_REQUIRE_PRETRAINED=1")
            pytest.skip(f'{module} is not installed (pip install "forgrad-viz[pretrained]")')
