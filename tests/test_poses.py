"Tests of t2g2p2s.poses: the pose model, readers/writers (round trips on the real samples), malformed inputs, streaming memory."
import gzip
import json
import tracemalloc

import numpy as np
import pytest

from t2g2p2s.core import DataError, data_dir
from t2g2p2s.poses import (COCO_18, OPENPOSE_137, SKELS_50, Component, Pose, PoseFileError, Skeleton,
                           body25_to_coco18, coco18_from_body25_indices, concat_poses, mediapipe_to_openpose,
                           openpose_person, person_to_array, read_openpose_folder, read_openpose_json, read_pose_file,
                           read_skels, write_openpose_folder, write_pose_file, write_skels)
from t2g2p2s.corpus_poses import WrapperFrame, iter_dgs_wrapper, read_dgs_wrapper, write_dgs_wrapper

SAMPLES = data_dir() / "pose-samples"
SKELS = data_dir() / "pt-skels"
FS = data_dir() / "fingerspelling-gsg" / "gsg"


@pytest.fixture(scope="module")
def op():
    return read_pose_file(SAMPLES / "tests_openpose.pose")


@pytest.fixture(scope="module")
def op720(op):
    return op.to_pixels(1280, 720)


def people_of(pose, t):
    return [openpose_person(pose, t)] if pose.mask[t].any() else []


def dot_skeleton():
    return Skeleton("dot", (Component("c", ("p",)),))


# ---------------------------------------------------------------- skeletons and the model

def test_skeleton_constants(op):
    assert OPENPOSE_137.n_points == 137 and COCO_18.n_points == 130 and SKELS_50.n_points == 50
    assert op.skeleton is OPENPOSE_137                                   # the sample header is recognised
    assert OPENPOSE_137.slice("face_keypoints_2d") == slice(25, 95) and OPENPOSE_137.offset("hand_right_keypoints_2d") == 116
    assert OPENPOSE_137.index("pose_keypoints_2d", "LWrist") == 7 and OPENPOSE_137.point_names[95] == "hand_left_keypoints_2d/BASE"
    assert (95, 96) in OPENPOSE_137.limbs and all(0 <= a < 137 and 0 <= b < 137 for a, b in OPENPOSE_137.limbs)
    assert OPENPOSE_137.has("face_keypoints_2d") and not SKELS_50.has("face_keypoints_2d")
    assert SKELS_50.component("pose_keypoints_2d").points == ("Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist")
    body = COCO_18.component("pose_keypoints_2d")
    assert len(body.points) == 18 and len(body.limbs) == 17 and body.points[1] == "Neck" and body.points[17] == "LEar"
    with pytest.raises(KeyError): OPENPOSE_137.index("pose_keypoints_2d", "Tail")
    with pytest.raises(ValueError): Component("c", ("a",), ((0, 1),))


@pytest.mark.parametrize("kw, msg", [
    (dict(data=np.zeros((2, 137, 3))), "float32"),
    (dict(data=np.zeros((2, 130, 3), np.float32)), "130 points"),
    (dict(data=np.zeros((2, 137), np.float32)), "shape"),
    (dict(data=np.full((1, 137, 3), np.nan, np.float32)), "NaN"),
    (dict(data=np.array([[[5, 5, 0]] * 137], np.float32)), "missing points"),
    (dict(data=np.array([[[5, 5, -1]] * 137], np.float32)), "negative"),
    (dict(data=np.zeros((2, 137, 3), np.float32), width=1280), "width and height"),
    (dict(data=np.zeros((2, 137, 3), np.float32), z=np.zeros((2, 137))), "z"),
    (dict(data=np.zeros((2, 137, 3), np.float32), fps=0), "fps"),
])
def test_pose_validation(kw, msg):
    kw = dict(dict(skeleton=OPENPOSE_137, fps=25), **kw)
    with pytest.raises(ValueError, match=msg): Pose(**kw)


def test_pose_methods(op):
    assert op.n_frames == 93 and op.fps == 24 and op.duration == pytest.approx(93 / 24)
    assert op.component("hand_left_keypoints_2d").shape == (93, 21, 3)
    assert op.component("pose_keypoints_2d").base is not None                     # a view
    n = op.to_normalised()
    assert n.width is None and n.mask.tolist() == op.mask.tolist() and n.data[..., 0].max() <= 1
    assert n.to_pixels(1000, 1000).allclose(op, atol=1e-3)
    assert op.to_pixels(500, 250).data[..., 1].max() == pytest.approx(op.data[..., 1].max() / 4)
    a, b = op.slice(0, 40), op.slice(40, None)
    both = concat_poses([a, b])
    assert both == op and both.meta["segments"] == [(0, 40), (40, 93)] and Pose.concat([a, b]) == op
    c = op.copy(); c.data[0] = 0
    assert c != op and op.data[0].any()
    with pytest.raises(ValueError, match="fps"): concat_poses([a, b.resample(25)])
    with pytest.raises(ValueError, match="skeleton"): concat_poses([a, body25_to_coco18(b)])


def test_resample_never_invents_points():
    xy = np.array([[[0, 0]], [[10, 0]], [[np.nan, np.nan]], [[30, 0]], [[40, 0]]], np.float32)
    toy = Pose.from_arrays(xy, np.ones((5, 1)), dot_skeleton(), fps=10, z=np.arange(5, dtype=np.float32)[:, None])
    up = toy.resample(20)
    assert up.n_frames == 10 and up.fps == 20
    assert up.mask[:, 0].tolist() == [True] * 4 + [False] + [True] * 5
    assert up.data[:, 0, 0].tolist() == [0, 5, 10, 10, 0, 30, 30, 35, 40, 40]
    assert up.z[[1, 4, 7], 0].tolist() == [0.5, 0, 3.5]
    down = toy.resample(5)
    assert down.n_frames == 3 and down.mask[:, 0].tolist() == [True, False, True]
    assert toy.resample(10) == toy


def test_resample_real_sample(op):
    r = op.resample(50)
    assert r.n_frames == 194 and r.allclose(op.resample(50))
    pos = np.arange(r.n_frames) * 24 / 50
    lo, hi = np.floor(pos).astype(int), np.minimum(np.ceil(pos).astype(int), op.n_frames - 1)
    assert not (r.mask & ~(op.mask[lo] | op.mask[hi])).any()                       # nothing from nowhere
    exact = pos == lo
    assert np.array_equal(r.data[exact], op.data[lo[exact]])                        # exact instants copied


# ---------------------------------------------------------------- .pose files

@pytest.mark.parametrize("name", ["tests_openpose.pose", "tests_mediapipe.pose"])
def test_pose_file_roundtrip(name, tmp_path):
    p = read_pose_file(SAMPLES / name)
    q = read_pose_file(write_pose_file(p, tmp_path / "x.pose"))
    assert q == p and q.skeleton.point_names == p.skeleton.point_names and q.skeleton.limbs == p.skeleton.limbs


def test_pose_file_details(tmp_path):
    mp = read_pose_file(SAMPLES / "tests_mediapipe.pose")
    assert mp.n_points == 178 and mp.z is not None and (mp.width, mp.height) == (1250, 1250) and mp.fps == 24
    assert [c.name for c in mp.skeleton.components] == ["POSE_LANDMARKS", "FACE_LANDMARKS", "LEFT_HAND_LANDMARKS", "RIGHT_HAND_LANDMARKS"]
    assert not mp.component("LEFT_HAND_LANDMARKS").any()                     # masked in the file -> (0, 0, 0)
    assert (mp.z[~mp.mask] == 0).all()
    fs = read_pose_file(sorted(FS.glob("*.pose"))[0])
    assert fs.n_points == 586 and fs.skeleton.component("FACE_LANDMARKS").points[477] == "477"
    odd = Pose.from_arrays(np.ones((3, 1, 2)), np.ones((3, 1)), dot_skeleton(), fps=29.97)
    assert read_pose_file(write_pose_file(odd, tmp_path / "o.pose")) == odd       # fps survives float32 storage


# ---------------------------------------------------------------- OpenPose JSON

def test_openpose_folder_roundtrip(op, tmp_path):
    files = write_openpose_folder(op, tmp_path / "j", prefix="clip")
    assert len(files) == 93 and files[5].name == "clip_000000000005_keypoints.json"
    back = read_openpose_folder(tmp_path / "j", fps=24, width=1000, height=1000)
    assert back == op and back.allclose(op, atol=1e-6)
    obj = json.loads(files[0].read_text())
    assert obj["version"] == 1.3 and len(obj["people"][0]["pose_keypoints_2d"]) == 75 and obj["people"][0]["pose_keypoints_3d"] == []
    empty = op.copy(); empty.data[3] = 0
    write_openpose_folder(empty, tmp_path / "e")
    assert json.loads((tmp_path / "e" / "frame_000000000003_keypoints.json").read_text())["people"] == []
    assert not read_openpose_folder(tmp_path / "e").mask[3].any()
    files[10].unlink()                                                       # a gap becomes a missing frame
    gap = read_openpose_folder(tmp_path / "j", fps=24, width=1000, height=1000)
    assert gap.n_frames == 93 and not gap.mask[10].any() and np.array_equal(gap.data[11], op.data[11])


def test_person_selection(op, tmp_path):
    strong, weak = openpose_person(op, 0), openpose_person(op, 0)
    weak["pose_keypoints_2d"] = [v * 0.5 if i % 3 == 2 else v for i, v in enumerate(weak["pose_keypoints_2d"])]
    f = tmp_path / "x_000000000004_keypoints.json"
    f.write_text(json.dumps({"version": 1.3, "people": [weak, strong]}))
    best, first, second = (read_openpose_json(f, person=p) for p in ("best", "first", 1))
    assert np.array_equal(best.data[0], op.data[0]) and np.array_equal(second.data[0], op.data[0])
    assert first.data[0, 0, 2] == pytest.approx(op.data[0, 0, 2] * 0.5)
    assert not read_openpose_json(f, person=5).mask.any()
    assert person_to_array(strong).shape == (137, 3)


# ---------------------------------------------------------------- DGS-Korpus wrapper

def sample_records(op720):
    a1 = {t: people_of(op720, t) for t in range(op720.n_frames) if t % 4 != 2}           # sparse
    return [{"id": "1413485", "camera": "a1", "width": 1280, "height": 720, "frames": a1},
            {"id": "1413485", "camera": "b1", "width": 1280, "height": 720,
             "frames": [(t, people_of(op720, t)) for t in range(op720.n_frames)]}]


@pytest.mark.parametrize("suffix", [".json", ".json.gz"])
def test_dgs_wrapper_roundtrip(op720, tmp_path, suffix):
    recs = sample_records(op720)
    path = write_dgs_wrapper(tmp_path / f"1413485_openpose{suffix}", recs)
    frames = list(iter_dgs_wrapper(path))
    assert all(isinstance(f, WrapperFrame) for f in frames)
    expected = [("a1", t, p) for t, p in sorted(recs[0]["frames"].items())] + [("b1", t, p) for t, p in recs[1]["frames"]]
    assert [(f.camera, f.frame, f.people) for f in frames] == expected
    assert {(f.transcript_id, f.width, f.height) for f in frames} == {("1413485", 1280, 720)}
    assert [f.frame for f in iter_dgs_wrapper(path, cameras="b1")] == list(range(93))
    a1 = read_dgs_wrapper(path, camera="a1")
    want = op720.data.copy(); want[2::4] = 0
    assert a1.fps == 50 and (a1.width, a1.height) == (1280, 720) and np.array_equal(a1.data, want)
    assert a1.meta["transcript_id"] == "1413485" and a1.meta["camera"] == "a1"
    part = read_dgs_wrapper(path, camera="b1", start=30, end=100)
    assert part.n_frames == 70 and np.array_equal(part.data[:63], op720.data[30:]) and not part.mask[63:].any()
    # same input, same bytes (gzip header without time stamp or file name)
    again = write_dgs_wrapper(tmp_path / f"again{suffix}", sample_records(op720))
    assert again.read_bytes() == path.read_bytes()
    if suffix == ".json.gz":
        assert path.read_bytes()[4:8] == b"\0\0\0\0"                            # mtime 0
        plain = gzip.decompress(path.read_bytes())
        assert json.loads(plain)[0]["frames"]["0"]["version"] == 1.3


@pytest.mark.parametrize("chunk", [1, 7, 100, 4096])
def test_dgs_wrapper_any_chunk_size(op720, tmp_path, chunk):
    path = write_dgs_wrapper(tmp_path / "w.json.gz", sample_records(op720.slice(0, 12)))
    ref = list(iter_dgs_wrapper(path))
    assert list(iter_dgs_wrapper(path, chunk_size=chunk)) == ref
    pretty = tmp_path / "pretty.json"                                        # whitespace everywhere, keys in odd places
    pretty.write_text(json.dumps([{"note": {"a": [1, "x"]}, **r} for r in json.loads(gzip.decompress(path.read_bytes()))], indent=3))
    assert list(iter_dgs_wrapper(pretty, chunk_size=chunk)) == ref


def test_dgs_wrapper_value_cap(op720, tmp_path):
    path = write_dgs_wrapper(tmp_path / "w.json", sample_records(op720.slice(0, 3)))
    with pytest.raises(PoseFileError, match="longer than 1000 characters"):
        list(iter_dgs_wrapper(path, chunk_size=64, max_frame_chars=1000))


# ---------------------------------------------------------------- malformed inputs: one error type, file + frame named

def _wrapper_text(op720):
    recs = sample_records(op720.slice(0, 12))
    return json.dumps([dict(r, frames={str(k): {"version": 1.3, "people": v} for k, v in
                                       (sorted(r["frames"].items()) if isinstance(r["frames"], dict) else r["frames"])})
                       for r in recs], separators=(",", ":"))


def _break(text, kind):
    k = text.index('"5":{')                                               # camera a1, frame 5
    if kind == "wrong length": return text[:k] + text[k:].replace('"hand_left_keypoints_2d":[', '"hand_left_keypoints_2d":[0,', 1)
    if kind == "missing key": return text[:k] + text[k:].replace('"pose_keypoints_2d"', '"pose_keypoints_xx"', 1)
    if kind == "non-numeric": return text[:k] + text[k:].replace('"face_keypoints_2d":[', '"face_keypoints_2d":["7",', 1).replace(',0.0]', ']', 1)
    if kind == "invalid JSON": return text[:k] + text[k:].replace('"people":[', '"people":[,', 1)
    if kind == "no people": return text[:k] + text[k:].replace('"people":', '"persons":', 1)
    raise KeyError(kind)


@pytest.mark.parametrize("kind", ["wrong length", "missing key", "non-numeric", "invalid JSON", "no people"])
@pytest.mark.parametrize("gz", [False, True])
def test_wrapper_malformed_frame(op720, tmp_path, kind, gz):
    text = _break(_wrapper_text(op720), kind)
    path = tmp_path / f"T1_openpose.json{'.gz' if gz else ''}"
    path.write_bytes(gzip.compress(text.encode()) if gz else text.encode())
    with pytest.raises(PoseFileError) as e: read_dgs_wrapper(path, camera="a1")
    assert str(e.value).startswith(f"{path}: camera a1, frame 5: "), str(e.value)
    assert isinstance(e.value, DataError)


def test_wrapper_truncated(op720, tmp_path):
    text = _wrapper_text(op720)
    blob = gzip.compress(text.encode())
    cut = tmp_path / "cut_openpose.json.gz"; cut.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(PoseFileError, match=r"cut_openpose\.json\.gz: camera \w+, frame \d+: truncated gzip"): list(iter_dgs_wrapper(cut))
    cut2 = tmp_path / "cut2_openpose.json.gz"; cut2.write_bytes(blob[:-6])       # whole JSON, trailer missing
    with pytest.raises(PoseFileError, match="truncated gzip"): list(iter_dgs_wrapper(cut2))
    k = text.index('"7":{') + 300
    plain = tmp_path / "cut_openpose.json"; plain.write_text(text[:k])
    with pytest.raises(PoseFileError, match=r"cut_openpose\.json: camera a1, frame 7: file ends inside a JSON value"): list(iter_dgs_wrapper(plain))


@pytest.mark.parametrize("chunk", [1, 3, 4096])
def test_wrapper_text_beyond_ascii(op720, tmp_path, chunk):
    """The readers move over bytes: a record id and header values beyond ASCII come out whole whatever the chunk
    size, and bytes that are not UTF-8, even in frames nobody decodes, are refused with their byte offset."""
    from t2g2p2s.corpus_poses import FrameBlock, iter_wrapper_blocks
    plain = _wrapper_text(op720)
    text = plain.replace('"id":"1413485"', '"id":"Ü-1","note":"Größe ½"', 2)
    assert text.count("Ü-1") == 2
    path = tmp_path / "u_openpose.json"; path.write_bytes(text.encode())
    (tmp_path / "p_openpose.json").write_text(plain)
    frames = list(iter_dgs_wrapper(path, chunk_size=chunk))
    assert {f.transcript_id for f in frames} == {"Ü-1"}
    assert [f._replace(transcript_id="") for f in frames] == \
        [f._replace(transcript_id="") for f in iter_dgs_wrapper(tmp_path / "p_openpose.json")]
    blocks = [b for b in iter_wrapper_blocks(path, {"a1": [(0, 4)]}, chunk_size=chunk) if isinstance(b, FrameBlock)]
    assert {b.transcript_id for b in blocks} == {"Ü-1"} and 3 in np.concatenate([b.frames for b in blocks])
    k = text.index('"b1"'); k = text.index('"9":{', k) + 40                 # inside frame 9 of camera b1
    bad = tmp_path / "bad_openpose.json"; bad.write_bytes(text[:k].encode() + b"\xe9" + text[k:].encode())
    with pytest.raises(PoseFileError, match=r"not UTF-8 text .*\(at byte \d+\)"):
        list(iter_wrapper_blocks(bad, {"a1": [(0, 4)], "b1": []}, chunk_size=chunk))


@pytest.mark.parametrize("text, match", [
    ("", r"e\.json: start of file: empty file"),
    ("   \n", "empty file"),
    ('{"id": 1}', "expected a JSON list"),
    ('[{"id":"x","camera":"a1","frames":{"0":{"people":[]}},"width":1,"height":1}]', "record 0: 'frames' comes before width, height"),
    ('[{"id":"x","camera":"a1","width":1,"height":1}]', "camera record without 'frames'"),
    ('[{"id":"x","camera":"a1","width":0,"height":1,"frames":{}}]', "width must be a positive integer"),
    ('[{"id":"x","camera":"a1","width":1,"height":1,"frames":{"zero":{"people":[]}}}]', "frame key 'zero' is not a frame number"),
    ('[{"id":"x","camera":"a1","width":1,"height":1,"frames":{"0":[]}}]', "camera a1, frame 0: frame must be a JSON object"),
    ('[{"id":"x","camera":"a1","width":1,"height":1,"frames":{}}] x', "unexpected data after"),
])
def test_wrapper_malformed_structure(tmp_path, text, match):
    path = tmp_path / "e.json"; path.write_text(text)
    with pytest.raises(PoseFileError, match=match): list(iter_dgs_wrapper(path))


def test_wrapper_missing_camera_and_empty_gz(op720, tmp_path):
    path = write_dgs_wrapper(tmp_path / "w.json", sample_records(op720.slice(0, 3)))
    with pytest.raises(PoseFileError, match=r"no record for camera 'c' \(cameras in file: \['a1', 'b1'\]\)"): read_dgs_wrapper(path, camera="c")
    e = tmp_path / "e.json.gz"; e.write_bytes(gzip.compress(b""))
    with pytest.raises(PoseFileError, match="empty file"): list(iter_dgs_wrapper(e))


@pytest.mark.parametrize("content, match", [
    ("", r"x_000000000003_keypoints\.json: frame 3: empty file"),
    ('{"version": 1.3, "people": [', r"frame 3: invalid JSON"),
    ('{"version": 1.3}', r"frame 3: frame has no 'people'"),
    ('{"version": 1.3, "people": [{"pose_keypoints_2d": []}]}', r"frame 3: pose_keypoints_2d has 0 values"),
    ('{"version": 1.3, "people": [{"pose_keypoints_2d": [0, 0, 0]}]}', r"frame 3: pose_keypoints_2d has 3 values"),
])
def test_openpose_json_malformed(tmp_path, content, match):
    f = tmp_path / "x_000000000003_keypoints.json"; f.write_text(content)
    with pytest.raises(PoseFileError, match=match): read_openpose_json(f)


@pytest.mark.parametrize("bad, match", [
    ({"pose_keypoints_2d": None}, "person has no 'pose_keypoints_2d'"),
    ({"face_keypoints_2d": [0.0] * 209}, "face_keypoints_2d has 209 values, expected 210"),
    ({"hand_left_keypoints_2d": [0.0] * 62 + ["x"]}, r"hand_left_keypoints_2d\[62\] is not a finite number: 'x'"),
    ({"hand_right_keypoints_2d": [None] + [0.0] * 62}, r"hand_right_keypoints_2d\[0\] is not a finite number: None"),
    ({"pose_keypoints_2d": [float("nan")] + [0.0] * 74}, r"pose_keypoints_2d\[0\] is not a finite number"),
    ({"pose_keypoints_2d": [True] * 75}, r"pose_keypoints_2d\[0\] is not a finite number: True"),
    ({"pose_keypoints_2d": [[1]] * 75}, r"pose_keypoints_2d\[0\] is not a finite number"),
])
def test_person_to_array_malformed(op, bad, match):
    person = openpose_person(op, 0)
    person.update(bad)
    if bad.get("pose_keypoints_2d", 0) is None: del person["pose_keypoints_2d"]
    with pytest.raises(PoseFileError, match="f.json: camera a1, frame 9: " + match): person_to_array(person, "f.json", "camera a1, frame 9")


def test_pose_file_malformed(tmp_path):
    e = tmp_path / "e.pose"; e.write_bytes(b"")
    with pytest.raises(PoseFileError, match=r"e\.pose: empty file"): read_pose_file(e)
    t = tmp_path / "t.pose"; t.write_bytes((SAMPLES / "tests_openpose.pose").read_bytes()[:500])
    with pytest.raises(PoseFileError, match=r"t\.pose: not a readable \.pose file"): read_pose_file(t)


# ---------------------------------------------------------------- skels

@pytest.mark.parametrize("name", ["dev.skels", "train.skels"])
def test_skels_roundtrip_byte_identical(name, tmp_path):
    poses = read_skels(SKELS / name)
    assert len(poses) == 5 and all(p.skeleton is SKELS_50 and p.fps == 25 and p.z is not None for p in poses)
    assert all(p.mask.all() for p in poses)                                 # the neck (origin) counts as present
    assert write_skels(poses, tmp_path / name).read_bytes() == (SKELS / name).read_bytes()
    assert [p.n_frames for p in read_skels(tmp_path / name)] == [p.n_frames for p in poses]


def test_skels_layout():
    p = read_skels(SKELS / "dev.skels")[0]
    xyz = np.concatenate([p.data[..., :2], p.z[..., None]], -1)
    lw, rw = SKELS_50.index("pose_keypoints_2d", "LWrist"), SKELS_50.index("pose_keypoints_2d", "RWrist")
    lbase, rbase = SKELS_50.index("hand_left_keypoints_2d", "BASE"), SKELS_50.index("hand_right_keypoints_2d", "BASE")
    assert np.abs(xyz[:, lbase] - xyz[:, lw]).max() < 0.1 < np.abs(xyz[:, lbase] - xyz[:, rw]).max()
    assert np.abs(xyz[:, rbase] - xyz[:, rw]).max() < 0.1 < np.abs(xyz[:, rbase] - xyz[:, lw]).max()


def test_skels_missing_joint_and_counter(tmp_path):
    z = np.zeros((4, 50), np.float32); z[:, 0] = 0.25
    xy = np.full((4, 50, 2), 0.5, np.float32)
    conf = np.ones((4, 50), np.float32); conf[1, 10] = 0
    p = Pose.from_arrays(xy, conf, SKELS_50, 25, z=z)
    line = write_skels([p], tmp_path / "s.skels").read_text().split()
    assert len(line) == 4 * 151 and [line[151 * t + 150] for t in range(4)] == ["0.0000", "0.2500", "0.5000", "0.7500"]
    assert line[151 + 30:151 + 33] == ["0.00000"] * 3
    q = read_skels(tmp_path / "s.skels")[0]
    assert q == p


@pytest.mark.parametrize("content, match", [
    ("", r"s\.skels: empty file"),
    ("1.0 " * 150 + "0.0\n" + "1.0 " * 100 + "\n", r"s\.skels: line 2, frame 0: 100 values is not a multiple of 151"),
    ("1.0 " * 150 + "0.0 " + "1.0 " * 149 + "\n", r"line 1, frame 1: 300 values"),
    ("1.0 " * 150 + "0.0 " + "1.0 " * 20 + "abc " + "1.0 " * 129 + "0.5\n", r"line 1, frame 1: value 20 is not a finite number: 'abc'"),
    ("1.0 " * 150 + "0.0\n\n" + "1.0 " * 150 + "0.0\n", r"line 2: empty line"),
])
def test_skels_malformed(tmp_path, content, match):
    f = tmp_path / "s.skels"; f.write_text(content)
    with pytest.raises(PoseFileError, match=match): read_skels(f)


# ---------------------------------------------------------------- conversions

def test_mediapipe_to_openpose_full_mesh():
    m = read_pose_file(sorted(FS.glob("*.pose"))[0])
    o = mediapipe_to_openpose(m)
    assert o.skeleton is OPENPOSE_137 and (o.width, o.height, o.fps) == (m.width, m.height, m.fps) and o.z is not None
    sk = m.skeleton
    for side in ("LEFT", "RIGHT"):
        assert np.array_equal(o.component(f"hand_{side.lower()}_keypoints_2d"), m.component(f"{side}_HAND_LANDMARKS"))
    for op_name, mp_name in (("RWrist", "RIGHT_WRIST"), ("LWrist", "LEFT_WRIST"), ("Nose", "NOSE"), ("LHip", "LEFT_HIP")):
        assert np.array_equal(o.data[:, OPENPOSE_137.index("pose_keypoints_2d", op_name)], m.data[:, sk.index("POSE_LANDMARKS", mp_name)])
    ls, rs = m.data[:, sk.index("POSE_LANDMARKS", "LEFT_SHOULDER")], m.data[:, sk.index("POSE_LANDMARKS", "RIGHT_SHOULDER")]
    both = (ls[:, 2] > 0) & (rs[:, 2] > 0)
    assert np.allclose(o.data[both, 1, :2], (ls[both, :2] + rs[both, :2]) / 2) and (o.data[~both, 1] == 0).all()
    face = o.component("face_keypoints_2d")
    assert np.array_equal(face[:, 68], m.data[:, sk.index("FACE_LANDMARKS", "468")])       # right pupil = iris centre 468
    assert (face[:, 36, 0] < face[:, 68, 0]).all() and (face[:, 68, 0] < face[:, 39, 0]).all()  # inside the right eye
    assert not o.mask[:, [20, 23]].any()                                                # no small toes in MediaPipe
    dropped = mediapipe_to_openpose(m, min_visibility=0.5)
    assert not (dropped.data[:, :25, 2][dropped.mask[:, :25]] < 0.5).any()


def test_mediapipe_to_openpose_reduced():
    m = read_pose_file(SAMPLES / "tests_mediapipe.pose")
    o = mediapipe_to_openpose(m)
    body = o.component("pose_keypoints_2d")
    assert body[:, [2, 3, 4, 5, 6, 7, 9, 12], 2].all() and not body[:, 0].any()        # no nose in the 8-point body
    face = o.mask[:, 25:95]
    assert face[:, [0, 8, 16, 36, 45, 48, 54]].all() and not face[:, [30, 33, 68, 69]].any()  # contours only: no nose, no iris
    assert np.array_equal(o.component("hand_right_keypoints_2d"), m.component("RIGHT_HAND_LANDMARKS"))
    with pytest.raises(ValueError, match="none of the MediaPipe components"): mediapipe_to_openpose(read_pose_file(SAMPLES / "tests_openpose.pose"))


def test_body25_to_coco18(op):
    c = body25_to_coco18(op)
    assert c.skeleton is COCO_18 and c.n_points == 130
    assert np.array_equal(c.data[:, :18], op.data[:, list(coco18_from_body25_indices)])
    assert np.array_equal(c.data[:, 18:], op.data[:, 25:])
    names = COCO_18.component("pose_keypoints_2d").points
    assert [OPENPOSE_137.components[0].points[i] for i in coco18_from_body25_indices] == list(names)
    with pytest.raises(ValueError, match="openpose_137"): body25_to_coco18(c)


# ---------------------------------------------------------------- streaming memory

@pytest.fixture(scope="module")
def big_wrapper(tmp_path_factory, op):
    p720 = op.to_pixels(1280, 720)
    people = [people_of(p720, t) for t in range(p720.n_frames)]
    path = tmp_path_factory.mktemp("big") / "big_openpose.json"
    recs = [{"id": "big", "camera": cam, "width": 1280, "height": 720,
             "frames": [(t, people[t % 93]) for t in range(lo, lo + 1000)]} for cam, lo in (("a1", 0), ("b1", 1000))]
    return write_dgs_wrapper(path, recs)


def _peak(fn):
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_streaming_memory_bounded(big_wrapper):
    def stream(): assert sum(1 for _ in iter_dgs_wrapper(big_wrapper, chunk_size=1 << 16)) == 2000
    def load():
        with open(big_wrapper, encoding="utf-8") as f: data = json.load(f)
        assert sum(len(r["frames"]) for r in data) == 2000
    s, j = _peak(stream), _peak(load)
    size = big_wrapper.stat().st_size
    assert s < j / 20 and s < size / 10, (s, j, size)


def test_rounding_and_skeleton_identity(op, tmp_path):
    low = op.slice(0, 3); low.data[0, 100, 2] = 0.003                       # a faint but present point
    files = write_openpose_folder(low, tmp_path / "r", decimals=2)
    text = files[0].read_text()
    assert max(len(t.split(".")[1]) for t in text.replace("]", ",").split(",") if "." in t and t[-1].isdigit()) <= 2
    back = read_openpose_folder(tmp_path / "r", fps=24, width=1000, height=1000)
    assert back.allclose(low, atol=0.0071) and not back == low and back.data[0, 100, 2] == pytest.approx(0.01)
    renamed = Skeleton("another name", OPENPOSE_137.components)
    assert renamed == OPENPOSE_137 and hash(renamed) == hash(OPENPOSE_137)
    assert Skeleton("x", OPENPOSE_137.components[:2]) != OPENPOSE_137
