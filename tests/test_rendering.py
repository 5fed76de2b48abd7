"""Tests of t2g2p2s.rendering: the DWPose-convention renderer (both eyes and ears, nothing for absent or
low-confidence points), the MimicMotion palette order, whole-pose rendering with resampling, the reused canvas and
the tile-wise YUV conversion (same pixels as fresh frames) and the pose-video writer (round trip)."""
import numpy as np
import pytest

from t2g2p2s.poses import OPENPOSE_137, Pose, body25_to_coco18
from t2g2p2s.rendering import draw_pose_frame, render_pose

from synthetic import H, W, signer


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


def yuv420_reference(rgb: np.ndarray) -> np.ndarray:
    "BT.601 limited-range yuv420p of an RGB frame in floating point (chroma of each 2×2 block's mean), one buffer."
    x = rgb.astype(np.float64)
    y = 16 + x @ np.array([65.481, 128.553, 24.966]) / 255
    m = (x[0::2, 0::2] + x[1::2, 0::2] + x[0::2, 1::2] + x[1::2, 1::2]) / 4
    u = 128 + m @ np.array([-37.797, -74.203, 112.0]) / 255
    v = 128 + m @ np.array([112.0, -93.786, -18.214]) / 255
    return np.concatenate([y.ravel(), u.ravel(), v.ravel()])


def moving_frames(T: int, width: int, height: int) -> np.ndarray:
    "COCO-18 pixel frames of the synthetic signer, shifted and scaled so that consecutive frames ink different tiles."
    out = []
    for t in range(T):
        p = Pose(signer(1, phase=t, scale=0.6 + 0.1 * (t % 3), shift=(80 * (t % 4) - 120, 20 * t)), OPENPOSE_137,
                 50.0, W, H)
        d = body25_to_coco18(p).data[0].copy()
        d[..., 0] *= width / W; d[..., 1] *= height / H
        out.append(d)
    return np.stack(out)


@pytest.mark.parametrize("size", [(320, 180), (326, 178)])      # whole 8×8 tiles, and padded to whole tiles
def test_reused_canvas_and_tile_conversion_match_fresh_frames(size):
    from t2g2p2s.rendering import _Canvas, _YUV420
    w, h = size
    cv, yuv = _Canvas(w, h), _YUV420(w, h)
    frames = moving_frames(6, w, h)
    frames[3] = 0                                               # an empty frame between inked ones
    for f in frames:
        buf = yuv.update(cv, cv.draw(f)).astype(float)
        fresh = draw_pose_frame(f, w, h)
        assert np.array_equal(cv.rgb(), fresh)                  # the reused canvas keeps no stale ink
        assert buf.shape == (w * h * 3 // 2,) and np.abs(buf - yuv420_reference(fresh)).max() <= 1


def test_write_pose_video_round_trip(tmp_path):
    from t2g2p2s.rendering import read_video, write_pose_video
    p = Pose(signer(12), OPENPOSE_137, 50.0, W, H)
    ref = render_pose(p, 322, 182)
    for kw in ({}, {"codec": "mpeg4"}, {"preset": "veryfast", "tune": None}):
        back, fps = read_video(write_pose_video(p, tmp_path / "v.mp4", 322, 182, **kw))
        assert back.shape == ref.shape and fps == 50.0
        err = np.abs(back.astype(int) - ref).max(-1)
        assert err.mean() < 3 and (err > 96).mean() < 0.01, kw        # 4:2:0 blurs thin strokes' colour, no more
    ss = render_pose(p, 320, 180, supersample=2)                      # the RGB path (supersampled frames)
    back, _ = read_video(write_pose_video(p, tmp_path / "ss.mp4", 320, 180, supersample=2))
    assert back.shape == ss.shape and np.abs(back.astype(int) - ss).mean() < 3
    back, fps = read_video(write_pose_video(p, tmp_path / "25.mp4", 320, 180, fps=25.0))
    assert len(back) == len(render_pose(p, 320, 180, fps=25.0)) and fps == 25.0
    from t2g2p2s.core import ConfigError
    with pytest.raises(ConfigError, match="even"): write_pose_video(p, tmp_path / "odd.mp4", 321, 180)
    with pytest.raises(ValueError): draw_pose_frame(body25_to_coco18(p).data[0], W, H, palette="rgb")
