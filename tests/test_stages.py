"""The stage registry (nbs/00_core.ipynb): one table of stages, makers only run by the registry, stamps that say
which stages are finished, and no module that builds another stage's outputs by hand."""
import ast
import inspect
import sys
import textwrap
from pathlib import Path

import pytest

import t2g2p2s.core as core
from t2g2p2s.core import STAGES, ConfigError, ensure_stage, finish_stage, make_stage, stage_done, stage_outputs

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "t2g2p2s"

#: functions that write a stage's outputs: (module, function) -> stage
PRODUCERS = {
    ("sample_corpus", "build_sample_corpus"): "sample_corpus", ("scrape", "scrape_corpus"): "raw",
    ("transcript_tables", "write_tables"): "transcripts", ("text2gloss_data", "write_source"): "text2gloss_data",
    ("text2gloss_dgs", "write_split"): "text2gloss_dgs", ("text2gloss_dgs", "write_statistics"): "text2gloss_dgs",
    ("lexicon_build", "build_lexicon"): "lexicon", ("gloss_times", "write_gloss_times"): "gloss_times",
    ("evaluation", "evaluate_stage"): "evaluation", ("evaluation", "write_evaluation"): "evaluation"}
#: (module, writer) uses that write to a folder the user names, not to a stage
NOT_A_STAGE = {("rehearsal_corpus", "build_sample_corpus")}   # `sample-corpus build --out DIR` (01e) without --scale


def _modules():
    return sorted(p for p in LIB.glob("*.py") if not p.name.startswith("_"))


def _references(path: Path) -> set[str]:
    "Every name a module uses (bare names and attribute names), outside import statements."
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name): out.add(node.id)
        elif isinstance(node, ast.Attribute): out.add(node.attr)
    return out


def test_every_maker_is_a_function_of_its_stage_module():
    "Each maker named in the table exists, takes `tier` and `seed`, and lives in the module of its stage's notebook."
    for name, st in STAGES.items():
        if not st.maker: continue
        mod, _, fn = st.maker.partition(":")
        f = getattr(__import__(mod, fromlist=[fn]), fn)
        params = inspect.signature(f).parameters
        assert {"tier", "seed"} <= set(params), f"{name}: maker {st.maker} must take tier and seed"
        nb = ROOT / "nbs" / f"{st.notebook}.ipynb"
        assert nb.is_file(), f"{name}: notebook {st.notebook} does not exist"
        assert f"default_exp {mod.split('.')[-1]}" in nb.read_text(encoding="utf-8"), f"{name}: {mod} is not {nb.name}'s module"
        assert all(n in STAGES for n in st.needs_in("sample"))


def test_no_module_but_the_registry_builds_another_stages_outputs():
    """A stage's makers and writers are used only in their own module (its notebook and commands) and by the registry
    (which names makers as strings): no module makes another stage's outputs by hand."""
    makers = {tuple(st.maker.split(":"))[1]: name for name, st in STAGES.items() if st.maker}
    owner = {name: st.maker.split(":")[0].split(".")[-1] for name, st in STAGES.items() if st.maker}
    bad = []
    for path in _modules():
        mod = path.stem
        refs = _references(path)
        for fn, stage in makers.items():
            if fn in refs and owner[stage] != mod: bad.append(f"{mod} uses the maker {fn} of stage {stage}")
        for (home, fn), stage in PRODUCERS.items():
            if fn in refs and home != mod and (mod, fn) not in NOT_A_STAGE:
                bad.append(f"{mod} uses {home}.{fn}, which writes stage {stage}")
    assert not bad, "; ".join(bad)


def test_stage_folders_are_named_only_by_their_own_module():
    "`stage_path(\"x\")` with a literal stage name appears only in the module that makes stage x (and in core)."
    made_by = {name: st.maker.split(":")[0].split(".")[-1] for name, st in STAGES.items() if st.maker}
    made_by.update({"text2gloss": "text2gloss", "figures": "figures", "gloss2pose": "gloss2pose",
                    "pose2sign": "pose2sign"})
    bad = []
    for path in _modules():
        if path.stem == "core": continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "stage_path"
                    and node.args and isinstance(node.args[0], ast.Constant)):
                stage = node.args[0].value
                if made_by.get(stage) != path.stem: bad.append(f"{path.stem} names the folder of stage {stage}")
    assert not bad, "; ".join(bad)


@pytest.fixture
def toy(tmp_path, monkeypatch):
    "A two-stage registry in a temporary tier root, with makers in a module of its own that count their calls."
    pkg = tmp_path / "pkg"; pkg.mkdir()
    (pkg / "toymakers.py").write_text(textwrap.dedent('''
        from pathlib import Path
        from t2g2p2s.core import stage_outputs
        CALLS = []
        def make_a(tier="sample", seed=0, size=1):
            CALLS.append(("a", seed))
            (stage_outputs("a", tier).folder / "a.txt").write_text("x" * size)
            return size
        def make_b(tier="sample", seed=0):
            CALLS.append(("b", seed))
            a = stage_outputs("a", tier)["a"].read_text()
            (stage_outputs("b", tier).folder / "b.txt").write_text(a.upper())
    '''))
    monkeypatch.syspath_prepend(str(pkg))
    sys.modules.pop("toymakers", None)
    root = tmp_path / "tier"
    monkeypatch.setattr(core, "tier_root", lambda tier="sample": root / tier)
    stages = {"a": core.Stage("a", "00_core", {"a": "a.txt"}, (), "toymakers:make_a"),
              "b": core.Stage("b", "00_core", {"b": "b.txt"}, ("a",), "toymakers:make_b"),
              "c": core.Stage("c", "00_core", {"c": "c.txt"})}
    monkeypatch.setattr(core, "STAGES", stages)
    import toymakers
    return toymakers, root


def test_ensure_makes_what_is_missing_upstream_first_and_only_once(toy):
    makers, root = toy
    out = ensure_stage("b", "sample", 3)
    assert out.b.read_text() == "X" and makers.CALLS == [("a", 3), ("b", 3)]
    assert ensure_stage("b", "sample", 3) == out and makers.CALLS == [("a", 3), ("b", 3)]      # stamped: not redone
    assert stage_done("a", "sample")["seed"] == 3 and (root / "sample" / ".stages" / "b.json").is_file()


def test_a_stamp_without_its_outputs_is_not_finished(toy):
    makers, root = toy
    ensure_stage("a", "sample", 0)
    (root / "sample" / "a" / "a.txt").unlink()             # an interrupted or damaged stage
    assert stage_done("a", "sample") is None
    ensure_stage("a", "sample", 0)
    assert makers.CALLS == [("a", 0), ("a", 0)]


def test_make_stage_passes_parameters_records_them_and_returns_the_result(toy):
    makers, _ = toy
    out = make_stage("a", "sample", 1, size=4)
    assert out.result == 4 and out.a.read_text() == "xxxx" and stage_done("a", "sample")["parameters"] == {"size": 4}


def test_another_seed_the_full_tier_and_a_stage_without_maker_are_errors_that_say_what_to_do(toy):
    ensure_stage("a", "sample", 0)
    with pytest.raises(ConfigError, match="seed 0, not 1"): ensure_stage("a", "sample", 1)
    with pytest.raises(ConfigError, match="run notebook 00_core"): ensure_stage("a", "full", 0)
    with pytest.raises(ConfigError, match="no maker: run notebook 00_core"): ensure_stage("c", "sample", 0)
    with pytest.raises(ConfigError, match="unknown stage"): ensure_stage("nope", "sample", 0)


def test_finish_stage_refuses_missing_outputs(toy):
    with pytest.raises(core.T2G2P2SError, match="not finished"): finish_stage("c", "sample", 0)
    (stage_outputs("c", "sample").folder).mkdir(parents=True, exist_ok=True)
    (stage_outputs("c", "sample").folder / "c.txt").write_text("done")
    assert finish_stage("c", "sample", 0).c.read_text() == "done" and stage_done("c", "sample")["seed"] == 0
