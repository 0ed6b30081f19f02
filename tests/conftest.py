"""Shared test fixtures.

The ACDC data is read from ``$CARDIOLAB_ACDC`` or ``../shared/data/acdc`` beside the
project; tests that need it skip with the reason where it is absent.
"""
import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def acdc_root() -> Path | None:
    candidates = [os.environ.get("CARDIOLAB_ACDC"), PROJECT_ROOT.parent / "shared" / "data" / "acdc"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "training").is_dir():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def acdc_training() -> Path:
    root = acdc_root()
    if root is None:
        pytest.skip("ACDC data not found: set CARDIOLAB_ACDC or place it at ../shared/data/acdc")
    return root / "training"
