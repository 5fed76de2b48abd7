"""Tests of t2g2p2s.assembly: gloss times (notebook 06's table and the thesis's), robust body normalisation, durations,
transitions without (0, 0) fly-ins (the thesis's rule, emulated, must show them), minimum-jerk seams, zero-phase
smoothing, the transition-length model and the assembly of segments. Small synthetic signing only."""
import math

import numpy as np
import pandas as pd
import pytest

from t2g2p2s.assembly import (DEFAULTS_CHOSEN_BY, FACE, HANDS, AssemblyConfig, GlossTimes, Segment, TransitionModel,
                              assemble, body_of, butter_sos, butterworth_smooth, normalise_bodies, retime, smooth_parts,
                              sosfiltfilt, target_frames, thesis_linear, thesis_scale, thesis_stretch,
                              train_transition_model, transition, transition_features)
from t2g2p2s.core import ConfigError, DataError
from t2g2p2s.lexicon import Lexicon
from t2g2p2s.poses import OPENPOSE_137, Pose

from synthetic import H, lex, RH, signer, times_csv, W, write_lexicon, write_times_csv  # noqa: F401 (fixtures)


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
    pd.DataFrame({"gloss": ["A1", "B1"], "median_igt": [140, 0], "median_ogt": [160, 0],
                  "median_gd": [400, 0]}).to_csv(p, index=False)
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
    assert len(out) == 10 and np.array_equal(out[0], d[0]) and np.array_equal(out[3], d[1])
    assert np.array_equal(out[-1], d[-1])
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


# ------------------------------------------------------------------ assembly

def test_assembly_resamples_and_validates(lex):
    seg25 = Segment.from_pose(Pose(signer(10), OPENPOSE_137, 25.0, W, H), "sign", "X")
    seg50 = Segment.from_pose(lex.best("HAUS1A"), "sign", "HAUS1A")
    pose, rec = assemble([seg25, seg50], AssemblyConfig(fps=50.0, duration="none", smooth_hz=None))
    assert rec[0]["frames"] == 20 and pose.fps == 50
    with pytest.raises(ConfigError): AssemblyConfig(transition="teleport")


def test_smoothing_per_body_part_and_the_defaults_record():
    rng = np.random.default_rng(3)
    d = signer(40)
    d[..., :2] += rng.normal(0, 2, d[..., :2].shape).astype(np.float32) * (d[..., 2:] > 0)
    body = np.zeros(137, bool); body[:25] = True
    hands_only = smooth_parts(d, 50.0, AssemblyConfig(smooth_hz=None, smooth_hands_hz=4.0))
    assert np.array_equal(hands_only[:, :HANDS.start], d[:, :HANDS.start]) and not np.array_equal(hands_only, d)
    body_only = smooth_parts(d, 50.0, AssemblyConfig(smooth_hz=4.0, smooth_hands_hz=0))
    assert np.array_equal(body_only[:, HANDS], d[:, HANDS]) and np.array_equal(body_only[:, FACE], d[:, FACE])
    assert not np.array_equal(body_only[:, body], d[:, body])
    both = smooth_parts(d, 50.0, AssemblyConfig(smooth_hz=6.0, smooth_hands_hz=6.0))
    pts = np.ones(137, bool); pts[FACE] = False
    assert np.array_equal(both, butterworth_smooth(d, 50.0, 6.0, 2, pts))           # one cut-off = one filter
    assert np.array_equal(smooth_parts(d, 50.0, AssemblyConfig.thesis()), d)
    seg = Segment.from_pose(Pose(signer(12), OPENPOSE_137, 50.0, W, H), "sign", "X")
    pose, _ = assemble([seg, seg])
    assert pose.meta["assembly_defaults"] == DEFAULTS_CHOSEN_BY
    assert pose.meta["assembly"]["smooth_hands_hz"] == AssemblyConfig().smooth_hands_hz


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
