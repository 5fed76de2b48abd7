"""Parameters consistency: one literal, annotated, commented `parameters` cell per numbered notebook, and every
profile key declared by some notebook with a value of the declared type."""
import ast
from pathlib import Path

import nbformat
import pytest
import yaml

from t2g2p2s.core import ConfigError
from t2g2p2s.pipeline import declared_parameters, numbered_notebooks, parameters_cell, resolve_parameters

ROOT = Path(__file__).resolve().parents[1]
NUMBERED = numbered_notebooks(ROOT / "nbs")
PROFILES = sorted((ROOT / "params").glob("*.yaml"))


@pytest.mark.parametrize("nb", NUMBERED, ids=[p.stem for p in NUMBERED])
def test_one_parameters_cell_of_literals(nb):
    cell = parameters_cell(nbformat.read(nb, as_version=4), nb)
    decl = declared_parameters(nb)  # raises on non-literals, missing annotations or help comments
    assert decl, f"{nb.name}: empty parameters cell"
    tree = ast.parse(cell.source)
    assert all(isinstance(n, ast.AnnAssign) for n in tree.body), f"{nb.name}: only annotated assignments allowed"
    for name in ("tier", "device", "seed", "run_id"):
        assert name in decl, f"{nb.name}: every numbered notebook declares {name!r} (style guide §3.4)"


@pytest.mark.parametrize("nb", NUMBERED, ids=[p.stem for p in NUMBERED])
def test_parameters_cell_is_not_exported(nb):
    cell = parameters_cell(nbformat.read(nb, as_version=4), nb)
    assert "#| export" not in cell.source and "#|export" not in cell.source


@pytest.mark.parametrize("profile", PROFILES, ids=[p.stem for p in PROFILES])
def test_profile_keys_are_declared(profile):
    prof = yaml.safe_load(profile.read_text(encoding="utf-8"))
    resolve_parameters(prof, NUMBERED, NUMBERED, profile_name=profile.name)  # raises ConfigError on a typo/type


def test_sample_profile_matches_notebook_defaults():
    """The sample profile is the CI defaults written out: each of its values equals every declaring notebook's default."""
    prof = yaml.safe_load((ROOT / "params" / "sample.yaml").read_text(encoding="utf-8"))
    for nb in NUMBERED:
        for k, d in declared_parameters(nb).items():
            if k in prof:
                assert prof[k] == d["default"], f"{nb.name}: default {k}={d['default']!r} differs from sample.yaml {prof[k]!r}"


def test_typo_and_wrong_type_are_refused():
    with pytest.raises(ConfigError, match="seeed"):
        resolve_parameters({"seeed": 1}, NUMBERED, NUMBERED)
    with pytest.raises(ConfigError, match="seed"):
        resolve_parameters({"seed": "one"}, NUMBERED, NUMBERED)


@pytest.mark.parametrize("nb", NUMBERED, ids=[p.stem for p in NUMBERED])
def test_papermill_sees_every_parameter(nb):
    """`papermill --help-notebook` must list every parameter with its type and help (one `=` per line)."""
    import papermill as pm
    seen = {p["name"]: p for p in pm.inspect_notebook(str(nb)).values()}
    decl = declared_parameters(nb)
    assert set(seen) == set(decl), f"{nb.name}: papermill cannot parse {sorted(set(decl) - set(seen))} (no '=' in help comments)"
    for name, d in decl.items():
        assert seen[name]["inferred_type_name"] == d["type"] and seen[name]["help"], f"{nb.name}: {name}"
