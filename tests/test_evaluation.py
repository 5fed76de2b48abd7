"""Tests of t2g2p2s.evaluation: held-out rules for lexicon entries and gloss times, sentence rebuilding without own
instances, comparison with real signing, summaries, the back-translation recogniser and scores, realism against real
signing (with notebook 01d's realism score and report) and the `evaluate` CLI. Everything runs on a small synthetic
lexicon with sentences in tmp_path. The human-evaluation kit is tested in test_human_evaluation.py."""
import contextlib
import io
import json
import math

import numpy as np
import pandas as pd
import pytest

from t2g2p2s.core import ConfigError, DataError
from t2g2p2s.evaluation import (
    PRE_REALISM, REAL, GlossRecogniser, HeldOutTimes, RecogniserConfig, Variant, choose_defaults, compare_to_real,
    gloss_scores, held_out_rows, improved_times, kept_sentences, own_entries, paired_comparison, realism_set,
    realism_table, rebuild_sentence, search_fields, stitched_vs_real, summarise_stitched, thesis_times,
    train_recogniser, transcript_folds)
from t2g2p2s.pose_metrics import realism_features, realism_report, realism_score, speed_spectrum_centroid
from t2g2p2s.assembly import AssemblyConfig, GlossTimes, butterworth_smooth
from t2g2p2s.gloss_times import gloss_time_table
from t2g2p2s.lexicon import Lexicon, LexiconWriter
from t2g2p2s.poses import OPENPOSE_137, Pose, write_pose_file

W, H, FPS = 640, 360, 50.0
GLOSSES = ["WETTER1", "REGEN1", "SONNE1A", "WIND3A", "KALT2A"]


def sign(g: int, T: int, seed: int = 0, amp: float = 1.0) -> np.ndarray:
    """(T, 137, 3) pixel frames of an upper body; the right wrist draws a figure that depends on the gloss index `g`
    (direction and curvature), the hands follow the wrists, the face is absent."""
    rng = np.random.default_rng(seed)
    d = np.zeros((T, 137, 3), np.float32)
    body = {0: (320, 100), 1: (320, 150), 2: (280, 155), 3: (265, 215), 5: (360, 155), 6: (375, 215), 8: (320, 300)}
    for i, (x, y) in body.items(): d[:, i] = (x, y, 0.9)
    s = np.linspace(0, 1, T)
    ang = 2 * np.pi * g / len(GLOSSES)
    r = 45 * amp * s
    d[:, 4, 0] = 250 + r * np.cos(ang) + 12 * np.sin(np.pi * s * (1 + g))
    d[:, 4, 1] = 240 - r * np.sin(ang)
    d[:, 7] = (390, 250, 0.9)
    d[:, 4, 2] = 0.9
    for off, w in ((95, 7), (116, 4)):
        k = np.arange(21)
        d[:, off:off + 21, 0] = d[:, w, 0:1] + (k % 5) * 3 + (g if w == 4 else 0)
        d[:, off:off + 21, 1] = d[:, w, 1:2] + (k // 5) * 3 + 5
        d[:, off:off + 21, 2] = 0.8
    d[..., :2] += rng.normal(0, 0.4, d[..., :2].shape).astype(np.float32)
    d[d[..., 2] == 0] = 0
    return d


def rest(T: int, seed: int = 0) -> np.ndarray:
    d = sign(0, T, seed, amp=0.0)
    d[:, 4, :2] = (250, 240)
    return d


#: sentences: id -> (transcript, glosses); the glosses of s0 also occur in t1, DRUCK only in s0
SENTENCES = {"t0:A:0": ("t0", [0, 1, 2]), "t1:A:0": ("t1", [1, 3, 4]), "t1:A:1": ("t1", [0, 2, 3])}


@pytest.fixture(scope="module")
def lex(tmp_path_factory) -> Lexicon:
    folder = tmp_path_factory.mktemp("lex") / "lexicon"
    with LexiconWriter(folder, top_k=3) as w:
        for sid, (tid, gs) in SENTENCES.items():
            start = 1000 * (int(sid[-1]) + 1) * 4
            parts, g_start, g_end, t = [rest(6, 1)], [], [], start + 6 * 20
            for k, g in enumerate(gs):
                T = 14 + 2 * g
                a = sign(g, T, seed=100 * list(SENTENCES).index(sid) + k)
                g_start.append(t); g_end.append(t + T * 20)
                w.add(a, GLOSSES[g], quality=0.9 - 0.01 * k, fps=FPS, width=W, height=H, type=GLOSSES[g], transcript_id=tid,
                      speaker="A", camera="a1", hand="r", token_id=f"{sid}:{k}", start_ms=t, end_ms=t + T * 20)
                parts += [a, rest(5, k)]
                t += (T + 5) * 20
            frames = np.concatenate(parts)
            w.add_sentence(frames, sid, transcript_id=tid, speaker="A", camera="a1", german=f"Satz {sid}",
                           glosses=[GLOSSES[g] for g in gs], gloss_hands=["r"] * len(gs), gloss_start_ms=g_start,
                           gloss_end_ms=g_end, start_ms=start, end_ms=start + len(frames) * 20, first_frame=start // 20,
                           fps=FPS, width=W, height=H)
        w.add(sign(4, 12, 99), "DRUCK1", quality=0.5, fps=FPS, width=W, height=H, type="DRUCK1", transcript_id="t0",
              speaker="A", camera="a1", hand="r", token_id="x", start_ms=4200, end_ms=4440)
    return Lexicon.open(folder)


def metrics_table(lex: Lexicon) -> pd.DataFrame:
    "Per-occurrence gloss-time metrics (notebook 06's improved columns) of every lexicon entry."
    ix = lex.index
    n = len(ix)
    rng = np.random.default_rng(0)
    return pd.DataFrame({"gloss": ix.gloss.astype(str), "type": ix.type.astype(str), "gd": (ix.end_ms - ix.start_ms).astype(float),
                         "igt": rng.integers(0, 300, n).astype(float), "ogt": rng.integers(0, 300, n).astype(float),
                         "tgt": 0.0, "igt_structural": np.arange(n) % 4 == 0, "ogt_structural": np.arange(n) % 5 == 0,
                         "transcript_id": ix.transcript_id.astype(str), "start_ms": ix.start_ms, "end_ms": ix.end_ms})


@pytest.fixture(scope="module")
def held(lex) -> HeldOutTimes:
    m = metrics_table(lex)
    m["tgt"] = m.igt + m.gd + m.ogt
    return HeldOutTimes(m, m.copy(), lex.glosses)


# ------------------------------------------------------------------ held-out rules and gloss times

def test_held_out_rows_rules():
    t = pd.DataFrame({"transcript_id": ["a", "a", "a", "b"], "start_ms": [0, 900, 2000, 0], "end_ms": [100, 1100, 2100, 5000]})
    assert held_out_rows(t, "a", 1000, 2000, "sentence").tolist() == [False, True, False, False]
    assert held_out_rows(t, "a", 1000, 2000, "transcript").tolist() == [True, True, True, False]
    assert not held_out_rows(t, "a", 1000, 2000, "none").any()
    with pytest.raises(ConfigError, match="exclude"):
        held_out_rows(t, "a", 0, 1, "speaker")


def test_own_entries_are_the_sentence_instances(lex):
    row = next(r for r in lex.sentences.itertuples(index=False) if r.sentence_id == "t0:A:0")
    own = own_entries(lex, row)
    assert sorted(lex.index.gloss[own]) == sorted([GLOSSES[g] for g in SENTENCES["t0:A:0"][1]] + ["DRUCK1"])
    assert set(lex.index.transcript_id[own]) == {"t0"}
    assert set(own) <= set(own_entries(lex, row, "transcript"))


def test_improved_times_equal_notebook06_table(lex):
    m = metrics_table(lex)
    m["tgt"] = m.igt + m.gd + m.ogt
    fast, ref = improved_times(m), GlossTimes.from_table(gloss_time_table(m))
    assert set(fast.gloss) == set(ref.gloss) and set(fast.by_type) == set(ref.by_type)
    for k in ref.gloss: assert np.allclose(fast.gloss[k], ref.gloss[k], equal_nan=True), k
    assert np.allclose(fast.overall, ref.overall)
    with pytest.raises(DataError, match="lack"):
        improved_times(m.drop(columns="igt_structural"))


def test_thesis_times_fill_missing_glosses_with_zero(lex):
    m = metrics_table(lex)
    t = thesis_times(m[m.gloss != "WIND3A"], lex.glosses)
    assert t.thesis and t.gloss["WIND3A"] == (0.0, 0.0, 0.0)
    assert t.gloss["REGEN1"][0] == float(m[m.gloss == "REGEN1"].gd.median())


def test_held_out_times_drop_only_the_sentence(held, lex):
    row = next(r for r in lex.sentences.itertuples(index=False) if r.sentence_id == "t0:A:0")
    full, ho = held.for_sentence(), held.for_sentence(row.transcript_id, row.start_ms, row.end_ms)
    assert "DRUCK1" in full["ours"].gloss and "DRUCK1" not in ho["ours"].gloss     # only in t0, inside the sentence span
    assert ho["ours"].gloss["WIND3A"] == full["ours"].gloss["WIND3A"]              # not in the sentence
    assert ho["ours"].gloss["REGEN1"] != full["ours"].gloss["REGEN1"]


# ------------------------------------------------------------------ rebuilding and comparing

def test_rebuild_never_uses_own_instances(lex, held):
    row = next(r for r in lex.sentences.itertuples(index=False) if r.sentence_id == "t0:A:0")
    rb = rebuild_sentence(lex, row, held)
    assert rb.coverage == 1 and set(rb.translations) == {"thesis", "ours"}
    used = {r["entry_id"] for tr in rb.translations.values() for r in tr.segments if r["kind"] == "sign"}
    assert used and not used & set(rb.held_out)
    assert set(lex.index.transcript_id[sorted(used)]) == {"t1"}
    rb_all = rebuild_sentence(lex, row, held, rule="none")
    assert {r["entry_id"] for r in rb_all.translations["ours"].segments if r["kind"] == "sign"} & set(rb.held_out)


def test_rebuild_counts_what_cannot_be_matched(lex, held):
    row = next(r for r in lex.sentences.itertuples(index=False) if r.sentence_id == "t1:A:0")
    rb = rebuild_sentence(lex, row, held, rule="transcript")                       # t1 out: WIND3A, KALT2A exist only there
    assert rb.n_matched == 1 and math.isclose(rb.coverage, 1 / 3)
    assert [m.method for m in rb.matches] == ["exact", "unknown", "unknown"]


def test_compare_to_real_of_itself(lex):
    real = lex.sentence_pose("t0:A:0")
    c = compare_to_real(real, real)
    assert c["dtw_mje"] == 0 and c["duration_ratio"] == 1
    for k in ("sparc_wrists", "ldlj_wrists", "msj_wrists", "ldlj_hands", "msj_hands"): assert math.isfinite(c[k]), k
    slow = Pose(np.repeat(real.data, 2, axis=0), OPENPOSE_137, real.fps, real.width, real.height)
    c2 = compare_to_real(slow, real)
    assert c2["duration_ratio"] == 2 and 0 <= c2["dtw_mje"] < 0.05


def test_stitched_vs_real_summary_and_paired(lex, held):
    res = stitched_vs_real(lex, held, keep_poses=True)
    t = res.table
    assert set(t.variant) == {REAL, "thesis", "ours"} and len(t) == 3 * len(lex.sentences)
    assert (t[t.variant == REAL].dtw_mje == 0).all() and (t[t.variant != REAL].dtw_mje > 0).all()
    keep = kept_sentences(t, 0.75)
    assert keep == sorted(t.sentence_id[(t.variant == "ours") & (t.coverage >= 0.75)].unique())
    summ = summarise_stitched(t, 0.75)
    assert list(summ.index) == [REAL, "thesis", "ours"] and (summ.sentences == len(keep)).all()
    pc = paired_comparison(t, "ours", "thesis", 0.75)
    assert {"dtw_mje", "msj_wrists"} <= set(pc.index) and pc["share ours better"].between(0, 1).all()
    sid, variant = next(iter(res.poses))
    pose, spans = res.poses[(sid, variant)]
    assert all(0 <= a < b <= pose.n_frames for a, b, _ in spans)


# ------------------------------------------------------------------ back-translation

def test_recogniser_learns_distinct_signs(tmp_path):
    inst = [(GLOSSES[g], Pose(sign(g, 16 + k, seed=10 * g + k), OPENPOSE_137, FPS, W, H)) for g in range(4) for k in range(3)]
    cfg = RecogniserConfig(n_aug=12, epochs=25, seed=1, hidden=64)
    rec = train_recogniser(inst, (), cfg)
    assert rec.vocab == sorted(GLOSSES[:4])
    test = [(GLOSSES[g], Pose(sign(g, 18, seed=500 + g), OPENPOSE_137, FPS, W, H)) for g in range(4)]
    got = [rec.classify(p, [(0, p.n_frames)])[0] for _, p in test]
    assert got == [g for g, _ in test]
    seq = Pose(np.concatenate([test[0][1].data, test[2][1].data]), OPENPOSE_137, FPS, W, H)
    assert rec.classify(seq, [(0, 18, "a"), (18, 36, "b")]) == [test[0][0], test[2][0]]
    assert all(g in rec.vocab for g in rec.decode(seq))
    assert rec.decode(seq.slice(0, 0)) == []                     # an empty pose has nothing to recognise
    rec.save(tmp_path / "rec")
    rec.save(tmp_path / "rec2")
    assert (tmp_path / "rec" / "recogniser.pt").read_bytes() == (tmp_path / "rec2" / "recogniser.pt").read_bytes()
    back = GlossRecogniser.load(tmp_path / "rec")
    assert back.vocab == rec.vocab and back.classify(seq, [(0, 18)]) == rec.classify(seq, [(0, 18)])
    with pytest.raises(ConfigError):
        train_recogniser([], ())


def test_gloss_scores():
    s = gloss_scores([["A", "B", "C", "D"]], [["A", "B", "C", "D"]])
    assert s["wer"] == 0 and math.isclose(s["bleu"], 100) and s["n"] == 1
    assert math.isclose(gloss_scores([["A", "B", "C", "D"]], [["A", "B", "D"]])["wer"], 25)
    assert gloss_scores([["A", "B"]], [[]])["wer"] == 100
    with pytest.raises(ConfigError):
        gloss_scores([["A"]], [])


def test_transcript_folds():
    f = transcript_folds([f"t{i}" for i in range(7)], 3, seed=4)
    assert sorted(np.bincount(list(f.values()))) == [2, 2, 3]
    assert f == transcript_folds([f"t{i}" for i in reversed(range(7))], 3, seed=4)
    assert set(transcript_folds(["a", "b"], 0).values()) == {0}


# ------------------------------------------------------------------ CLI

def run(*args):
    "`t2g2p2s evaluate ARGS` through the top-level command line (the group spans notebooks 01d and 10)."
    from t2g2p2s.pipeline import main
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf): rc = main(["evaluate", *[str(a) for a in args]])
    return rc, buf.getvalue()


def test_cli_delegates_pose_metrics(tmp_path, lex):
    p = tmp_path / "s.pose"
    write_pose_file(lex.sentence_pose("t0:A:0"), p)
    rc, out = run("smoothness", p, "--group", "wrists", "--json")
    assert rc == 0 and math.isfinite(json.loads(out)["ldlj"])
    rc, out = run("dtw", p, p, "--normalised", "--json")
    assert rc == 0 and json.loads(out)["dtw_mje"] == 0
    with contextlib.redirect_stderr(io.StringIO()) as err: rc, _ = run("stitched", "--exclude", "speaker")
    assert rc == 2 and "speaker" in err.getvalue()


# ------------------------------------------------------------------ realism against real signing


def real_sentence(k: int) -> Pose:
    "A seeded 'real' sentence: rest, three signs with rests between them (the synthetic signing of this file)."
    rng = np.random.default_rng(k)
    parts = [rest(6, k)]
    for g in rng.integers(0, len(GLOSSES), 3):
        parts += [sign(int(g), int(rng.integers(12, 22)), seed=1000 * k + int(g)), rest(5, k + 7)]
    return Pose(np.concatenate(parts), OPENPOSE_137, FPS, W, H)


@pytest.fixture(scope="module")
def reals() -> list[Pose]:
    return [real_sentence(k) for k in range(12)]


def features(poses) -> pd.DataFrame:
    return pd.DataFrame([realism_features(p) for p in poses])


def test_realism_features_and_span_timing(reals):
    f = realism_features(reals[0], [(6, 20, "A"), (25, 40, "B")])
    assert {"log_msj_wrists", "sparc_hands", "log_speed_wrists", "speed_hz_hands"} <= set(f)
    assert math.isnan(f["log_msj_face"])                                          # no face in these poses
    assert math.isclose(f["transition_share"], 5 / 34) and math.isclose(f["log_sign_seconds"], math.log10(34 / 50 / 2))
    smooth = Pose(butterworth_smooth(reals[0].data, FPS, 2.0), OPENPOSE_137, FPS, W, H)
    assert speed_spectrum_centroid(smooth) < speed_spectrum_centroid(reals[0])


def test_realism_of_real_signing_is_the_floor_and_deterministic(reals):
    R = features(reals)
    floor = realism_score(R, R)
    again = realism_score(features(reals), features(reals))
    assert again.score == floor.score and np.array_equal(again.splits, floor.splits)      # identical inputs
    assert floor.range[0] <= floor.score <= floor.range[1] and list(floor.groups.index) == ["wrists", "hands"]
    assert (floor.in_iqr > 0).all() and (floor.in_iqr < 1).all()
    rep = realism_report(reals, reals, paired=True)
    assert rep["score"] == rep["floor"] and rep["dtw_mje"] == [0.0] * len(reals) and rep["inside_real_range"]


def test_oversmoothed_and_jittered_real_signing_score_worse(reals):
    R = features(reals)
    floor = realism_score(R, R)
    smooth = [Pose(butterworth_smooth(p.data, FPS, 2.0), OPENPOSE_137, FPS, W, H) for p in reals]
    rng = np.random.default_rng(5)
    jitter = [Pose(p.data + np.concatenate([rng.normal(0, 3, p.data[..., :2].shape), np.zeros(p.data[..., 2:].shape)],
                                           -1).astype(np.float32) * (p.data[..., 2:] > 0), OPENPOSE_137, FPS, W, H)
              for p in reals]
    for spoilt in (smooth, jitter):
        s = realism_score(features(spoilt), R)
        assert s.score > floor.range[1] > floor.score, (s.score, floor.range)
        assert realism_report(spoilt, reals, paired=True)["score"] == s.score


def test_realism_needs_two_references_and_matching_pairs(reals):
    R = features(reals)
    with pytest.raises(ConfigError, match="two reference"): realism_score(R, R.iloc[:1])
    with pytest.raises(ConfigError, match="paired"): realism_score(R.iloc[:3], R)
    unpaired = realism_score(R.iloc[:3], R, paired=False)
    assert math.isfinite(unpaired.score) and unpaired.score == realism_score(R.iloc[:3], R, paired=False).score


def test_realism_table_and_choice_on_held_out_sentences(lex, held):
    rset = realism_set(lex, held, min_coverage=0.5)
    assert len(rset.sentence_ids) >= 2 and all(c >= 0.5 for c in rset.coverage)
    variants = (Variant("thesis", AssemblyConfig.thesis(), "thesis"), Variant("ours", AssemblyConfig()))
    table, terms, feats = realism_table(rset, variants, repeats=5)
    assert list(table.index) == [REAL, "thesis", "ours"] and table.loc[REAL, "dtw_mje"] == 0
    assert table.loc[REAL, "realism"] == realism_score(rset.real_features(), rset.real_features(), repeats=5).score
    assert sorted(table["rank"].dropna()) == [1, 2] and set(feats.method) == set(table.index)
    assert {"wrists", "hands", "timing"} <= set(table.columns) and set(terms.method) == set(table.index)
    space = {"body filter": ({"smooth_hz": None}, {"smooth_hz": 2.0}), "speed": ({"speed": 1.0}, {"speed": 2.0})}
    chosen, cand = choose_defaults(rset, space=space, repeats=5)
    assert cand.chosen.sum() == 1 and cand.loc[cand.chosen, "realism"].iloc[0] == cand.realism.min()
    assert search_fields(chosen) == cand.loc[cand.chosen, list(PRE_REALISM)].iloc[0].replace({np.nan: None}).to_dict()
    assert (cand.realism.diff().dropna() >= 0).all() and len(cand) >= 3


def test_cli_realism_prints_the_report(reals, tmp_path):
    files = [write_pose_file(p, tmp_path / f"r{i}.pose") for i, p in enumerate(reals[:6])]
    rc, out = run("realism", *files, "--reference", *files, "--paired")
    d = json.loads(out)
    assert rc == 0 and d["score"] == d["floor"] and d["ranking_groups"] == ["wrists", "hands"] and len(d["dtw_mje"]) == 6
    with contextlib.redirect_stderr(io.StringIO()) as err: rc, _ = run("realism", files[0], "--reference", files[0])
    assert rc == 2 and "two reference" in err.getvalue()
