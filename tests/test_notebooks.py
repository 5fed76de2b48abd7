"""Every notebook in nbs/ is one test, executed by nbdev's own test runner (cells flagged gpu/slow/net skipped)."""
import os
from configparser import ConfigParser
from pathlib import Path

import pytest
from nbdev.test import test_nb as run_notebook  # renamed so that pytest does not collect it

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "nbs").glob("*.ipynb"))


def _skip_flags():
    cfg = ConfigParser(delimiters=["="])
    cfg.read(ROOT / "settings.ini", encoding="utf-8")
    return cfg["DEFAULT"].get("tst_flags", "").split()


def test_there_are_notebooks():
    assert any(p.name.startswith("00_") for p in NOTEBOOKS), "nbs/ has no numbered notebooks"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook(nb, monkeypatch):
    monkeypatch.setenv("T2G2P2S_PROGRESS", "0")
    ok, seconds = run_notebook(nb, skip_flags=_skip_flags(), showerr=True)
    assert ok, f"{nb.name} failed under nbdev's test runner (traceback above)"
