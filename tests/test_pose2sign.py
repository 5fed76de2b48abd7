"""Pose2Sign (nbs/09_mimicmotion.ipynb, nbs/09a_mimicmotion_pipeline.ipynb and nbs/09b_pose2sign.ipynb): tiling and sentence length, the generation loop on tiny random models built
from configs and loaded through the real loader, the checkpoint key mapping, the reference-body fit, DWPose
decoding with stand-in sessions, video writing and the CLI. CPU only, offline, seconds per test."""
import json
import math
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from t2g2p2s.core import ConfigError, DataError
from t2g2p2s.poses import COCO_18, OPENPOSE_137, Pose, PoseFileError, openpose_person, read_pose_file, write_pose_file
from t2g2p2s.mimicmotion import (MemoryPlan, MemoryTable, CheckpointError, ModelLoadError, PoseInjection, PoseNet,
                                 build_tiny_base_model, card_plans, component_gib, expected_shapes, load_checkpoint_state,
                                 load_memory_table, map_checkpoint_keys, plan_frames, plan_memory, sentence_frames,
                                 tile_indices, tile_weights, write_tiny_checkpoint)
from t2g2p2s.mimicmotion_pipeline import (FAST, MimicMotionPipeline, OneKeyAttnProcessor, PhaseTimer, SpeedPlan,
                                          TensorBytesMeter, TimeConv, count_flops, load_pipeline, sdpa_preference)
from t2g2p2s.pose2sign import (DWPose, fit_to_reference, load_dwpose, onnxruntime_available, pose2sign, pose2sign_batch,
                               pose_for_pose2sign, prepare_reference_image, prepare_sentence, read_inputs,
                               read_reference_keypoints, resolve_speed, run_batch, simcc_decode, target_size,
                               wholebody_to_coco18, yolox_decode)
from t2g2p2s.rendering import read_video, write_video

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "pose-samples" / "tests_openpose.pose"
MEDIAPIPE = ROOT / "data" / "pose-samples" / "tests_mediapipe.pose"
RES = 32          # short side of the tiny runs: 32 × 48 pixels, a 4 × 6 latent grid


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """The tiny models are latency-bound: one intra-op thread is fastest and immune to OpenMP spin contention on a
    busy 2-core runner (seconds per call with 2 threads there vs. milliseconds with 1)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setenv("T2G2P2S_PROGRESS", "0")


@pytest.fixture(scope="session")
def tiny_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny")
    base = build_tiny_base_model(d / "svd", seed=0)
    ckpt = write_tiny_checkpoint(base, d / "mimicmotion.pth", seed=1)
    return base, ckpt


@pytest.fixture(scope="session")
def tiny(tiny_files):
    return load_pipeline(*tiny_files, device="cpu")


@pytest.fixture(scope="session")
def sample_pose():
    return read_pose_file(SAMPLE)


@pytest.fixture(scope="session")
def reference(tmp_path_factory, sample_pose):
    """A 360 × 640 synthetic reference image and its OpenPose JSON: the sample's first body, 1.6× larger, moved."""
    from PIL import Image
    from t2g2p2s.pose2sign import draw_mannequin
    d = tmp_path_factory.mktemp("ref")
    first = sample_pose.slice(0, 1)
    data = first.data.copy()
    m = data[..., 2] > 0
    data[..., :2][m] = data[..., :2][m] * 1.6 + np.array([180 - 1.6 * data[0, 1, 0], 230 - 1.6 * data[0, 1, 1]], np.float32)
    pose = Pose(data, OPENPOSE_137, 1.0, 360, 640)
    Image.fromarray(draw_mannequin(pose, 360, 640)).save(d / "ref.png")
    (d / "ref.json").write_text(json.dumps({"version": 1.3, "people": [openpose_person(pose, 0)]}))
    return d / "ref.png", d / "ref.json", pose


def _cond(tiny, n_frames, seed=0):
    "A reference image and n_frames random-ish pose images at the tiny model's frame size."
    W, H = target_size(360, 640, RES, multiple=tiny.size_multiple)
    rng = np.random.default_rng(seed)
    ref = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    poses = (rng.random((n_frames, H, W, 3)) > 0.97).astype(np.uint8) * 255
    return ref, poses


# ---------------------------------------------------------------- pose encoder and injection

def test_posenet_matches_the_released_layout():
    pn = PoseNet(out_channels=320)
    shapes = expected_shapes(pn)
    convs = [(3, 3, 3), (16, 3, 4), (16, 16, 3), (32, 16, 4), (32, 32, 3), (64, 32, 4), (64, 64, 3), (128, 64, 3)]
    for i, (cout, cin, k) in zip(range(0, 16, 2), convs):
        assert shapes[f"conv_layers.{i}.weight"] == (cout, cin, k, k) and shapes[f"conv_layers.{i}.bias"] == (cout,)
    assert shapes["final_proj.weight"] == (320, 128, 1, 1) and shapes["scale"] == (1,)
    assert len(shapes) == 19 and pn.scale.item() == 2.0
    assert pn(torch.zeros(1, 3, 576, 1024)).shape == (1, 320, 72, 128)          # the VAE latent grid (8×)
    assert pn(torch.zeros(2, 4, 3, 64, 32)).shape == (8, 320, 8, 4)             # (B, F, ...) flattened into the batch


def test_pose_injection_adds_to_conv_in_only_while_active(tiny):
    unet = tiny.unet
    x = torch.randn(1, 3, 8, 4, 6)
    kw = dict(encoder_hidden_states=torch.randn(1, 1, 32), added_time_ids=torch.tensor([[6.0, 127.0, 0.0]]), return_dict=False)
    with torch.no_grad():
        base = unet(x, 1.0, **kw)[0]
        with tiny.injection(torch.zeros(3, 32, 4, 6)): zero = unet(x, 1.0, **kw)[0]
        with tiny.injection(torch.randn(3, 32, 4, 6)): moved = unet(x, 1.0, **kw)[0]
        after = unet(x, 1.0, **kw)[0]
        with pytest.raises(RuntimeError, match="do not match"):
            with tiny.injection(torch.zeros(2, 32, 4, 6)): unet(x, 1.0, **kw)
    assert torch.equal(base, zero) and torch.equal(base, after) and not torch.allclose(base, moved)


# ---------------------------------------------------------------- tiles, sentence length, fps

@pytest.mark.parametrize("n,tile,overlap", [(1, 16, 6), (2, 16, 6), (15, 16, 6), (16, 16, 6), (17, 16, 6), (40, 16, 6),
                                            (301, 72, 6), (73, 72, 1), (100, 8, 7)])
def test_tiles_cover_every_frame_with_the_reference_and_fixed_length(n, tile, overlap):
    tiles = tile_indices(n, tile, overlap)
    assert tiles, "never an empty tile list"
    assert all(t[0] == 0 for t in tiles) and all(len(t) == min(tile, n) for t in tiles)
    assert sorted(set().union(*map(set, tiles))) == list(range(n))
    assert tiles[-1][-1] == n - 1 and all(len(set(t)) == len(t) for t in tiles)
    for a, b in zip(tiles[:-2], tiles[1:-1]):        # regular steps share overlap − 1 frames besides the reference
        assert len(set(a[1:]) & set(b[1:])) == overlap - 1


def test_tile_parameters_are_checked():
    for bad in [(10, 1, 0), (10, 8, 0), (10, 8, 8)]:
        with pytest.raises(ConfigError): tile_indices(*bad)
    with pytest.raises(ValueError): tile_indices(0, 8, 2)


def test_triangular_weights():
    w = tile_weights(16)
    assert np.allclose(w, w[::-1]) and w.min() > 0 and w.max() <= 1 and np.argmax(w) in (7, 8)
    assert np.allclose(tile_weights(4), [0.25, 0.75, 0.75, 0.25])


def test_plans_for_short_equal_and_long_sentences():
    short, equal, long = plan_frames(5, 16, 6), plan_frames(15, 16, 6), plan_frames(60, 16, 6)
    assert (short.n_model, short.held, len(short.tiles)) == (16, 10, 1)
    assert (equal.n_model, equal.held, len(equal.tiles)) == (16, 0, 1)
    assert long.n_model == 61 and long.held == 0 and len(long.tiles) > 1 and all(len(t) == 16 for t in long.tiles)
    shrink = plan_frames(5, 16, 6, short="shrink")
    assert shrink.n_model == 6 and shrink.tiles == (tuple(range(6)),)
    with pytest.raises(DataError): plan_frames(0, 16, 6)
    with pytest.raises(ConfigError): plan_frames(5, 16, 6, short="pad")


def test_sentence_frames_keep_the_duration(sample_pose):
    for fps in (8.0, 15.0, 24.0, 50.0):
        assert sentence_frames(sample_pose, fps) == sample_pose.resample(fps).n_frames
        assert abs(sentence_frames(sample_pose, fps) / fps - sample_pose.duration) <= 0.5 / fps
    with pytest.raises(ConfigError): sentence_frames(sample_pose, 0)


# ---------------------------------------------------------------- generation on the tiny model

def _reference_loop(pipe, ref, poses, steps, guidance, seed):
    """Plain single-pass SVD + pose denoising written independently of the tiling code: the ground truth for one tile."""
    from diffusers import EulerDiscreteScheduler
    gen = torch.Generator("cpu").manual_seed(seed)
    emb, lat = pipe.encode_reference(ref, 0.0, gen)
    pl = pipe.encode_poses(poses)
    sched = EulerDiscreteScheduler.from_config(pipe.scheduler.config)
    sched.set_timesteps(steps)
    F, (H, W) = len(poses), ref.shape[:2]
    latents = torch.randn((1, F, 4, H // 8, W // 8), generator=gen) * sched.init_noise_sigma
    ids = torch.tensor([[6.0, 127.0, 0.0]])
    with torch.no_grad():
        for t in sched.timesteps:
            x = sched.scale_model_input(latents, t)
            with pipe.injection(pl):
                c = pipe.unet(torch.cat([x, lat[:, None].expand(1, F, -1, -1, -1)], 2), t, encoder_hidden_states=emb,
                              added_time_ids=ids, return_dict=False)[0]
            u = pipe.unet(torch.cat([x, torch.zeros_like(x)], 2), t, encoder_hidden_states=torch.zeros_like(emb),
                          added_time_ids=ids, return_dict=False)[0]
            latents = sched.step(u + guidance * (c - u), t, latents).prev_sample
    return pipe.decode(latents, 8)


def test_single_tile_equals_the_plain_loop_and_larger_tiles(tiny):
    ref, poses = _cond(tiny, 7)
    kw = dict(num_inference_steps=2, min_guidance_scale=2.0, max_guidance_scale=2.0, seed=3, show_progress=False,
              memory=MemoryPlan(cfg_batched=False))
    one = tiny.generate(ref, poses, tile_size=7, tile_overlap=3, **kw)
    bigger = tiny.generate(ref, poses, tile_size=16, tile_overlap=6, **kw)       # clamped: never longer than the sequence
    truth = _reference_loop(tiny, ref, poses, 2, 2.0, 3)
    assert one.shape == (7, *ref.shape) and np.array_equal(one, bigger)
    assert np.abs(one.astype(int) - truth.astype(int)).max() <= 1
    batched = tiny.generate(ref, poses, tile_size=7, tile_overlap=3, **{**kw, "memory": MemoryPlan(cfg_batched=True)})
    assert np.abs(one.astype(int) - batched.astype(int)).max() <= 1


class _FrameLocalUNet(torch.nn.Module):
    "A stand-in UNet whose prediction for a frame depends on that frame only: tiling must then not change anything."
    def __init__(self, ch=32):
        super().__init__()
        self.conv_in = torch.nn.Conv2d(8, ch, 3, padding=1)
        self.conv_out = torch.nn.Conv2d(ch, 4, 1)
        self.add_embedding = types.SimpleNamespace(linear_1=types.SimpleNamespace(in_features=24))
        self.config = types.SimpleNamespace(block_out_channels=(ch, 64), down_block_types=("a", "b"), out_channels=4,
                                            addition_time_embed_dim=8)

    def forward(self, sample, t, encoder_hidden_states, added_time_ids, return_dict=False):
        B, F = sample.shape[:2]
        h = torch.nn.functional.silu(self.conv_in(sample.flatten(0, 1)))
        h = h + encoder_hidden_states.mean(-1).repeat_interleave(F, 0)[:, :, None, None]
        return (self.conv_out(h).reshape(B, F, 4, *sample.shape[-2:]) * 0.1,)


def test_fusion_is_exact_for_a_frame_local_model(tiny):
    torch.manual_seed(0)
    pipe = MimicMotionPipeline(_FrameLocalUNet(), tiny.vae, tiny.image_encoder, tiny.scheduler, tiny.feature_extractor,
                               tiny.pose_net)
    ref, poses = _cond(tiny, 20)
    kw = dict(num_inference_steps=2, seed=1, repeat_tile_noise=False, show_progress=False)
    whole = pipe.generate(ref, poses, tile_size=20, tile_overlap=2, **kw)
    tiled = pipe.generate(ref, poses, tile_size=6, tile_overlap=3, **kw)
    assert np.abs(whole.astype(int) - tiled.astype(int)).max() <= 1


def test_tiled_generation_is_deterministic_for_a_seed(tiny):
    ref, poses = _cond(tiny, 12)
    kw = dict(tile_size=6, tile_overlap=2, num_inference_steps=1, show_progress=False)
    a, b = tiny.generate(ref, poses, seed=5, **kw), tiny.generate(ref, poses, seed=5, **kw)
    c = tiny.generate(ref, poses, seed=6, **kw)
    assert a.shape == (12, *ref.shape) and np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize("n_source,short,n_model,n_tiles", [(3, "hold", 8, 1), (3, "shrink", 2, 1), (21, "hold", 8, 1),
                                                         (50, "hold", 18, 3)])
def test_output_frames_equal_the_sentence_for_short_equal_and_long(tiny, sample_pose, reference, n_source, short, n_model,
                                                                   n_tiles):
    """At 8 fps with tiles of 8: 3 source frames (24 fps) → 1 frame (shorter than a tile: held, or a 2-frame tile),
    21 → 7 frames (reference + 7 = exactly one tile), 50 → 17 frames (three tiles)."""
    ref_png, ref_json, _ = reference
    pose = sample_pose.slice(0, n_source)
    res = pose2sign(tiny, pose, ref_png, ref_json, resolution=RES, fps=8.0, num_frames=8, frames_overlap=3,
                    num_inference_steps=1, seed=0, short=short, show_progress=False)
    n = sentence_frames(pose, 8.0)
    assert len(res.frames) == n == res.plan.n_pose and res.frames.shape[1:] == (48, 32, 3)
    assert res.condition.shape[0] == n + 1 and res.plan.n_model == n_model and len(res.plan.tiles) == n_tiles
    assert res.plan.held == n_model - n - 1
    # the video is frames 1..n of the model's output: the reference frame and the held frames are cut off
    cond = np.concatenate([res.condition, np.repeat(res.condition[-1:], res.plan.held, 0)])
    full = tiny.generate(res.reference.pixels, cond, tile_size=8, tile_overlap=3, num_inference_steps=1, seed=0,
                         show_progress=False)
    assert len(full) == n_model and np.array_equal(res.frames, full[1:1 + n])


def test_pose2sign_resamples_explicitly(tiny, sample_pose, reference):
    ref_png, ref_json, _ = reference
    pose = sample_pose.slice(0, 24)                       # 1 s at 24 fps
    for fps in (4.0, 6.0):
        res = pose2sign(tiny, pose, ref_png, ref_json, resolution=RES, fps=fps, num_frames=8, frames_overlap=3,
                        num_inference_steps=1, seed=0, show_progress=False)
        assert len(res.frames) == round(fps) and math.isclose(res.duration, 1.0)


# ---------------------------------------------------------------- loading: key mapping and errors

def test_key_mapping_on_the_released_checkpoint_layout():
    """A synthetic state dict with the release's layout (`unet.` + the SVD UNet's diffusers names at full size,
    `pose_net.` + PoseNet names, fp16), built on the meta device: every key maps, nothing is missing."""
    from diffusers import UNetSpatioTemporalConditionModel
    with torch.device("meta"):
        unet = UNetSpatioTemporalConditionModel()          # diffusers' defaults are SVD img2vid-xt's UNet config
        pn = PoseNet(out_channels=320)
    state = {f"unet.{k}": v.to(torch.float16) for k, v in unet.state_dict().items()}
    state.update({f"pose_net.{k}": v.to(torch.float16) for k, v in pn.state_dict().items()})
    for key, shape in [("unet.conv_in.weight", (320, 8, 3, 3)), ("unet.add_embedding.linear_1.weight", (1280, 768)),
                       ("unet.down_blocks.0.attentions.0.temporal_transformer_blocks.0.attn1.to_q.weight", (320, 320)),
                       ("pose_net.final_proj.weight", (320, 128, 1, 1)), ("pose_net.conv_layers.14.weight", (128, 64, 3, 3))]:
        assert tuple(state[key].shape) == shape, key
    assert sum(v.numel() for k, v in state.items() if k.startswith("unet.")) > 1.5e9     # the 1.5 B-parameter SVD UNet
    expected = {"unet": expected_shapes(unet), "pose_net": expected_shapes(pn)}
    m = map_checkpoint_keys(state, expected)
    assert m.ok and m.summary()["loaded"] == {"unet": len(expected["unet"]), "pose_net": 19}
    assert set(m.parts["unet"]) == set(expected["unet"]) and "scale" in m.parts["pose_net"]
    # a scalar gain stored as shape () still maps; stray, missing and mis-shaped keys are named
    bad = dict(state)
    bad["pose_net.scale"] = torch.tensor(2.0)
    del bad["unet.conv_out.bias"]
    bad["model_ema.decay"] = torch.tensor(0.9999)
    bad["pose_net.final_proj.bias"] = torch.zeros(16)
    m = map_checkpoint_keys(bad, expected)
    assert not m.ok and m.missing["unet"] == ["conv_out.bias"] and m.unexpected == ["model_ema.decay"]
    assert m.mismatched == [("pose_net.final_proj.bias", (16,), (320,))] and m.parts["pose_net"]["scale"].shape == (1,)
    text = m.problems()
    assert "conv_out.bias" in text and "model_ema.decay" in text and "final_proj.bias" in text


def test_unet_weights_come_from_the_checkpoint_in_both_formats(tiny_files, tmp_path):
    base, ckpt = tiny_files
    st = write_tiny_checkpoint(base, tmp_path / "mm.safetensors", seed=1)
    a = load_pipeline(base, ckpt, device="cpu")
    b = load_pipeline(base, st, device="cpu")
    ref = torch.load(ckpt, weights_only=True)
    from diffusers import UNetSpatioTemporalConditionModel
    folder_unet = UNetSpatioTemporalConditionModel.from_pretrained(str(base), subfolder="unet")
    w = "down_blocks.0.resnets.0.spatial_res_block.conv1.weight"
    assert torch.equal(a.unet.state_dict()[w], b.unet.state_dict()[w])
    assert torch.equal(a.unet.state_dict()[w].half(), ref["unet." + w])
    assert not torch.equal(a.unet.state_dict()[w], folder_unet.state_dict()[w])
    assert torch.equal(a.pose_net.final_proj.weight.half(), ref["pose_net.final_proj.weight"])
    assert not any(p.is_meta for p in a.unet.parameters()) and a.dtype == torch.float32


def test_clear_errors_for_base_model_and_checkpoint(tiny_files, tmp_path):
    base, ckpt = tiny_files
    with pytest.raises(ModelLoadError, match="does not exist"): load_pipeline(tmp_path / "nope", ckpt)
    with pytest.raises(ModelLoadError, match="hub id"): load_pipeline("stabilityai/stable-video-diffusion-img2vid-xt-1-1", ckpt)
    partial = tmp_path / "partial"
    (partial / "unet").mkdir(parents=True)
    (partial / "unet" / "config.json").write_text("{}")
    with pytest.raises(ModelLoadError, match="scheduler/scheduler_config.json"): load_pipeline(partial, ckpt)
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(np.random.default_rng(0).bytes(4096))
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 3])
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    bad_st = tmp_path / "bad.safetensors"
    bad_st.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}......")
    for f in (corrupt, truncated, empty, bad_st):
        with pytest.raises(CheckpointError) as e: load_pipeline(base, f)
        assert str(f) in str(e.value) and ("corrupt" in str(e.value) or "empty" in str(e.value))
    with pytest.raises(CheckpointError, match="does not exist"): load_pipeline(base, tmp_path / "missing.pth")
    evil = tmp_path / "evil.pth"
    torch.save({"unet.x": torch.zeros(1), "hook": Path("/etc/passwd")}, evil)      # a non-tensor global in the pickle
    with pytest.raises(CheckpointError, match="weights_only"): load_checkpoint_state(evil)
    wrong = tmp_path / "wrong.pth"
    state = torch.load(ckpt, weights_only=True)
    state.pop("unet.conv_in.weight"); state["ema.step"] = torch.tensor(1)
    torch.save(state, wrong)
    with pytest.raises(CheckpointError) as e: load_pipeline(base, wrong)
    assert "conv_in.weight" in str(e.value) and "ema.step" in str(e.value)
    loose = load_pipeline(base, wrong, strict=False)                               # opt-in: warns and fills randomly
    assert loose.load_report["missing"]["unet"] == 1 and loose.load_report["unexpected"] == 1


def test_wrong_skeleton_and_unusable_poses_are_refused(sample_pose):
    with pytest.raises(PoseFileError, match="skeleton") as e:
        pose_for_pose2sign(read_pose_file(MEDIAPIPE), MEDIAPIPE)
    assert "tests_mediapipe.pose" in str(e.value) and "mediapipe_to_openpose" in str(e.value)
    with pytest.raises(PoseFileError, match="normalised"):
        pose_for_pose2sign(sample_pose.to_normalised())
    assert pose_for_pose2sign(sample_pose.to_normalised(), source_size=(1000, 1000)).allclose(
        pose_for_pose2sign(sample_pose), atol=1e-3)
    empty = Pose(np.zeros((3, 137, 3), np.float32), OPENPOSE_137, 25.0, 100, 100)
    with pytest.raises(PoseFileError, match="no present keypoint"): pose_for_pose2sign(empty)


# ---------------------------------------------------------------- reference frame, keypoints, fit

def test_target_size_follows_the_release():
    assert target_size(720, 1280) == (576, 1024) and target_size(1280, 720) == (1024, 576)
    assert target_size(500, 500) == (1024, 576)                        # not taller than wide: landscape, as upstream
    assert target_size(360, 640, 32, multiple=16) == (32, 48)
    with pytest.raises(ConfigError): target_size(360, 640, 8, multiple=16)


def test_reference_crop_maps_keypoints_exactly(tmp_path):
    from PIL import Image
    img = np.zeros((400, 300, 3), np.uint8)                     # portrait 300 × 400, a bright square at (150, 100)
    img[95:106, 145:156] = 255
    Image.fromarray(img).save(tmp_path / "r.png")
    ref = prepare_reference_image(tmp_path / "r.png", (64, 112))
    assert ref.pixels.shape == (112, 64, 3)
    x, y = ref.to_frame(np.array([150.0, 100.0]))
    ys, xs = np.nonzero(ref.pixels[..., 0] > 128)
    assert abs(xs.mean() - x) < 1.0 and abs(ys.mean() - y) < 1.0


def test_reference_keypoints_json_checks(tmp_path, reference):
    ref_png, ref_json, ref_pose = reference
    frame = prepare_reference_image(ref_png, (32, 48))
    kp = read_reference_keypoints(ref_json, frame)
    assert kp.skeleton == COCO_18 and (kp.width, kp.height) == (32, 48) and kp.n_frames == 1
    neck = ref_pose.data[0, 1, :2]
    assert np.allclose(kp.data[0, 1, :2], frame.to_frame(neck), atol=1e-3)
    norm = {"version": 1.3, "people": [openpose_person(ref_pose.to_normalised(), 0)]}
    (tmp_path / "norm.json").write_text(json.dumps(norm))
    with pytest.raises(DataError, match="normalised"): read_reference_keypoints(tmp_path / "norm.json", frame)
    far = ref_pose.copy(); far.data[..., :2][far.mask] += 5000
    (tmp_path / "far.json").write_text(json.dumps({"version": 1.3, "people": [openpose_person(far, 0)]}))
    with pytest.raises(DataError, match="outside"): read_reference_keypoints(tmp_path / "far.json", frame)
    (tmp_path / "nobody.json").write_text(json.dumps({"version": 1.3, "people": []}))
    with pytest.raises(DataError, match="no keypoints"): read_reference_keypoints(tmp_path / "nobody.json", frame)
    with pytest.raises(DataError, match="does not exist"): read_reference_keypoints(tmp_path / "none.json", frame)


def _coco18(points: dict, n_frames=1, size=(200, 300)):
    d = np.zeros((n_frames, COCO_18.n_points, 3), np.float32)
    for i, (x, y) in points.items(): d[:, i] = (x, y, 0.9)
    return Pose(d, COCO_18, 25.0, *size)


def test_fit_recovers_scale_and_offset():
    body = {0: (100, 50), 1: (100, 80), 2: (80, 80), 5: (120, 80), 14: (95, 45), 15: (105, 45), 4: (60, 150)}
    seq = _coco18(body, n_frames=5)
    seq.data[2:, 4, :2] += 30                                  # the wrist moves: not a fit point
    target = {i: (2.5 * x + 10, 2.5 * y - 20) for i, (x, y) in body.items() if i != 4}
    ref = _coco18(target, size=(400, 600))
    fitted, fit = fit_to_reference(seq, ref)
    assert math.isclose(fit.scale, 2.5, rel_tol=1e-6) and np.allclose(fit.offset, (10, -20), atol=1e-4) and fit.rms_px < 1e-3
    assert (fitted.width, fitted.height) == (400, 600) and np.allclose(fitted.data[0, 4, :2], (160, 355), atol=1e-3)
    assert np.array_equal(fitted.mask, seq.mask)             # missing points stay missing, nothing appears
    with pytest.raises(DataError, match="at least 2"):
        fit_to_reference(seq, _coco18({0: (1, 1)}, size=(400, 600)))


# ---------------------------------------------------------------- DWPose (stand-in sessions, no onnxruntime needed)

class _Input:
    def __init__(self, name, shape): self.name, self.shape = name, shape


class _FakeDetector:
    "Returns a YOLOX output with one confident person box at a chosen place of the 640 × 640 letterboxed input."
    def __init__(self, box_xyxy):
        self.box = np.asarray(box_xyxy, np.float64)
    def get_inputs(self): return [_Input("images", [1, 3, 640, 640])]
    def run(self, _, feeds):
        assert feeds["images"].shape == (1, 3, 640, 640)
        raw = np.zeros((8400, 85), np.float32)
        raw[:, 4] = 0.01
        cx, cy = (self.box[:2] + self.box[2:]) / 2
        w, h = self.box[2:] - self.box[:2]
        i = 6400 + 1600 + int(cy // 32) * 20 + int(cx // 32)            # an anchor of the stride-32 grid
        gx, gy = (i - 8000) % 20, (i - 8000) // 20
        raw[i, :4] = (cx / 32 - gx, cy / 32 - gy, np.log(w / 32), np.log(h / 32))
        raw[i, 4], raw[i, 5] = 0.95, 0.9
        return [raw[None]]


class _FakeEstimator:
    "Returns SimCC logits peaking at chosen model-input positions for all 133 keypoints."
    def __init__(self, xy_model):
        self.xy = np.asarray(xy_model)
    def get_inputs(self): return [_Input("input", [1, 3, 384, 288])]
    def run(self, _, feeds):
        assert feeds["input"].shape == (1, 3, 384, 288)
        sx, sy = np.zeros((1, 133, 576), np.float32), np.zeros((1, 133, 768), np.float32)
        for k, (x, y) in enumerate(self.xy):
            sx[0, k, int(round(x * 2))] = 0.8
            sy[0, k, int(round(y * 2))] = 0.9
        return [sx, sy]


def test_yolox_and_simcc_decoding():
    raw = np.zeros((8400, 85), np.float32)
    raw[0, :4] = (0.5, 0.5, 0.0, 0.0)                            # anchor (0, 0) of stride 8: centre (4, 4), 8 × 8
    raw[0, 4], raw[0, 5] = 1.0, 0.5
    boxes, scores = yolox_decode(raw)
    assert np.allclose(boxes[0], (0, 0, 8, 8)) and scores[0] == 0.5 and len(boxes) == 8400
    sx, sy = np.zeros((2, 576)), np.zeros((2, 768))
    sx[0, 100], sy[0, 50], sx[1, 7], sy[1, 9] = 0.7, 0.4, 0.2, 0.9
    k, s = simcc_decode(sx, sy)
    assert np.allclose(k, [[50, 25], [3.5, 4.5]]) and np.allclose(s, [0.4, 0.2])


def test_dwpose_pipeline_with_stand_in_sessions():
    rgb = np.zeros((480, 320, 3), np.uint8)                      # portrait image; letterbox ratio 640 / 480
    r = 640 / 480
    box_img = np.array([80.0, 60.0, 240.0, 420.0])
    rng = np.random.default_rng(0)
    xy_model = np.stack([rng.uniform(20, 260, 133), rng.uniform(20, 360, 133)], 1).round(1)
    dw = DWPose(_FakeDetector(box_img * r), _FakeEstimator(xy_model))
    boxes = dw.detect(rgb)
    assert len(boxes) == 1 and np.allclose(boxes[0, :4], box_img, atol=1e-3)
    pose = dw(rgb)
    assert pose.skeleton == COCO_18 and (pose.width, pose.height) == (320, 480)
    cx, cy = box_img[:2] / 2 + box_img[2:] / 2
    bw, bh = (box_img[2:] - box_img[:2]) * 1.25
    bw = max(bw, bh * 288 / 384); bh = bw * 384 / 288 if bw > bh * 288 / 384 else bh
    expect = xy_model / [288, 384] * [bw, bh] + [cx - bw / 2, cy - bh / 2]
    assert np.allclose(pose.data[0, 0, :2], expect[0], atol=0.6)                     # nose
    assert np.allclose(pose.data[0, 2, :2], expect[6], atol=0.6)                     # RShoulder ← COCO-17 right shoulder
    assert np.allclose(pose.data[0, 1, :2], (expect[5] + expect[6]) / 2, atol=0.6)  # neck = mean of the shoulders
    hl = COCO_18.slice("hand_left_keypoints_2d")
    assert np.allclose(pose.data[0, hl.start, :2], expect[91], atol=0.6)
    assert np.allclose(pose.data[0, COCO_18.slice("face_keypoints_2d").start + 68], 0)  # pupils: not in DWPose


def test_wholebody_neck_needs_both_shoulders():
    k, s = np.ones((133, 2)), np.full(133, 0.9)
    s[5] = 0.1
    out = wholebody_to_coco18(k, s)
    assert out[1, 2] == 0 and np.all(out[1] == 0) and out[2, 2] == pytest.approx(0.9)


def test_dwpose_without_onnxruntime_says_what_to_do(tmp_path, monkeypatch):
    "onnxruntime is a dependency (the Text2Gloss cold path); a machine without it gets told what to do."
    import t2g2p2s.pose2sign as P
    assert onnxruntime_available()
    monkeypatch.setattr(P, "onnxruntime_available", lambda: False)
    with pytest.raises(ConfigError, match="onnxruntime"): load_dwpose(tmp_path)


# ---------------------------------------------------------------- memory, video, CLI

def test_memory_plan():
    """The committed table: the CPU plan is the fixed default; a card with little free memory runs the guidance
    passes one after the other in smaller decoder chunks (offloading only when that is not enough), a large one
    batches them, too little refuses; a given chunk is kept; the plan says its figures are extrapolated while the
    real size has only the whole-call measurement of issue 18."""
    cpu = plan_memory(None, 576, 1024)
    assert cpu == MemoryPlan(decode_chunk_size=8, cfg_batched=True, offload=False) and cpu.need_gib is None
    table = load_memory_table()
    small = plan_memory(12.5 * 2 ** 30, 576, 1024, table=table)       # just too little without offloading
    big = plan_memory(70 * 2 ** 30, 576, 1024, table=table)
    assert small.offload and not small.cfg_batched and 1 <= small.decode_chunk_size < big.decode_chunk_size <= 16
    assert big.cfg_batched and not big.offload and big.need_gib < 70
    assert plan_memory(12.5 * 2 ** 30, 576, 1024, decode_chunk_size=3, table=table).decode_chunk_size == 3
    with pytest.raises(ConfigError, match="does not fit"): plan_memory(6 * 2 ** 30, 576, 1024, table=table)
    if not any(r["model"] == "real" and r["phase"] != "total" for r in table.rows):
        assert "whole-call" in big.basis and "extrapolated" in small.basis
    cards = {r["card_gib"]: r for r in card_plans(n_tiles=3, max_tile_batch=3, table=table)}
    assert not any(r["offload"] for r in cards.values()) and cards[141]["tile_batch"] >= cards[40]["tile_batch"]
    assert cards[24]["need_gib"] <= cards[24]["free_gib"] - 1


def _table(rows, comp=None):
    return MemoryTable(rows, {"m": comp or {"unet": 3.0, "vae": 0.5, "image_encoder": 1.0, "pose_net": 0.0}}, "", "t")


def _unet_row(w, h, frames, cfg_batched, act, tile_batch=1):
    return dict(model="m", phase="unet", width=w, height=h, tile_frames=frames, tile_batch=tile_batch,
                cfg_batched=cfg_batched, resident_gib=4.5, peak_gib=4.5 + act)


def _decode_row(w, h, chunk, act):
    return dict(model="m", phase="decode", width=w, height=h, decode_chunk=chunk, resident_gib=4.5, peak_gib=4.5 + act)


def test_plan_memory_picks_from_the_measured_table():
    """Activation 10 GiB per 100 × 100 × 72 frame-passes, decoder 1 GiB per frame: exact rows are used as measured,
    others interpolated or extrapolated (with a margin); the plan prefers batched guidance, more tiles per call and
    the largest chunk that fit, offloads only when nothing fits without, and refuses when nothing fits at all."""
    rows = [_unet_row(100, 100, 72, True, 20.0), _unet_row(100, 100, 72, False, 10.0), _unet_row(100, 100, 36, False, 5.0),
            _decode_row(100, 100, 4, 4.0), _decode_row(100, 100, 8, 8.0)]
    t = _table(rows)
    assert t.activation("unet", "m", width=100, height=100, tile_frames=72, tile_batch=1, cfg_batched=True) == (
        20.0, "measured (3 measurements)")
    v, how = t.activation("unet", "m", width=100, height=100, tile_frames=72, tile_batch=2, cfg_batched=True)
    assert math.isclose(v, 1.1 * 40.0, rel_tol=1e-6) and how.startswith("extrapolated")
    v, how = t.activation("decode", "m", width=100, height=100, decode_chunk=6)
    assert math.isclose(v, 1.1 * 6.0, rel_tol=1e-6) and how.startswith("interpolated")
    gib = lambda g: int(g * 2 ** 30)
    kw = dict(tile_size=72, table=t, model="m", reserve_gib=1.0)
    big = plan_memory(gib(60), 100, 100, n_tiles=3, max_tile_batch=3, **kw)
    assert (big.cfg_batched, big.tile_batch, big.offload, big.decode_chunk_size) == (True, 2, False, 16)
    assert plan_memory(gib(60), 100, 100, n_tiles=1, max_tile_batch=3, **kw).tile_batch == 1     # one tile only
    mid = plan_memory(gib(15), 100, 100, **kw)
    assert (mid.cfg_batched, mid.offload, mid.decode_chunk_size) == (False, False, 12)
    tight = plan_memory(gib(10.2), 100, 100, **kw)                      # 10 GiB + reserve: only with the others off
    assert tight.offload and not tight.cfg_batched
    with pytest.raises(ConfigError, match="does not fit"): plan_memory(gib(5), 100, 100, **kw)
    with pytest.raises(ConfigError, match="no rows"): plan_memory(gib(50), 100, 100, tile_size=72, table=t, model="x")
    # only a whole-call row: it stands for every phase, and the plan says so
    whole = _table([dict(_unet_row(100, 100, 72, True, 20.0), phase="total", decode_chunk=16)])
    p = plan_memory(gib(40), 100, 100, **{**kw, "table": whole})
    assert p.cfg_batched and "whole-call" in p.basis and p.decode_chunk_size == 16


def test_committed_memory_table_is_honest():
    """The committed table names the source of every row; real-size plans come from measurements of the real size
    (until a GPU run: the one whole-call measurement quoted in issue 18), never from tiny rows."""
    t = load_memory_table()
    assert all(r.get("source") for r in t.rows) and set(t.components_gib) == {"tiny", "real"}
    assert 4.0 < t.weights_gib("real") < 4.5 and t.weights_gib("tiny") < 0.01
    real = [r for r in t.rows if r["model"] == "real"]
    assert real and all(r["phase"] == "total" or "bench/pose2sign.py --size real" in r["source"] for r in real)
    issue = [r for r in real if r["source"].startswith("issue 18")]
    assert issue and issue[0]["peak_gib"] == 28.1 and issue[0]["decode_chunk"] == 16
    assert component_gib("real") == t.components_gib["real"]
    if not any(r["phase"] != "total" for r in real):
        assert "extrapolated from that one measurement" in t.about


def test_write_video_round_trip(tmp_path):
    frames = np.zeros((9, 48, 32, 3), np.uint8)
    frames[:, :, :16] = 200
    p = write_video(frames, tmp_path / "v.mp4", 12.5)
    back, fps = read_video(p)
    assert back.shape == frames.shape and fps == 12.5 and np.abs(back.astype(int) - frames).mean() < 4
    assert not list(tmp_path.glob("*.part*"))
    with pytest.raises(ValueError, match="even"): write_video(np.zeros((2, 47, 32, 3), np.uint8), tmp_path / "odd.mp4", 10)


def test_cli_writes_video_and_sidecar(tiny_files, reference, tmp_path, capsys):
    from t2g2p2s.pipeline import main
    base, ckpt = tiny_files
    ref_png, ref_json, _ = reference
    pose_file = tmp_path / "sentence.pose"
    write_pose_file(read_pose_file(SAMPLE).slice(0, 30), pose_file)
    out = tmp_path / "out" / "sentence.mp4"
    args = ["--pose", str(pose_file), "--ref-image", str(ref_png), "--ref-keypoints", str(ref_json), "--base-model", str(base),
            "--checkpoint", str(ckpt), "--out", str(out), "--fps", "8", "--num-frames", "8", "--frames-overlap", "3",
            "--steps", "1", "--resolution", str(RES), "--device", "cpu", "--quiet", "--save-condition", str(tmp_path / "cond.mp4")]
    assert main(["pose2sign", *args]) == 0                       # the declared command of notebook 09b
    side = json.loads((tmp_path / "out" / "sentence.mp4.json").read_text())
    frames, fps = read_video(out)
    assert len(frames) == side["frames"] == 10 and fps == 8.0 and side["weights"]["unexpected"] == 0
    assert len(read_video(tmp_path / "cond.mp4")[0]) == 10 and str(pose_file) in side["inputs"]
    # errors: wrong skeleton, missing base model, no reference body — exit code 2 with a message, nothing written
    bad = [["--pose", str(MEDIAPIPE), *args[2:]],
           [*args[:7], str(tmp_path / "no-svd"), *args[8:]],
           [*args[:4], *args[6:]]]
    for argv, msg in zip(bad, ["skeleton", "does not exist", "reference body"]):
        out.unlink(missing_ok=True)
        assert main(["pose2sign", *argv]) == 2
        assert msg in capsys.readouterr().err and not out.exists()
    assert main(["pose2sign", *args[:11], str(tmp_path / "x.avi"), *args[12:]]) == 2
    assert ".mp4" in capsys.readouterr().err


def test_half_precision_loading_keeps_the_checkpoint_dtype(tiny_files):
    """The GPU path loads in fp16 or bf16: every component ends up in that dtype (checked on the CPU, no generation)."""
    for name, dt in (("bf16", torch.bfloat16), ("fp16", torch.float16)):
        pipe = load_pipeline(*tiny_files, device="cpu", dtype=name)
        assert pipe.dtype == dt and {p.dtype for m in (pipe.unet, pipe.pose_net, pipe.vae, pipe.image_encoder)
                                     for p in m.parameters()} == {dt}
    with pytest.raises(ConfigError, match="dtype"): load_pipeline(*tiny_files, device="cpu", dtype="int8")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA"): load_pipeline(*tiny_files, device="cuda")


def test_kubernetes_job_example_is_consistent():
    """The example Job: its embedded profile passes the runner's checks for notebook 09b, it asks for one GPU, and
    credentials come only from a Secret reference (no literal token in the file)."""
    import re
    import yaml
    from t2g2p2s.pipeline import numbered_notebooks, resolve_parameters
    path = ROOT / "deploy" / "k8s" / "pose2sign-papermill-job.yaml"
    text = path.read_text(encoding="utf-8")
    docs = [d for d in yaml.safe_load_all(text) if d]
    cm = next(d for d in docs if d["kind"] == "ConfigMap")
    job = next(d for d in docs if d["kind"] == "Job")
    profile = yaml.safe_load(cm["data"]["pose2sign-gpu.yaml"])
    nbs = numbered_notebooks(ROOT / "nbs")
    nb09 = [p for p in nbs if p.name == "09b_pose2sign.ipynb"]
    params = resolve_parameters(profile, nb09, nbs, profile_name=path.name)["09b"]
    assert params["num_frames"] == 72 and params["fps"] == 15.0 and profile["device"] == "cuda"
    spec = job["spec"]["template"]["spec"]
    main = spec["containers"][0]
    assert main["resources"]["limits"]["nvidia.com/gpu"] == 1 and "--only 09b" in main["args"][0]
    assert any(v["name"] == "profile" and v["configMap"]["name"] == cm["metadata"]["name"] for v in spec["volumes"])
    env = {e["name"]: e for c in spec["initContainers"] + spec["containers"] for e in c.get("env", [])}
    assert env["HF_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "hf-token" and "value" not in env["HF_TOKEN"]
    assert not re.search(r"hf_[A-Za-z0-9]{20,}", text), "a literal Hugging Face token in the manifest"


# ---------------------------------------------------------------- speed at unchanged output, measuring, batches

def test_phase_timer_and_tensor_meter():
    x = torch.ones(256, 1024)                                            # 1 MiB, made outside: not counted
    with TensorBytesMeter() as m:
        y = x + 1
        z = y * 2                                                        # 2 MiB live at most
        del y, z
    assert m.peak == 2 * 2 ** 20 and m.now == 0
    timer = PhaseTimer("cpu", memory=True)
    with timer("a"): w = x @ x.T
    with timer("a"): pass
    assert timer.phases["a"]["calls"] == 2 and timer.phases["a"]["peak_gib"] == round(w.nbytes / 2 ** 30, 6)
    assert PhaseTimer("cpu").memory is False and timer.total() >= timer.phases["a"]["seconds"]


def test_speed_plan_is_checked_and_resolved():
    with pytest.raises(ConfigError, match="unknown components"): SpeedPlan(compile=("clip",))
    with pytest.raises(ConfigError, match="tile_batch"): SpeedPlan(tile_batch=0)
    assert resolve_speed("auto", "cpu") == SpeedPlan() and resolve_speed("auto", "cuda") == FAST
    assert resolve_speed("fast", "cpu") == FAST and resolve_speed(FAST, "cpu") is FAST
    with pytest.raises(ConfigError, match="plain, fast or auto"): resolve_speed("turbo", "cpu")


def _fast_cpu(**kw):
    "FAST with a trace-only backend (inductor would compile C++ for minutes on the CPU)."
    import dataclasses
    return dataclasses.replace(FAST, compile_backend="eager", **kw)


def test_fast_path_gives_the_same_frames_and_latents(tiny):
    """FAST: two tiles per UNet call, NHWC weights, the traced UNet and decoder, the one-key cross-attention, the
    time-only convolutions in 2-D and skipped held chunks: the same frames (up to one level of rounding) and final
    latents as the plain path, on the same weights and seed."""
    ref, poses = _cond(tiny, 20)
    kw = dict(tile_size=8, tile_overlap=3, num_inference_steps=2, seed=4, show_progress=False, decode_frames=13,
              return_latents=True)
    plain, plain_lat = tiny.generate(ref, poses, memory=MemoryPlan(decode_chunk_size=4), **kw)
    tiny.optimise(_fast_cpu())                                            # the UNet and the decoder traced
    try:
        fast, fast_lat = tiny.generate(ref, poses, memory=MemoryPlan(decode_chunk_size=4, tile_batch=2), **kw)
        assert tiny.speed.compile == ("unet", "vae")                       # no fallback happened
    finally:
        tiny.optimise(SpeedPlan())
        torch._dynamo.reset()
    assert len(tile_indices(20, 8, 3)) == 4 and plain.shape == fast.shape == (13, *ref.shape)
    assert np.abs(plain.astype(int) - fast.astype(int)).max() <= 1 and (plain_lat - fast_lat).abs().max() < 1e-3
    assert tiny._unet_fn is tiny.unet and tiny._decode_fn is None and all(
        p.is_contiguous() for p in tiny.unet.parameters())


def test_exact_rewrites_give_the_same_frames_and_are_undone(tiny):
    """The one-key cross-attention (no query projection of a cross-attention ever runs), the time-only convolutions
    in 2-D (every such Conv3d of the UNet and the decoder), a preferred attention kernel and NDHWC 3-D weights: the
    same frames (to one level) and final latents (to rounding) as the plain path; `optimise(SpeedPlan())` puts
    everything back."""
    from diffusers.models.attention_processor import Attention
    ref, poses = _cond(tiny, 10)
    kw = dict(tile_size=6, tile_overlap=2, num_inference_steps=2, seed=3, show_progress=False, return_latents=True,
              memory=MemoryPlan(decode_chunk_size=4))
    plain, plain_lat = tiny.generate(ref, poses, **kw)
    cross = [m for m in tiny.unet.modules() if isinstance(m, Attention) and m.is_cross_attention]
    calls = []
    hooks = [m.to_q.register_forward_hook(lambda *a: calls.append(1)) for m in cross]
    n_conv3d = sum(type(m) is torch.nn.Conv3d for c in (tiny.unet, tiny.vae) for m in c.modules())
    try:
        for plan in (SpeedPlan(one_key_attention=True), SpeedPlan(time_conv_2d=True), SpeedPlan(attention="math"),
                     SpeedPlan(channels_last=True, time_conv_2d=True)):
            tiny.optimise(plan)
            calls.clear()
            got, got_lat = tiny.generate(ref, poses, **kw)
            assert np.abs(got.astype(int) - plain.astype(int)).max() <= 1, plan
            assert (got_lat - plain_lat).abs().max() < 1e-4, plan
            assert (len(calls) == 0) == plan.one_key_attention, plan
            swapped = sum(type(m) is TimeConv for c in (tiny.unet, tiny.vae) for m in c.modules())
            assert swapped == (n_conv3d if plan.time_conv_2d else 0) and n_conv3d >= 4
            w5 = [p for c in (tiny.unet, tiny.vae) for p in c.parameters() if p.dim() == 5]
            assert w5 and all(p.is_contiguous(memory_format=torch.channels_last_3d) == plan.channels_last for p in w5)
    finally:
        for h in hooks: h.remove()
        tiny.optimise(SpeedPlan())
    assert len(cross) >= 2 and not any(isinstance(m.processor, OneKeyAttnProcessor) for m in cross)
    assert not any(type(m) is TimeConv for c in (tiny.unet, tiny.vae) for m in c.modules())
    with pytest.raises(ConfigError, match="attention"): SpeedPlan(attention="turbo")
    with pytest.raises(ConfigError, match="one of"): sdpa_preference("turbo")


def test_one_key_processor_hands_other_calls_back():
    from diffusers.models.attention_processor import Attention
    attn = Attention(query_dim=16, cross_attention_dim=16, heads=2, dim_head=8).eval()
    g = torch.Generator().manual_seed(0)
    x, c1, c2 = (torch.randn(3, n, 16, generator=g) for n in (9, 1, 2))
    with torch.no_grad():
        want1, want2, want_self = attn(x, c1), attn(x, c2), attn(x)
        attn.set_processor(OneKeyAttnProcessor(attn.processor))
        got1, got2, got_self = attn(x, c1), attn(x, c2), attn(x)
    assert (got1 - want1).abs().max() < 1e-6 and torch.equal(got2, want2) and torch.equal(got_self, want_self)
    assert got1.shape == want1.shape and torch.equal(got1[:, 0], got1[:, 8])      # every query gets the same value


def test_count_flops_matches_a_real_run_and_the_rewrites(tiny):
    """Counting on meta copies gives what the tiny UNet computes on the CPU (reference attention); the one-key
    cross-attention removes the cross-attention families' operations only; decoding counts its chunks."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode
    c = count_flops(tiny.unet, tiny.vae, 32, 48, 7, decode_chunk=3, dtype=tiny.dtype)
    x = torch.randn(2, 7, tiny.unet.config.in_channels, 6, 4)
    with FlopCounterMode(display=False) as fc, torch.no_grad(), sdpa_kernel(SDPBackend.MATH):
        tiny.unet(x, 1.0, encoder_hidden_states=torch.randn(2, 1, tiny.unet.config.cross_attention_dim),
                  added_time_ids=torch.zeros(2, 3), return_dict=False)
    assert c["unet_call"] == fc.get_total_flops() > 0 and sum(c["unet_families"].values()) == c["unet_call"]
    assert all(v > 0 for k, v in c["unet_families"].items() if k != "other")
    one = count_flops(tiny.unet, tiny.vae, 32, 48, 7, decode_chunk=3, one_key=True)
    for k, v in c["unet_families"].items():
        assert (one["unet_families"][k] < v) if "cross" in k else (one["unet_families"][k] == v), k
    z = torch.randn(3, tiny.vae.config.latent_channels, 6, 4)
    with FlopCounterMode(display=False) as fd, torch.no_grad(), sdpa_kernel(SDPBackend.MATH):
        tiny.vae.decode(z, num_frames=3)
    z1 = torch.randn(1, tiny.vae.config.latent_channels, 6, 4)
    with FlopCounterMode(display=False) as f1, torch.no_grad(), sdpa_kernel(SDPBackend.MATH):
        tiny.vae.decode(z1, num_frames=1)
    assert c["decode_chunks"] == [3, 3, 1] and c["decode"] == 2 * fd.get_total_flops() + f1.get_total_flops()
    tiny.optimise(SpeedPlan(one_key_attention=True))
    try: assert tiny.flops(32, 48, 7, decode_chunk=3) == dict(one, one_key=True)
    finally: tiny.optimise(SpeedPlan())
    with pytest.raises(ConfigError, match="multiple"): count_flops(tiny.unet, tiny.vae, 30, 48, 7)


def test_skipping_held_chunks_keeps_the_frames(tiny):
    ref, poses = _cond(tiny, 11)
    kw = dict(tile_size=11, tile_overlap=3, num_inference_steps=1, seed=2, show_progress=False,
              memory=MemoryPlan(decode_chunk_size=4))
    full = tiny.generate(ref, poses, **kw)
    tiny.optimise(SpeedPlan(skip_held_decode=True))
    try: part = tiny.generate(ref, poses, decode_frames=6, **kw)         # chunks (0-3), (4-7): frames 8-10 skipped
    finally: tiny.optimise(SpeedPlan())
    assert np.array_equal(part, full[:6])
    assert np.array_equal(tiny.generate(ref, poses, decode_frames=6, **kw), full[:6])   # not skipped: trimmed


def test_a_failing_compiled_forward_falls_back_to_the_plain_one(tiny):
    ref, poses = _cond(tiny, 6)
    kw = dict(tile_size=6, tile_overlap=2, num_inference_steps=1, seed=1, show_progress=False,
              memory=MemoryPlan(decode_chunk_size=3))                  # full chunks: the compiled decoder is tried
    want = tiny.generate(ref, poses, **kw)
    def broken(*a, **k): raise RuntimeError("no compiler here")
    tiny.speed, tiny._unet_fn, tiny._decode_fn = SpeedPlan(compile=("unet", "vae")), broken, broken
    try:
        got = tiny.generate(ref, poses, **kw)
        assert tiny.speed.compile == ()                                   # both fell back, with a warning
    finally: tiny.optimise(SpeedPlan())
    assert np.array_equal(got, want)


def test_compiled_decoder_sees_full_chunks_only(tiny):
    """A sentence's shorter last chunk goes through the plain decoder, so the compiled one sees one shape whatever
    the sentence's length (no recompilation per length); the frames are the same either way."""
    ref, poses = _cond(tiny, 7)
    kw = dict(tile_size=7, tile_overlap=2, num_inference_steps=1, seed=5, show_progress=False,
              memory=MemoryPlan(decode_chunk_size=3))
    want = tiny.generate(ref, poses, **kw)
    tiny.optimise(SpeedPlan(compile=("vae",), compile_backend="eager"))
    seen, compiled = [], tiny._decode_fn
    tiny._decode_fn = lambda vae, z, n: seen.append(len(z)) or compiled(vae, z, n)
    try: got = tiny.generate(ref, poses, **kw)
    finally:
        tiny.optimise(SpeedPlan())
        torch._dynamo.reset()
    assert seen == [3, 3] and np.abs(got.astype(int) - want.astype(int)).max() <= 1      # chunks 3, 3 and 1


def test_output_changing_settings(tiny):
    """Guidance on a subset of steps and the second-order solver change the output (and are off by default); the
    first-order DPM-Solver++ on SVD's noise levels is the Euler scheduler."""
    ref, poses = _cond(tiny, 6)
    kw = dict(tile_size=6, tile_overlap=2, num_inference_steps=3, seed=1, show_progress=False, return_latents=True)
    _, base = tiny.generate(ref, poses, **kw)
    _, half = tiny.generate(ref, poses, guidance_steps=0.5, **kw)
    _, dpm = tiny.generate(ref, poses, solver="dpm++2m", **kw)
    _, full = tiny.generate(ref, poses, guidance_steps=1.0, **kw)
    assert torch.equal(base, full) and not torch.allclose(base, half) and not torch.allclose(base, dpm)
    e, d = tiny._scheduler("euler"), tiny._scheduler("dpm++2m", order=1)
    e.set_timesteps(4); d.set_timesteps(4)
    assert torch.allclose(e.sigmas, d.sigmas) and torch.allclose(e.timesteps, d.timesteps)
    with pytest.raises(ConfigError, match="solver"): tiny.generate(ref, poses, solver="ddim", **kw)
    with pytest.raises(ConfigError, match="guidance_steps"): tiny.generate(ref, poses, guidance_steps=2, **kw)


def test_real_size_components_without_building_them():
    gib = component_gib("real")
    assert 2.8 < gib["unet"] < 2.9 and 1.1 < gib["image_encoder"] < 1.25 and 0.15 < gib["vae"] < 0.2
    assert gib["pose_net"] < 0.001 and sum(component_gib("tiny").values()) < 0.01


def test_prepared_sentence_gives_the_same_video(tiny, sample_pose, reference):
    ref_png, ref_json, _ = reference
    kw = dict(resolution=RES, fps=8.0, num_frames=8, frames_overlap=3)
    pose = sample_pose.slice(0, 30)
    a = pose2sign(tiny, pose, ref_png, ref_json, num_inference_steps=1, seed=0, show_progress=False, **kw)
    prep = prepare_sentence(pose, ref_png, ref_json, size_multiple=tiny.size_multiple, **kw)
    b = pose2sign(tiny, None, ref_png, ref_json, prepared=prep, num_inference_steps=1, seed=0, show_progress=False,
                  **kw)
    assert np.array_equal(a.frames, b.frames) and a.settings == b.settings
    with pytest.raises(ConfigError, match="prepared"):
        pose2sign(tiny, None, ref_png, ref_json, prepared=prep, **{**kw, "fps": 6.0})


def test_read_inputs(tmp_path):
    (tmp_path / "a.pose").write_bytes(b"")
    lst = tmp_path / "list.txt"
    lst.write_text("# comment\n\na.pose\n/abs/b.POSE\n  Morgen regnet es.  \n")
    assert read_inputs(lst) == [tmp_path / "a.pose", Path("/abs/b.POSE"), "Morgen regnet es."]
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(DataError, match="names no pose"): read_inputs(tmp_path / "empty.txt")
    with pytest.raises(DataError, match="does not exist"): read_inputs(tmp_path / "none.txt")


def test_batch_writes_a_video_and_sidecar_per_input_with_one_model_load(tiny_files, tiny, sample_pose, reference,
                                                                       tmp_path, monkeypatch):
    """`run_batch` (the path of the papermill GPU cell) loads the model once for all items: pose files and a
    sentence (translated by a stand-in), each written with its sidecar; a failing item is reported and the others
    go on; overlapping the CPU work changes no frame."""
    import t2g2p2s.pose2sign as p2s
    ref_png, ref_json, _ = reference
    for name, (a, b) in {"one": (0, 20), "two": (10, 40)}.items():
        write_pose_file(sample_pose.slice(a, b), tmp_path / f"{name}.pose")
    lst = tmp_path / "inputs.txt"
    lst.write_text("one.pose\ntwo.pose\nMorgen regnet es.\nmissing.pose\n")
    loads = []
    real_load = p2s.load_pipeline
    monkeypatch.setattr(p2s, "load_pipeline", lambda *a, **k: loads.append(a) or real_load(*a, **k))
    translated = []
    def translate(text):
        translated.append(text)
        return sample_pose.slice(0, 12)
    kw = dict(resolution=RES, fps=8.0, num_frames=8, frames_overlap=3, num_inference_steps=1, seed=0)
    res = run_batch(*tiny_files, read_inputs(lst), ref_png, ref_json, out_dir=tmp_path / "out", device="cpu",
                    speed="auto", translate=translate, extra={"run": "test"}, **kw)
    assert len(loads) == 1 and translated == ["Morgen regnet es."]
    assert [r["error"] is None for r in res.report] == [True, True, True, False]
    assert "missing.pose" in res.report[3]["error"] and len(res.videos) == 3
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == sorted([*(v.name for v in res.videos), *(v.name + ".json" for v in res.videos),
                            "batch-report.json"])
    for v, row in zip(res.videos, res.report):
        side = json.loads(v.with_name(v.name + ".json").read_text())
        frames, fps = read_video(v)
        assert side["frames"] == row["frames"] == len(frames) and fps == 8.0 and side["run"] == "test"
        assert side["weights"]["unexpected"] == 0 and side["settings"]["speed"] == dataclasses_asdict(SpeedPlan())
    assert res.videos[0].name == "one-mimicmotion.mp4" and res.videos[2].name.startswith("002-morgen-regnet-es")
    seq = pose2sign_batch(tiny, read_inputs(lst)[:3], ref_png, ref_json, out_dir=tmp_path / "seq", overlap=False,
                          translate=translate, **kw)
    for a, b in zip(res.videos, seq.videos): assert np.array_equal(read_video(a)[0], read_video(b)[0])
    with pytest.raises(Exception): pose2sign_batch(tiny, [tmp_path / "missing.pose"], ref_png, ref_json,
                                                   out_dir=tmp_path / "strict", strict=True, **kw)
    with pytest.raises(ConfigError, match="sentence"):
        pose2sign_batch(tiny, ["Hallo."], ref_png, ref_json, out_dir=tmp_path / "s", strict=True, **kw)


def dataclasses_asdict(x):
    import dataclasses
    return json.loads(json.dumps(dataclasses.asdict(x)))


def test_bench_tiny_memory_part_runs(tmp_path):
    """`bench/pose2sign.py --size tiny` is CI-sized; its memory part (the table's producer) and its operation count
    run in seconds."""
    import subprocess
    import sys
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "pose2sign.py"), "--size", "tiny", "--only",
                          "memory,flops", "--workdir", str(tmp_path)], capture_output=True, text=True, timeout=300,
                         env={**__import__("os").environ, "T2G2P2S_PROGRESS": "0"})
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads((tmp_path / "results-tiny.json").read_text())
    rows = res["memory"]["rows"]
    assert {r["phase"] for r in rows} == {"unet", "decode"} and all(r["peak_gib"] > 0 for r in rows)
    t = MemoryTable(rows, {"tiny": component_gib("tiny")})
    assert plan_memory(2 * 2 ** 30, 32, 48, tile_size=16, model="tiny", table=t).basis.startswith("unet measured")
    fl = res["flops"]                                    # counted on meta copies: the short sentence's one tile
    today, fast = fl["counts"]["today"], fl["counts"]["fast"]
    assert sum(today["unet_families"].values()) == today["unet_call"] > fast["unet_call"] > 0
    assert fl["frames"] == 12 and today["decode_chunks"] == [4, 4, 4] and "rates" not in fl     # no speed part
