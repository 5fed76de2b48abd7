"""Benchmark of the lexicon build (notebook 05): streaming `build_lexicon` vs a baseline that `json.loads` each whole
wrapper file, on a generated corpus in the DGS-Korpus formats. One command:

    .venv/bin/python bench/corpus.py [--transcripts 20] [--frames 1500] [--n-jobs 2] [--keep DIR]

Each variant runs in a fresh Python process (so peak memory is its own): frames/s = frames of the cameras a1+b1 read
per second of wall time; peak memory = the process's peak resident set size (VmHWM) and its growth over the state
after imports and reading the tokens table; for the process pool also the largest worker's (ru_maxrss of children).
The baseline does the same extraction work (span frames, explicit person choice, quality, top-k per gloss kept in
memory) after loading each file completely, as the thesis's mapper did (thesis-spec §2.6); it writes no store, the
streaming build writes the whole store (frames, index, sentences, candidates table).
The generated motions are random walks, not signs; only sizes and timings matter here.
"""
from __future__ import annotations

import argparse
import gzip
import heapq
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def _status_kb(key: str) -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"): return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_kb() -> int:
    "Current resident set size of this process in KB (Linux /proc; 0 elsewhere)."
    return _status_kb("VmRSS")


def peak_rss_kb() -> int:
    """Peak resident set size of this process in KB: VmHWM, which exec resets (ru_maxrss would carry the peak of the
    process that forked us, here the corpus generator); ru_maxrss where /proc is missing."""
    return _status_kb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# ---------------------------------------------------------------- the generated corpus

def _track(rng: np.random.Generator, n: int, cx: float) -> np.ndarray:
    "A (n, 137, 3) random-walk body around x = cx in a 1280×720 frame, OpenPose-like rounding and confidences."
    base = np.stack([rng.uniform(cx - 150, cx + 150, 137), rng.uniform(150, 650, 137)], -1)
    walk = np.cumsum(rng.normal(0, 1.5, (n, 137, 2)), axis=0)
    xy = np.round(base[None] + walk, 2)
    conf = np.round(rng.uniform(0.3, 0.95, (n, 137)), 3)
    conf[rng.random((n, 137)) < 0.03] = 0
    out = np.concatenate([xy, conf[..., None]], -1)
    out[out[..., 2] == 0] = 0
    return out


def generate_corpus(folder: Path, n_transcripts: int = 20, n_frames: int = 1500, seed: int = 0):
    "Write `n_transcripts` wrappers (a1, b1, c) and return (tokens, sentences, openpose paths)."
    from t2g2p2s.poses import OPENPOSE_137, Pose, openpose_person, write_dgs_wrapper
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    vocab = [f"GLOSSE{i}A" for i in range(300)]
    p = 1 / np.arange(1, len(vocab) + 1); p /= p.sum()
    toks, sents, ops = [], [], {}
    for k in range(n_transcripts):
        tid = f"{1500000 + k}"
        tracks = {"A": _track(rng, n_frames, 640), "B": _track(rng, n_frames, 640)}
        pose = {s: Pose(tracks[s].astype(np.float32), OPENPOSE_137, 50.0, 1280, 720) for s in tracks}
        people = {s: [openpose_person(pose[s], t, decimals=3) for t in range(n_frames)] for s in tracks}
        recs = [{"id": tid, "camera": "a1", "width": 1280, "height": 720, "frames": {t: [people["A"][t]] for t in range(n_frames)}},
                {"id": tid, "camera": "b1", "width": 1280, "height": 720, "frames": {t: [people["B"][t]] for t in range(n_frames)}},
                {"id": tid, "camera": "c", "width": 1280, "height": 720,
                 "frames": {t: [people["A"][t], people["B"][t]] for t in range(n_frames)}}]
        path = folder / f"{tid}_openpose.json.gz"
        write_dgs_wrapper(path, recs, compresslevel=1)
        ops[tid] = path
        for spk in ("A", "B"):
            t, j, sent = 400, 0, []
            while True:
                gd = max(40, int(round(180 * np.exp(0.6 * rng.standard_normal()) / 20)) * 20)
                if t + gd > n_frames * 20 - 200: break
                sid = f"{tid}:{spk}:{j // 5}"
                g = vocab[int(rng.choice(len(vocab), p=p))]
                toks.append(dict(token_id=f"{tid}:{spk}:t{j}", transcript_id=tid, speaker=spk, hand="r", start_ms=t, end_ms=t + gd,
                                 end_ms_capped=t + min(gd, 2000), raw_gloss=g, gloss=g, type=g, category="lexical", dual=False,
                                 sentence_id=sid, excluded=False, exclude_reason=None))
                if rng.random() < 0.05:
                    toks.append(dict(toks[-1], token_id=f"{tid}:{spk}:t{j}l", hand="l", raw_gloss="$INDEX1", gloss="$INDEX1",
                                     type="$INDEX1", category="index", dual=True))
                sent.append((t, t + gd, sid))
                t += gd + max(0, int(round(200 * np.exp(0.7 * rng.standard_normal()) / 20)) * 20)
                j += 1
            for sid in sorted({s for *_, s in sent}):
                ss = [x for x in sent if x[2] == sid]
                sents.append(dict(transcript_id=tid, speaker=spk, sentence_id=sid, start_ms=ss[0][0] - 40, end_ms=ss[-1][1] + 80,
                                  german="Ein Satz.", excluded=False))
    return pd.DataFrame(toks), pd.DataFrame(sents), ops


# ---------------------------------------------------------------- the two variants (run in child processes)

def run_stream(corpus: Path, n_jobs: int, top_k: int) -> dict:
    from t2g2p2s.lexicon_build import build_lexicon
    toks = pd.read_parquet(corpus / "tokens.parquet"); sents = pd.read_parquet(corpus / "sentences.parquet")
    ops = {p.name.split("_")[0]: p for p in sorted(corpus.glob("*_openpose.json.gz"))}
    before = rss_kb()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=corpus) as d:
        rep = build_lexicon(toks, ops, Path(d) / "lex", top_k=top_k, executor="serial" if n_jobs <= 1 else "process",
                            n_jobs=n_jobs, sentences=sents)
    sec = time.perf_counter() - t0
    return {"seconds": sec, "raw_frames": rep.raw_frames, "entries": rep.n_entries, "lexicon_frames": rep.lexicon_frames,
            "sentences": rep.n_sentences, "rss_before_kb": before,
            "maxrss_kb": peak_rss_kb(),
            "children_maxrss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}


def run_baseline(corpus: Path, top_k: int) -> dict:
    from t2g2p2s.lexicon import quality_components
    from t2g2p2s.lexicon_build import CAMERA_OF_SPEAKER, candidate_spans, choose_person
    toks = pd.read_parquet(corpus / "tokens.parquet")
    ops = {p.name.split("_")[0]: p for p in sorted(corpus.glob("*_openpose.json.gz"))}
    spans, _ = candidate_spans(toks)
    before = rss_kb()
    t0 = time.perf_counter()
    kept: dict[str, list] = {}
    raw = seq = 0
    for tid, g in spans.groupby("transcript_id", sort=True):
        with gzip.open(ops[tid], "rb") as f: recs = json.loads(f.read())
        by_cam = {r["camera"]: r for r in recs}
        raw += sum(len(by_cam[c]["frames"]) for c in CAMERA_OF_SPEAKER.values())
        for r in g.itertuples(index=False):
            frames = by_cam[CAMERA_OF_SPEAKER[r.speaker]]["frames"]
            buf = np.zeros((int(r.n_frames), 137, 3), np.float32)
            for f in range(int(r.frame_start), int(r.frame_end)):
                fr = frames.get(str(f))
                if fr:
                    a, _ = choose_person(fr["people"])
                    if a is not None: buf[f - int(r.frame_start)] = a
            q = quality_components(buf, r.hand, float(r.end_ms - r.start_ms), float(r.median_ms))["quality"]
            h = kept.setdefault(r.gloss, [])
            item = (q, -seq, seq, buf); seq += 1
            if len(h) < top_k: heapq.heappush(h, item)
            elif item[:2] > h[0][:2]: heapq.heapreplace(h, item)
        del recs, by_cam
    sec = time.perf_counter() - t0
    n = sum(len(h) for h in kept.values())
    return {"seconds": sec, "raw_frames": raw, "entries": n, "lexicon_frames": sum(x[3].shape[0] for h in kept.values() for x in h),
            "rss_before_kb": before, "maxrss_kb": peak_rss_kb(), "children_maxrss_kb": 0}


# ---------------------------------------------------------------- driver

def _child(variant: str, corpus: Path, n_jobs: int, top_k: int) -> dict:
    cmd = [sys.executable, __file__, "--child", variant, "--corpus", str(corpus), "--n-jobs", str(n_jobs), "--top-k", str(top_k)]
    env = dict(os.environ, T2G2P2S_PROGRESS="0", T2G2P2S_LOG="WARNING")
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0: raise SystemExit(f"{variant} failed:\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--transcripts", type=int, default=20, help="transcripts in the generated corpus (at least 20 for the report)")
    ap.add_argument("--frames", type=int, default=1500, help="frames per camera and transcript (50 fps; 1500 = 30 s)")
    ap.add_argument("--n-jobs", type=int, default=2, help="workers of the parallel streaming run")
    ap.add_argument("--top-k", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", help="write the corpus here and keep it (default: a temporary folder)")
    ap.add_argument("--child", choices=("stream", "baseline"), help=argparse.SUPPRESS)
    ap.add_argument("--corpus", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        res = run_stream(Path(a.corpus), a.n_jobs, a.top_k) if a.child == "stream" else run_baseline(Path(a.corpus), a.top_k)
        print(json.dumps(res))
        return 0
    ctx = tempfile.TemporaryDirectory() if not a.keep else None
    corpus = Path(a.keep) if a.keep else Path(ctx.name)
    try:
        t0 = time.perf_counter()
        toks, sents, ops = generate_corpus(corpus, a.transcripts, a.frames, a.seed)
        toks.to_parquet(corpus / "tokens.parquet"); sents.to_parquet(corpus / "sentences.parquet")
        gz = sum(p.stat().st_size for p in ops.values())
        js = sum(int.from_bytes(p.read_bytes()[-4:], "little") for p in ops.values())
        print(f"corpus: {len(ops)} transcripts × {a.frames} frames × 3 cameras, {len(toks)} gloss tokens, {len(sents)} sentences; "
              f"{gz / 1e6:.1f} MB gzip, {js / 1e6:.1f} MB JSON (largest file {max(int.from_bytes(p.read_bytes()[-4:], 'little') for p in ops.values()) / 1e6:.1f} MB); "
              f"generated in {time.perf_counter() - t0:.0f} s", flush=True)
        rows = {}
        rows["baseline: json.loads whole file (1 process)"] = _child("baseline", corpus, 1, a.top_k)
        rows["build_lexicon streaming (1 process)"] = _child("stream", corpus, 1, a.top_k)
        if a.n_jobs > 1: rows[f"build_lexicon streaming ({a.n_jobs} processes)"] = _child("stream", corpus, a.n_jobs, a.top_k)
        base = rows["baseline: json.loads whole file (1 process)"]
        print(f"\n{'variant':48s} {'seconds':>8s} {'frames/s':>9s} {'peak RSS MB':>12s} {'growth MB':>10s} {'entries':>8s}")
        for name, r in rows.items():
            fps = r["raw_frames"] / r["seconds"]
            peak = max(r["maxrss_kb"], r["children_maxrss_kb"]) / 1024
            grow = (r["maxrss_kb"] - r["rss_before_kb"]) / 1024
            r.update(frames_per_s=fps, peak_mb=peak, growth_mb=grow)
            print(f"{name:48s} {r['seconds']:8.1f} {fps:9.0f} {peak:12.0f} {grow:10.0f} {r['entries']:8d}")
        s1 = rows["build_lexicon streaming (1 process)"]
        print("\nratios (streaming / baseline):")
        print(f"  frames/s, 1 process:           {s1['frames_per_s'] / base['frames_per_s']:.2f}")
        if a.n_jobs > 1:
            sp = rows[f"build_lexicon streaming ({a.n_jobs} processes)"]
            print(f"  frames/s, {a.n_jobs} processes:          {sp['frames_per_s'] / base['frames_per_s']:.2f}")
            print(f"  peak RSS per process, {a.n_jobs} proc.:  {sp['peak_mb'] / base['peak_mb']:.2f}")
        print(f"  peak RSS, 1 process:           {s1['peak_mb'] / base['peak_mb']:.2f}")
        print(f"  RSS growth over imports:       {max(s1['growth_mb'], 0.1) / max(base['growth_mb'], 0.1):.3f}")
        print(f"  same entries: {s1['entries'] == base['entries']} ({s1['entries']} vs {base['entries']}); "
              f"same raw frames: {s1['raw_frames'] == base['raw_frames']}")
    finally:
        if ctx is not None: ctx.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
