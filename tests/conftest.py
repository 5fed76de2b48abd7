"""Shared fixtures: the checkout root and its notebooks. Tests never write into the checkout."""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT
