"""Tests of t2g2p2s.pose_metrics against known values: SPARC (ordering and an independent computation), how jerk
scales with fps, masked points, DTW-MJE, and the thesis's SAL/MSJ on a hand-computed sequence."""
import contextlib
import io
import json
import math

import numpy as np
import pytest

from t2g2p2s.core import data_dir
from t2g2p2s.core import run_command
from t2g2p2s.pose_metrics import (THESIS_BODY13, dtw_mje, dtw_path, jerk_profile, keypoint_groups, ldlj,
                                  mean_squared_jerk, mje_cost_matrix, normalise_by_shoulders, smoothness,
                                  smoothness_arrays, sparc, speed_profile, thesis_msj, thesis_positions, thesis_sal)
from t2g2p2s.poses import OPENPOSE_137, SKELS_50, Component, Pose, Skeleton, read_pose_file, write_pose_file

REC = data_dir() / "pose-samples" / "tests_openpose.pose"


def min_jerk(fs, duration=1.0, amplitude=1.0):
    "Flash-Hogan minimum-jerk position A(10τ³ − 15τ⁴ + 6τ⁵) sampled at fs on [0, duration]."
    t = np.arange(int(round(duration * fs)) + 1) / fs
    tau = t / duration
    return t, amplitude * (10 * tau**3 - 15 * tau**4 + 6 * tau**5)


def reach(fs, tremor=0.0, hz=8.0, duration=1.0, amplitude=1.0):
    """A straight 2-D reach along (0.8, 0.6) with an optional tremor along the same direction. (A tremor across the
    reach enters the speed only at second order and at 2 × hz, beyond the 10 Hz cut-off for hz = 8.)"""
    t, s = min_jerk(fs, duration, amplitude)
    s = s + tremor * np.sin(2 * np.pi * hz * t)
    return np.c_[0.8 * s, 0.6 * s]


def same(d1, d2):
    "Two result dicts are equal, NaN equal to NaN."
    assert d1.keys() == d2.keys()
    for k in d1:
        a, b = d1[k], d2[k]
        if isinstance(a, float) and math.isnan(a): assert isinstance(b, float) and math.isnan(b), k
        else: assert a == b, (k, a, b)


# ------------------------------------------------------------------ SPARC: minimum-jerk reach vs tremor

@pytest.mark.parametrize("fs", [50, 100])
def test_sparc_orders_minimum_jerk_reach_smoother_than_with_tremor(fs):
    smooth = reach(fs)
    s0 = sparc(speed_profile(smooth, fs), fs)
    assert -1.6 < s0 < -1.3                                   # a single bell-shaped speed profile
    values = [sparc(speed_profile(reach(fs, tremor=a), fs), fs) for a in (0.01, 0.03)]
    assert s0 > values[0] > values[1]
    # the jerk-based measures agree on the order
    assert ldlj(smooth, fs) > ldlj(reach(fs, tremor=0.01), fs)
    assert mean_squared_jerk(smooth, fs) < mean_squared_jerk(reach(fs, tremor=0.01), fs)
    # SPARC is dimensionless: scaling the movement changes nothing
    assert sparc(speed_profile(7 * smooth, fs), fs) == pytest.approx(s0, rel=1e-12)


# ------------------------------------------------------------------ SPARC: independent computation

def sparc_reference(speed, fs, padlevel=4, fc=10.0, amp_th=0.05):
    """SPARC written out from Balasubramanian et al. (2015) without FFTs: the zero-padded DFT magnitude at each
    frequency k·fs/nfft ≤ fc as an explicit sum, normalised by the 0 Hz value (for a non-negative speed profile
    |Σ vₙ e^{-iωn}| ≤ Σ vₙ, so the 0 Hz bin is the maximum), then explicit loops for the band and the arc length."""
    n = len(speed)
    nfft = 2 ** (int(np.ceil(np.log2(n))) + padlevel)
    assert min(speed) >= 0
    dc = float(sum(speed))
    freqs, mags = [], []
    k = 0
    while k * fs / nfft <= fc:
        re = sum(speed[i] * math.cos(2 * math.pi * k * i / nfft) for i in range(n))
        im = sum(speed[i] * math.sin(2 * math.pi * k * i / nfft) for i in range(n))
        freqs.append(k * fs / nfft)
        mags.append(math.hypot(re, im) / dc)
        k += 1
    above = [i for i, m in enumerate(mags) if m >= amp_th]
    lo, hi = above[0], above[-1]
    width = freqs[hi] - freqs[lo]
    arc = 0.0
    for i in range(lo, hi):
        arc += math.sqrt(((freqs[i + 1] - freqs[i]) / width) ** 2 + (mags[i + 1] - mags[i]) ** 2)
    return -arc


def fixed_speed_profile():
    """61 samples at 50 fps: a minimum-jerk bell plus a 6 Hz ripple strong enough to stretch the band to 6.4 Hz;
    non-negative; nfft = 1024, so no bin falls exactly on 10 Hz."""
    t = np.arange(61) / 50.0
    tau = t / 1.2
    return 30 * tau**2 * (1 - tau) ** 2 + 0.4 * (1 - np.cos(2 * np.pi * 6 * t)) / 2


def test_sparc_matches_an_independent_computation_on_a_fixed_signal():
    v = fixed_speed_profile()
    ref = sparc_reference(list(v), 50.0)
    assert sparc(v, 50.0) == pytest.approx(ref, abs=1e-6)
    # the same value as a constant: what sparc_reference printed for this signal (float64), so that the reference
    # itself cannot drift unnoticed
    assert ref == pytest.approx(-1.8650988858707063, abs=1e-6)
    # and the parameters do what they say: a higher threshold keeps a narrower band, a lower cut-off too
    assert sparc(v, 50.0, amp_th=0.2) == pytest.approx(sparc_reference(list(v), 50.0, amp_th=0.2), abs=1e-6)
    assert sparc(v, 50.0, fc=4.0) == pytest.approx(sparc_reference(list(v), 50.0, fc=4.0), abs=1e-6)
    assert sparc(v, 50.0, padlevel=2) == pytest.approx(sparc_reference(list(v), 50.0, padlevel=2), abs=1e-6)


def test_sparc_undefined_cases():
    assert math.isnan(sparc(np.zeros(20), 25.0))               # no movement: nothing to normalise
    with pytest.raises(ValueError): sparc(np.ones((3, 2)), 25.0)
    with pytest.raises(ValueError): sparc(np.ones(5), 0.0)


# ------------------------------------------------------------------ jerk and fps

@pytest.mark.parametrize("c", [2.0, 2.5, 4.0])
def test_jerk_scales_with_fps_as_theory_says(c):
    """The same samples at c × the frame rate are the movement played c × faster: jerk × c³, MSJ × c⁶, speed × c;
    LDLJ = −ln(T³/v_peak² ∫‖d²v/dt²‖² dt) is exactly invariant (T ÷ c, v_peak × c, integral × c⁵)."""
    x = reach(25, tremor=0.004)
    assert np.allclose(jerk_profile(x, 25 * c), c**3 * jerk_profile(x, 25), rtol=1e-12, atol=0)
    assert mean_squared_jerk(x, 25 * c) == pytest.approx(c**6 * mean_squared_jerk(x, 25), rel=1e-12)
    assert np.allclose(speed_profile(x, 25 * c), c * speed_profile(x, 25), rtol=1e-12, atol=0)
    assert ldlj(x, 25 * c) == pytest.approx(ldlj(x, 25), abs=1e-9)
    assert ldlj(3 * x, 25) == pytest.approx(ldlj(x, 25), abs=1e-9)          # and to amplitude
    # the same through a Pose: smoothness() takes fps from the pose
    sk = Skeleton("dot", (Component("pose_keypoints_2d", ("RWrist",)),))
    data = np.zeros((len(x), 1, 3), np.float32); data[:, 0, :2] = x; data[:, 0, 2] = 1
    r1 = smoothness(Pose(data, sk, 25.0), "wrists")
    r2 = smoothness(Pose(data.copy(), sk, 25.0 * c), "wrists")
    assert r2["msj"] == pytest.approx(c**6 * r1["msj"], rel=1e-9) and r2["ldlj"] == pytest.approx(r1["ldlj"], abs=1e-9)


def test_sampling_the_same_movement_faster_converges_to_the_continuous_values():
    """Minimum-jerk reach of amplitude A and duration D: jerk = A/D³ (60 − 360τ + 360τ²), so MSJ = 720 A²/D⁶
    (∫₀¹(60 − 360τ + 360τ²)² dτ = 720) and, with v_peak = 1.875 A/D, LDLJ = −ln(720 / 1.875²) = −ln 204.8.
    Forward differences lose 1.5 frames at each high-jerk end, so the error is first order: it halves when fps doubles."""
    A, D = 0.3, 0.8
    msj_true, ldlj_true = 720 * A**2 / D**6, -math.log(204.8)
    errs = []
    for fs in (100, 200, 400, 2000):
        _, x = min_jerk(fs, D, A)
        errs.append(abs(mean_squared_jerk(x, fs) / msj_true - 1))
        if fs == 2000: assert ldlj(x, fs) == pytest.approx(ldlj_true, abs=0.01)
    assert errs[3] < 0.01
    assert all(0.4 < b / a < 0.6 for a, b in zip(errs[:2], errs[1:3]))


# ------------------------------------------------------------------ masked points

def toy_pose(T=60, fps=25.0):
    "Three named points moving smoothly, all present (a skeleton whose groups are found by name)."
    sk = Skeleton("toy", (Component("pose_keypoints_2d", ("RWrist", "LWrist", "Nose")),))
    t = np.arange(T) / fps
    phase = np.array([0.0, 1.0, 2.0])
    xy = np.stack([np.cos(2 * np.pi * 0.7 * t[:, None] + phase), np.sin(2 * np.pi * 0.4 * t[:, None] + phase) / 2], -1)
    return Pose.from_arrays(xy, np.ones((T, 3)), sk, fps)


def test_masked_points_do_not_change_results():
    pose = toy_pose()
    present = pose.mask.copy()
    present[20:25, 0] = False; present[40:42, 1] = False; present[:3, 2] = False
    xy = pose.data[..., :2].astype(np.float64)
    clean = smoothness_arrays(np.where(present[..., None], xy, 0.0), present, pose.fps)
    # anything stored at absent positions is never read
    for garbage in (np.nan, 1e9, -3.0):
        same(smoothness_arrays(np.where(present[..., None], xy, garbage), present, pose.fps), clean)
    # the same as computing the metrics by hand on the runs of present frames
    runs = [(0, 0, 20), (0, 25, 60), (1, 0, 40), (1, 42, 60), (2, 3, 60)]
    j2 = np.concatenate([jerk_profile(xy[s:e, p], pose.fps) ** 2 for p, s, e in runs])
    sp = np.concatenate([speed_profile(xy[s:e, p], pose.fps) for p, s, e in runs])
    L = [e - s for _, s, e in runs]
    assert clean["msj"] == pytest.approx(j2.mean(), rel=1e-12) and clean["speed_mean"] == pytest.approx(sp.mean(), rel=1e-12)
    assert clean["sparc"] == pytest.approx(np.average([sparc(speed_profile(xy[s:e, p], pose.fps), pose.fps) for p, s, e in runs], weights=L), rel=1e-12)
    assert clean["ldlj"] == pytest.approx(np.average([ldlj(xy[s:e, p], pose.fps) for p, s, e in runs], weights=L), rel=1e-12)
    assert (clean["n_runs"], clean["n_frames_valid"], clean["n_points"]) == (5, sum(L), 3)
    # on a Pose: low-confidence garbage below min_conf counts as missing
    d = pose.data.copy()
    d[~present, 2] = 0.05
    d[~present, :2] = np.random.default_rng(1).uniform(-50, 50, size=((~present).sum(), 2))
    noisy = Pose(d, pose.skeleton, pose.fps)
    assert not np.array_equal(noisy.data, pose.data)
    same(smoothness(noisy, "all", min_conf=0.1), dict(clean, group="all", n_points_group=3, units="normalised"))
    # and DTW-MJE ignores them likewise (against an unrelated reference)
    gone = d.copy(); gone[~present] = 0
    ref = curve_pose(np.linspace(0, 1, 45))
    for missing in ("ham2pose", "shared"):
        assert dtw_mje(noisy, ref, missing=missing, min_conf=0.1) == dtw_mje(Pose(gone, pose.skeleton, pose.fps), ref, missing=missing)
    c1 = mje_cost_matrix(np.where(present[..., None], xy, np.nan), present, xy[:30], present[:30])
    c2 = mje_cost_matrix(np.where(present[..., None], xy, 0.0), present, xy[:30], present[:30])
    assert np.array_equal(c1, c2)
    # the thesis's MSJ, by contrast, differences straight through the (0, 0) of missing points
    rec = read_pose_file(REC)
    blanked = rec.data.copy(); blanked[:, 95:116] = 0        # the left hand, detected only in frames 29-77
    assert thesis_msj(rec) > 3 * thesis_msj(Pose(blanked, rec.skeleton, rec.fps, rec.width, rec.height))
    same(smoothness(rec, "right_hand"), smoothness(Pose(blanked, rec.skeleton, rec.fps, rec.width, rec.height), "right_hand"))


# ------------------------------------------------------------------ DTW-MJE

def sample_curves(s, n_points=3):
    "Smooth 2-D curves of n points at curve parameters s ∈ [0, 1]."
    s = np.asarray(s)[:, None]
    ph = np.arange(n_points)[None] * 0.9
    return np.stack([np.cos(2 * np.pi * s + ph), 0.5 * np.sin(4 * np.pi * s + ph)], -1)


def curve_pose(s, fps=25.0):
    sk = Skeleton("toy", (Component("pose_keypoints_2d", ("RWrist", "LWrist", "Nose")),))
    xy = sample_curves(s)
    return Pose.from_arrays(xy, np.ones(xy.shape[:2]), sk, fps)


def test_dtw_of_a_sequence_with_itself_is_zero_and_grows_with_warping():
    T = 50
    u = np.linspace(0, 1, T)
    x = curve_pose(u)
    for missing in ("ham2pose", "shared"):
        for norm in (False, True, "reference"):
            assert dtw_mje(x, x, missing=missing, normalised=norm) == 0.0
    # with missing points too
    d = x.data.copy(); d[10:14, 1] = 0; d[30, :] = 0
    xm = Pose(d, x.skeleton, x.fps)
    assert dtw_mje(xm, xm) == 0.0 and dtw_mje(xm, xm, missing="shared") == 0.0
    # repeating frames is a pure change of tempo: DTW absorbs it exactly, a frame-by-frame comparison does not
    slow = curve_pose(np.repeat(u, 2))
    assert dtw_mje(slow, x) == 0.0 and dtw_mje(x, slow) == 0.0
    assert np.mean(np.linalg.norm(slow.data[:T, :, :2] - x.data[:, :, :2], axis=-1)) > 0.1
    # a smooth monotone time warp w(u) = u + α sin(2πu)/(2π): the samples fall between the reference's frames, which
    # costs a little, far less than comparing frame by frame
    for alpha in (0.2, 0.5, 0.8):
        w = curve_pose(u + alpha * np.sin(2 * np.pi * u) / (2 * np.pi))
        framewise = np.mean(np.linalg.norm(w.data[..., :2] - x.data[..., :2], axis=-1))
        assert 0 < dtw_mje(w, x, normalised=True) < framewise / 3
    # noise raises it
    z = np.random.default_rng(0).normal(size=x.data[..., :2].shape)
    def jitter(p, sigma):
        d = p.data.copy(); d[..., :2] += (sigma * z).astype(np.float32)
        return Pose(d, p.skeleton, p.fps)
    noisy = [dtw_mje(jitter(x, s), x, normalised=True) for s in (0.01, 0.03, 0.1)]
    assert 0 < noisy[0] < noisy[1] < noisy[2]


@pytest.mark.parametrize("missing", ["ham2pose", "shared"])
def test_dtw_grows_with_a_time_jump_exactly_as_expected(missing):
    """Points moving at constant velocities; the hypothesis jumps k frames ahead at frame a (drops k − 1 frames).
    Every reference frame a + i (0 < i < k) must be matched to a hypothesis frame, at best the nearer of x[a] and
    x[a + k], at mean joint error v̄·min(i, k − i); all other frames match exactly. So DTW-MJE = v̄·⌊k²/4⌋, with v̄ the
    mean per-frame speed of the joints: 0, v̄, 2v̄, 4v̄, 6v̄, 9v̄ for k = 1…6."""
    sk = Skeleton("toy", (Component("pose_keypoints_2d", ("RWrist", "LWrist", "Nose")),))
    vel = np.array([[0.03, 0.01], [-0.02, 0.02], [0.0, 0.05]])          # units per frame
    T, a = 40, 15
    xy = np.arange(T)[:, None, None] * vel[None]
    ref = Pose.from_arrays(xy, np.ones((T, 3)), sk, 25.0)
    vbar = np.linalg.norm(vel, axis=1).mean()
    got = []
    for k in range(1, 7):
        keep = np.r_[np.arange(a + 1), np.arange(a + k, T)]
        hyp = Pose.from_arrays(xy[keep], np.ones((len(keep), 3)), sk, 25.0)
        got.append(dtw_mje(hyp, ref, missing=missing))
        assert got[-1] == pytest.approx(vbar * (k * k // 4), abs=1e-6)
    assert all(b > a_ for a_, b in zip(got[1:], got[2:]))


def test_dtw_symmetry_and_normalisation():
    u = np.linspace(0, 1, 40)
    a, b = curve_pose(u ** 1.3), curve_pose(np.linspace(0, 1, 55))
    for missing in ("ham2pose", "shared"):                      # nothing missing: symmetric under both rules
        assert dtw_mje(a, b, missing=missing) == pytest.approx(dtw_mje(b, a, missing=missing), rel=1e-12)
    d = a.data.copy(); d[5:15, 0] = 0
    am = Pose(d, a.skeleton, a.fps)
    assert dtw_mje(am, b, missing="shared") == pytest.approx(dtw_mje(b, am, missing="shared"), rel=1e-12)
    # Ham2Pose's rule is asymmetric on purpose: a point missing in the hypothesis costs, one missing in the reference does not
    assert dtw_mje(am, b) > dtw_mje(b, am)
    # normalisations: by the path length and by the reference length
    cost = mje_cost_matrix(a.data[..., :2], a.mask, b.data[..., :2], b.mask)
    total, path = dtw_path(cost)
    assert dtw_mje(a, b) == pytest.approx(total) and dtw_mje(a, b, normalised=True) == pytest.approx(total / len(path))
    assert dtw_mje(a, b, normalised="reference") == pytest.approx(total / b.n_frames)
    assert max(a.n_frames, b.n_frames) <= len(path) <= a.n_frames + b.n_frames - 1
    assert (np.diff(path, axis=0) >= 0).all() and (np.diff(path, axis=0).sum(1) >= 1).all()


def test_dtw_path_on_a_hand_computed_matrix():
    # the diagonal costs 0 + 5 + 0; going down first and then diagonally costs 0 + 1 + 0 + 0
    C = np.array([[0.0, 5.0, 5.0],
                  [1.0, 5.0, 5.0],
                  [5.0, 0.0, 0.0]])
    total, path = dtw_path(C)
    assert total == 1.0 and path.tolist() == [[0, 0], [1, 0], [2, 1], [2, 2]]
    assert dtw_path(C.T)[0] == 1.0 and dtw_path(C.T)[1].tolist() == [[0, 0], [0, 1], [1, 2], [2, 2]]
    assert dtw_path(np.array([[2.5]])) == (2.5, pytest.approx(np.array([[0, 0]])))


def test_missing_keypoint_rules_on_a_hand_computed_frame_pair():
    "One frame each, three points: hypothesis misses point 1, reference misses point 2."
    a = np.array([[[0.0, 0.0], [0.0, 0.0], [5.0, 5.0]]]); ma = np.array([[True, False, True]])
    b = np.array([[[3.0, 4.0], [6.0, 8.0], [0.0, 0.0]]]); mb = np.array([[True, True, False]])
    # ham2pose: point 0 error 5, point 1 missing in the hypothesis costs ½‖(6, 8)‖ = 5, point 2 (not in the reference) 0;
    # the mean over the reference's two present points
    assert mje_cost_matrix(a, ma, b, mb)[0, 0] == pytest.approx((5 + 5) / 2)
    assert mje_cost_matrix(a, ma, b, mb, miss_cost=1.0)[0, 0] == pytest.approx((5 + 1) / 2)
    # shared: only point 0
    assert mje_cost_matrix(a, ma, b, mb, missing="shared")[0, 0] == pytest.approx(5.0)


# ------------------------------------------------------------------ the thesis's SAL and MSJ

def tiny_thesis_pose(fps=50.0):
    """5 frames, 1000 × 500 px, only the right wrist present: (100, 100) → (400, 100) → (400, 300) and rest.
    Normalised: (0.1, 0.2), (0.4, 0.2), (0.4, 0.6), (0.4, 0.6), (0.4, 0.6)."""
    d = np.zeros((5, 137, 3), np.float32)
    for t, (x, y) in enumerate([(100, 100), (400, 100), (400, 300), (400, 300), (400, 300)]):
        d[t, 4] = (x, y, 0.9)
    return Pose(d, OPENPOSE_137, fps, 1000, 500)


def test_thesis_sal_and_msj_equal_hand_computed_values():
    pose = tiny_thesis_pose()
    # SAL: speeds s = (0.3, 0.4, 0, 0) (m = 4); |FFT| = (0.7, |0.3 − 0.4i| = 0.5, |0.3 − 0.4| = 0.1) in the first
    # ⌊4/2⌋ + 1 bins; cumulative share (0.54, 0.92, 1.0) → cut-off bin 2; Δf = 1/4;
    # arc = √(0.2² + 0.25²) + √(0.4² + 0.25²)
    assert thesis_sal(pose) == pytest.approx(-(math.sqrt(0.1025) + math.sqrt(0.2225)), abs=1e-6)
    # MSJ: Δ³x = (0.3, 0), Δ³y = (−0.8, 0.4) → ‖jerk‖² = (0.73, 0.16) → mean 0.445
    assert thesis_msj(pose) == pytest.approx(0.445, abs=1e-6)
    # no fps anywhere
    assert thesis_sal(tiny_thesis_pose(fps=25.0)) == thesis_sal(pose) and thesis_msj(tiny_thesis_pose(25.0)) == thesis_msj(pose)
    # uniform motion: constant speeds → all magnitude in bin 0 → the cut-off is bin 0 → SAL 0
    d = np.zeros((5, 137, 3), np.float32); d[:, 4] = np.c_[100 + 50 * np.arange(5), np.full(5, 100), np.ones(5)]
    assert thesis_sal(Pose(d, OPENPOSE_137, 50.0, 1000, 500)) == 0.0
    # no motion at all: the thesis's 0/0 leaves no bin at 99 %, the cut-off is the last bin: −2 · √(0 + (1/4)²) = −0.5
    d = np.zeros((5, 137, 3), np.float32); d[:, 4] = (100, 100, 1)
    assert thesis_sal(Pose(d, OPENPOSE_137, 50.0, 1000, 500)) == pytest.approx(-0.5)
    assert math.isnan(thesis_msj(pose.slice(0, 3))) and math.isnan(thesis_sal(pose.slice(0, 1)))


def test_thesis_layout_is_body13_left_right_face():
    pose = tiny_thesis_pose()
    P = thesis_positions(pose)
    assert P.shape == (5, 250) and P[1, 2 * 4: 2 * 4 + 2].tolist() == pytest.approx([0.4, 0.2])    # R-wrist = 5th point
    d = np.zeros((1, 137, 3), np.float32)
    for body25, col in ((8, 8), (15, 9), (18, 12)):             # MidHip, REye, LEar
        d[0, body25] = (1, 1, 1)
        assert thesis_positions(Pose(d, OPENPOSE_137, 50.0))[0, 2 * col] == 1; d[:] = 0
    for component, col in (("hand_left_keypoints_2d", 13), ("hand_right_keypoints_2d", 34), ("face_keypoints_2d", 55)):
        d[0, OPENPOSE_137.offset(component)] = (1, 1, 1)
        assert thesis_positions(Pose(d, OPENPOSE_137, 50.0))[0, 2 * col] == 1; d[:] = 0
    assert len(THESIS_BODY13) == 13
    # points outside the 125 (hips, legs, feet) never matter
    d = pose.data.copy(); d[:, 12] = np.c_[np.linspace(0, 900, 5), np.linspace(0, 400, 5), np.ones(5)]
    moved = Pose(d, OPENPOSE_137, 50.0, 1000, 500)
    assert thesis_sal(moved) == thesis_sal(pose) and thesis_msj(moved) == thesis_msj(pose)


# ------------------------------------------------------------------ groups, units and the CLI

def test_keypoint_groups_by_name():
    g = keypoint_groups(OPENPOSE_137)
    assert g["wrists"].tolist() == [4, 7] and g["arms"].tolist() == [2, 3, 4, 5, 6, 7]
    assert g["left_hand"].tolist() == list(range(95, 116)) and g["right_hand"].tolist() == list(range(116, 137))
    assert len(g["hands"]) == 42 and g["face"].tolist() == list(range(25, 95)) and len(g["all"]) == 137
    s = keypoint_groups(SKELS_50)
    assert s["wrists"].tolist() == [4, 7] and "face" not in s
    mp = read_pose_file(data_dir() / "pose-samples" / "tests_mediapipe.pose")
    names = mp.skeleton.point_names
    assert [names[i] for i in keypoint_groups(mp.skeleton)["wrists"]] == ["POSE_LANDMARKS/RIGHT_WRIST", "POSE_LANDMARKS/LEFT_WRIST"]


def test_normalise_by_shoulders_and_cli(tmp_path):
    rec = read_pose_file(REC)
    n = normalise_by_shoulders(rec)
    both = rec.mask[:, [2, 5]].all(1)
    assert np.linalg.norm(n.data[both, 2, :2] - n.data[both, 5, :2], axis=1).mean() == pytest.approx(1.0, rel=1e-5)
    # speeds in shoulder widths are pixel speeds divided by the mean shoulder width
    assert smoothness(n, "wrists")["speed_mean"] == pytest.approx(smoothness(rec, "wrists")["speed_mean"] / n.meta["shoulder_width"], rel=1e-5)
    path = write_pose_file(rec.slice(0, 60), tmp_path / "a.pose")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf): rc = run_command("evaluate smoothness", [str(path), "--group", "right_hand", "--json"])
    out = json.loads(buf.getvalue())
    assert rc == 0 and out["sparc"] == pytest.approx(smoothness(normalise_by_shoulders(rec.slice(0, 60)), "right_hand")["sparc"])
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf): rc = run_command("evaluate dtw", [str(path), str(REC), "--normalised", "--json"])
    out = json.loads(buf.getvalue())
    assert rc == 0 and out["dtw_mje"] > 0 and out["normalised"] == "path" and out["ref_frames"] == 93
