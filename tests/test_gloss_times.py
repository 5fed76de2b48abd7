"""Tests of t2g2p2s.gloss_times: the §3.1 definitions exactly, and thesis-spec §10 item 15 (type keys vs full-gloss
dictionary -> qualifier glosses get 0; medians with structural zeros), each shown to fail on the thesis's tables."""
import numpy as np
import pandas as pd
import pytest

from t2g2p2s.gloss_times import (GLOBAL_KEY, THESIS_COLUMNS, gloss_time_metrics, gloss_time_table, lookup_times,
                                 overall_summary, thesis_evaluated, thesis_frame_interpolation_table, type_key,
                                 write_gloss_times)


def tok(tid, spk, hand, gloss, a, b, sid, raw=None, reason=None):
    return dict(transcript_id=tid, speaker=spk, hand=hand, start_ms=a, end_ms=b, raw_gloss=raw or gloss,
                gloss=gloss.replace("*", "").replace("^", ""), sentence_id=sid, token_id=f"{tid}:{spk}:{a}:{hand}",
                excluded=reason is not None, exclude_reason=reason)


def frame(rows):
    df = pd.DataFrame(rows)
    for c in ("transcript_id", "speaker", "hand", "raw_gloss", "gloss", "sentence_id", "token_id", "exclude_reason"):
        df[c] = df[c].astype("string")
    return df


def test_type_key():
    assert type_key("$NUM-EINER1A:4d*") == "$NUM-EINER1A" and type_key("HAUS1A^") == "HAUS1A" and type_key(" X1 ") == "X1"


def test_definitions_exactly():
    """§3.1 on one informant: main set with a dual slot, a capped duration, a gesture that does not count,
    an overlap (IGT clipped at 0), a lost gloss, a block before the first sentence, and a one-block sentence."""
    rows = [tok("T", "A", "r", "VORHER1", 100, 300, None),                     # before the first sentence: main ("pre" set)
            tok("T", "A", "r", "VORHER2", 500, 600, None),
            tok("T", "A", "r", "HAUS1A", 1000, 1200, "S1", raw="HAUS1A*"),
            tok("T", "A", "r", "$NUM-EINER1A:4", 1300, 1500, "S1"),
            tok("T", "A", "l", "$INDEX1", 1300, 1500, "S1"),
            tok("T", "A", "r", "$GEST-OFF", 1550, 1700, "S1", raw="$GEST-OFF^"),
            tok("T", "A", "r", "WETTER1", 1450, 4300, "S1"),                      # overlaps the previous slot; 2850 ms
            tok("T", "A", "r", "$INDEX1", 4600, 4800, None),                     # lost
            tok("T", "A", "r", "ALLEIN1", 6000, 6300, "S2"),
            tok("T", "C", "r", "MOD1", 1000, 1100, None, reason="moderator")]
    sents = pd.DataFrame([dict(transcript_id="T", speaker="A", sentence_id="S1", start_ms=950, end_ms=4400),
                          dict(transcript_id="T", speaker="A", sentence_id="S2", start_ms=5900, end_ms=6400)])
    m = gloss_time_metrics(frame(rows), sents, "thesis").set_index("token_id")
    assert list(m.columns[:12]) == THESIS_COLUMNS and "MOD1" not in set(m.gloss) and "$GEST-OFF" not in set(m.gloss)
    # block indices: 1 VORHER1, 2 VORHER2, 3 S1, 4 HAUS, 5 NUM, 6 INDEX, 7 WETTER, 8 GEST, 9 lost INDEX, 10 S2, 11 ALLEIN
    bi = dict(zip(m.gloss + "@" + m.start_ms.astype(str), m.block_index))
    assert bi == {"VORHER1@100": 1, "VORHER2@500": 2, "HAUS1A@1000": 4, "$NUM-EINER1A@1300": 5, "$INDEX1@1300": 6,
                  "WETTER1@1450": 7, "$INDEX1@4600": 9, "ALLEIN1@6000": 11}
    r = m.loc["T:A:100:r"]; assert (r.igt, r.ogt, r.lost) == (0, 200, False)           # pre set is main
    r = m.loc["T:A:500:r"]; assert (r.igt, r.ogt, r.tgt_index) == (200, 0, "IGT:1-2 | OGT:None")
    r = m.loc["T:A:1000:r"]; assert (r.gloss, r.gd, r.igt, r.ogt, r.tgt) == ("HAUS1A", 200, 0, 100, 300)
    assert pd.isna(r.igt_index) and (r.ogt_index, r.tgt_index) == ("index:4-5", "IGT:None | OGT:4-5")
    for k in ("T:A:1300:r", "T:A:1300:l"):                                            # the dual slot
        r = m.loc[k]; assert (r.gd, r.igt, r.ogt) == (200, 100, 0)                    # next slot starts before this ends
    assert m.loc["T:A:1300:r"].gloss == "$NUM-EINER1A"                                # thesis key = type
    r = m.loc["T:A:1450:r"]; assert (r.gd, r.igt, r.ogt, r.tgt, r.igt_index) == (2000, 0, 0, 2000, "index:5-7")
    r = m.loc["T:A:4600:r"]; assert (r.igt, r.ogt, r.tgt, r.lost, r.tgt_index) == (0, 0, 200, True, "9")
    r = m.loc["T:A:6000:r"]; assert (r.igt, r.ogt, r.tgt, r.lost, r.tgt_index) == (0, 0, 300, False, "11")
    assert (m.tgt == m.igt + m.gd + m.ogt).all()
    imp = gloss_time_metrics(frame(rows), sents, "improved").set_index("token_id")
    assert imp.loc["T:A:1450:r", "gd"] == 2850 and imp.loc["T:A:1300:r", "gloss"] == "$NUM-EINER1A:4"
    assert imp.loc["T:A:100:r", "lost"] and imp.loc["T:A:100:r", "igt_structural"]    # improved: unassigned = lost
    assert not imp.loc["T:A:1300:r", "igt_structural"] and imp.loc["T:A:1300:r", "ogt_structural"] == False


def test_types_filter_and_thesis_exclusions():
    rows = [tok("T", "A", "r", g, 1000 + 300 * i, 1200 + 300 * i, "S1") for i, g in
            enumerate(["HAUS1A", "$PROD", "$ORAL^", "$ALPHA1:A-B", "$GEST-NM", "$GEST-ABWINKEN1", "NEU1"])]
    sents = pd.DataFrame([dict(transcript_id="T", speaker="A", sentence_id="S1", start_ms=900, end_ms=4000)])
    m = gloss_time_metrics(frame(rows), sents, "thesis")
    assert list(m.gloss) == ["HAUS1A", "$GEST-ABWINKEN1", "NEU1"]                 # exact set minus, $ORAL/$ALPHA contained
    assert list(gloss_time_metrics(frame(rows), sents, "thesis", types=["HAUS1A^", "NEU1"]).gloss) == ["HAUS1A", "NEU1"]
    assert list(gloss_time_metrics(frame(rows), sents, "improved").gloss) == ["HAUS1A", "NEU1"]   # prefixes: all subtypes


def corpus_item15():
    """Sentences where $NUM-EINER1A:4 sits in the middle, ERST1 always opens the sentence (IGT structurally 0) and
    MITTE1 opens half of them and sits in the middle of the other half, always 100 ms after its predecessor."""
    rows, sents = [], []
    for k in range(6):
        tid, sid, t0 = f"T{k}", f"T{k}:A:0", 1000
        seq = ["ERST1", "$NUM-EINER1A:4", "MITTE1"] if k % 2 else ["MITTE1", "ERST1", "$NUM-EINER1A:4", "ENDE1"]
        t = t0
        for g in seq:
            rows.append(tok(tid, "A", "r", g, t, t + 200, sid)); t += 300
        sents.append(dict(transcript_id=tid, speaker="A", sentence_id=sid, start_ms=t0 - 50, end_ms=t))
    return frame(rows), pd.DataFrame(sents)


def test_item15_full_gloss_keys_with_fallback():
    "The thesis's join keyed by type gives $NUM-EINER1A:4 zero times; the improved table keys by full gloss."
    toks, sents = corpus_item15()
    thesis = gloss_time_metrics(toks, sents, "thesis")
    dictionary = ["$NUM-EINER1A:4", "ERST1", "MITTE1", "ENDE1"]
    th = thesis_frame_interpolation_table(thesis, dictionary).set_index("gloss")
    assert (th.loc["$NUM-EINER1A:4"] == 0).all()                                     # thesis: 0 -> no stretching, default transitions
    table = gloss_time_table(gloss_time_metrics(toks, sents, "improved"))
    gd, igt, ogt, level = lookup_times(table, "$NUM-EINER1A:4")
    assert (gd, igt, level) == (200, 100, "gloss") and ogt == 100
    assert lookup_times(table, "$NUM-EINER1A:7")[3] == "type" and lookup_times(table, "$NUM-EINER1A:7")[0] == 200
    assert lookup_times(table, "NIE1")[3] == "global"
    assert set(table.key_level) == {"gloss", "type", "global"} and (table.gloss == GLOBAL_KEY).sum() == 1


def test_item15_structural_zeros_excluded():
    "Medians with the definition's own zeros (thesis) vs without (improved)."
    toks, sents = corpus_item15()
    thesis = thesis_evaluated(gloss_time_metrics(toks, sents, "thesis")).set_index("gloss")
    assert thesis.loc["MITTE1", "median_igt"] == 50                                   # three 0s and three 100s
    table = gloss_time_table(gloss_time_metrics(toks, sents, "improved")).set_index(["key_level", "gloss"])
    assert table.loc[("gloss", "MITTE1"), "median_igt_ms"] == 100 and table.loc[("gloss", "MITTE1"), "n_igt"] == 3
    assert table.loc[("gloss", "ENDE1"), "n_ogt"] == 0 and np.isnan(table.loc[("gloss", "ENDE1"), "median_ogt_ms"])
    t = table.reset_index()
    gd, igt, ogt, level = lookup_times(t, "ENDE1")                                      # OGT from the global row, not 0
    assert ogt == 100 and level == "global"


def test_overall_summary_and_write(tmp_path):
    toks, sents = corpus_item15()
    thesis, imp = gloss_time_metrics(toks, sents, "thesis"), gloss_time_metrics(toks, sents, "improved")
    s_th, s_im = overall_summary(thesis), overall_summary(imp, exclude_structural=True)
    assert s_th.loc["IGT", "mean"] < s_im.loc["IGT", "mean"] == 100 and s_th.loc["GD", "median_frames"] == 10
    paths = write_gloss_times(tmp_path, thesis, gloss_time_table(imp), ["$NUM-EINER1A:4"], imp, {"notebook": "test"})
    assert list(pd.read_csv(paths["raw_gloss_time_metrics.csv"]).columns) == THESIS_COLUMNS
    assert list(pd.read_csv(paths["thesis_gloss_times_for_frame_interpolation.csv"]).columns) == ["gloss", "median_igt", "median_ogt", "median_gd"]
    gt = pd.read_csv(paths["gloss_times.csv"], keep_default_na=False, na_values=[""])
    assert {"gloss", "key_level", "n", "median_gd_ms", "median_igt_ms", "median_ogt_ms", "mean_gd_ms", "std_igt_ms", "q75_ogt_ms"} <= set(gt.columns)
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())


def test_bad_mode():
    toks, sents = corpus_item15()
    with pytest.raises(ValueError, match="mode"): gloss_time_metrics(toks, sents, "median")
