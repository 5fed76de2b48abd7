"""Tests of t2g2p2s.rendering: the DWPose-convention renderer (both eyes and ears, nothing for absent or
low-confidence points), the MimicMotion palette order and whole-pose rendering with resampling."""
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
