"""Benchmark: the Gloss2Pose engine (`t2g2p2s.gloss2pose`) against the thesis's pipeline and spoken-to-signed.

Everything runs in one command on one generated lexicon at the thesis's scale (9,858 glosses, 164,873 frames; thesis-spec
§2.7, §9), written in the thesis's dictionary layout (`{gloss: [frame, …]}`, 13 upper-body BODY_25 points + face + hands,
coordinates divided by the 1280×720 frame). Frames are real human motion taken from the sample lexicon (they are not the
signs of the glosses); glosses include the thesis README's example and ten German words. Steps:

  0. generate the thesis dictionary JSON and times CSV (cached in the work folder), import them with
     `import_thesis_dictionary` (= `t2g2p2s lexicon import-thesis`, streamed) and time it;
  a. the thesis's way (§6.4 without video: `json.load` of the whole dictionary, one JSON file per gloss, scaling,
     stretching, linear transitions, final JSON) against our cold CLI (`t2g2p2s translate --glosses … --out x.pose`)
     for the README example: ratio ≥ 20× wanted; peak memory of both; our warm in-process assembly (< 20 ms wanted);
  b. the "render" part: video rendering at 1280×720, ours (DWPose conventions, drawn on one reused canvas, H.264 to
     an .mp4 file end to end) against a baseline that draws like the thesis (per-frame OpenCV drawing, mp4v; run in
     the bench venv, which has OpenCV), interleaved runs in one process: frames/s, ms and CPU ms per frame, file
     sizes, ratio ours H.264 / thesis mp4v (≥ 1.0× wanted);
  c. matcher queries/s with and without the embedding step, on the 9,858 glosses;
  d. spoken-to-signed (`pip install spoken-to-signed` in its own venv, never the project's): its `text_to_gloss_to_pose`
     on our lexicon exported in its format (MediaPipe-Holistic `.pose` + `index.csv`) for a 10-word German sentence whose
     words are all lexicon entries, against our cold CLI for the same glosses: ratio ≥ 5× wanted;
  e. smoothness (fps-aware mean squared jerk of wrists and hands, shoulder-width units, missing points masked) of
     random sentences assembled the thesis's way and ours;
  f. the "butterworth" part: the zero-phase Butterworth smoothing of one assembled sentence, each arm in fresh
     processes: importing scipy.signal + `butter(..., output="sos")` + `sosfiltfilt`, against importing
     t2g2p2s.assembly + its NumPy `sosfiltfilt(butter_sos(...))` (why the project does not import scipy.signal):
     times, ratio and the largest difference of the outputs.

Each timed command runs in its own process, which reports its own peak RSS (VmHWM) at exit. Results are printed and
written to `<workdir>/results.json`. Usage:

    .venv/bin/python bench/gloss2pose.py [--quick] [--workdir bench/out/gloss2pose] [--venv /tmp/t2g2p2s-bench-venv]
                                          [--repeats 3] [--skip-s2s] [--no-install] [--only render,butterworth]

`--quick` uses a tenth of the thesis's scale (smoke test; the ratios then understate the thesis's cost). The bench venv
is created and `spoken-to-signed opencv-python-headless` installed into it on first use unless `--no-install`.
`--only render` and/or `--only butterworth` run just those parts, without generating the thesis-scale dictionary:
they draw or smooth notebook 08c's demo sentence translated on the sample lexicon (the full run's part (b) draws the
README example on the generated lexicon) and write `<workdir>/only/results.json`.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README_GLOSSES = "BEREICH1A,INTERESSE1A,MERKWÜRDIG1,GEBÄRDEN1A,FASZINIEREND2,GEBÄRDEN1A,SPIELEN2,BEREICH1A,INTERESSE1A,SPIELEN2"
S2S_WORDS = {"heute": "HEUTE1A", "wetter": "WETTER2", "morgen": "MORGEN2", "regen": "REGEN1", "schnee": "SCHNEE2A",
             "wind": "WIND3A", "wolke": "WOLKE2", "nacht": "NACHT1B", "sonne": "SONNE1A", "kalt": "KALT2A"}
S2S_SENTENCE = "Heute Wetter Morgen Regen Schnee Wind Wolke Nacht Sonne kalt"
THESIS_SCALE = (9858, 164873)
W, H, FPS = 1280, 720, 50


# ---------------------------------------------------------------------------------------------- helpers

def run_measured(cmd: list[str], cwd: Path | None = None, env: dict | None = None, timeout: float = 1800) -> dict:
    "Run `cmd` in its own process: wall seconds, peak RSS (MiB, the process's VmHWM at exit), return code, output tails."
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try: out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill(); out, err = p.communicate()
    wall = time.perf_counter() - t0
    peak = None                                       # printed by PEAK_WRAPPER from getrusage(RUSAGE_SELF) at exit
    for line in err.splitlines()[::-1]:
        if line.startswith("__PEAK_RSS_KB__="): peak = int(line.split("=", 1)[1]) / 1024; break
    return {"seconds": wall, "peak_mib": peak, "rc": p.returncode, "stdout": out[-4000:], "stderr": err[-4000:]}


PEAK_WRAPPER = r"""
import runpy, sys, atexit
def _report():   # VmHWM: this process's peak RSS (getrusage's ru_maxrss would include the parent's RSS at fork time)
    kb = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    sys.stderr.write("\n__PEAK_RSS_KB__=%d\n" % kb); sys.stderr.flush()
atexit.register(_report)
mode, target = sys.argv[1], sys.argv[2]
sys.argv = [target] + sys.argv[3:]
if mode == "module": runpy.run_module(target, run_name="__main__", alter_sys=True)
elif mode == "script": runpy.run_path(target, run_name="__main__")
elif mode == "command":   # target "module:command name": a declared command, its module imported first
    import importlib; mod, name = target.split(":", 1)
    importlib.import_module(mod)
    from t2g2p2s.core import run_command
    sys.exit(run_command(name, sys.argv[1:]))
else:
    import importlib; mod, fn = target.rsplit(":", 1)
    rc = getattr(importlib.import_module(mod), fn)(sys.argv[1:])
    sys.exit(int(rc or 0))
"""


def wrapped(python: str, mode: str, target: str, *args: str, workdir: Path) -> list[str]:
    "A command line that runs `target` (module | script | module:function(argv) | module:command name), reporting peak RSS."
    w = workdir / "_peak_wrapper.py"
    if not w.is_file() or w.read_text() != PEAK_WRAPPER: w.write_text(PEAK_WRAPPER)
    return [python, str(w), mode, target, *args]


def median_run(cmds: list[str], repeats: int, **kw) -> dict:
    runs = [run_measured(cmds, **kw) for _ in range(repeats)]
    bad = [r for r in runs if r["rc"] != 0]
    if bad: raise RuntimeError(f"{' '.join(cmds[:6])} … failed (rc {bad[0]['rc']}):\n{bad[0]['stderr'][-3000:]}")
    return {"seconds": statistics.median(r["seconds"] for r in runs), "seconds_all": [round(r["seconds"], 3) for r in runs],
            "peak_mib": max(r["peak_mib"] or 0 for r in runs), "stdout": runs[-1]["stdout"], "stderr": runs[-1]["stderr"]}


def fmt_row(*cells, widths=(46, 14, 14, 14)):
    return "".join(str(c).ljust(w) for c, w in zip(cells, widths))


# ---------------------------------------------------------------------------------------------- 0. the data

def make_thesis_dictionary(workdir: Path, n_glosses: int, n_frames: int, seed: int = 0) -> dict:
    "Write `thesis/gloss2pose_dictionary.json` and its times CSV (cached by parameters); returns their paths and sizes."
    import numpy as np
    from t2g2p2s.core import ensure_stage
    from t2g2p2s.lexicon import THESIS_ARRAYS, Lexicon
    d = workdir / "thesis"
    d.mkdir(parents=True, exist_ok=True)
    meta_p = d / "meta.json"
    want = {"n_glosses": n_glosses, "n_frames": n_frames, "seed": seed, "version": 2}
    dict_p, times_p = d / "gloss2pose_dictionary.json", d / "gloss_times_for_frame_interpolation.csv"
    if meta_p.is_file() and json.loads(meta_p.read_text()).get("params") == want and dict_p.is_file() and times_p.is_file():
        return json.loads(meta_p.read_text())
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    lex = Lexicon.open(ensure_stage("lexicon", "sample", 0).lexicon)
    pool = np.asarray(lex.frames, np.float64).copy()                              # real OpenPose frames (pixels)
    special = list(dict.fromkeys(README_GLOSSES.split(",") + list(S2S_WORDS.values()) + list(lex.glosses)))
    names = special + [f"G{i:05d}{1 + i % 4}{'ABC'[i % 3]}" for i in range(n_glosses - len(special))]
    names = names[:n_glosses]
    lengths = np.maximum(2, np.round(rng.lognormal(math.log(14), 0.55, n_glosses))).astype(int)
    lengths = np.maximum(2, np.round(lengths * n_frames / lengths.sum())).astype(int)
    lengths[-1] += n_frames - lengths.sum()
    i = 0
    while lengths.sum() != n_frames or (lengths < 2).any():                      # exact total, every gloss ≥ 2 frames
        lengths[i % n_glosses] += 1 if lengths.sum() < n_frames else (-1 if lengths[i % n_glosses] > 2 else 0); i += 1
    starts = rng.integers(0, len(pool) - lengths.max() - 1, n_glosses)
    with open(dict_p, "w", encoding="utf-8") as f:
        f.write("{")
        for k, (g, L, s) in enumerate(zip(names, lengths, starts)):
            a = pool[s: s + L].copy()
            a[..., 0] = np.round(a[..., 0], 3) / W; a[..., 1] = np.round(a[..., 1], 3) / H
            a[..., 2] = np.round(a[..., 2], 6)
            frames = [{key: a[t, idx].ravel().tolist() for key, idx in THESIS_ARRAYS} for t in range(L)]
            f.write((", " if k else "") + json.dumps(g, ensure_ascii=False) + ": " + json.dumps(frames))
        f.write("}")
    gd = np.round(rng.gamma(4, 60, n_glosses) / 20) * 20
    igt, ogt = np.round(rng.gamma(2.5, 60, n_glosses) / 20) * 20, np.round(rng.gamma(2.5, 65, n_glosses) / 20) * 20
    zero = rng.random(n_glosses) < 0.15                                           # the thesis's 0-filled glosses
    gd[zero] = igt[zero] = ogt[zero] = 0
    with open(times_p, "w", encoding="utf-8") as f:
        f.write("gloss,median_igt,median_ogt,median_gd\n")
        for g, a, b, c in zip(names, igt, ogt, gd): f.write(f"{json.dumps(g, ensure_ascii=False) if ',' in g else g},{a},{b},{c}\n")
    meta = {"params": want, "dict": str(dict_p), "times": str(times_p), "bytes": dict_p.stat().st_size,
            "frames": int(lengths.sum()), "glosses": n_glosses, "seconds_to_generate": round(time.perf_counter() - t0, 1)}
    meta_p.write_text(json.dumps(meta, indent=2))
    return meta


def import_lexicon(workdir: Path, data: dict, force: bool = False) -> dict:
    "Import the dictionary with our streamed importer in its own process (timed); cached unless the data changed."
    out = workdir / "lexicon"
    stamp = out / ".bench-source.json"
    if not force and stamp.is_file() and json.loads(stamp.read_text()) == data["params"]:
        return json.loads((workdir / "import.json").read_text())
    r = run_measured(wrapped(sys.executable, "command", "t2g2p2s.lexicon:lexicon import-thesis", data["dict"],
                             "--times", data["times"], "--out", str(out), workdir=workdir),
                     env=dict(os.environ, T2G2P2S_PROGRESS="0"))
    if r["rc"] != 0: raise RuntimeError(f"import failed:\n{r['stderr']}")
    res = {"seconds": r["seconds"], "peak_mib": r["peak_mib"], "summary": json.loads(r["stdout"])}
    (workdir / "import.json").write_text(json.dumps(res, indent=2))
    stamp.write_text(json.dumps(data["params"]))
    return res


# ---------------------------------------------------------------------------------------------- a. the thesis's way

def thesis_worker(argv: list[str]) -> int:
    """The thesis's `run_from_list` (§6.4–§6.7) without video, in plain Python as the thesis wrote it: load the whole
    dictionary JSON, write one JSON file per gloss, scale them (§6.5), stretch (§6.6), stitch with linear transitions
    (§6.7), save the final JSON."""
    import csv as _csv
    dict_path, times_path, glosses, outdir = argv[0], argv[1], argv[2].split(","), Path(argv[3])
    inter = outdir / "gloss2pose_dictionary_output"
    if inter.exists(): shutil.rmtree(inter)
    inter.mkdir(parents=True)
    with open(dict_path, encoding="utf-8") as f: dictionary = json.load(f)                      # 1. the whole file
    counter = 0
    for g in glosses:                                                                              # 2. one file per gloss
        if g in dictionary:
            counter += 1
            with open(inter / f"{counter}.json", "w", encoding="utf-8") as f:
                json.dump({"gloss": g, "pose_sequence": dictionary[g]}, f, ensure_ascii=False)
    files = sorted(inter.glob("*.json"), key=lambda p: int(p.stem))
    def load(p):
        with open(p, encoding="utf-8") as f: return json.load(f)
    def pts(a): return [a[i:i + 3] for i in range(0, len(a), 3)]
    def dist(a, b): return math.hypot(a[0] - b[0], a[1] - b[1])
    def face_wh(face):                                                                              # 3. scale (§6.5)
        xs, ys = face[0::3], face[1::3]
        return max(xs) - min(xs), max(ys) - min(ys)
    ref = load(files[0])["pose_sequence"][0]
    rp = pts(ref["pose_keypoints_2d"])
    ref_neck, ref_sh, ref_up = dist(rp[0], rp[1]), dist(rp[2], rp[5]), dist(rp[0], rp[8])
    ref_fw, ref_fh = face_wh(ref["face_keypoints_2d"])
    for p in files[1:]:
        item = load(p)
        f0 = pts(item["pose_sequence"][0]["pose_keypoints_2d"])
        sh, up = dist(f0[2], f0[5]), dist(f0[0], f0[8])
        if sh == 0 or up == 0: continue
        s = (ref_sh / sh + ref_up / up) / 2
        fw, fh = face_wh(item["pose_sequence"][0]["face_keypoints_2d"])
        ff = (ref_fw / fw + ref_fh / fh) / 2 if fw > 0 and fh > 0 else None
        for fr in item["pose_sequence"]:
            for key in ("pose_keypoints_2d", "hand_left_keypoints_2d", "hand_right_keypoints_2d"):
                a = fr[key]
                for i in range(0, len(a), 3): a[i] *= s; a[i + 1] *= s
            a = fr["pose_keypoints_2d"]
            nx, ny = a[0] - a[3], a[1] - a[4]
            ln = math.hypot(nx, ny)
            if ln > 0: a[0], a[1] = a[3] + nx * ref_neck / ln, a[4] + ny * ref_neck / ln
            if ff is not None:
                face = fr["face_keypoints_2d"]
                tx, ty = face[90], face[91]
                for i in range(0, len(face), 3): face[i], face[i + 1] = a[0] + (face[i] - tx) * ff, a[1] + (face[i + 1] - ty) * ff
        with open(p, "w", encoding="utf-8") as f: json.dump(item, f, indent=2)
    times = {}
    with open(times_path, encoding="utf-8") as f:
        for r in _csv.DictReader(f): times[r["gloss"].strip()] = (float(r["median_igt"]), float(r["median_ogt"]), float(r["median_gd"]))
    items = [load(p) for p in files]                                                                # 4. reload
    def interp(a, b, n):
        out = []
        for k in range(1, n + 1):
            al = k / (n + 1)
            fr = {}
            for key in ("pose_keypoints_2d", "face_keypoints_2d", "hand_left_keypoints_2d", "hand_right_keypoints_2d"):
                x, y = a[key], b[key]
                v = []
                for i in range(0, len(x), 3): v += [(1 - al) * x[i] + al * y[i], (1 - al) * x[i + 1] + al * y[i + 1], y[i + 2]]
                fr[key] = v
            out.append(fr)
        return out
    for it in items:                                                                                # 5. stretch (§6.6)
        seq, t = it["pose_sequence"], times.get(it["gloss"])
        if t is None: continue
        target, L = int(round(t[2] / 1000 * 50)), len(seq)
        if L < 2 or L >= target: continue
        base, extra = divmod(target - L, L - 1)
        new = [seq[0]]
        for gi in range(L - 1):
            new += interp(seq[gi], seq[gi + 1], base + (1 if gi < extra else 0)) + [seq[gi + 1]]
        it["pose_sequence"] = new
    final = list(items[0]["pose_sequence"])                                                         # 6. stitch (§6.7)
    for prev, it in zip(items, items[1:]):
        a, b = times.get(prev["gloss"]), times.get(it["gloss"])
        n = 7
        if a is not None and b is not None:
            n = int(round(int(round((a[1] + b[0]) / 2)) / 1000 * 50))
            if n < 1: n = 7
        final += interp(prev["pose_sequence"][-1], it["pose_sequence"][0], n) + it["pose_sequence"]
    with open(outdir / "final_pose_sequence.json", "w", encoding="utf-8") as f: json.dump(final, f)  # 7. save
    print(json.dumps({"frames": len(final)}))
    return 0


# ---------------------------------------------------------------------------------------------- b. rendering baseline

THESIS_RENDER = r'''
import sys, time, json, colorsys, numpy as np, cv2
LIMBS = [[2, 3], [2, 6], [3, 4], [4, 5], [6, 7], [7, 8], [2, 9], [9, 10], [10, 11], [2, 12], [12, 13], [13, 14], [2, 1],
         [1, 15], [15, 17], [1, 16], [16, 18]]
COLORS = [[255, 0, 0], [255, 85, 0], [255, 170, 0], [255, 255, 0], [170, 255, 0], [85, 255, 0], [0, 255, 0], [0, 255, 85],
          [0, 255, 170], [0, 255, 255], [0, 170, 255], [0, 85, 255], [0, 0, 255], [85, 0, 255], [170, 0, 255], [255, 0, 255],
          [255, 0, 170], [255, 0, 85]]
EDGES = [[0, 1], [1, 2], [2, 3], [3, 4], [0, 5], [5, 6], [6, 7], [7, 8], [0, 9], [9, 10], [10, 11], [11, 12], [0, 13], [13, 14],
         [14, 15], [15, 16], [0, 17], [17, 18], [18, 19], [19, 20]]
data = np.load(sys.argv[1]); out = sys.argv[2]; H, W = 720, 1280
t0, c0 = time.perf_counter(), time.process_time()
vw = cv2.VideoWriter(out, cv2.VideoWriter_fourcc(*"mp4v"), 50, (W, H)) if out != "-" else None
for fr in data:                                   # per frame, like the thesis (§6.8): filter, pin, draw with OpenCV
    body, face, lh, rh = fr[:25].copy(), fr[25:95].copy(), fr[95:116].copy(), fr[116:137].copy()
    for a in (body, face, lh, rh):
        keep = (a[:, 2] > 0.01) & (a[:, 0] > 0) & (a[:, 1] > 0); a[~keep] = 0
    off = np.array([0.5, 0.4]) - body[1, :2]
    for a in (body, face, lh, rh): a[:, :2] += off
    body[8, :2] = (0.5, 0.8)
    canvas = np.zeros((H, W, 3), np.uint8)
    for i, (p, q) in enumerate(LIMBS):
        a, b = body[p - 1], body[q - 1]
        if a[2] < 0.01 or b[2] < 0.01: continue
        Y, X = np.array([a[0], b[0]]) * W, np.array([a[1], b[1]]) * H
        mX, mY = X.mean(), Y.mean(); length = ((X[0] - X[1]) ** 2 + (Y[0] - Y[1]) ** 2) ** 0.5
        angle = np.degrees(np.arctan2(X[0] - X[1], Y[0] - Y[1]))
        poly = cv2.ellipse2Poly((int(mY), int(mX)), (int(length / 2), 2), int(angle), 0, 360, 1)
        cv2.fillConvexPoly(canvas, poly, [int(c * 0.6) for c in COLORS[i]])
    for i in range(18):
        if body[i, 2] >= 0.01: cv2.circle(canvas, (int(body[i, 0] * W), int(body[i, 1] * H)), 2, COLORS[i], -1)
    for hand in (lh, rh):
        for ie, (p, q) in enumerate(EDGES):
            x1, y1, x2, y2 = hand[p, 0] * W, hand[p, 1] * H, hand[q, 0] * W, hand[q, 1] * H
            if x1 > 0.01 and y1 > 0.01 and x2 > 0.01 and y2 > 0.01:
                cv2.line(canvas, (int(x1), int(y1)), (int(x2), int(y2)), [int(255 * c) for c in colorsys.hsv_to_rgb(ie / 20, 1, 1)], 1)
        for k in range(21):
            if hand[k, 2] >= 0.01 and hand[k, 0] > 0: cv2.circle(canvas, (int(hand[k, 0] * W), int(hand[k, 1] * H)), 1, (0, 0, 255), -1)
    for k in range(70):
        if face[k, 2] >= 0.01 and face[k, 0] > 0: cv2.circle(canvas, (int(face[k, 0] * W), int(face[k, 1] * H)), 1, (255, 255, 255), -1)
    canvas = cv2.resize(canvas, (W, H))
    if vw is not None: vw.write(canvas)
if vw is not None: vw.release()
print(json.dumps({"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0}))
'''

DEMO_GLOSSES = "WETTER2,MORGEN2,REGEN1,SCHNEE2A,KALT2A,WIND3A"   # notebook 08c's demo sentence (sample lexicon)


def demo_translation(smooth: bool = True):
    "Notebook 08c's demo sentence translated on the sample lexicon (real motion, not the signs of the glosses)."
    from t2g2p2s.assembly import AssemblyConfig
    from t2g2p2s.core import ensure_stage
    from t2g2p2s.gloss2pose import Gloss2Pose
    from t2g2p2s.lexicon import Lexicon
    from t2g2p2s.matching import GlossMatcher
    lex = Lexicon.open(ensure_stage("lexicon", "sample", 0).lexicon)
    matcher = GlossMatcher(lex, steps=("exact", "variant", "rule", "fuzzy", "fingerspelling"))
    return Gloss2Pose(lex, config=AssemblyConfig() if smooth else AssemblyConfig(smooth_hz=None, smooth_hands_hz=None),
                      matcher=matcher).translate(DEMO_GLOSSES)


def timed(fn) -> tuple[float, float]:
    "Wall seconds of `fn()` and the CPU seconds of this process and of its children that ended meanwhile (ffmpeg)."
    import resource
    r0, c0, t = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    fn()
    wall = time.perf_counter() - t
    r1, c1 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, sum(getattr(b, k) - getattr(a, k) for a, b in ((r0, r1), (c0, c1)) for k in ("ru_utime", "ru_stime"))


def bench_render(wd: Path, pose, venv_py: Path | None, why: str, repeats: int, what: str) -> dict:
    """Part (b), the "render" part: `pose` repeated to ≥ 300 frames, drawn at 1280×720 by ours and the thesis's way,
    `repeats` interleaved rounds (ours in this process, the thesis's way in the bench venv); medians."""
    import numpy as np
    from t2g2p2s.poses import Pose
    from t2g2p2s.rendering import _Canvas, _coco_pixels, iter_render_pose, write_pose_video
    long = Pose(np.concatenate([pose.data] * max(1, math.ceil(300 / pose.n_frames))), pose.skeleton, pose.fps,
                pose.width, pose.height)
    n = long.n_frames
    def draw_alone():                                # the renderer's drawing on its reused canvas, no copy out
        cv = _Canvas(W, H)
        for f in _coco_pixels(long, W, H, "frame"): cv.draw(f)
    ours = {"draw": draw_alone,
            "rgb": lambda: sum(1 for _ in iter_render_pose(long, W, H)),
            "rgb_ss2": lambda: sum(1 for _ in iter_render_pose(long, W, H, supersample=2)),
            "h264": lambda: write_pose_video(long, wd / "ours.mp4", W, H),
            "h264_veryfast": lambda: write_pose_video(long, wd / "ours-veryfast.mp4", W, H, preset="veryfast", tune=None),
            "mp4v": lambda: write_pose_video(long, wd / "ours-mp4v.mp4", W, H, codec="mpeg4")}
    norm = long.data.copy(); norm[..., 0] /= W; norm[..., 1] /= H
    np.save(wd / "render_input.npy", norm)
    (wd / "thesis_render.py").write_text(THESIS_RENDER)
    runs: dict = {k: [] for k in [*ours, "thesis_draw", "thesis_mp4v"]}
    res: dict = {"frames": n, "sentence": what, "repeats": repeats}
    for _ in range(repeats):                         # interleaved: both ways share the machine's state
        for k, fn in ours.items(): runs[k].append(timed(fn))
        for k, out in (("thesis_draw", "-"), ("thesis_mp4v", str(wd / "thesis.mp4"))) if venv_py else ():
            r = run_measured([str(venv_py), str(wd / "thesis_render.py"), str(wd / "render_input.npy"), out])
            if r["rc"] != 0: res["thesis_error"] = r["stderr"][-500:]; continue
            t = json.loads(r["stdout"].strip().splitlines()[-1])
            runs[k].append((t["seconds"], t["cpu_seconds"]))
    for k, v in runs.items():
        if not v: continue
        wall, cpu = statistics.median(x[0] for x in v), statistics.median(x[1] for x in v)
        res[k] = {"fps": n / wall, "ms_per_frame": wall / n * 1000, "cpu_ms_per_frame": cpu / n * 1000,
                  "best_fps": n / min(x[0] for x in v), "seconds_all": [round(x[0], 3) for x in v]}
    files = {"h264": "ours.mp4", "h264_veryfast": "ours-veryfast.mp4", "mp4v": "ours-mp4v.mp4", "thesis_mp4v": "thesis.mp4"}
    for k, f in files.items():
        if k in res and (wd / f).is_file(): res[k]["mb"] = (wd / f).stat().st_size / 1e6
    rows = [("draw", "ours: drawing alone (reused canvas)"), ("rgb", "ours: RGB frames (iter_render_pose)"),
            ("rgb_ss2", "ours: RGB frames, supersample 2"), ("thesis_draw", "thesis-style: drawing alone (OpenCV)"),
            ("h264", "ours: draw + H.264 → .mp4 (default)"), ("h264_veryfast", "ours: draw + H.264 veryfast (old default)"),
            ("mp4v", "ours: draw + MPEG-4 part 2 (mp4v)"), ("thesis_mp4v", "thesis-style: OpenCV + mp4v → .mp4")]
    print(f"\n## (b) render: pose video at 1280×720, {n} frames ({what}), median of {repeats} interleaved rounds")
    widths = (44, 11, 11, 15, 15, 9)
    print(fmt_row("", "frames/s", "ms/frame", "best ms/frame", "CPU ms/frame", "file MB", widths=widths))
    for k, label in rows:
        if k in res:
            r = res[k]
            print(fmt_row(label, f"{r['fps']:.1f}", f"{r['ms_per_frame']:.2f}", f"{1000 / r['best_fps']:.2f}",
                          f"{r['cpu_ms_per_frame']:.2f}", f"{r['mb']:.2f}" if "mb" in r else "", widths=widths))
    print("(H.264 default: libx264 ultrafast, tune zerolatency, crf 18, yuv420p; CPU: this process + ffmpeg)")
    if "thesis_mp4v" in res:
        res["ratio_h264_vs_thesis"] = res["h264"]["fps"] / res["thesis_mp4v"]["fps"]
        res["ratio_same_codec"] = res["mp4v"]["fps"] / res["thesis_mp4v"]["fps"]
        res["ratio_draw"] = res["draw"]["fps"] / res["thesis_draw"]["fps"]
        res["ratio_h264_vs_thesis_best"] = res["h264"]["best_fps"] / res["thesis_mp4v"]["best_fps"]
        print(f"ratio ours/thesis (medians): H.264 end to end vs thesis mp4v {res['ratio_h264_vs_thesis']:.2f}× "
              f"(want ≥ 1.0; best runs {res['ratio_h264_vs_thesis_best']:.2f}×), same codec "
              f"{res['ratio_same_codec']:.2f}×, drawing alone {res['ratio_draw']:.2f}×")
    else: print(f"thesis-style baseline skipped: {res.get('thesis_error', why)}")
    return res


# ---------------------------------------------------------------------------------------------- f. butterworth

BUTTER_WORKER = r'''
import json, sys, time
t0 = time.perf_counter()
import numpy as np
arm, inp, out, fps, cutoff, order = sys.argv[1:7]
fps, cutoff, order = float(fps), float(cutoff), int(order)
x = np.load(inp)
t1 = time.perf_counter()
if arm == "scipy":
    import scipy.signal
    t2 = time.perf_counter()
    y = scipy.signal.sosfiltfilt(scipy.signal.butter(order, cutoff, fs=fps, output="sos"), x, axis=0)
else:
    from t2g2p2s.assembly import butter_sos, sosfiltfilt
    t2 = time.perf_counter()
    y = sosfiltfilt(butter_sos(order, cutoff, fps), x)
t3 = time.perf_counter()
np.save(out, y)
print(json.dumps({"numpy_s": t1 - t0, "import_s": t2 - t1, "smooth_s": t3 - t2}))
'''


def smoothing_matrix(data, points):
    """The (T, C) matrix `assembly.butterworth_smooth` filters: x, y of the `points` (bool mask) present in ≥ 2
    frames, gaps bridged linearly."""
    import numpy as np
    T = len(data)
    idx = np.flatnonzero(points)
    m = data[:, idx, 2] > 0
    idx, m = idx[m.sum(0) >= 2], m[:, m.sum(0) >= 2]
    xy = data[:, idx, :2].astype(np.float64)
    t = np.arange(T)
    for k in np.flatnonzero(~m.all(0)):
        ok = m[:, k]
        for c in range(2): xy[~ok, k, c] = np.interp(t[~ok], t[ok], xy[ok, k, c])
    return xy.reshape(T, -1)


def bench_butterworth(wd: Path, repeats: int) -> dict:
    """Part (f), the "butterworth" part: smoothing one assembled sentence (08c's demo, before smoothing) with
    scipy.signal against t2g2p2s.assembly, each run in a fresh process, `repeats` interleaved rounds; medians."""
    import numpy as np
    from t2g2p2s.assembly import FACE, AssemblyConfig
    cfg = AssemblyConfig(smooth_hz=6.0)                      # the filter timed (the defaults filter nothing)
    pose = demo_translation(smooth=False).pose
    pts = np.ones(pose.data.shape[1], bool)
    if not cfg.smooth_face: pts[FACE] = False
    x = smoothing_matrix(pose.data, pts)
    np.save(wd / "butter_input.npy", x)
    (wd / "_butter_worker.py").write_text(BUTTER_WORKER)
    py = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").is_file() else sys.executable
    runs: dict = {"scipy": [], "ours": []}
    for _ in range(repeats):
        for arm in runs:
            r = run_measured([py, str(wd / "_butter_worker.py"), arm, str(wd / "butter_input.npy"),
                              str(wd / f"butter_{arm}.npy"), str(pose.fps), str(cfg.smooth_hz), str(cfg.smooth_order)],
                             cwd=ROOT)
            if r["rc"] != 0: raise RuntimeError(f"butterworth worker ({arm}) failed:\n{r['stderr'][-2000:]}")
            runs[arm].append(dict(json.loads(r["stdout"].strip().splitlines()[-1]), process_s=r["seconds"]))
    res: dict = {"frames": pose.n_frames, "columns": x.shape[1], "fps": pose.fps, "cutoff_hz": cfg.smooth_hz,
                 "order": cfg.smooth_order, "repeats": repeats}
    for arm, v in runs.items():
        res[arm] = {k: statistics.median(r[k] for r in v) for k in v[0]}
        res[arm]["import_and_smooth_s"] = statistics.median(r["import_s"] + r["smooth_s"] for r in v)
    ys, yo = np.load(wd / "butter_scipy.npy"), np.load(wd / "butter_ours.npy")
    res["max_abs_diff"] = float(np.abs(ys - yo).max())
    res["ratio"] = res["scipy"]["import_and_smooth_s"] / res["ours"]["import_and_smooth_s"]
    print(f"\n## (f) butterworth: zero-phase smoothing of one assembled sentence ({pose.n_frames} frames × {x.shape[1]} "
          f"columns, {cfg.smooth_hz:g} Hz, order {cfg.smooth_order} at {pose.fps:g} fps), fresh processes, median of {repeats}")
    widths = (52, 12, 12, 14, 12)
    print(fmt_row("", "import ms", "smooth ms", "import+smooth", "process s", widths=widths))
    for arm, label in (("scipy", "scipy.signal: butter(output='sos') + sosfiltfilt"),
                       ("ours", "t2g2p2s.assembly: sosfiltfilt(butter_sos(…))")):
        r = res[arm]
        print(fmt_row(label, f"{r['import_s'] * 1000:.0f}", f"{r['smooth_s'] * 1000:.1f}",
                      f"{r['import_and_smooth_s'] * 1000:.0f} ms", f"{r['process_s']:.2f}", widths=widths))
    print(f"ratio scipy/ours (import + smoothing): {res['ratio']:.1f}×; largest |difference| of the outputs: "
          f"{res['max_abs_diff']:.2e} px (process s: the whole fresh process, interpreter start and numpy included)")
    return res


# ---------------------------------------------------------------------------------------------- d. spoken-to-signed

def ensure_venv(venv: Path, install: bool,
                modules: tuple[str, ...] = ("spoken_to_signed", "cv2", "pose_format")) -> tuple[Path | None, str]:
    "The bench venv's python with spoken-to-signed and OpenCV (created on first use; `modules` must import), or None."
    py = venv / "bin" / "python"
    def ok():
        return py.is_file() and subprocess.run([str(py), "-c", "import " + ", ".join(modules)],
                                               capture_output=True).returncode == 0
    if ok(): return py, "ok"
    if not install: return None, f"{venv} has no spoken-to-signed (run without --no-install to create it)"
    try:
        if not py.is_file():
            base = getattr(sys, "_base_executable", None) or shutil.which("python3") or sys.executable
            subprocess.run([base, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
        r = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "spoken-to-signed", "opencv-python-headless"],
                           capture_output=True, text=True, timeout=1200)
        if r.returncode != 0: return None, f"pip install spoken-to-signed failed: {r.stderr.strip()[-500:]}"
    except (OSError, subprocess.SubprocessError) as e:
        return None, f"cannot create the bench venv: {e}"
    return (py, "installed") if ok() else (None, "spoken-to-signed installed but not importable")


def export_holistic(workdir: Path, lexicon_dir: Path, glosses_needed: set[str]) -> Path:
    """Our lexicon in spoken-to-signed's format: `index.csv` + one MediaPipe-Holistic `.pose` per gloss (rank 1). Points are
    mapped back from OpenPose (body, hands, the 70 face-mesh vertices the forward conversion uses); the rest is masked."""
    import numpy as np
    from pose_format import Pose as PFPose
    from pose_format.numpy import NumPyPoseBody
    from t2g2p2s.core import data_dir
    from t2g2p2s.glosses import gloss_word
    from t2g2p2s.lexicon import Lexicon
    from t2g2p2s.poses import FACE70_FROM_MESH, OPENPOSE_137, _MP_BODY, _MP_HAND
    out = workdir / "s2s-lexicon"
    lex = Lexicon.open(lexicon_dir)
    stamp = out / ".bench-source.json"
    key = {"lexicon": str(lexicon_dir), "n_frames": int(lex.meta["n_frames"]), "n_entries": len(lex)}
    if stamp.is_file() and json.loads(stamp.read_text()) == key: return out
    if out.exists(): shutil.rmtree(out)
    (out / "gsg").mkdir(parents=True)
    tmpl = next((data_dir() / "fingerspelling-gsg" / "gsg").glob("*.pose"))
    with open(tmpl, "rb") as f: header = PFPose.read(f.read()).header
    comps = {c.name: c for c in header.components}
    offs, o = {}, 0
    for c in header.components: offs[c.name] = o; o += len(c.points)
    n_pts = o
    body25 = list(OPENPOSE_137.component("pose_keypoints_2d").points)
    pairs = []                                                                  # (holistic index, openpose index)
    inv = {}
    for name, src in _MP_BODY.items():
        if isinstance(src, str): inv.setdefault(src, body25.index(name))
    extra = {"LEFT_EYE_INNER": "LEye", "LEFT_EYE_OUTER": "LEye", "RIGHT_EYE_INNER": "REye", "RIGHT_EYE_OUTER": "REye"}
    for mp, op in extra.items(): inv.setdefault(mp, body25.index(op))
    for mp, op in {"MOUTH_LEFT": 25 + 54, "MOUTH_RIGHT": 25 + 48, "LEFT_PINKY": 95 + 17, "LEFT_INDEX": 95 + 5,
                   "LEFT_THUMB": 95 + 2, "RIGHT_PINKY": 116 + 17, "RIGHT_INDEX": 116 + 5, "RIGHT_THUMB": 116 + 2}.items():
        inv.setdefault(mp, op)
    for i, p in enumerate(comps["POSE_LANDMARKS"].points):
        if p in inv: pairs.append((offs["POSE_LANDMARKS"] + i, inv[p]))
    for j, v in enumerate(FACE70_FROM_MESH):
        if v < len(comps["FACE_LANDMARKS"].points): pairs.append((offs["FACE_LANDMARKS"] + v, 25 + j))
    for side, base in (("LEFT", 95), ("RIGHT", 116)):
        pts = list(comps[f"{side}_HAND_LANDMARKS"].points)
        for j, name in enumerate(_MP_HAND): pairs.append((offs[f"{side}_HAND_LANDMARKS"] + pts.index(name), base + j))
    dst, src = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    header.dimensions.width, header.dimensions.height, header.dimensions.depth = W, H, 0
    rows = []
    best = lex.index[lex.index["rank"] == 1]
    for r in best.itertuples(index=False):
        d = np.asarray(lex.frames[int(r.start): int(r.start) + int(r.length)])
        T = len(d)
        xyz = np.zeros((T, 1, n_pts, 3), np.float32); conf = np.zeros((T, 1, n_pts), np.float32)
        xyz[:, 0, dst, :2] = d[:, src, :2]; conf[:, 0, dst] = d[:, src, 2]
        mask = np.repeat((conf == 0)[..., None], 3, -1)
        body = NumPyPoseBody(float(r.fps), np.ma.array(xyz, mask=mask), conf)
        rel = f"gsg/e{int(r.entry_id)}.pose"
        with open(out / rel, "wb") as f: PFPose(header, body).write(f)
        word = gloss_word(r.gloss)
        rows.append((rel, word, r.gloss, T))
    with open(out / "index.csv", "w", encoding="utf-8", newline="") as f:
        import csv as _csv
        w = _csv.writer(f)
        w.writerow(["path", "spoken_language", "signed_language", "start", "end", "words", "glosses", "priority"])
        for rel, word, g, T in rows: w.writerow([rel, "de", "gsg", 0, int(round(T / FPS * 1000)), word, g, 0])
    missing = glosses_needed - {g for _, _, g, _ in rows}
    if missing: raise RuntimeError(f"glosses missing from the export: {missing}")
    stamp.write_text(json.dumps(key))
    return out


# ---------------------------------------------------------------------------------------------- main

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a tenth of the thesis's scale (smoke test)")
    ap.add_argument("--workdir", default=str(ROOT / "bench" / "out" / "gloss2pose"), help="cache and output folder")
    ap.add_argument("--venv", default=os.environ.get("T2G2P2S_BENCH_VENV", "/tmp/t2g2p2s-bench-venv"),
                    help="venv for spoken-to-signed and OpenCV (created on first use)")
    ap.add_argument("--repeats", type=int, default=None, help="runs per timed command (default 3, quick 1)")
    ap.add_argument("--skip-s2s", action="store_true", help="skip (d)")
    ap.add_argument("--no-install", action="store_true", help="never pip-install into the bench venv")
    ap.add_argument("--only", help="run only these parts, comma-separated: render (b), butterworth (f)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    a, rest = ap.parse_known_args(argv)
    if a.worker == "thesis": return thesis_worker(rest)
    import numpy as np
    os.environ.setdefault("T2G2P2S_PROGRESS", "0")
    repeats = a.repeats or (1 if a.quick else 3)
    if a.only: return main_only(a, repeats)
    n_glosses, n_frames = (THESIS_SCALE[0] // 10, THESIS_SCALE[1] // 10) if a.quick else THESIS_SCALE
    wd = Path(a.workdir) / ("quick" if a.quick else "full")
    wd.mkdir(parents=True, exist_ok=True)
    results: dict = {"scale": {"glosses": n_glosses, "frames": n_frames, "quick": a.quick}, "repeats": repeats}
    T0 = time.perf_counter()
    print(f"# Gloss2Pose benchmark: {n_glosses:,} glosses, {n_frames:,} frames{' (quick)' if a.quick else ''}; work folder {wd}")

    # 0. data
    data = make_thesis_dictionary(wd, n_glosses, n_frames)
    print(f"thesis dictionary: {data['bytes'] / 1e9:.2f} GB (the thesis's: 0.92 GB), {data['frames']:,} frames"
          f" (generated in {data['seconds_to_generate']} s or cached)")
    imp = import_lexicon(wd, data)
    results["import"] = imp
    print(f"import-thesis (streamed): {imp['seconds']:.1f} s, peak {imp['peak_mib']:.0f} MiB, {imp['summary']['glosses']:,} glosses")
    lexdir = wd / "lexicon"

    # a. thesis vs our cold CLI, README example
    cli = [str(ROOT / ".venv" / "bin" / "python")] if (ROOT / ".venv" / "bin" / "python").is_file() else [sys.executable]
    def ours_cmd(glosses, out, console=False):
        args = ["--glosses", glosses, "--lexicon", str(lexdir), "--out", str(out), "--no-embedding"]
        if console: return wrapped(cli[0], "func", "t2g2p2s.pipeline:main", "translate", *args, workdir=wd)
        return wrapped(cli[0], "command", "t2g2p2s.gloss2pose:translate", *args, workdir=wd)
    thesis = median_run(wrapped(sys.executable, "script", str(Path(__file__).resolve()), "--worker", "thesis", data["dict"],
                                data["times"], README_GLOSSES, str(wd / "thesis-run"), workdir=wd), 1)
    ours = median_run(ours_cmd(README_GLOSSES, wd / "ours-readme.pose"), repeats)
    ours_console = median_run(ours_cmd(README_GLOSSES, wd / "ours-readme.pose", console=True), repeats)
    from t2g2p2s.gloss2pose import Gloss2Pose
    from t2g2p2s.matching import GlossMatcher
    from t2g2p2s.lexicon import Lexicon
    lex = Lexicon.open(lexdir)
    eng = Gloss2Pose(lex, steps=("exact", "variant", "rule", "fuzzy", "fingerspelling"))
    eng.translate(README_GLOSSES)
    warm = []
    for _ in range(30):
        t = time.perf_counter(); tr = eng.translate(README_GLOSSES); warm.append((time.perf_counter() - t) * 1000)
    results["a"] = {"thesis_seconds": thesis["seconds"], "thesis_peak_mib": thesis["peak_mib"], "ours_cold_seconds": ours["seconds"],
                    "ours_console_seconds": ours_console["seconds"], "ours_console_peak_mib": ours_console["peak_mib"],
                    "ours_cold_all": ours["seconds_all"], "ours_peak_mib": ours["peak_mib"], "ratio": thesis["seconds"] / ours["seconds"],
                    "warm_ms_median": statistics.median(warm), "warm_ms_min": min(warm), "frames_ours": tr.pose.n_frames,
                    "frames_thesis": json.loads(thesis["stdout"].strip().splitlines()[-1])["frames"]}
    print("\n## (a) README example, cold: the thesis's way vs ours")
    print(fmt_row("", "seconds", "peak MiB", "frames"))
    print(fmt_row("thesis (json.load + per-gloss files, no video)", f"{thesis['seconds']:.2f}", f"{thesis['peak_mib']:.0f}",
                  results["a"]["frames_thesis"]))
    print(fmt_row("ours: translate command (cold, no video)", f"{ours['seconds']:.2f}", f"{ours['peak_mib']:.0f}", tr.pose.n_frames))
    print(fmt_row("ours: via the `t2g2p2s` console script", f"{ours_console['seconds']:.2f}", f"{ours_console['peak_mib']:.0f}",
                  tr.pose.n_frames))
    print(f"ratio thesis/ours: {results['a']['ratio']:.1f}× (want ≥ 20×; console script "
          f"{thesis['seconds'] / ours_console['seconds']:.1f}×); ours peak {ours['peak_mib']:.0f} MiB (want < 200); "
          f"warm in-process translate: {results['a']['warm_ms_median']:.1f} ms median, {results['a']['warm_ms_min']:.1f} ms min "
          f"(want < 20 ms)")
    print("(the console script adds the imports of t2g2p2s.pipeline: nbformat → jsonschema alone is about 1 s)")

    # b. rendering (the "render" part)
    venv_py, why = ensure_venv(Path(a.venv), not a.no_install)
    results["venv"] = why
    results["b"] = bench_render(wd, tr.pose, venv_py, why, repeats, "the README example")

    # c. matcher
    rng = np.random.default_rng(1)
    gl = lex.glosses
    import re as _re
    def variants(g):
        m = _re.match(r"^(.*?)(\d+)([A-Z]*)$", g)
        return m[1] if m else g
    qs = []
    for i in range(1000):
        g = gl[rng.integers(len(gl))]
        k = i % 10
        if k < 4: qs.append(g)                                                 # exact
        elif k < 6: qs.append(variants(g))                                     # variant
        elif k < 8: qs.append(g.lower() + "*")                                 # rule
        elif k < 9: qs.append(g[:-1] + "X" if len(g) > 4 else g)               # fuzzy
        else: qs.append("MÜLLER" if i % 20 else "4711")                        # fingerspelling / unknown
    m0 = GlossMatcher(lex, steps=("exact", "variant", "rule", "fuzzy", "fingerspelling"))
    m0.match_all(qs[:20])
    t = time.perf_counter(); r0 = [m0.match(q) for q in qs]; qps0 = len(qs) / (time.perf_counter() - t)
    m1 = GlossMatcher(lex)
    t = time.perf_counter(); m1.embedding_index(); load_s = time.perf_counter() - t
    # queries that only the embedding step sees: a matcher with that step alone (with the full chain, fuzzy or
    # fingerspelling would answer some of them first and the figure would not be the embedding step's)
    m_emb = GlossMatcher(lex, steps=("embedding",), embedding_threshold=None, encoder=m1.encoder)
    m_emb.embedding_index()                              # the stored index m1 just wrote
    emb_q = ["NACHTS", "ABENDLICH", "REGNERISCH", "SONNIG", "KÄLTE", "WINDIG", "GEWITTER", "SCHNEIT"] * 25
    t = time.perf_counter(); r1 = [m_emb.match(q) for q in emb_q]; qps1 = len(emb_q) / (time.perf_counter() - t)
    t = time.perf_counter(); m_emb.match_all(emb_q); qps1b = len(emb_q) / (time.perf_counter() - t)
    t = time.perf_counter(); [m1.match(q) for q in qs]; qps_mix = len(qs) / (time.perf_counter() - t)
    t = time.perf_counter(); m1.match_all(qs); qps_mix_b = len(qs) / (time.perf_counter() - t)
    from collections import Counter
    results["c"] = {"qps_without_embedding": qps0, "qps_mix_with_embedding": qps_mix, "qps_embedding_queries": qps1,
                    "qps_mix_with_embedding_batched": qps_mix_b, "qps_embedding_queries_batched": qps1b,
                    "embedding_load_and_index_seconds": load_s, "methods": dict(Counter(m.method for m in r0)),
                    "embedding_methods": dict(Counter(m.method for m in r1))}
    print(f"\n## (c) matcher on {len(gl):,} glosses")
    print(fmt_row("", "queries/s"))
    print(fmt_row("mix, no embedding step", f"{qps0:,.0f}"))
    print(fmt_row("same mix, embedding step on (one by one)", f"{qps_mix:,.0f}"))
    print(fmt_row("same mix, embedding step on (match_all)", f"{qps_mix_b:,.0f}"))
    print(fmt_row("embedding-step queries (one by one)", f"{qps1:,.0f}"))
    print(fmt_row("embedding-step queries (match_all, batched)", f"{qps1b:,.0f}"))
    print(f"embedding model load + index for {len(gl):,} glosses (once, stored with the lexicon): {load_s:.1f} s; "
          f"methods of the mix: {results['c']['methods']}")

    # d. spoken-to-signed
    print("\n## (d) spoken-to-signed vs ours (10-word German sentence, all words in the lexicon)")
    if a.skip_s2s: print("skipped (--skip-s2s)"); results["d"] = {"skipped": "--skip-s2s"}
    elif venv_py is None: print(f"skipped: {why}"); results["d"] = {"skipped": why}
    else:
        s2s_lex = export_holistic(wd, lexdir, set(S2S_WORDS.values()))
        args = ["--text", S2S_SENTENCE, "--glosser", "simple", "--spoken-language", "de", "--signed-language", "gsg",
                "--lexicon", str(s2s_lex), "--pose", str(wd / "s2s.pose")]
        env = dict(os.environ, HF_HUB_OFFLINE="1")
        entry = wd / "_s2s_entry.py"                 # what the `text_to_gloss_to_pose` console script runs
        entry.write_text("import sys\nfrom spoken_to_signed.bin import text_to_gloss_to_pose\n"
                         "sys.argv[0] = 'text_to_gloss_to_pose'\ntext_to_gloss_to_pose()\n")
        try:
            s2s = median_run(wrapped(str(venv_py), "script", str(entry), *args, workdir=wd), repeats, env=env)
            ours_d = median_run(ours_cmd(",".join(S2S_WORDS.values()), wd / "ours-s2s.pose"), repeats)
            ours_dc = median_run(ours_cmd(",".join(S2S_WORDS.values()), wd / "ours-s2s.pose", console=True), repeats)
            from t2g2p2s.poses import read_pose_file
            s2s_pose = read_pose_file(wd / "s2s.pose")
            results["d"] = {"s2s_seconds": s2s["seconds"], "s2s_peak_mib": s2s["peak_mib"], "ours_seconds": ours_d["seconds"],
                            "ours_peak_mib": ours_d["peak_mib"], "ratio": s2s["seconds"] / ours_d["seconds"],
                            "ours_console_seconds": ours_dc["seconds"], "ratio_console": s2s["seconds"] / ours_dc["seconds"],
                            "s2s_frames": s2s_pose.n_frames, "s2s_fps": s2s_pose.fps}
            print(fmt_row("", "seconds", "peak MiB"))
            print(fmt_row("spoken-to-signed text_to_gloss_to_pose", f"{s2s['seconds']:.2f}", f"{s2s['peak_mib']:.0f}"))
            print(fmt_row("ours: translate command --glosses (cold)", f"{ours_d['seconds']:.2f}", f"{ours_d['peak_mib']:.0f}"))
            print(fmt_row("ours: via the `t2g2p2s` console script", f"{ours_dc['seconds']:.2f}", f"{ours_dc['peak_mib']:.0f}"))
            print(f"ratio spoken-to-signed/ours: {results['d']['ratio']:.1f}× (want ≥ 5×); through the console script "
                  f"{results['d']['ratio_console']:.1f}×")
        except (RuntimeError, OSError) as e:
            print(f"skipped: spoken-to-signed did not run offline: {str(e)[-800:]}")
            results["d"] = {"skipped": str(e)[-2000:]}

    # e. smoothness
    from t2g2p2s.assembly import AssemblyConfig, GlossTimes
    from t2g2p2s.pose_metrics import normalise_by_shoulders, smoothness
    times = GlossTimes.read(data["times"])
    thesis_eng = Gloss2Pose(lex, times, AssemblyConfig.thesis(), GlossMatcher(lex, steps=("exact",)))
    ours_eng = Gloss2Pose(lex, times, AssemblyConfig(), GlossMatcher(lex, steps=("exact",)))
    rows = []
    for i in range(12 if a.quick else 30):
        sent = [gl[j] for j in rng.integers(0, len(gl), 8)]
        for name, e in (("thesis", thesis_eng), ("ours", ours_eng)):
            p = normalise_by_shoulders(e.translate(sent).pose)
            rows.append((i, name, smoothness(p, "wrists")["msj"], smoothness(p, "hands")["msj"]))
    import pandas as pd
    df = pd.DataFrame(rows, columns=["sentence", "method", "wrists", "hands"])
    med = df.groupby("method")[["wrists", "hands"]].median()
    piv = df.pivot(index="sentence", columns="method", values=["wrists", "hands"])
    results["e"] = {"median_msj": med.to_dict(), "share_ours_lower": {g: float((piv[g]["ours"] < piv[g]["thesis"]).mean()) for g in ("wrists", "hands")}}
    print(f"\n## (e) smoothness of {df.sentence.nunique()} random 8-gloss sentences (MSJ, (shoulder widths/s³)², median)")
    print(fmt_row("", "wrists", "hands"))
    for mth in ("thesis", "ours"): print(fmt_row(mth, f"{med.loc[mth, 'wrists']:.3g}", f"{med.loc[mth, 'hands']:.3g}"))
    print(f"share of sentences where ours is smoother: {results['e']['share_ours_lower']}")

    # f. the "butterworth" part
    results["f"] = bench_butterworth(wd, max(repeats, 5))

    results["total_seconds"] = time.perf_counter() - T0
    (wd / "results.json").write_text(json.dumps(results, indent=2, default=float))
    print(f"\nresults: {wd / 'results.json'} ({results['total_seconds']:.0f} s)")
    return 0


def main_only(a, repeats: int) -> int:
    "`--only render,butterworth`: just those parts, on notebook 08c's demo sentence (sample lexicon), no dictionary."
    parts = [p.strip() for p in a.only.split(",") if p.strip()]
    bad = set(parts) - {"render", "butterworth"}
    if bad: raise SystemExit(f"--only: unknown part(s) {sorted(bad)}; parts: render, butterworth")
    wd = Path(a.workdir) / "only"
    wd.mkdir(parents=True, exist_ok=True)
    T0 = time.perf_counter()
    print(f"# Gloss2Pose benchmark, parts {', '.join(parts)}; work folder {wd}")
    results: dict = {"parts": parts, "repeats": repeats}
    if "render" in parts:
        venv_py, why = ensure_venv(Path(a.venv), not a.no_install, modules=("cv2", "numpy"))
        results["venv"] = why
        results["render"] = bench_render(wd, demo_translation().pose, venv_py, why, repeats, "08c's demo sentence")
    if "butterworth" in parts: results["butterworth"] = bench_butterworth(wd, max(repeats, 5))
    results["total_seconds"] = time.perf_counter() - T0
    (wd / "results.json").write_text(json.dumps(results, indent=2, default=float))
    print(f"\nresults: {wd / 'results.json'} ({results['total_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
