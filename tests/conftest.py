"""Fixtures shared by the survey tests."""
from __future__ import annotations

import pytest


@pytest.fixture
def image_bank_root(settings, tmp_path):
    """A private image bank folder per test."""
    settings.IMAGE_BANK_ROOT = tmp_path / "bank"
    return settings.IMAGE_BANK_ROOT
