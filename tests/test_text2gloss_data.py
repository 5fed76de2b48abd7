"""Text2Gloss data (notebook 04): PHOENIX loading, the dev-convention function, free-text normalisation, sources."""
from collections import Counter

import pytest

from t2g2p2s.core import ConfigError, DataError
from t2g2p2s.text2gloss_data import (PHOENIX_SPLITS, SOURCES, Pair, corpus_stats, german_number, german_ordinal_dative,
                                     gloss_string, gloss_tokens, load_pairs, load_phoenix, ngram_counts,
                                     phoenix_eval_convention, phoenix_files, read_parallel, register_source,
                                     to_phoenix_text, write_parallel)


@pytest.fixture(scope="module")
def raw_train():
    return load_phoenix("train", convention=False)


@pytest.fixture(scope="module")
def dev():
    return load_phoenix("dev")


def test_convention_leaves_every_dev_reference_unchanged(dev):
    assert len(dev) == 519
    changed = [(p.id, p.target) for p in dev if phoenix_eval_convention(p.glosses) != list(p.glosses)]
    assert changed == []


def test_convention_is_idempotent_and_removes_raw_annotation(raw_train):
    assert len(raw_train) == 7096
    assert sum(any(g.startswith("__") for g in p.glosses) for p in raw_train) == 4778
    assert sum(any(g in ("__ON__", "__OFF__") for g in p.glosses) for p in raw_train) == 3897   # data/README.md
    for p in raw_train:
        out = phoenix_eval_convention(p.glosses)
        assert phoenix_eval_convention(out) == out, p.id
        for g in out:
            assert not (g.startswith("__") or g.startswith("loc-") or g.startswith("cl-") or "-cl-" in g), (p.id, g)
            assert not g.endswith("-PLUSPLUS") and g != "S0NNE" and g != "ZEIGEN", (p.id, g)
        for a, b in zip(out, out[1:]):
            assert not (a == b and "-" not in a), (p.id, out)


@pytest.mark.parametrize("raw,want", [
    ("__ON__ LIEB ZUSCHAUER ABEND __OFF__", "LIEB ZUSCHAUER ABEND"),
    ("loc-REGION cl-KOMMEN neg-cl-KOMMEN neg-HABEN poss-EUCH negalp-AUCH", "REGION KOMMEN neg-KOMMEN neg-HABEN poss-EUCH negalp-AUCH"),
    ("REGEN-PLUSPLUS loc-ORT-PLUSPLUS", "REGEN ORT"),
    ("NORDRAUM SUEDWESTRAUM TRAUM RAUM", "NORD SUEDWEST TRAUM RAUM"),
    ("S0NNE ZEIGEN WIE AUSSEHEN", "SONNE ZEIGEN-BILDSCHIRM WIE-AUSSEHEN"),
    ("KUESTE S H IX MORGEN A HOCH", "KUESTE S+H IX MORGEN A HOCH"),
    ("D A M I A N", "D+A+M+I+A+N"),
    ("REGEN REGEN __PU__ REGEN SONNE", "REGEN SONNE"),
    ("IM-VERLAUF IM-VERLAUF NACH-HAUSE", "IM-VERLAUF IM-VERLAUF NACH-HAUSE"),
    ("__??DANN__ __??__ __EMP__ __HOLD__ __LEFTHAND__", ""),
])
def test_convention_rules(raw, want):
    assert gloss_string(phoenix_eval_convention(raw)) == want


def test_convention_shrinks_train_towards_dev(raw_train, dev):
    clean = load_phoenix("train")
    vocab_raw = {g for p in raw_train for g in p.glosses}
    vocab = {g for p in clean for g in p.glosses}
    dev_vocab = Counter(g for p in dev for g in p.glosses)
    assert len(vocab) < len(vocab_raw)
    oov_raw = sum(c for g, c in dev_vocab.items() if g not in vocab_raw)
    oov = sum(c for g, c in dev_vocab.items() if g not in vocab)
    assert oov < oov_raw   # S+H, E+R+Z, C+M become known
    assert all(p.glosses for p in clean)


def test_phoenix_splits_and_held_out_test():
    assert PHOENIX_SPLITS == ("train", "dev")
    with pytest.raises(ConfigError, match="held out"):
        load_phoenix("test")
    with pytest.raises(ConfigError):
        phoenix_files("valid")
    de, gl = phoenix_files("dev")
    assert de.name == "phoenix2014T.dev.de" and gl.name == "phoenix2014T.dev.gloss"


def test_read_parallel_errors_name_file_and_line(tmp_path):
    (tmp_path / "a.de").write_text("guten abend .\nregen .\n", encoding="utf-8")
    (tmp_path / "a.gloss").write_text("ABEND\n", encoding="utf-8")
    with pytest.raises(DataError, match="not line-aligned"):
        read_parallel(tmp_path / "a.de", tmp_path / "a.gloss")
    (tmp_path / "a.gloss").write_text("ABEND\n\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"a\.gloss: line 2: empty gloss line"):
        read_parallel(tmp_path / "a.de", tmp_path / "a.gloss")
    with pytest.raises(DataError, match="no such file"):
        read_parallel(tmp_path / "x.de", tmp_path / "a.gloss")
    (tmp_path / "b.de").write_bytes(b"\xff\xfe\n")
    with pytest.raises(DataError, match="UTF-8"):
        read_parallel(tmp_path / "b.de", tmp_path / "a.gloss")


def test_write_read_roundtrip(tmp_path):
    pairs = [Pair("regen im norden .", ("NORD", "REGEN"), "x", "train", "1"), Pair("sonne .", ("SONNE",), "x", "train", "2")]
    de, gl = write_parallel(pairs, tmp_path, "train")
    back = read_parallel(de, gl, corpus="x", split="train")
    assert back == pairs
    with pytest.raises(DataError):
        write_parallel([Pair("a\nb", ("A",))], tmp_path, "bad")


def test_gloss_tokens_never_split_commas():
    assert gloss_tokens("ICH1,$INDEX1 NUM:4") == ["ICH1,$INDEX1", "NUM:4"]
    assert gloss_tokens(("A", "B")) == ["A", "B"]
    assert Pair("x", ("A", "B")).target == "A B"


@pytest.mark.parametrize("text,want", [
    ("Am 6. April 22 Grad, sonnig!", "am sechsten april zweiundzwanzig grad sonnig ."),
    ("Nachts -5 °C im Harz.", "nachts minus fünf grad im harz ."),
    ("Es werden 22, vielleicht 23 Grad.", "es werden zweiundzwanzig vielleicht dreiundzwanzig grad ."),
    ("Am 1. Mai 2,5 Liter Regen", "am ersten mai zwei komma fünf liter regen ."),
    ("In 1.000 Metern Höhe", "in eintausend metern höhe ."),
    ("Liebe Zuschauer, guten Abend.", "liebe zuschauer guten abend ."),
    ("", ""), ("  ?! ", ""),
])
def test_to_phoenix_text(text, want):
    assert to_phoenix_text(text) == want


def test_to_phoenix_text_is_identity_on_phoenix(raw_train, dev):
    assert [p.source for p in raw_train + dev if to_phoenix_text(p.source) != p.source] == []


def test_german_numbers():
    assert [german_number(n) for n in (0, 1, 16, 21, 30, 99, 101, 117, 1000, 2026, 1_000_000)] == [
        "null", "eins", "sechzehn", "einundzwanzig", "dreißig", "neunundneunzig", "einhunderteins",
        "einhundertsiebzehn", "eintausend", "zweitausendsechsundzwanzig", "eine million"]
    assert [german_ordinal_dative(n) for n in (1, 3, 6, 7, 8, 19, 20, 29)] == [
        "ersten", "dritten", "sechsten", "siebten", "achten", "neunzehnten", "zwanzigsten", "neunundzwanzigsten"]
    with pytest.raises(ConfigError):
        german_number(-1)


def test_sources_registry(tmp_path):
    assert "phoenix" in SOURCES
    with pytest.raises(ConfigError, match="unknown"):
        load_pairs("dgs-korpus-missing", "train")
    with pytest.raises(ConfigError, match="already registered"):
        register_source("phoenix", load_phoenix)
    fake = [Pair("ich gehe .", ("ICH1", "GEHEN1"), "fake", "train", "1")]
    register_source("fake-test-source", lambda split, **kw: [p for p in fake if p.split == split])
    try:
        assert load_pairs("fake-test-source", "train") == fake
    finally:
        SOURCES.pop("fake-test-source")


def test_ngrams_stay_inside_sentences(dev):
    c = ngram_counts([["A", "B"], ["C", "D"]], 2)
    assert c == Counter({("A", "B"): 1, ("C", "D"): 1})
    st = corpus_stats(dev, load_phoenix("train"))
    assert st["pairs"] == 519 and 0 < st["gloss OOV rate"] < 0.01 and st["max glosses"] >= st["mean glosses"]
    with pytest.raises(ConfigError):
        corpus_stats([])
