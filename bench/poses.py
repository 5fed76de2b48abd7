"""Benchmark: streaming the DGS-Korpus OpenPose wrapper (`t2g2p2s.corpus_poses.iter_dgs_wrapper`) against `json.load`.

Generates a realistic wrapper file (one person, 137 points per frame, cameras a1 and b1 splitting the frames,
about 2 % of frames absent as in the sparse corpus files) as `.json` and `.json.gz` in a temporary folder, then
runs every method in its own subprocess, so each peak RSS is honest:

- `stream`: `iter_dgs_wrapper` over all frames of both cameras,
- `json.load`: `json.load` of the whole file, then iterating over every frame of both cameras,
- `read_dgs_wrapper`: camera a1 into a validated `Pose` (what the corpus stages do),
- `ijson`: the well-kept streaming parser ijson (its C backend yajl2_c when built) doing the stream's job: every
  frame's people with the camera, width and height of its record (`kvitems` over `item.frames`, the record keys
  picked from the parse events it consumes on the way),
- `ijson.kvitems`: ijson's fastest path, `kvitems(f, "item.frames")` alone: every frame's people, but without
  knowing which camera record a frame belongs to (an upper bound for ijson on this job).

Prints frames/s and peak memory of each, and the ratios stream : json.load and stream : ijson. The ijson rows are
skipped, with a message, when ijson is not installed (`.venv/bin/pip install ijson`; it is no requirement of the
package). Usage:

    .venv/bin/python bench/poses.py [--frames 50000] [--chunk-size 1048576] [--keep DIR]
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _rss_mb() -> float:
    "Current resident set size of this process in MB (Linux /proc)."
    with open("/proc/self/statm") as f: return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # Linux: kB


def worker(method: str, path: str, chunk_size: int) -> dict:
    "Run one method in this (fresh) process; return frames, seconds, baseline and peak RSS."
    import numpy  # noqa: F401  (same imports in every worker, so baselines compare)
    from t2g2p2s import corpus_poses, poses
    base = _rss_mb()
    t0 = time.perf_counter()
    if method == "stream":
        n = sum(1 for _ in corpus_poses.iter_dgs_wrapper(path, chunk_size=chunk_size))
    elif method == "json.load":
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as f: data = json.load(f)
        n = 0
        for rec in data:
            cam, w, h = rec["camera"], rec["width"], rec["height"]
            for k, fr in rec["frames"].items():
                _ = (cam, w, h, int(k), fr["people"]); n += 1
        del data
    elif method == "read_dgs_wrapper":
        n = corpus_poses.read_dgs_wrapper(path, camera="a1", chunk_size=chunk_size).n_frames
    elif method in ("ijson", "ijson.kvitems"):
        n = _ijson_frames(path, with_camera=method == "ijson")
    else:
        raise SystemExit(f"unknown method {method!r}")
    dt = time.perf_counter() - t0
    return {"method": method, "frames": n, "seconds": dt, "baseline_mb": base, "peak_mb": _peak_mb()}


def _ijson_frames(path: str, with_camera: bool) -> int:
    "Count the frames of a wrapper file through ijson, touching each frame's people (and its record's camera)."
    import ijson
    with (gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")) as f:
        n = 0
        if not with_camera:
            for k, fr in ijson.kvitems(f, "item.frames", use_float=True):
                _ = (int(k), fr["people"]); n += 1
            return n
        head = {}
        def events():                     # the parse events pass through here on their way to kvitems
            for prefix, event, value in ijson.parse(f, use_float=True):
                if prefix in ("item.id", "item.camera", "item.width", "item.height"): head[prefix[5:]] = value
                yield prefix, event, value
        for k, fr in ijson.kvitems(events(), "item.frames", use_float=True):
            _ = (head["id"], head["camera"], head["width"], head["height"], int(k), fr["people"]); n += 1
    return n


def _ijson_backend() -> str | None:
    "The backend ijson would use here, or None when ijson is not installed."
    try: import ijson
    except ImportError: return None
    return ijson.backend


def generate(path: Path, n_frames: int, seed: int = 0) -> dict:
    "Write a wrapper file of `n_frames` frame slots (a1 first half, b1 second half, ~2 % absent)."
    import numpy as np
    from t2g2p2s.core import data_dir
    from t2g2p2s.corpus_poses import write_dgs_wrapper
    from t2g2p2s.poses import read_pose_file
    template = read_pose_file(data_dir() / "pose-samples" / "tests_openpose.pose").to_pixels(1280, 720)
    keys = ("pose_keypoints_2d", "face_keypoints_2d", "hand_left_keypoints_2d", "hand_right_keypoints_2d")
    sizes = (25, 70, 21, 21)
    half = n_frames // 2
    counts = {}

    def frames(cam: str, lo: int, hi: int):
        rng = np.random.default_rng([seed, lo])
        for t in range(lo, hi):
            if rng.random() < 0.02: continue                  # absent frame (sparse dict)
            a = template.data[t % template.n_frames].astype(np.float64)
            present = a[:, 2] > 0
            a[present, :2] += rng.normal(0, 1.5, (present.sum(), 2))
            a[present, 2] = np.clip(a[present, 2] + rng.normal(0, 0.02, present.sum()), 0.01, 1)
            xy, c = np.round(a[:, :2], 3), np.round(a[:, 2:], 6)
            flat = np.concatenate([xy, c], 1)
            person, o = {"person_id": [-1]}, 0
            for k, n in zip(keys, sizes):
                person[k] = flat[o:o + n].ravel().tolist(); o += n
            for k in keys: person[k.replace("_2d", "_3d")] = []
            counts[cam] = counts.get(cam, 0) + 1
            yield t, [person]

    write_dgs_wrapper(path, [{"id": "bench-0001", "camera": "a1", "width": 1280, "height": 720, "frames": frames("a1", 0, half)},
                             {"id": "bench-0001", "camera": "b1", "width": 1280, "height": 720, "frames": frames("b1", half, n_frames)}])
    return counts


def run_worker(method: str, path: Path, chunk_size: int) -> dict:
    cmd = [sys.executable, __file__, "--worker", method, str(path), "--chunk-size", str(chunk_size)]
    env = dict(os.environ, T2G2P2S_PROGRESS="0")
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if r.returncode != 0: raise SystemExit(f"worker {method} failed:\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=50_000, help="frame slots in the generated file (default 50000)")
    ap.add_argument("--chunk-size", type=int, default=1 << 20, help="bytes per read of the streaming reader")
    ap.add_argument("--keep", type=Path, default=None, help="write the generated files here and keep them")
    ap.add_argument("--worker", nargs=2, metavar=("METHOD", "PATH"), help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        print(json.dumps(worker(a.worker[0], a.worker[1], a.chunk_size)))
        return
    tmp = Path(tempfile.mkdtemp(prefix="t2g2p2s-bench-poses-")) if a.keep is None else a.keep
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        plain, gz = tmp / "bench-0001_openpose.json", tmp / "bench-0001_openpose.json.gz"
        counts = generate(plain, a.frames)
        generate(gz, a.frames)
        print(f"generated {sum(counts.values())} frames ({counts}) in {time.perf_counter() - t0:.1f} s: "
              f"{plain.stat().st_size / 2**20:.1f} MB .json, {gz.stat().st_size / 2**20:.1f} MB .json.gz")
        backend = _ijson_backend()
        methods = ("stream", "json.load", "read_dgs_wrapper") + (("ijson", "ijson.kvitems") if backend else ())
        print(f"ijson: backend {backend}" if backend else
              "ijson is not installed: skipping the comparison with ijson (`.venv/bin/pip install ijson` to run it)")
        rows = []
        for path in (plain, gz):
            res = {m: run_worker(m, path, a.chunk_size) for m in methods}
            for m, r in res.items():
                rows.append((path.name, m, r["frames"], r["frames"] / r["seconds"], r["seconds"], r["baseline_mb"], r["peak_mb"]))
            s, j = res["stream"], res["json.load"]
            assert s["frames"] == j["frames"] == sum(counts.values()), (s, j, counts)
            rows.append((path.name, "ratio stream/json.load", None, (s["frames"] / s["seconds"]) / (j["frames"] / j["seconds"]),
                         None, None, s["peak_mb"] / j["peak_mb"]))
            rows.append((path.name, "ratio above baseline", None, None, None, None,
                         (s["peak_mb"] - s["baseline_mb"]) / (j["peak_mb"] - j["baseline_mb"])))
            for m in methods[3:]:
                r = res[m]
                assert r["frames"] == s["frames"], (m, r, s)
                rows.append((path.name, f"ratio stream/{m}", None, (s["frames"] / s["seconds"]) / (r["frames"] / r["seconds"]),
                             None, None, s["peak_mb"] / r["peak_mb"]))
        print(f"\n{'file':28} {'method':28} {'frames':>7} {'frames/s':>10} {'s':>7} {'base MB':>8} {'peak MB':>8}")
        for f, m, n, fps, sec, base, peak in rows:
            cell = lambda v, fmt: format(v, fmt) if v is not None else ""
            print(f"{f:28} {m:28} {cell(n, '7d'):>7} {cell(fps, '10.2f' if 'ratio' in m else '10.0f'):>10} "
                  f"{cell(sec, '7.2f'):>7} {cell(base, '8.0f'):>8} {cell(peak, '8.3f' if 'ratio' in m else '8.0f'):>8}")
        print("\nratio rows: 'frames/s' column = speed of streaming relative to json.load or ijson (>1 = streaming is "
              "faster); 'peak MB' column = peak RSS ratio (whole process, and above the post-import baseline).")
    finally:
        if a.keep is None: shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
