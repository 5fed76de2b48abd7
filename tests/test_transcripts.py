"""Tests of t2g2p2s.transcripts (notebook 03): parsers, rule sets, thesis-spec §10 items 9-12, bad input, CLI, executors.

Every fixture is a small hand-written ELAN or SRT file in tmp_path, in the Public DGS Corpus formats."""
import contextlib
import io
import json
from pathlib import Path

import pandas as pd
import pytest

from t2g2p2s.core import ConfigError, DataError, run_command
from t2g2p2s.glosses import gloss_category, gloss_key, is_gloss_token, type_key
from t2g2p2s.transcripts import SENTENCE_COLUMNS, TOKEN_COLUMNS, eaf_document, parse_eaf, parse_srt
from t2g2p2s.transcript_tables import RuleSet, apply_rules, load_types, transcripts_table, write_tables


# ---------------------------------------------------------------- fixtures

def srt_text(blocks):
    "SRT text from `(start_ms, end_ms, [text lines])`."
    def t(ms):
        return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"
    return "\n".join(f"{i}\n{t(a)} --> {t(b)}\n" + "\n".join(lines) + "\n" for i, (a, b, lines) in enumerate(blocks, 1))


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def by_gloss(tables, col):
    return tables.tokens.set_index("raw_gloss")[col].to_dict()


# ---------------------------------------------------------------- gloss conventions

def test_gloss_conventions():
    assert gloss_key("$GEST-NM-SCHULTERZUCKEN1^*") == "$GEST-NM-SCHULTERZUCKEN1"
    assert gloss_key("$NUM-EINER1A:1d*") == "$NUM-EINER1A:1d"          # qualifier and variant kept
    assert type_key("$NUM-EINER1A:1d*") == "$NUM-EINER1A" and type_key("HAUS1A*") == "HAUS1A"
    cats = {g: gloss_category(g) for g in ["HAUS1A", "$INDEX1", "$GEST^", "$GEST-OFF^", "$GEST-NM-KOPFNICKEN1^",
                                           "$GEST-ABWINKEN1^", "$PROD*", "$ALPHA1:W-I-N-D", "$NUM-EINER1A:4",
                                           "$LIST1:2of2d", "$PMS", "$UNKLAR", "$ORAL^", "$$EXTRA-LING-MAN"]}
    assert cats == {"HAUS1A": "lexical", "$INDEX1": "index", "$GEST^": "gesture", "$GEST-OFF^": "gesture",
                    "$GEST-NM-KOPFNICKEN1^": "gesture", "$GEST-ABWINKEN1^": "gesture", "$PROD*": "productive",
                    "$ALPHA1:W-I-N-D": "fingerspelling", "$NUM-EINER1A:4": "number", "$LIST1:2of2d": "list",
                    "$PMS": "pms", "$UNKLAR": "unclear", "$ORAL^": "oral", "$$EXTRA-LING-MAN": "extra"}
    for g in ["THEMA1*", "TAUB-GEHÖRLOS1A", "$LIST1:2of2d", "$GEST^", "MARMELADE1"]:
        assert is_gloss_token(g), g
    for w in ["Hamburg", "ICE", "1985,", "ja", "Köln."]:
        assert not is_gloss_token(w), w


# ---------------------------------------------------------------- ELAN

def test_parse_eaf_tiers_hands_dual_english_moderator(tmp_path):
    p = write(tmp_path / "1413485.eaf", eaf_document(
        sentences=[("A", 1000, 3000, "Morgen regnet es."), ("B", 3500, 5000, "Wirklich/")],
        english=[("A", 1000, 3000, "It will rain tomorrow.")],
        tokens=[("A", "r", 1100, 1400, "MORGEN1A*"), ("A", "r", 1500, 1900, "REGEN1A"), ("A", "l", 1500, 1900, "$INDEX1"),
                ("B", "r", 3600, 4000, "WIRKLICH1")],
        moderator=[(6000, 7000, "Erzählt doch mal.")]))
    pt = parse_eaf(p)
    assert pt.transcript_id == "1413485" and pt.source == "eaf" and pt.issues == []
    assert pt.raw_counts["sentences"] == 2 and pt.raw_counts["gloss_tokens"] == 4 and pt.raw_counts["moderator_lines"] == 1
    s = pt.sentences.set_index("speaker")
    assert s.loc["A", "english"] == "It will rain tomorrow." and s.loc["B", "interrupted"] and s.loc["B", "german"] == "Wirklich"
    assert s.loc["C", "german"] == "Erzählt doch mal."
    assert pt.tokens.set_index("raw_gloss").elan_type.to_dict()["MORGEN1A*"] == "MORGEN1A"   # dependent Gebärde tier
    tt = apply_rules(pt, RuleSet.default())
    assert list(tt.sentences.columns) == list(SENTENCE_COLUMNS) and list(tt.tokens.columns) == list(TOKEN_COLUMNS)
    tok = tt.tokens.set_index("raw_gloss")
    assert tok.hand.to_dict() == {"MORGEN1A*": "r", "REGEN1A": "r", "$INDEX1": "l", "WIRKLICH1": "r"}
    assert tok.dual.to_dict() == {"MORGEN1A*": False, "REGEN1A": True, "$INDEX1": True, "WIRKLICH1": False}
    assert tok.sentence_id["REGEN1A"] == "1413485:A:0" and tok.sentence_id["WIRKLICH1"] == "1413485:B:0"
    assert tok.gloss["MORGEN1A*"] == "MORGEN1A" and (tok.source == "eaf").all()
    sen = tt.sentences.set_index("sentence_id")
    assert sen.loc["1413485:C:0", "exclude_reason"] == "moderator" and not sen.loc["1413485:A:0", "excluded"]
    assert sen.loc["1413485:A:0", "n_tokens"] == 3


def test_elan_and_srt_of_the_same_transcript_agree(tmp_path):
    "The SRT's `X||Y` = (right, left) reading gives the ELAN tiers' hands; sentences and tokens agree."
    sents = [("A", 1000, 3000, "Morgen regnet es."), ("B", 3500, 5000, "Im Norden.")]
    toks = [("A", "r", 1100, 1400, "MORGEN1A*"), ("A", "r", 1500, 1900, "REGEN1A"), ("A", "l", 1500, 1900, "$INDEX1"),
            ("A", "l", 2000, 2300, "$GEST-OFF^"), ("B", "r", 3600, 4000, "NORDEN1")]
    e = write(tmp_path / "t1.eaf", eaf_document(sents, toks))
    s = write(tmp_path / "t1_de.srt", srt_text([
        (1000, 3000, ["A: Morgen regnet es."]), (1100, 1400, ["A: MORGEN1A*"]), (1500, 1900, ["A: REGEN1A||$INDEX1"]),
        (2000, 2300, ["A: ||$GEST-OFF^"]), (3500, 5000, ["B: Im Norden."]), (3600, 4000, ["B: NORDEN1"])]))
    te, ts = apply_rules(parse_eaf(e)), apply_rules(parse_srt(s))
    cols = ["sentence_id", "start_ms", "end_ms", "german", "excluded", "n_tokens"]
    pd.testing.assert_frame_equal(te.sentences[cols], ts.sentences[cols])
    cols = ["speaker", "start_ms", "end_ms", "raw_gloss", "gloss", "category", "dual", "sentence_id", "excluded"]
    key = ["start_ms", "raw_gloss"]
    pd.testing.assert_frame_equal(te.tokens[cols].sort_values(key).reset_index(drop=True), ts.tokens[cols].sort_values(key).reset_index(drop=True))
    hand = ts.tokens.set_index("raw_gloss").hand
    assert hand["REGEN1A"] == "r" and hand["$INDEX1"] == "l" and hand["$GEST-OFF^"] == "l" and pd.isna(hand["MORGEN1A*"])


# ---------------------------------------------------------------- bad input: reported with file and place, skipped, rest goes on

def test_malformed_xml_is_reported_with_file_and_line(tmp_path):
    bad = write(tmp_path / "bad.eaf", '<?xml version="1.0"?>\n<ANNOTATION_DOCUMENT>\n<TIME_ORDER>\n<TIME_SLOT TIME_SLOT_ID="ts1"\n</ANNOTATION_DOCUMENT>\n')
    pt = parse_eaf(bad)
    assert len(pt.issues) == 1 and pt.issues[0].kind == "malformed_xml" and pt.issues[0].file == str(bad)
    assert pt.issues[0].where.startswith("line 5") and pt.tokens.empty
    with pytest.raises(DataError, match=r"bad\.eaf: line 5"):
        parse_eaf(bad, strict=True)


def test_xml_entities_are_refused(tmp_path):
    evil = write(tmp_path / "evil.eaf", '<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n'
                                        '<ANNOTATION_DOCUMENT>&e;</ANNOTATION_DOCUMENT>\n')
    pt = parse_eaf(evil)
    assert [(i.kind, i.where) for i in pt.issues] == [("unsafe_xml", "line 2")]


def test_bad_elan_items_are_skipped_and_listed(tmp_path):
    doc = eaf_document([("A", 1000, 3000, "Ein Satz.")], [("A", "r", 1100, 1400, "HAUS1A"), ("A", "r", 1500, 1900, "GEHEN1")],
                       extra_tiers=["Kommentar_A"])
    doc = doc.replace('TIME_VALUE="1500"', "")                                        # unaligned slot (no value)
    doc = doc.replace('TIME_VALUE="1400"', 'TIME_VALUE="1000"')                        # end before start
    doc = doc.replace('ANNOTATION_REF="a', 'ANNOTATION_REF="zz', 1)                    # reference to no token
    pt = parse_eaf(write(tmp_path / "t2.eaf", doc))
    kinds = {i.kind: i.where for i in pt.issues}
    assert kinds["unknown_tier"] == "tier Kommentar_A"
    assert kinds["unaligned_time_slot"].startswith("tier Lexem_Gebärde_r_A, annotation a")
    assert kinds["invalid_timestamp"].startswith("tier Lexem_Gebärde_r_A, annotation a")
    assert kinds["bad_reference"].startswith("tier Gebärde_r_A, annotation")
    assert all(i.transcript_id == "t2" and i.action == "skipped" for i in pt.issues)
    assert pt.raw_counts["gloss_tokens"] == 2 and pt.tokens.empty and len(pt.sentences) == 1   # the rest is parsed


def test_bad_srt_blocks_are_skipped_with_their_line(tmp_path):
    s = write(tmp_path / "t3_de.srt", srt_text([
        (1000, 3000, ["A: Ein Satz."]), (1100, 1400, ["A: HAUS1A"]), (1500, 1900, ["A: GEHEN1"])]).replace(
        "00:00:01,500 --> 00:00:01,900", "00:00:01,500 --> 00:00:01,9X0") + "\n4\n00:00:05,000 --> 00:00:04,000\nA: KOMMEN1\n"
        "\n5\n00:00:06,000 --> 00:00:07,000\nohne Sprecher\n")
    pt = parse_srt(s)
    assert [(i.kind, i.where) for i in pt.issues] == [("invalid_timestamp", "line 10"), ("invalid_timestamp", "line 14"),
                                                      ("unlabelled_line", "line 19")]
    assert pt.tokens.raw_gloss.tolist() == ["HAUS1A"] and pt.sentences.german.tolist() == ["Ein Satz."]


def test_transcripts_table_goes_on_after_bad_files(tmp_path):
    good = write(tmp_path / "good.eaf", eaf_document([("A", 0, 2000, "Gut.")], [("A", "r", 100, 500, "GUT1")]))
    bad = write(tmp_path / "bad.eaf", "<ANNOTATION_DOCUMENT><TIER></ANNOTATION_DOCUMENT>")
    other = write(tmp_path / "notes.txt", "x")
    S, T, summ = transcripts_table([good, bad, other, tmp_path / "gone.srt"], n_jobs=1)
    assert T.raw_gloss.tolist() == ["GUT1"] and S.german.tolist() == ["Gut."]
    kinds = {(f["transcript_id"], i["kind"]) for f in summ["files"] for i in f["issues"]}
    assert kinds == {("bad", "malformed_xml"), ("notes", "unknown_file_type"), ("gone", "missing_file")}
    assert summ["totals"]["issues"] == 3 and summ["totals"]["kept_tokens"] == 1


# ---------------------------------------------------------------- SRT handling

def test_srt_multiline_blocks_duals_and_continuations(tmp_path):
    s = write(tmp_path / "t4_de.srt", srt_text([
        (1000, 3000, ["A: Wir fahren morgen", "nach Hamburg."]),                   # wrapped sentence
        (1100, 1400, ["A: FAHREN1", "B: $GEST-NM-KOPFNICKEN1^"]),                   # both informants, one span
        (1500, 1900, ["A: HAMBURG1||$INDEX1"]), (2000, 2400, ["A: MORGEN1A||"]),
        (3500, 5000, ["C: Und du?"])]))
    pt = parse_srt(s)
    assert pt.issues == [] and pt.raw_counts["multi_line_blocks"] == 2 and pt.raw_counts["gloss_tokens"] == 5
    assert pt.sentences.german.tolist() == ["Wir fahren morgen nach Hamburg.", "Und du?"]
    t = pt.tokens.set_index("raw_gloss")
    assert t.speaker["$GEST-NM-KOPFNICKEN1^"] == "B" and t.hand["HAMBURG1"] == "r" and t.hand["$INDEX1"] == "l"
    assert t.hand["MORGEN1A"] == "r" and pd.isna(t.hand["FAHREN1"])


# ---------------------------------------------------------------- thesis-spec §10 item 9

def test_item9_no_substring_false_positives_and_no_dropped_multiline_blocks(tmp_path):
    """The thesis called a line a gloss line if any type occurred in it as a substring, and dropped every block with
    more than one text line. Ours: a tokeniser; every line an item. RuleSet.thesis() reproduces the thesis."""
    types = ["ICE1", "ZUG1A", "FAHREN1", "WETTER1", "SCHÖN1A", "$GEST-NM-KOPFNICKEN1^"]
    s = write(tmp_path / "t9_de.srt", srt_text([
        (1000, 4000, ["A: Wir sind mit dem ICE1 nach Köln gefahren."]),          # contains the type ICE1
        (1100, 1500, ["A: ZUG1A"]), (1600, 2000, ["A: FAHREN1"]),
        (5000, 8000, ["A: Das Wetter war schön.", "B: $GEST-NM-KOPFNICKEN1^"]),  # two informants, one block
        (5100, 5500, ["A: WETTER1"]), (5600, 6000, ["A: SCHÖN1A"]),
        (9000, 9400, ["A: NEU1A"])]))                                           # a gloss missing from the types list
    ours = apply_rules(parse_srt(s, types), RuleSet.default())
    kept = ours.sentences[~ours.sentences.excluded]
    assert kept.german.tolist() == ["Wir sind mit dem ICE1 nach Köln gefahren.", "Das Wetter war schön."]
    assert kept.n_tokens.tolist() == [2, 2] and ours.summary["after"]["kept_sentences"] == 2
    nod = ours.tokens[ours.tokens.raw_gloss == "$GEST-NM-KOPFNICKEN1^"].iloc[0]
    assert nod.speaker == "B" and nod.exclude_reason == "category:gesture"      # parsed, then excluded by its category
    assert "NEU1A" in set(ours.tokens.raw_gloss)                               # a gloss, though not in the types list
    assert ours.tokens.equals(apply_rules(parse_srt(s), RuleSet.default()).tokens)   # types never decide for us

    th = apply_rules(parse_srt(s, types), RuleSet.thesis())
    assert th.summary["after"]["kept_sentences"] == 0                          # the thesis keeps neither sentence
    assert "Wir sind mit dem ICE1 nach Köln gefahren." in set(th.tokens.gloss)  # false positive: a sentence as a gloss
    sen = th.sentences.set_index("german")
    assert sen.exclude_reason["Das Wetter war schön."] == "thesis_dropped:multi_line_block"
    assert "NEU1A" in sen.index and "NEU1A" not in set(th.tokens.raw_gloss)   # the unknown gloss became a "sentence"
    assert by_gloss(th, "exclude_reason")["$GEST-NM-KOPFNICKEN1^"] == "thesis_dropped:multi_line_block"


# ---------------------------------------------------------------- thesis-spec §10 item 10

def test_item10_raw_times_kept_and_cap_is_a_parameter(tmp_path):
    e = write(tmp_path / "t10.eaf", eaf_document([("A", 0, 5000, "Es regnet lange.")],
                                                [("A", "r", 1000, 3600, "REGEN1A"), ("A", "r", 3700, 4000, "LANG1")]))
    pt = parse_eaf(e)
    ours = apply_rules(pt, RuleSet.default()).tokens.set_index("raw_gloss")
    assert ours.end_ms["REGEN1A"] == 3600 and ours.end_ms_capped["REGEN1A"] == 3600      # no cap by default
    capped = apply_rules(pt, RuleSet.default(cap_ms=2000)).tokens.set_index("raw_gloss")
    assert capped.end_ms["REGEN1A"] == 3600 and capped.end_ms_capped["REGEN1A"] == 3000
    assert capped.end_ms_capped["LANG1"] == 4000
    th = apply_rules(pt, RuleSet.thesis()).tokens.set_index("raw_gloss")
    assert th.end_ms_capped["REGEN1A"] == 3000            # the thesis's value, for its downstream steps
    assert th.end_ms["REGEN1A"] == 3600                   # the thesis overwrote this; we keep the raw time
    tt = apply_rules(pt, RuleSet.thesis())
    paths = write_tables(tmp_path / "out.parquet", tt.sentences, tt.tokens)
    back = pd.read_parquet(paths["tokens"]).set_index("raw_gloss")
    assert back.end_ms["REGEN1A"] == 3600 and back.end_ms_capped["REGEN1A"] == 3000
    with pytest.raises(ConfigError):
        RuleSet.default(cap_ms=-5)


# ---------------------------------------------------------------- thesis-spec §10 item 11

def _item11(tmp_path):
    sents = [("A", 1000, 3000, "Erster Satz."), ("A", 5000, 7000, "Zweiter Satz.")]
    toks = [("A", "r", 1200, 1600, "EINS1"), ("A", "r", 2900, 3800, "SPÄT1"), ("A", "r", 4800, 5400, "FRÜH1"),
            ("A", "r", 5200, 5600, "ZWEI1"), ("A", "r", 7500, 7800, "DANACH1")]
    return parse_eaf(write(tmp_path / "t11.eaf", eaf_document(sents, toks)))


def test_item11_overlap_alignment_and_unassigned_report(tmp_path):
    pt = _item11(tmp_path)
    ours = apply_rules(pt, RuleSet.default())
    sid = by_gloss(ours, "sentence_id")
    assert sid["EINS1"] == "t11:A:0" and sid["ZWEI1"] == "t11:A:1"
    assert sid["FRÜH1"] == "t11:A:1"            # starts 200 ms before the sentence, 2/3 of it inside: belongs to it
    assert pd.isna(sid["SPÄT1"])                # starts before the first sentence's end, 8/9 of it after: not the thesis's way
    u = ours.unassigned.set_index("gloss")
    assert sorted(u.index) == ["DANACH1", "SPÄT1"] and ours.summary["after"]["unassigned_tokens"] == 2
    assert u.unassigned_reason["SPÄT1"] == "below_min_overlap" and u.nearest_sentence_id["SPÄT1"] == "t11:A:0"
    assert u.unassigned_reason["DANACH1"] == "no_overlap" and u.gap_ms["DANACH1"] == 500
    assert abs(u.best_overlap["SPÄT1"] - 100 / 900) < 1e-9
    looser = apply_rules(pt, RuleSet.default(min_overlap=0.1))
    assert by_gloss(looser, "sentence_id")["SPÄT1"] == "t11:A:0"

    th = apply_rules(pt, RuleSet.thesis())       # start <= sentence end, in order
    sid = by_gloss(th, "sentence_id")
    assert sid["SPÄT1"] == "t11:A:0" and pd.isna(sid["FRÜH1"]) and sid["ZWEI1"] == "t11:A:1"
    assert by_gloss(th, "unassigned_reason")["FRÜH1"] == "after_sentence_end"


def test_item11_thesis_order_rule_and_swap_fix_on_srt(tmp_path):
    "SRT order decides for the thesis: a gloss listed before its sentence with the same timing is swapped behind it (§2.2)."
    s = write(tmp_path / "t11b_de.srt", srt_text([
        (1000, 1500, ["A: HALLO1"]), (1000, 1500, ["A: Hallo."]),          # gloss first, identical timing line
        (2000, 3000, ["A: Tschüss."]), (2100, 2500, ["A: TSCHÜSS1"])]))
    th = apply_rules(parse_srt(s, ["HALLO1", "TSCHÜSS1"]), RuleSet.thesis())
    sen = th.sentences.set_index("german")
    assert sen.start_ms["Hallo."] == 999                       # the swap fix's 1 ms
    assert by_gloss(th, "sentence_id") == {"HALLO1": sen.sentence_id["Hallo."], "TSCHÜSS1": sen.sentence_id["Tschüss."]}
    ours = apply_rules(parse_srt(s), RuleSet.default())
    assert ours.sentences.set_index("german").start_ms["Hallo."] == 1000 and ours.unassigned.empty


# ---------------------------------------------------------------- thesis-spec §10 item 12

def test_item12_prefix_category_exclusion_and_no_stray_grouping(tmp_path):
    sents = [("A", 1000, 3000, "Das Haus, na ja."), ("A", 4000, 6000, "Wir gehen und kommen.")]
    toks = [("A", "r", 1100, 1500, "HAUS1A"), ("A", "r", 1600, 2000, "$GEST-ABWINKEN1^"), ("A", "r", 2100, 2400, "$GEST^"),
            ("A", "r", 3500, 3800, "$PROD*"),                                        # stray, between the sentences
            ("A", "r", 4100, 4500, "GEHEN1"), ("A", "r", 4600, 5000, "KOMMEN1"),
            ("A", "r", 7000, 7300, "$PROD"), ("A", "r", 7400, 7600, "$ALPHA1:A")]    # after the last sentence
    pt = parse_eaf(write(tmp_path / "t12.eaf", eaf_document(sents, toks)))
    ours = apply_rules(pt, RuleSet.default())
    why = by_gloss(ours, "exclude_reason")
    assert why["$GEST-ABWINKEN1^"] == "category:gesture" and why["$GEST^"] == "category:gesture"
    sen = ours.sentences.set_index("german")
    assert not sen.excluded.any() and sen.n_tokens.tolist() == [1, 2]       # the stray $PROD decides nothing
    assert pd.isna(by_gloss(ours, "sentence_id")["$PROD*"])
    assert set(ours.unassigned.raw_gloss) == {"$PROD*", "$PROD", "$ALPHA1:A"}

    th = apply_rules(pt, RuleSet.thesis())
    why = by_gloss(th, "exclude_reason")
    assert pd.isna(why["$GEST-ABWINKEN1^"]) and why["$GEST^"] == "exact:$GEST"   # exact equality: the subtype survives
    sen = th.sentences.set_index("german")
    assert not sen.excluded["Das Haus, na ja."] and sen.n_tokens["Das Haus, na ja."] == 2
    assert sen.exclude_reason["Wir gehen und kommen."] == "stray:$PROD"      # a stray gloss dropped the next sentence
    assert why["$PROD*"] == "thesis_group_dropped"
    assert why["$PROD"] == "individual_exact:$PROD" and pd.isna(why["$ALPHA1:A"])   # trailing entries: exact list only


def test_item12_sentence_categories_inside_a_sentence(tmp_path):
    sents = [("A", 1000, 3000, "Ich heiße Anna."), ("A", 4000, 6000, "Er malt.")]
    toks = [("A", "r", 1100, 1500, "ICH1"), ("A", "r", 1600, 2500, "$ALPHA1:A-N-N-A"),
            ("A", "r", 4100, 4500, "$INDEX1"), ("A", "r", 4600, 5000, "$PROD*")]
    pt = parse_eaf(write(tmp_path / "t12b.eaf", eaf_document(sents, toks)))
    ours = apply_rules(pt, RuleSet.default()).sentences.set_index("german").exclude_reason
    th = apply_rules(pt, RuleSet.thesis()).sentences.set_index("german").exclude_reason
    assert ours.to_dict() == {"Ich heiße Anna.": "category:fingerspelling", "Er malt.": "category:productive"}
    assert th.to_dict() == {"Ich heiße Anna.": "prefix:$ALPHA", "Er malt.": "exact:$PROD"}


# ---------------------------------------------------------------- CLI, outputs, executors

def _two_files(tmp_path):
    e = write(tmp_path / "cli1.eaf", eaf_document(
        [("A", 1000, 3000, "Morgen regnet es."), ("B", 3500, 5000, "Schade.")],
        [("A", "r", 1100, 1400, "MORGEN1A*"), ("A", "r", 1500, 1900, "REGEN1A"), ("A", "l", 1500, 1900, "$INDEX1"),
         ("A", "r", 2000, 2300, "$GEST^"), ("B", "r", 3600, 4000, "SCHADE1"), ("B", "r", 6000, 6300, "$GEST-OFF^")]))
    s = write(tmp_path / "cli2_de.srt", srt_text([
        (1000, 3000, ["A: Es ist kalt."]), (1100, 1400, ["A: KALT1"]), (1500, 1900, ["A: $PROD"]),
        (3500, 5000, ["B: Ja.", "A: $GEST-NM-KOPFNICKEN1^"]), (3600, 4000, ["B: JA1"])]))
    return e, s


def test_cli_json_summary_counts(tmp_path):
    e, s = _two_files(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = run_command("transcripts", [str(e), str(s), "--out", str(tmp_path / "o" / "tab.parquet"), "--json-summary",
                                         "--n-jobs", "1"])
    assert rc == 0
    summ = json.loads(out.getvalue())
    f = {x["transcript_id"]: x for x in summ["files"]}
    assert f["cli1"]["raw"]["sentences"] == 2 and f["cli1"]["raw"]["gloss_tokens"] == 6
    assert f["cli1"]["after"]["kept_sentences"] == 2 and f["cli1"]["after"]["kept_tokens"] == 4
    assert f["cli1"]["after"]["unassigned_tokens"] == 1 and f["cli1"]["after"]["tokens_by_reason"] == {"category:gesture": 2}
    assert f["cli2"]["raw"]["sentences"] == 2 and f["cli2"]["raw"]["gloss_tokens"] == 4
    assert f["cli2"]["after"]["kept_sentences"] == 1 and f["cli2"]["after"]["sentences_by_reason"] == {"category:productive": 1}
    assert summ["totals"]["kept_tokens"] == 5 and summ["rules"]["name"] == "default"
    toks = pd.read_parquet(tmp_path / "o" / "tab.parquet")
    sents = pd.read_parquet(tmp_path / "o" / "tab.sentences.parquet")
    assert list(toks.columns) == list(TOKEN_COLUMNS) and list(sents.columns) == list(SENTENCE_COLUMNS) and len(toks) == 10
    assert json.loads((tmp_path / "o" / "tab.summary.json").read_text()) == summ
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["tab.parquet", "tab.sentences.parquet", "tab.summary.json"]

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = run_command("transcripts", [str(s), "--out", str(tmp_path / "th.parquet"), "--json-summary", "--rules",
                                         "thesis", "--n-jobs", "1"])
    th = json.loads(out.getvalue())
    assert rc == 0 and th["rules"]["cap_ms"] == 2000 and th["files"][0]["after"]["kept_sentences"] == 0
    assert th["files"][0]["issues"][0]["kind"] == "no_types_list"

    bad = write(tmp_path / "bad.eaf", "<ANNOTATION_DOCUMENT>")
    with contextlib.redirect_stdout(io.StringIO()):
        assert run_command("transcripts", [str(bad), "--out", str(tmp_path / "bad.parquet"), "--n-jobs", "1"]) == 1


def test_process_pool_and_dask_give_the_same_tables(tmp_path):
    distributed = pytest.importorskip("distributed")
    e, s = _two_files(tmp_path)
    e2 = write(tmp_path / "cli3.eaf", eaf_document([("A", 0, 900, "Kurz.")], [("A", "r", 100, 400, "KURZ1")]))
    files = [e, s, e2]
    inline = transcripts_table(files, n_jobs=1)
    pool = transcripts_table(files, n_jobs=2)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        dask = transcripts_table(files, executor="dask", scheduler=client)
    for a, b in ((inline, pool), (inline, dask)):
        pd.testing.assert_frame_equal(a[0], b[0])
        pd.testing.assert_frame_equal(a[1], b[1])
        assert a[2] == b[2]
    assert len(inline[1]) == 11 and inline[1].transcript_id.unique().tolist() == ["cli1", "cli2", "cli3"]


def test_prefer_and_english_srt_pairing(tmp_path):
    e, _ = _two_files(tmp_path)
    de = write(tmp_path / "cli1_de.srt", srt_text([(1000, 3000, ["A: Morgen regnet es."]), (1100, 1400, ["A: MORGEN1A*"])]))
    en = write(tmp_path / "cli1_en.srt", srt_text([(1000, 3000, ["A: It will rain tomorrow."]), (1100, 1400, ["A: MORGEN1A*"])]))
    S, T, summ = transcripts_table([e, de, en], n_jobs=1)
    assert set(T.source) == {"eaf"} and sorted(Path(p).name for p in summ["files"][0]["unused_files"]) == ["cli1_de.srt", "cli1_en.srt"]
    S, T, summ = transcripts_table([e, de, en], n_jobs=1, prefer="srt")
    assert set(T.source) == {"srt"} and S.english.tolist() == ["It will rain tomorrow."] and S.german.tolist() == ["Morgen regnet es."]


def test_load_types_from_the_portal_page(tmp_path):
    page = write(tmp_path / "types_de.html", '<html><body><div class="textWrapper"><p id="type1"><a href="#">HAUS1A</a> (12)</p>'
                                             '<p><a href="#">$GEST-ABWINKEN1^</a> (3)</p></div></body></html>')
    assert load_types(page) == ["$GEST-ABWINKEN1^", "HAUS1A"]
    assert load_types(write(tmp_path / "types.txt", "# types\nHAUS1A\n\nREGEN1A\n")) == ["HAUS1A", "REGEN1A"]


def test_ruleset_validation():
    with pytest.raises(ConfigError, match="alignment"):
        RuleSet.default(alignment="nearest")
    with pytest.raises(ConfigError, match="categories"):
        RuleSet.default(exclude_token_categories={"gestures"})
    with pytest.raises(ConfigError, match="rules"):
        RuleSet.named("mine")
    assert RuleSet.thesis().exclude_token_exact == {"$GEST", "$GEST-NM", "$GEST-OFF", "$$EXTRA-LING-MAN", "$PMS", "$UNKLAR"}
