"""Tests of t2g2p2s.lexicon_build: thesis-spec §10 items 13 and 14 (each also run against an emulation of the thesis's
behaviour, which must fail the same check), span frames, bounded memory, Dask = process pool, bad inputs (reported
with transcript id and place, skipped, no partial files) and the `lexicon build` command."""
import gzip
import json
import tracemalloc

import numpy as np
import pandas as pd
import pytest

from t2g2p2s.core import run_command
from t2g2p2s.lexicon import Lexicon
from t2g2p2s.lexicon_build import build_lexicon, candidate_spans, choose_person, extract_transcript, span_frames
from t2g2p2s.poses import PoseFileError

W, H = 1280, 720
KEYS = (("pose_keypoints_2d", 0, 25), ("face_keypoints_2d", 25, 95), ("hand_left_keypoints_2d", 95, 116),
        ("hand_right_keypoints_2d", 116, 137))
CAM_BASE = {"a1": 100.0, "b1": 400.0, "c": 700.0}   # x offset per camera: tells which camera a frame came from
THESIS_UPPER = (0, 1, 2, 3, 4, 5, 6, 7, 8, 15, 16, 17, 18)


# ---------------------------------------------------------------- fixtures written with plain json + gzip

def signer(camera: str, f: int, conf: float = 0.9, face_conf: float | None = None, hand_conf: float | None = None,
           person: int = 0) -> np.ndarray:
    "A (137, 3) array whose values name camera, frame and person (multiples of 1/4: exact in float32 and JSON)."
    a = np.zeros((137, 3), np.float64)
    a[:, 0] = CAM_BASE[camera] + f + 0.25 * person
    a[:, 1] = 50.0 + np.arange(137) + 0.5 * person
    a[:, 2] = conf
    if face_conf is not None: a[25:95, 2] = face_conf
    if hand_conf is not None: a[95:137, 2] = hand_conf
    a[a[:, 2] == 0, :2] = 0
    return a


def person_dict(a: np.ndarray) -> dict:
    flat = a.ravel().tolist()
    d = {"person_id": [-1]}
    for k, lo, hi in KEYS: d[k] = flat[3 * lo: 3 * hi]
    for k, _, _ in KEYS: d[k.replace("_2d", "_3d")] = []
    return d


def write_wrapper(path, tid, n_frames, cameras=("a1", "b1", "c"), people=None, skip=(), raw_text=False):
    """A DGS-Korpus wrapper (gzip JSON list of camera records). `people(camera, f)` -> list of (137, 3) arrays
    (default: one signer). Returns the records (as they were written)."""
    people = people or (lambda cam, f: [signer(cam, f)])
    recs = []
    for cam in cameras:
        frames = {}
        for f in range(n_frames):
            if (cam, f) in skip: continue
            frames[str(f)] = {"version": 1.3, "people": [person_dict(a) for a in people(cam, f)]}
        recs.append({"id": tid, "camera": cam, "width": W, "height": H, "frames": frames})
    text = json.dumps(recs)
    with gzip.open(path, "wt", encoding="utf-8") as f: f.write(text)
    return json.loads(text)


def tokens(rows, tid="T1"):
    "A tokens table in 03's columns from (speaker, hand, gloss, start_ms, end_ms[, sentence_id])."
    out = []
    for i, r in enumerate(rows):
        spk, hand, gloss, a, b = r[:5]
        out.append({"token_id": f"{tid}:{spk}:t{i}", "transcript_id": tid, "speaker": spk, "hand": hand, "start_ms": a,
                    "end_ms": b, "end_ms_capped": a + min(b - a, 2000), "raw_gloss": gloss, "gloss": gloss,
                    "type": gloss.split(":")[0], "category": "lexical", "dual": False,
                    "sentence_id": r[5] if len(r) > 5 else None, "excluded": False, "exclude_reason": None})
    df = pd.DataFrame(out)
    for c in ("token_id", "transcript_id", "speaker", "hand", "raw_gloss", "gloss", "type", "category", "sentence_id",
              "exclude_reason"):
        df[c] = df[c].astype("string")
    return df


def entry_frames(lex: Lexicon, gloss: str) -> list[np.ndarray]:
    return [lex.pose(e.entry_id).data for e in lex.entries(gloss)]


# -------------------------------------------------------- an emulation of the thesis's mapper (thesis-spec §2.6)

def thesis_gloss2pose(records: list, glosses) -> dict:
    """§2.6 as specified: camera record [0] for A and [1] for B, frames int(ms/1000·fps) inclusive, every person
    appended, person dicts mutated in place (3d keys deleted, x/width, y/height, body reduced to 13 points)."""
    out = {}
    for spk, gloss, a, b in glosses:
        rec = records[0] if spk == "A" else records[1]
        w, h = rec["width"], rec["height"]
        seq = []
        for f in range(int(a / 1000 * 50), int(b / 1000 * 50) + 1):
            fr = rec["frames"].get(str(f))
            if fr is None: continue
            for p in fr["people"]:
                for k in [k for k in p if k.endswith("_3d")]: del p[k]
                for k, _, _ in KEYS:
                    p[k] = [v / w if i % 3 == 0 else v / h if i % 3 == 1 else v for i, v in enumerate(p[k])]
                p["pose_keypoints_2d"] = [v for i, v in enumerate(p["pose_keypoints_2d"]) if i // 3 in THESIS_UPPER]
                seq.append(p)
        out[gloss] = seq
    return out


def thesis_once(a: np.ndarray) -> list:
    "What the thesis meant one source frame to become: normalised once, body reduced to 13 points (flat)."
    b = a.copy(); b[:, 0] /= W; b[:, 1] /= H
    body = b[list(THESIS_UPPER)].ravel().tolist()
    return body + b[25:].ravel().tolist()


def thesis_flat(p: dict) -> list:
    return p["pose_keypoints_2d"] + p["face_keypoints_2d"] + p["hand_left_keypoints_2d"] + p["hand_right_keypoints_2d"]


def same_frames(got: list, want: list) -> bool:
    "Check used against both implementations: the same number of frames, each equal to its source frame."
    return len(got) == len(want) and all(len(g) == len(x) and np.allclose(np.asarray(g, float), np.asarray(x, float))
                                         for g, x in zip(got, want))


# ---------------------------------------------------------------- §10 item 13

def test_span_frame_rule():
    assert span_frames(0, 20) == (0, 1) and span_frames(30, 70) == (1, 4) and span_frames(40, 80) == (2, 4)
    f0, f1 = span_frames(np.array([200, 400]), np.array([400, 600]))
    assert list(f0) == [10, 20] and list(f1) == [20, 30]      # touching spans aligned to frames share no frame


def test_item13_dual_gloss_and_shared_frames_are_copies(tmp_path):
    """Dual gloss (X right, Y left, one span) and an overlapping span Z: every instance equals its source frames.
    The thesis's in-place mutation normalises the shared frames twice and shrinks their body array: it fails."""
    recs = write_wrapper(tmp_path / "T1_openpose.json.gz", "T1", 60)
    toks = tokens([("A", "r", "X1", 200, 400), ("A", "l", "Y1", 200, 400), ("A", "r", "Z1", 370, 600)])
    rep = build_lexicon(toks, {"T1": tmp_path / "T1_openpose.json.gz"}, tmp_path / "lex", executor="serial")
    lex = Lexicon.open(tmp_path / "lex")
    assert rep.n_entries == 3 and not rep.problems
    spans = (("X1", 200, 400), ("Y1", 200, 400), ("Z1", 370, 600))
    want = {g: [signer("a1", f) for f in range(*map(int, span_frames(a, b)))] for g, a, b in spans}
    for g in ("X1", "Y1", "Z1"):
        assert same_frames(entry_frames(lex, g)[0], want[g]), g
    px, py = lex.best("X1"), lex.best("Y1")
    assert not np.shares_memory(px.data, py.data)
    px.data[:] = 0                                            # changing one instance changes nothing else
    assert same_frames(lex.best("Y1").data, want["Y1"]) and same_frames(lex.best("X1").data, want["X1"])
    # the thesis's mapper on the same input
    th = thesis_gloss2pose(recs, [("A", "X1", 200, 400), ("A", "Y1", 200, 400), ("A", "Z1", 370, 600)])
    th_want = {g: [thesis_once(signer("a1", f)) for f in range(int(a / 20), int(b / 20) + 1)] for g, a, b in spans}
    assert not same_frames([thesis_flat(p) for p in th["X1"]], th_want["X1"])      # X's frames were mutated by Y's pass
    assert len(th["Y1"][0]["pose_keypoints_2d"]) == 27                          # 39 -> 27 values, as §2.6 describes


def test_item13_one_person_per_frame(tmp_path):
    "Two people in A's front camera: one instance frame per video frame, the signer (best body confidence)."
    def people(cam, f):
        return [signer(cam, f, conf=0.2, person=1), signer(cam, f)] if cam == "a1" else [signer(cam, f)]
    recs = write_wrapper(tmp_path / "T1_openpose.json.gz", "T1", 40, people=people)
    toks = tokens([("A", "r", "X1", 100, 300)])
    build_lexicon(toks, {"T1": tmp_path / "T1_openpose.json.gz"}, tmp_path / "lex", executor="serial")
    lex = Lexicon.open(tmp_path / "lex")
    want = [signer("a1", f) for f in range(5, 15)]
    assert same_frames(lex.best("X1").data, want)
    th = thesis_gloss2pose(recs, [("A", "X1", 100, 300)])
    assert not same_frames([thesis_flat(p) for p in th["X1"]],
                           [thesis_once(a) for a in [signer("a1", f) for f in range(5, 16)]])
    assert len(th["X1"]) == 2 * 11                                           # every person appended as a frame


def test_item13_camera_by_field_not_position(tmp_path):
    "Records stored as [c, b1, a1]: A's instance comes from a1, B's from b1. The thesis took [0] and [1]."
    recs = write_wrapper(tmp_path / "T1_openpose.json.gz", "T1", 40, cameras=("c", "b1", "a1"))
    toks = tokens([("A", "r", "X1", 100, 300), ("B", "r", "Y1", 100, 300)])
    build_lexicon(toks, {"T1": tmp_path / "T1_openpose.json.gz"}, tmp_path / "lex", executor="serial")
    lex = Lexicon.open(tmp_path / "lex")
    assert same_frames(lex.best("X1").data, [signer("a1", f) for f in range(5, 15)])
    assert same_frames(lex.best("Y1").data, [signer("b1", f) for f in range(5, 15)])
    assert lex.entries("X1")[0].camera == "a1" and lex.entries("Y1")[0].camera == "b1"
    th = thesis_gloss2pose(recs, [("A", "X1", 100, 300)])
    assert not same_frames([thesis_flat(p) for p in th["X1"]], [thesis_once(signer("a1", f)) for f in range(5, 16)])
    assert th["X1"][0]["pose_keypoints_2d"][0] == pytest.approx((CAM_BASE["c"] + 5) / W)   # record [0]: total view


# ---------------------------------------------------------------- §10 item 14

def test_item14_quality_criteria_and_top_k(tmp_path):
    """Four instances of G: (face) bright face, no hands; (good) hands visible, dim face; (long) everything bright
    but 10× the usual duration; (ok) hands a bit dimmer. Quality ranks good first and keeps top-k ranked; the
    thesis's score (max mean summed confidence) picks an instance without hands or the outlier."""
    spans = {"face": (200, 400), "good": (1000, 1200), "long": (2000, 4000), "ok": (5000, 5200)}
    def people(cam, f):
        t = f * 20
        if spans["face"][0] <= t < spans["face"][1]: return [signer(cam, f, face_conf=1.0, hand_conf=0.0)]
        if spans["good"][0] <= t < spans["good"][1]: return [signer(cam, f, face_conf=0.2, hand_conf=0.8)]
        if spans["long"][0] <= t < spans["long"][1]: return [signer(cam, f, conf=1.0)]
        if spans["ok"][0] <= t < spans["ok"][1]: return [signer(cam, f, face_conf=0.2, hand_conf=0.5)]
        return [signer(cam, f)]
    write_wrapper(tmp_path / "T1_openpose.json.gz", "T1", 270, people=people)
    toks = tokens([("A", "r", "G1", a, b) for a, b in spans.values()])
    ops = {"T1": tmp_path / "T1_openpose.json.gz"}
    build_lexicon(toks, ops, tmp_path / "lex", top_k=2, executor="serial")
    lex = Lexicon.open(tmp_path / "lex")
    e = lex.entries("G1")
    assert [x.rank for x in e] == [1, 2] and [x.start_ms for x in e] == [1000, 5000]          # good, then ok
    best = lex.index.set_index("entry_id").loc[e[0].entry_id]                   # the quality components of rank 1
    assert best.hand_visible == 1.0 and best.duration_score == 1.0
    cands = pd.read_parquet(tmp_path / "lex" / "candidates.parquet").set_index("start_ms")
    assert cands.loc[200, "hand_visible"] == 0 and cands.loc[2000, "duration_ratio"] == pytest.approx(10.0)
    # the thesis's criterion on the same candidates chooses a bad instance
    build_lexicon(toks, ops, tmp_path / "thesis", top_k=1, executor="serial", score="thesis_score")
    th = Lexicon.open(tmp_path / "thesis").entries("G1")
    assert len(th) == 1 and int(th[0].start_ms) in (200, 2000) and int(th[0].start_ms) != int(e[0].start_ms)


# ---------------------------------------------------------------- corpus builds: memory, executors, bad input

@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    "Three transcripts with both informants and dual glosses, sentences included."
    d = tmp_path_factory.mktemp("corpus")
    toks, sents, ops = [], [], {}
    rng = np.random.default_rng(0)
    for k in range(3):
        tid = f"14{k}0000"
        write_wrapper(d / f"{tid}_openpose.json.gz", tid, 300)
        rows = []
        for spk in ("A", "B"):
            t = 100 + 40 * k
            for j in range(8):
                d_ms = int(rng.integers(4, 15)) * 20
                g = f"G{int(rng.integers(0, 6))}A"
                sid = f"{tid}:{spk}:{j // 4}"
                rows.append((spk, "r", g, t, t + d_ms, sid))
                if j == 3: rows.append((spk, "l", "$INDEX1", t, t + d_ms, sid))
                t += d_ms + int(rng.integers(0, 6)) * 20
        toks.append(tokens(rows, tid))
        for spk in ("A", "B"):
            for s in range(2):
                r = [x for x in rows if x[0] == spk and x[5] == f"{tid}:{spk}:{s}"]
                sents.append({"transcript_id": tid, "speaker": spk, "sentence_id": f"{tid}:{spk}:{s}",
                              "start_ms": r[0][3] - 20, "end_ms": r[-1][4] + 20, "german": f"Satz {s}.",
                              "excluded": False})
        ops[tid] = d / f"{tid}_openpose.json.gz"
    return pd.concat(toks, ignore_index=True), pd.DataFrame(sents), ops


def _store_bytes(folder):
    idx = pd.read_parquet(folder / "index.parquet")
    return (idx, (folder / "frames.f32").read_bytes(), pd.read_parquet(folder / "sentences.parquet"),
            (folder / "sentence_frames.f32").read_bytes())


def test_process_pool_and_dask_give_the_same_store(corpus, tmp_path):
    from distributed import Client, LocalCluster
    toks, sents, ops = corpus
    build_lexicon(toks, ops, tmp_path / "serial", executor="serial", sentences=sents)
    build_lexicon(toks, ops, tmp_path / "process", executor="process", n_jobs=2, sentences=sents)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        rep = build_lexicon(toks, ops, tmp_path / "dask", executor="dask", scheduler=cluster.scheduler_address,
                            sentences=sents)
    assert rep.n_entries > 0 and rep.n_sentences == len(sents)
    ref = _store_bytes(tmp_path / "serial")
    for name in ("process", "dask"):
        got = _store_bytes(tmp_path / name)
        pd.testing.assert_frame_equal(got[0], ref[0]); assert got[1] == ref[1]
        pd.testing.assert_frame_equal(got[2], ref[2]); assert got[3] == ref[3]
    lex = Lexicon.open(tmp_path / "dask")
    s = lex.sentences.iloc[0]
    sp = lex.sentence_pose(s.sentence_id)
    f0 = int(s.first_frame)
    assert same_frames(sp.data, [signer("a1" if s.speaker == "A" else "b1", f) for f in range(f0, f0 + sp.n_frames)])
    assert any("$INDEX1" in list(g) for g in lex.sentences.glosses)


def test_files_are_read_a_transcript_at_a_time_into_the_same_store(corpus, tmp_path, monkeypatch):
    """Given 03's files rather than tables, the build reads them a few rows at a time (every transcript's rows spread
    over several batches), makes each transcript's task only when the runner asks for it, and writes the same store
    as from the tables; files not sorted by transcript are read whole, with the same store again."""
    import t2g2p2s.lexicon_build as lb
    from t2g2p2s.core import ConfigError
    toks, sents, ops = corpus
    build_lexicon(toks, ops, tmp_path / "tables", executor="serial", sentences=sents)
    toks.to_parquet(tmp_path / "tokens.parquet", index=False)
    sents.to_parquet(tmp_path / "sentences.parquet", index=False)
    (tmp_path / "shuffled").mkdir()
    toks.sample(frac=1, random_state=0).to_parquet(tmp_path / "shuffled" / "tokens.parquet", index=False)
    sents.iloc[::-1].to_parquet(tmp_path / "shuffled" / "sentences.parquet", index=False)
    monkeypatch.setattr(lb, "BATCH_ROWS", 5)
    made, extracted = [], []
    spans_of, extract = lb.candidate_spans, lb.extract_transcript
    monkeypatch.setattr(lb, "candidate_spans", lambda *a, **k: (made.append(len(extracted)), spans_of(*a, **k))[1])
    monkeypatch.setattr(lb, "extract_transcript", lambda t: (extracted.append(t["transcript_id"]), extract(t))[1])
    build_lexicon(tmp_path / "tokens.parquet", ops, tmp_path / "files", executor="serial",
                  sentences=tmp_path / "sentences.parquet")
    assert made == list(range(len(ops))) and extracted == sorted(ops)   # task k made once k transcripts were done
    monkeypatch.setattr(lb, "candidate_spans", spans_of)
    build_lexicon(tmp_path / "shuffled" / "tokens.parquet", ops, tmp_path / "unsorted", executor="serial",
                  sentences=tmp_path / "shuffled" / "sentences.parquet")
    ref = _store_bytes(tmp_path / "tables")
    for name in ("files", "unsorted"):
        got = _store_bytes(tmp_path / name)
        pd.testing.assert_frame_equal(got[0], ref[0]); assert got[1] == ref[1]
        pd.testing.assert_frame_equal(got[2], ref[2]); assert got[3] == ref[3]
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / name / "candidates.parquet"),
                                      pd.read_parquet(tmp_path / "tables" / "candidates.parquet"))
    toks.drop(columns="transcript_id").to_parquet(tmp_path / "no_ids.parquet")
    with pytest.raises(ConfigError, match="no_ids.parquet: no transcript_id"):
        build_lexicon(tmp_path / "no_ids.parquet", ops, tmp_path / "never", executor="serial")
    assert not (tmp_path / "never").exists()


def test_memory_bounded(tmp_path):
    "Building from a wrapper needs far less memory than json.load of that wrapper (tracemalloc peaks)."
    write_wrapper(tmp_path / "T1_openpose.json.gz", "T1", 1200,
                  people=lambda cam, f: [signer(cam, f), signer(cam, f, 0.3, person=1)])
    toks = tokens([("A" if i % 2 else "B", "r", f"G{i % 7}", 200 + 300 * i, 400 + 300 * i) for i in range(20)])
    tracemalloc.start()
    with gzip.open(tmp_path / "T1_openpose.json.gz", "rt", encoding="utf-8") as f: obj = json.load(f)
    json_peak = tracemalloc.get_traced_memory()[1]
    del obj
    tracemalloc.stop(); tracemalloc.start()
    rep = build_lexicon(toks, {"T1": tmp_path / "T1_openpose.json.gz"}, tmp_path / "lex", executor="serial")
    build_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert rep.n_entries > 0 and rep.raw_frames == 2400
    assert build_peak < json_peak / 4, (build_peak, json_peak)      # ~17 MB (4 MB chunks) vs ~120 MB


def test_bad_inputs_reported_and_skipped(tmp_path):
    """Truncated gzip, invalid gzip, a wrong-length array inside a span, a missing camera, no OpenPose file: each is
    reported with the transcript id and the place, its items are skipped, the rest is built, no partial file
    survives."""
    rows = [("A", "r", "G1", 100, 300), ("B", "r", "G2", 100, 300)]
    ops = {}
    write_wrapper(tmp_path / "GOOD_openpose.json.gz", "GOOD", 30); ops["GOOD"] = tmp_path / "GOOD_openpose.json.gz"
    write_wrapper(tmp_path / "TRUNC_openpose.json.gz", "TRUNC", 30)
    b = (tmp_path / "TRUNC_openpose.json.gz").read_bytes()
    (tmp_path / "TRUNC_openpose.json.gz").write_bytes(b[: len(b) // 2])
    ops["TRUNC"] = tmp_path / "TRUNC_openpose.json.gz"
    (tmp_path / "BADGZ_openpose.json.gz").write_bytes(b"\x1f\x8b\x08\x00" + bytes(range(256)) * 4)
    ops["BADGZ"] = tmp_path / "BADGZ_openpose.json.gz"
    recs = write_wrapper(tmp_path / "LEN_openpose.json.gz", "LEN", 30)
    person = recs[0]["frames"]["8"]["people"][0]
    person["hand_right_keypoints_2d"] = person["hand_right_keypoints_2d"][:60]
    with gzip.open(tmp_path / "LEN_openpose.json.gz", "wt", encoding="utf-8") as f: json.dump(recs, f)
    ops["LEN"] = tmp_path / "LEN_openpose.json.gz"
    write_wrapper(tmp_path / "NOCAM_openpose.json.gz", "NOCAM", 30, cameras=("a1", "c"))
    ops["NOCAM"] = tmp_path / "NOCAM_openpose.json.gz"
    toks = pd.concat([tokens(rows, t) for t in ("GOOD", "TRUNC", "BADGZ", "LEN", "NOCAM", "NOFILE")],
                     ignore_index=True)
    toks = pd.concat([toks, tokens([("A", "r", "G3", 400, 500)], "LEN")], ignore_index=True)
    rep = build_lexicon(toks, ops, tmp_path / "out" / "lex", executor="serial")
    pf = rep.problems_frame().set_index("transcript_id")
    assert set(pf.index) == {"TRUNC", "BADGZ", "LEN", "NOCAM", "NOFILE"}
    assert "truncated" in pf.loc["TRUNC", "message"] and pf.loc["TRUNC", "kind"] == "file"
    assert pf.loc["BADGZ", "kind"] == "file" and "gzip" in pf.loc["BADGZ", "message"]
    assert pf.loc["LEN", "where"] == "camera a1, frame 8" and "hand_right_keypoints_2d" in pf.loc["LEN", "message"]
    assert pf.loc["NOCAM", "where"] == "camera b1" and pf.loc["NOFILE", "kind"] == "file"
    assert set(rep.transcripts_failed) == {"TRUNC", "BADGZ", "NOFILE"}
    lex = Lexicon.open(tmp_path / "out" / "lex")
    got = set(zip(lex.index.transcript_id, lex.index.gloss))
    assert got == {("GOOD", "G1"), ("GOOD", "G2"), ("LEN", "G2"), ("LEN", "G3"), ("NOCAM", "G1")}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["lex"]          # no shards, no temporary folders
    cands = pd.read_parquet(tmp_path / "out" / "lex" / "candidates.parquet")
    assert set(cands.status) >= {"bad_frame", "missing_camera", "file_error"}


def test_extract_failure_removes_shard(tmp_path):
    write_wrapper(tmp_path / "T_openpose.json.gz", "T", 30)
    b = (tmp_path / "T_openpose.json.gz").read_bytes(); (tmp_path / "T_openpose.json.gz").write_bytes(b[: len(b) // 3])
    spans, _ = candidate_spans(tokens([("A", "r", "G1", 100, 300)], "T"))
    r = extract_transcript({"transcript_id": "T", "openpose": tmp_path / "T_openpose.json.gz",
                            "shard_dir": tmp_path / "sh", "spans": spans, "sentences": None, "top_k": 3})
    assert not r["ok"] and r["problems"][0]["transcript_id"] == "T" and not (tmp_path / "sh" / "T").exists()


def test_choose_person_reports_place():
    good = person_dict(signer("a1", 0))
    bad = dict(good, pose_keypoints_2d=good["pose_keypoints_2d"][:72])
    a, i = choose_person([person_dict(signer("a1", 0, 0.1, person=1)), good])
    assert i == 1 and np.allclose(a, signer("a1", 0))
    with pytest.raises(PoseFileError, match=r"x\.json\.gz: camera a1, frame 3: pose_keypoints_2d has 72"):
        choose_person([bad], "x.json.gz", "camera a1, frame 3")
    assert choose_person([]) == (None, -1)


def test_nothing_to_extract_gives_an_empty_store(tmp_path):
    rep = build_lexicon(tokens([("A", "r", "G1", 100, 300)], "T"), {}, tmp_path / "lex", executor="serial")
    assert rep.n_entries == 0 and rep.transcripts_failed == ["T"] and rep.problems[0]["where"] == "openpose"
    lex = Lexicon.open(tmp_path / "lex")
    assert len(lex) == 0 and lex.glosses == [] and lex.entries("G1") == []
    with pytest.raises(KeyError): lex.best("G1")


# ---------------------------------------------------------------- the `lexicon build` command

def test_build_command(corpus, tmp_path, capsys):
    toks, sents, ops = corpus
    tdir, raw = tmp_path / "transcripts", tmp_path / "raw"
    tdir.mkdir(); raw.mkdir()
    toks.to_parquet(tdir / "tokens.parquet"); sents.to_parquet(tdir / "sentences.parquet")
    for tid, p in ops.items():
        (raw / tid).mkdir(); (raw / tid / p.name).write_bytes(p.read_bytes())
    assert run_command("lexicon build", ["--transcripts", str(tdir), "--raw", str(raw), "--out", str(tmp_path / "lex"),
                                         "--n-jobs", "1", "--top-k", "2"]) == 0
    capsys.readouterr()
    assert run_command("lexicon info", [str(tmp_path / "lex")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["n_entries"] == len(Lexicon.open(tmp_path / "lex")) and info["top_k"] == 2
    assert info["n_sentences"] == len(sents)


def test_build_command_without_sentences_and_its_errors(corpus, tmp_path, capsys):
    toks, sents, ops = corpus
    tdir, raw = tmp_path / "transcripts", tmp_path / "raw"
    tdir.mkdir(); raw.mkdir()
    toks.to_parquet(tdir / "tokens.parquet"); sents.to_parquet(tdir / "sentences.parquet")
    for tid, p in ops.items(): (raw / p.name).write_bytes(p.read_bytes())
    assert run_command("lexicon build", ["--transcripts", str(tdir), "--raw", str(raw), "--out", str(tmp_path / "lex"),
                                         "--n-jobs", "1", "--no-sentences"]) == 0
    lex = Lexicon.open(tmp_path / "lex")
    assert len(lex) > 0 and lex.meta["n_sentences"] == 0 and len(lex.sentences) == 0
    capsys.readouterr()
    assert run_command("lexicon build", ["--transcripts", str(tdir), "--out", str(tmp_path / "x")]) == 2
    assert "t2g2p2s lexicon build: error:" in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_corpus_wide_choice_equals_one_global_sort():
    """The top_k per gloss chosen transcript by transcript (in any order, holding top_k per gloss) equals the choice of
    one sort of all candidates (gloss, score descending, transcript, start, speaker, hand, token; missing last)."""
    from t2g2p2s.lexicon_build import _offer_candidates
    rng = np.random.default_rng(0)
    tables = {}
    for t in range(6):
        n = 40
        tables[f"T{t}"] = pd.DataFrame({
            "gloss": rng.choice(["A", "B", "C", "D"], n), "quality": rng.choice([0.1, 0.5, 0.5, 0.9, np.nan], n),
            "start_ms": rng.choice([0, 100, 200], n), "speaker": rng.choice(["A", "B"], n),
            "hand": rng.choice(np.array(["r", "l", None], dtype=object), n), "token_id": [f"t{i}" for i in range(n)],
            "status": rng.choice(["candidate", "candidate", "below_local_top_k", "no_frames"], n)})
    allc = pd.concat([d.assign(transcript_id=t, row=np.arange(len(d))) for t, d in sorted(tables.items())],
                     ignore_index=True)
    c = allc[allc.status == "candidate"].assign(neg=lambda d: -d.quality)
    c = c.sort_values(["gloss", "neg", "transcript_id", "start_ms", "speaker", "hand", "token_id"], kind="stable",
                      na_position="last")
    want = {g: list(zip(d.transcript_id, d.row))[:3] for g, d in c.groupby("gloss", sort=True)}
    for order in (sorted(tables), sorted(tables, reverse=True), list(rng.permutation(sorted(tables)))):
        best: dict = {}
        for t in order: _offer_candidates(best, t, tables[t], "quality", 3)
        assert {g: [(t, j) for _, t, j in lst] for g, lst in best.items()} == want


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def test_freed_heap_goes_back_to_the_system():
    "A fragmented heap (most buffers freed, a few kept between them) keeps its pages until release_free_memory."
    from t2g2p2s.lexicon_build import release_free_memory
    if not release_free_memory(): pytest.skip("the C library has no malloc_trim (not glibc)")
    try: _rss_mb()
    except OSError: pytest.skip("no /proc/self/status")
    bufs = [bytearray(60_000) for _ in range(3000)]          # ~180 MB below glibc's mmap threshold: heap pages
    for b in bufs: b[::4096] = b"\x01" * len(b[::4096])       # touched, so resident
    kept = bufs[::50]
    del bufs
    before = _rss_mb()
    assert release_free_memory()
    after = _rss_mb()
    assert before - after > 100, (before, after)
    del kept


def test_span_tables_share_repeated_values_and_read_only_the_build_columns(tmp_path):
    """The spans' text columns hold one object per distinct value (None for missing, not a string per row), and
    `read_build_tables` loads only the columns the build reads: the same spans as from the whole table."""
    from t2g2p2s.lexicon_build import SENTENCE_COLUMNS, TOKEN_COLUMNS, _obj, read_build_tables
    col = _obj(pd.Series(["HAUS1A", None, "HAUS1A", pd.NA, "BAUM1"] * 200, dtype="string"))
    assert col.dtype == object and col[1] is None and col[3] is None and col[0] == "HAUS1A"
    assert len({id(v) for v in col if v is not None}) == 2                # two distinct values, two objects
    toks = tokens([("A" if i % 2 else "B", "r", f"G{i % 7}", 200 + 300 * i, 400 + 300 * i) for i in range(20)])
    toks["english_gloss"], toks["ref"] = "x", "y"                           # columns the build never reads
    sents = pd.DataFrame({"sentence_id": ["S1"], "transcript_id": ["T1"], "speaker": ["A"], "german": ["Hallo."],
                          "start_ms": [0], "end_ms": [900], "english": ["Hello."]})
    toks.to_parquet(tmp_path / "tokens.parquet"); sents.to_parquet(tmp_path / "sentences.parquet")
    t, s = read_build_tables(tmp_path / "tokens.parquet", tmp_path / "sentences.parquet")
    import pyarrow as pa
    assert pa.default_memory_pool().backend_name == "system"              # arrow_on_c_heap: trimmed with the heap
    assert set(t.columns) <= set(TOKEN_COLUMNS) and set(s.columns) <= set(SENTENCE_COLUMNS) and "german" in s
    assert "english_gloss" not in t and read_build_tables(tmp_path / "tokens.parquet")[1] is None
    pd.testing.assert_frame_equal(candidate_spans(t)[0], candidate_spans(toks)[0])


def test_sentence_rows_order_glosses_by_start_then_hand():
    "Each sentence lists its spans by start, then hand (missing last), equal keys in span order; empty ones drop out."
    from t2g2p2s.lexicon_build import _sentence_rows
    obj = lambda v: pd.Series(v, dtype=object)                              # as candidate_spans gives them
    spans = pd.DataFrame({"sentence_id": obj(["S1", "S2", "S1", "S1", None, "S1"]),
                          "start_ms": [300, 0, 100, 100, 50, 100], "end_ms": [400, 90, 200, 250, 60, 260],
                          "hand": obj(["r", "r", None, "r", "r", "l"]), "gloss": obj(["C", "X", "B0", "B1", "Z", "B2"])})
    sents = pd.DataFrame({"sentence_id": ["S1", "S2", "S3", "S4"], "transcript_id": ["T"] * 4,
                          "speaker": ["A", "B", "A", "C"], "german": ["a", "b", "c", "d"],
                          "start_ms": [0, 0, 500, 0], "end_ms": [500, 100, 600, 100]})
    rows = _sentence_rows(sents, spans).set_index("sentence_id")
    assert list(rows.index) == ["S1", "S2"]                                 # S3 has no glosses, S4 no informant
    assert rows.loc["S1", "glosses"] == ["B2", "B1", "B0", "C"] and rows.loc["S2", "glosses"] == ["X"]
    assert rows.loc["S1", "gloss_hands"] == ["l", "r", "", "r"] and rows.loc["S1", "gloss_end_ms"] == [260, 250, 200, 400]


def test_build_reports_the_peak_memory_of_its_extraction(tmp_path):
    write_wrapper(tmp_path / "T1_openpose.json.gz", "T1", 300, people=lambda cam, f: [signer(cam, f)])
    toks = tokens([("A", "r", "G1", 200, 900), ("B", "r", "G2", 1000, 1600)])
    rep = build_lexicon(toks, {"T1": tmp_path / "T1_openpose.json.gz"}, tmp_path / "lex", executor="serial")
    from t2g2p2s.core import peak_rss_mb
    assert 10 < rep.extract_peak_rss_mb <= peak_rss_mb() + 1


_MALLINFO_SCRIPT = r'''
import ctypes, sys
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]
libc = ctypes.CDLL(None)
info = getattr(libc, "mallinfo2", None)
if info is None: print("skip"); sys.exit()
info.restype = Info
def mapped(n):
    "How many blocks glibc maps from the system for one allocation of n bytes."
    before = info().hblks; b = bytearray(n); after = info().hblks; del b
    return after - before
first = mapped(20 << 20)      # mapped; glibc then raises its threshold above 20 MB by itself
import pandas as pd
from t2g2p2s.lexicon_build import extract_transcript
res = extract_transcript({"transcript_id": "T", "openpose": sys.argv[1], "shard_dir": sys.argv[2], "top_k": 3,
                          "spans": pd.DataFrame({"speaker": ["A"]}), "sentences": None, "score": "quality"})
assert not res["ok"]
import pyarrow as pa
print(first, mapped(8 << 20), mapped(20 << 20), pa.default_memory_pool().backend_name)
'''


def test_extraction_keeps_few_mb_blocks_in_the_heap(tmp_path):
    """A fresh process maps a 20 MB block from the system, and glibc would then serve the next one from its heap; after
    the first transcript (even one that fails) the thresholds are fixed: an 8 MB block comes from the heap and a
    20 MB one is mapped again (glibc's `mallinfo2`); pyarrow allocates from the C heap."""
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-c", _MALLINFO_SCRIPT, str(tmp_path / "missing_openpose.json.gz"),
                        str(tmp_path / "shards")], capture_output=True, text=True, check=True)
    out = r.stdout.split()
    if out == ["skip"]: pytest.skip("the C library has no mallinfo2 (not glibc ≥ 2.33)")
    assert out == ["1", "0", "1", "system"], r.stdout


def test_importing_the_package_puts_pyarrow_on_the_c_heap_unless_told_otherwise():
    "`import t2g2p2s` before pyarrow makes pyarrow's default pool the system allocator; a value the user set is kept."
    import os
    import subprocess
    import sys
    code = "import t2g2p2s, pyarrow as pa; print(pa.default_memory_pool().backend_name)"
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    got = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert got.stdout.split() == ["system"], got.stdout
    import pyarrow as pa
    other = next(n for n in ("jemalloc", "mimalloc") if getattr(pa, f"{n}_memory_pool", None) and _has_pool(pa, n))
    got = subprocess.run([sys.executable, "-c", code], env=dict(env, ARROW_DEFAULT_MEMORY_POOL=other),
                         capture_output=True, text=True, check=True)
    assert got.stdout.split() == [other], got.stdout


def _has_pool(pa, name: str) -> bool:
    try: getattr(pa, f"{name}_memory_pool")(); return True
    except NotImplementedError: return False
