"""Tests of t2g2p2s.glosses (notebook 00a): one gloss convention wherever a gloss enters.

The two tests of issue 16 item 1: a spoken-to-signed lexicon written here with pose-format whose keys carry the
corpus's `*` and `^` is imported with `lexicon import-s2s` and matched exactly by unmarked queries, the match
record naming the normalisation; and a corpus gloss of every notation class round-trips to the same key through the
transcripts, the Text2Gloss pairs, the lexicon (corpus build, writer, spoken-to-signed import), the gloss times
and the matcher. Everything is written in tmp_path."""
import csv

import numpy as np
import pandas as pd
import pytest

from t2g2p2s.core import ConfigError, run_command
from t2g2p2s.gloss_times import lookup_times
from t2g2p2s.glosses import (NOTATION_EXAMPLES, describe_normalisation, gloss_category, gloss_key, gloss_rules,
                             gloss_word, is_gloss_token, parse_gloss, parse_query, portal_type, query_forms,
                             query_key, rule_candidates, split_variant, type_key)
from t2g2p2s.lexicon import Lexicon, LexiconWriter, import_spoken_to_signed
from t2g2p2s.lexicon_build import candidate_spans
from t2g2p2s.matching import GlossMatcher, match_report
from t2g2p2s.poses import OPENPOSE_137, read_pose_file
from t2g2p2s.text2gloss_dgs import dgs_pairs
from t2g2p2s.transcript_tables import RuleSet, apply_rules
from t2g2p2s.transcripts import eaf_document, parse_eaf, parse_srt

#: key, type, category of every notation class (formats doc), as the convention reads it
EXPECTED = {
    "variant": ("HAUS1A", "HAUS1A", "lexical"), "marker *": ("SELBST1A", "SELBST1A", "lexical"),
    "type level ^": ("MERKWÜRDIG1", "MERKWÜRDIG1", "lexical"),
    "qualifier": ("$NUM-EINER1A:1d", "$NUM-EINER1A", "number"), "$INDEX": ("$INDEX1", "$INDEX1", "index"),
    "$GEST": ("$GEST-ABWINKEN1", "$GEST-ABWINKEN1", "gesture"), "$PROD": ("$PROD", "$PROD", "productive"),
    "$ALPHA": ("$ALPHA1:W-I-N-D", "$ALPHA1", "fingerspelling"),
    "$NUM": ("$NUM-EINER1A:4", "$NUM-EINER1A", "number"), "$LIST": ("$LIST1:2of2d", "$LIST1", "list"),
    "$ORAL": ("$ORAL", "$ORAL", "oral"), "dual ||": ("REGEN1A", "REGEN1A", "lexical"),
    "$$EXTRA-LING-MAN": ("$$EXTRA-LING-MAN", "$$EXTRA-LING-MAN", "extra"),
}


# ---------------------------------------------------------------- the convention itself

def test_every_notation_class_has_its_key_type_and_category():
    assert set(EXPECTED) == set(NOTATION_EXAMPLES)
    for cls, raw in NOTATION_EXAMPLES.items():
        g = parse_gloss(raw)
        assert (g.key, g.type, g.category) == EXPECTED[cls], cls
        assert (gloss_key(raw), type_key(raw), gloss_category(raw)) == EXPECTED[cls]
        assert is_gloss_token(g.key) and parse_gloss(g.key).key == g.key          # keys are fixed points
    g = parse_gloss(" MERKWÜRDIG1^* ")
    assert g.applied == ("space", "type level ^", "marker *") and g.display == "MERKWÜRDIG1^"
    assert (g.base, g.number, g.letter, g.markers) == ("MERKWÜRDIG", 1, "", "^*")
    assert parse_gloss("$NUM-EINER1A:1d*")[5:9] == ("$NUM-EINER", 1, "A", "1d")
    assert parse_gloss("REGEN1A||$INDEX1").other_hand == "$INDEX1" and gloss_key("||$GEST-OFF^") == "$GEST-OFF"
    assert gloss_key("KU\u0308HL1B") == "KÜHL1B" and parse_gloss("KU\u0308HL1B").applied == ("unicode NFC",)
    assert portal_type("$GEST-OFF^") == "$GEST-OFF^" and portal_type("$NUM-EINER1A:3d*") == "$NUM-EINER1A"
    assert gloss_word("TAUB-GEHÖRLOS1A*") == "taub gehörlos" and gloss_word("$INDEX1") == ""
    for w in ("Hamburg", "ICE", "ja", "Köln."):
        assert not is_gloss_token(w), w


def test_query_rule_sets_ours_and_the_thesis():
    assert parse_query("SELBST1A*").key == "SELBST1A" and parse_query("SELBST1A*").applied == ("marker *",)
    th = parse_query("selbst1a*", "thesis")                       # §6.3: as typed, upper-cased
    assert th.key == "SELBST1A*" and th.applied == ("upper case",) and gloss_rules("thesis").upper_query
    assert split_variant("$INDEX1") == ("$INDEX", 1, "") and split_variant("$INDEX1", "thesis") is None
    assert split_variant("HAUS1A", "thesis") == ("HAUS", 1, "A") and split_variant("$NUM-EINER1A:1") is None
    with pytest.raises(ConfigError): gloss_rules("phoenix")
    assert rule_candidates("loc-SUEDWEST") == [("SUEDWEST", "prefix loc-"), ("SÜDWEST", "AE/OE/UE → Ä/Ö/Ü")]
    assert query_forms("$NUM-EINER1A:4*")[-1] == ("$NUM-EINER1A", ("marker *", "qualifier"))
    assert query_key("neg-HABEN-PLUSPLUS") == "HABEN" and query_key("wetter") == "WETTER"
    assert describe_normalisation() == "none"
    assert describe_normalisation(("qualifier",), ("marker *",)) == "query: qualifier; lexicon: marker *"


# ---------------------------------------------------------------- must show: a spoken-to-signed lexicon with markers

def _openpose_frames(n: int, seed: int) -> dict:
    "OpenPose frames (the JSON layout) of one person whose wrists move: pose-format's `load_openpose` input."
    rng = np.random.default_rng(seed)
    frames = {}
    for t in range(n):
        def pts(k, cx, cy, spread):
            xy = rng.normal(0, spread, (k, 2)) + (cx, cy)
            return [float(v) for x, y in xy for v in (x, y, 0.9)]
        body = pts(25, 640 + 30 * np.sin(t / 3), 360, 60)
        frames[t] = {"people": [{"pose_keypoints_2d": body, "face_keypoints_2d": pts(70, 640, 250, 20),
                                 "hand_left_keypoints_2d": pts(21, 700, 420 - 5 * t, 10),
                                 "hand_right_keypoints_2d": pts(21, 580, 420 + 5 * t, 10)}]}
    return frames


def write_s2s_lexicon(folder, glosses):
    """A spoken-to-signed lexicon folder made with pose-format: one OpenPose `.pose` file per gloss (`glosses` as the
    source writes them) and `index.csv`."""
    from pose_format.utils.openpose import load_openpose
    (folder / "gsg").mkdir(parents=True)
    rows = []
    for i, g in enumerate(glosses):
        pose = load_openpose(_openpose_frames(8 + i, i), fps=50, width=1280, height=720)
        rel = f"gsg/sign{i}.pose"
        with open(folder / rel, "wb") as f: pose.write(f)
        rows.append([rel, "de", "gsg", 0, 0, gloss_word(g), g, 0])
    with open(folder / "index.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "spoken_language", "signed_language", "start", "end", "words", "glosses", "priority"])
        w.writerows(rows)
    return folder


def test_s2s_lexicon_with_markers_matches_unmarked_queries_exactly(tmp_path):
    marked = ["SELBST1A*", "MERKWÜRDIG1^*", "UNTERSCHIED3^*", "HAUS1A", "$NUM-EINER1A:1d*"]
    src = write_s2s_lexicon(tmp_path / "s2s", marked)
    assert read_pose_file(src / "gsg" / "sign0.pose").skeleton == OPENPOSE_137     # real pose-format files
    assert run_command("lexicon import-s2s", [str(src), str(tmp_path / "lex")]) == 0
    lex = Lexicon.open(tmp_path / "lex")
    assert lex.glosses == sorted(["SELBST1A", "MERKWÜRDIG1", "UNTERSCHIED3", "HAUS1A", "$NUM-EINER1A:1d"])
    assert {e.gloss: e.raw_gloss for e in map(lex.entry, range(len(lex)))} == {gloss_key(g): g for g in marked}
    m = GlossMatcher(lex, steps=("exact", "variant", "rule", "fuzzy"))
    queries = ["SELBST1A", "MERKWÜRDIG1", "UNTERSCHIED3", "HAUS1A", "$NUM-EINER1A:1d"]     # as real sentences have them
    got = m.match_all(queries)
    assert [(r.method, r.gloss, r.score) for r in got] == [("exact", q, 1.0) for q in queries]
    assert [r.normalisation for r in got] == ["lexicon: marker *", "lexicon: type level ^, marker *",
                                              "lexicon: type level ^, marker *", "none", "lexicon: marker *"]
    r = m.match("SELBST1A*")                                       # marked on both sides: still the same key
    assert (r.method, r.gloss, r.normalisation) == ("exact", "SELBST1A", "query: marker *; lexicon: marker *")
    r = m.match("$NUM-EINER1A:3")                                 # another number: the type's gloss, by rule
    assert (r.method, r.gloss, r.normalisation) == ("rule", "$NUM-EINER1A:1d", "query: qualifier; lexicon: marker *")
    rep = match_report(got)
    assert "normalisation" in rep.columns and rep.to_dict("records")[1]["normalisation"].startswith("lexicon:")
    # the thesis's rule set keeps its matcher: the query as typed, upper-cased, exact on the same keys
    th = GlossMatcher.thesis(lex, encoder=object(), store_index=False)
    assert th.match("selbst1a").gloss == "SELBST1A" and th.match("selbst1a").normalisation == (
        "query: upper case; lexicon: marker *")


def test_import_s2s_counts_top_k_per_key(tmp_path):
    "Two spellings of one sign are one gloss with two entries (top_k counts keys, not spellings)."
    src = write_s2s_lexicon(tmp_path / "s2s", ["SELBST1A*", "SELBST1A", "HAUS1A"])
    lex = import_spoken_to_signed(src, tmp_path / "lex")
    assert lex.glosses == ["HAUS1A", "SELBST1A"] and len(lex.entries("SELBST1A")) == 2
    assert {e.raw_gloss for e in lex.entries("SELBST1A")} == {"SELBST1A*", "SELBST1A"}


# ---------------------------------------------------------------- must show: the round trip of every class

def _transcript_tables(tmp_path):
    "Every notation class as a token of one ELAN sentence (the dual one on an SRT line), under no exclusion rule."
    singles = {c: g for c, g in NOTATION_EXAMPLES.items() if c != "dual ||"}
    toks = [("A", "r", 1000 + 400 * i, 1300 + 400 * i, g) for i, g in enumerate(singles.values())]
    eaf = tmp_path / "1413485.eaf"
    eaf.write_text(eaf_document(sentences=[("A", 900, 1000 + 400 * len(toks), "Ein Satz mit allen Glossen.")],
                                tokens=toks), encoding="utf-8")
    srt = tmp_path / "1413486_de.srt"
    srt.write_text("1\n00:00:01,000 --> 00:00:03,000\nA: Es regnet dort.\n\n"
                   f"2\n00:00:01,100 --> 00:00:01,600\nA: {NOTATION_EXAMPLES['dual ||']}\n", encoding="utf-8")
    rules = RuleSet.default(exclude_token_categories=frozenset(), exclude_sentence_categories=frozenset())
    tables = [apply_rules(parse_eaf(eaf), rules), apply_rules(parse_srt(srt), rules)]
    return (pd.concat([t.sentences for t in tables], ignore_index=True),
            pd.concat([t.tokens for t in tables], ignore_index=True))


def test_every_notation_class_round_trips_to_one_key(tmp_path):
    sentences, tokens = _transcript_tables(tmp_path)
    keys = {c: EXPECTED[c][0] for c in NOTATION_EXAMPLES}
    # transcripts: the token table's gloss, type and category are the convention's
    by_raw = tokens[tokens.source != "srt"].set_index("raw_gloss")
    for c, raw in NOTATION_EXAMPLES.items():
        if c == "dual ||": continue
        assert (by_raw.gloss[raw], by_raw.type[raw], by_raw.category[raw]) == EXPECTED[c], c
    dual = tokens[tokens.source == "srt"].sort_values("hand", ascending=False)      # r before l
    assert list(dual.gloss) == [keys["dual ||"], gloss_key(parse_gloss(NOTATION_EXAMPLES["dual ||"]).other_hand)]
    assert list(dual.hand) == ["r", "l"] and dual.dual.all()
    # the DGS Text2Gloss pairs carry the same keys
    pairs = dgs_pairs(sentences, tokens)
    assert set(g for gs in pairs.glosses for g in gs) == set(tokens.gloss)
    # the corpus lexicon build keys its candidates by the same convention and keeps the raw spelling
    spans, _ = candidate_spans(tokens, skip_categories=())
    assert set(spans.gloss) == set(tokens.gloss) and (spans.gloss == spans.raw_gloss.map(gloss_key)).all()
    # the writer (every build and import) and the spoken-to-signed import: raw in, the same key out
    with LexiconWriter(tmp_path / "lex", top_k=1) as w:
        for i, raw in enumerate(NOTATION_EXAMPLES.values()):
            w.add(np.full((3, 137, 3), 0.5 + i, np.float32), raw, quality=1.0, fps=50.0, width=1280, height=720)
    lex = Lexicon.open(tmp_path / "lex")
    assert set(lex.glosses) == set(keys.values())
    s2s = import_spoken_to_signed(write_s2s_lexicon(tmp_path / "s2s", list(NOTATION_EXAMPLES.values())),
                                  tmp_path / "s2s-lex")
    assert set(s2s.glosses) == set(keys.values())
    assert {s2s.entry(i).type for i in range(len(s2s))} == {EXPECTED[c][1] for c in NOTATION_EXAMPLES}
    # the matcher: the raw token and its key both find the key exactly, on both lexicons
    for lx in (lex, s2s):
        m = GlossMatcher(lx, steps=("exact",))
        for c, raw in NOTATION_EXAMPLES.items():
            for q in (raw, keys[c]):
                r = m.match(q)
                assert (r.method, r.gloss) == ("exact", keys[c]), (c, q, r)
    # the gloss times look a token up under the same key and type
    times = pd.DataFrame([{"gloss": keys[c], "key_level": "gloss", "median_gd_ms": 100.0 + i, "median_igt_ms": 1.0,
                           "median_ogt_ms": 2.0} for i, c in enumerate(NOTATION_EXAMPLES)]
                         + [{"gloss": "<all glosses>", "key_level": "global", "median_gd_ms": 9.0, "median_igt_ms": 9.0,
                             "median_ogt_ms": 9.0}])
    for i, (c, raw) in enumerate(NOTATION_EXAMPLES.items()):
        assert lookup_times(times, raw) == (100.0 + i, 1.0, 2.0, "gloss"), c


def test_matcher_keys_a_store_written_before_the_convention(tmp_path):
    "A lexicon whose stored glosses kept the markers (written before the convention) is matched under their keys."
    src = write_s2s_lexicon(tmp_path / "s2s", ["SELBST1A*", "HAUS1A"])
    lex = import_spoken_to_signed(src, tmp_path / "lex")
    ix = pd.read_parquet(tmp_path / "lex" / "index.parquet")            # as an older version wrote it
    ix["gloss"] = ix["raw_gloss"]
    ix.drop(columns=["raw_gloss"]).to_parquet(tmp_path / "lex" / "index.parquet", index=False)
    old = Lexicon.open(tmp_path / "lex")
    assert old.glosses == ["HAUS1A", "SELBST1A*"] and old.entry(0).raw_gloss is None
    r = GlossMatcher(old, steps=("exact",)).match("SELBST1A")
    assert (r.method, r.gloss, r.normalisation) == ("exact", "SELBST1A", "lexicon: marker *")
    assert old.pose(r.entry_id) == lex.best("SELBST1A")
