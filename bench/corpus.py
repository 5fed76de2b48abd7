"""Benchmark of the full profile at scale: the rehearsal corpus (notebook 01e) at three fractions of the real Public
DGS Corpus, every stage of `params/rehearsal.yaml` run through the runner, and the lexicon build (notebook 05a)
against the thesis's way of reading the OpenPose files (whole-file `json.loads`), per process. One command:

    .venv/bin/python bench/corpus.py [--scales 1/64,1/32,1/16] [--root build/rehearsal] [--lexicon-only]
                                     [--t2g-minutes 0.5]

For each scale it
1. builds the rehearsal corpus (`t2g2p2s sample-corpus build --scale F`, resumable) and times it;
2. serves it on a free port and runs the rehearsal profile (`t2g2p2s run params/rehearsal.yaml --resume`, tier
   full, T2G2P2S_DATA = ROOT/<scale>/data): seconds and peak resident memory of every notebook (the runner samples
   the kernel and its workers) come from the run's manifest (run id rehearsal-<scale>, shared with `make rehearsal`;
   a stage finished earlier keeps the figures of the run that finished it), and a finished scale is not run again;
3. measures the lexicon build in single processes on the scale's scraped files: our streaming build of all
   transcripts, and on the same two smallest transcripts the baseline (each wrapper read whole with `json.loads`,
   then the same extraction of the gloss spans: span frames, person choice, quality, top-k; thesis-spec §2.6), ours
   doing that same work (gloss spans only) and ours whole (spans and sentence sequences, the lexicon store written),
   these three in turn three times (`--repeats`), each in a fresh process, the median kept: the machine's speed
   drifts by 10-20 % between runs a minute apart. Each of these builds twice in its process and times the second,
   so that what a process pays once (imports made on first use, the allocator's first growth; a second or so
   against the one-second build of two small transcripts) is not counted; the all-transcripts run is timed cold.
   Frames/s counts the a1 + b1 frames read; peak memory is the process's peak RSS (VmHWM), given with what reading
   the tables left resident and with the peak of the transcripts' extraction (`BuildReport.extract_peak_rss_mb`).
   All transcripts are also built by the stage's default pool (two worker processes): the coordinating process's
   peak and the largest worker's.

Then it prints time and peak memory per stage and scale, a linear fit of time over the number of transcripts with
its extrapolation to the real corpus (400 transcripts; the Text2Gloss stage is capped by its time budget and does
not scale), and the lexicon build's frames/s ratio to the baseline. Results: ROOT/results.json.
The rehearsal corpus's motions are real human motion, not the real signs; only sizes and timings matter here.
"""
from __future__ import annotations

import argparse
import fractions
import heapq
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from t2g2p2s.core import peak_rss_mb

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CLI = [sys.executable, "-c", "from t2g2p2s.pipeline import main; raise SystemExit(main())"]
REAL_TRANSCRIPTS = 400


def timed(cmd: list[str], env: dict | None = None, log: Path | None = None) -> dict:
    "Run `cmd`; wall seconds and the peak RSS of the child (os.wait4's ru_maxrss, MB)."
    t0 = time.perf_counter()
    out = open(log, "ab") if log else subprocess.DEVNULL
    try:
        p = subprocess.Popen(cmd, env=env, stdout=out, stderr=out)
        _, status, ru = os.wait4(p.pid, 0)
    finally:
        if log: out.close()
    rc = os.waitstatus_to_exitcode(status)
    if rc != 0: raise SystemExit(f"{' '.join(cmd[:6])} ... failed with status {rc} (log: {log})")
    return {"seconds": time.perf_counter() - t0, "peak_mb": ru.ru_maxrss / 1024}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- lexicon build, one process each (child mode)

def _scale_inputs(data: Path, only: list[str] | None):
    from t2g2p2s.lexicon_build import find_openpose_files, read_build_tables
    toks, sents = read_build_tables(data / "transcripts" / "tokens.parquet", data / "transcripts" / "sentences.parquet")
    ops = find_openpose_files(data / "raw")
    if only:
        ops = {k: v for k, v in ops.items() if k in only}
        toks, sents = toks[toks.transcript_id.isin(only)], sents[sents.transcript_id.isin(only)]
    return toks, sents, ops


def run_ours(data: Path, only: list[str] | None, with_sentences: bool = True, warm: bool = False,
             pool: bool = False) -> dict:
    """Our build; `with_sentences=False` cuts the gloss spans only, the work the baseline does. `warm`: build once
    untimed first (one-time costs of the process, e.g. imports made on first use, are then not counted). `pool`: the
    process pool of the stage's default (2 worker processes, each replaced after 8 transcripts): `peak_mb` is then
    this coordinating process's and `extract_peak_mb` the largest worker's."""
    from t2g2p2s.lexicon_build import build_lexicon, find_openpose_files
    if only: toks, sents, ops = _scale_inputs(data, only)
    else:                                           # the whole corpus: 03's files, as the stage reads them
        toks, sents = data / "transcripts" / "tokens.parquet", data / "transcripts" / "sentences.parquet"
        ops = find_openpose_files(data / "raw")
    inputs_mb = peak_rss_mb()                       # libraries imported (and a subset's tables read)
    for _ in range(2 if warm else 1):
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory(dir=data) as d:
            rep = build_lexicon(toks, ops, Path(d) / "lex", executor="process" if pool else "serial", n_jobs=2,
                                sentences=sents if with_sentences else None)
        seconds = time.perf_counter() - t0
    return {"seconds": seconds, "raw_frames": rep.raw_frames, "entries": rep.n_entries,
            "transcripts": len(ops), "peak_mb": peak_rss_mb(), "extract_peak_mb": rep.extract_peak_rss_mb,
            "inputs_mb": inputs_mb}


def run_baseline(data: Path, only: list[str] | None, top_k: int = 3, warm: bool = False) -> dict:
    """The thesis's reading: `json.loads` of each whole wrapper, then our extraction of the gloss spans from it.
    `warm`: as for `run_ours`."""
    toks, _, ops = _scale_inputs(data, only)
    if warm: _baseline_once(toks, ops, top_k)
    return _baseline_once(toks, ops, top_k)


def _baseline_once(toks, ops, top_k: int) -> dict:
    import gzip
    from t2g2p2s.lexicon import quality_components
    from t2g2p2s.lexicon_build import CAMERA_OF_SPEAKER, candidate_spans, choose_person
    spans, _ = candidate_spans(toks)
    t0 = time.perf_counter()
    kept: dict[str, list] = {}
    raw = seq = 0
    for tid, g in spans.groupby("transcript_id", sort=True):
        with gzip.open(ops[tid], "rb") as f: recs = json.loads(f.read())
        by_cam = {r["camera"]: r for r in recs}
        raw += sum(len(by_cam[c]["frames"]) for c in CAMERA_OF_SPEAKER.values() if c in by_cam)
        for r in g.itertuples(index=False):
            frames = by_cam[CAMERA_OF_SPEAKER[r.speaker]]["frames"]
            buf = np.zeros((int(r.n_frames), 137, 3), np.float32)
            for f in range(int(r.frame_start), int(r.frame_end)):
                fr = frames.get(str(f))
                if fr:
                    try: a, _ = choose_person(fr["people"])
                    except Exception: continue                      # a malformed body: skipped, as ours does
                    if a is not None: buf[f - int(r.frame_start)] = a
            q = quality_components(buf, r.hand, float(r.end_ms - r.start_ms), float(r.median_ms))["quality"]
            h = kept.setdefault(r.gloss, [])
            item = (q, -seq, seq); seq += 1
            if len(h) < top_k: heapq.heappush(h, item)
            elif item > h[0]: heapq.heapreplace(h, item)
        del recs, by_cam
    return {"seconds": time.perf_counter() - t0, "raw_frames": raw, "entries": sum(len(h) for h in kept.values()),
            "transcripts": len(ops), "peak_mb": peak_rss_mb()}


def child(variant: str, data: Path, only: list[str] | None, warm: bool = False) -> dict:
    cmd = [sys.executable, __file__, "--child", variant, "--data", str(data)] + (["--only", ",".join(only)] if only else [])
    cmd += ["--warm"] if warm else []
    env = dict(os.environ, T2G2P2S_PROGRESS="0", T2G2P2S_LOG="WARNING")
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0: raise SystemExit(f"{variant} failed:\n{r.stderr[-3000:]}")
    out = json.loads(r.stdout.strip().splitlines()[-1])
    out["frames_per_s"] = out["raw_frames"] / out["seconds"]
    return out


def lexicon_runs(data: Path, repeats: int = 3) -> dict:
    """The lexicon build in single processes on one scale's files: ours on all transcripts (spans and sentences; also
    with the stage's pool of two worker processes), and on the two smallest transcripts the baseline, ours doing the
    baseline's work (gloss spans only) and ours whole, each `repeats` times in turn (a fresh process each, timing its
    second build; the run of median time is kept, all times with it)."""
    sizes = sorted((p.stat().st_size, p.name.split("_")[0]) for p in (data / "raw").rglob("*_openpose.json.gz"))
    two = [t for _, t in sizes[:2]]
    out = {"ours, all transcripts": child("ours", data, None),
           "ours, all transcripts, 2 worker processes": child("ours-pool", data, None)}
    same = {"ours, 2 smallest": "ours", "ours, 2 smallest, spans only": "ours-spans", "baseline, 2 smallest": "baseline"}
    runs: dict[str, list] = {k: [] for k in same}
    for _ in range(max(1, repeats)):                 # interleaved, so that a slow spell of the machine hits all
        for k, variant in same.items(): runs[k].append(child(variant, data, two, warm=True))
    for k, rs in runs.items():
        rs.sort(key=lambda r: r["seconds"])
        out[k] = dict(rs[len(rs) // 2], seconds_all=[round(r["seconds"], 3) for r in rs])
    return out


# ---------------------------------------------------------------- one scale

def rehearse(scale: str, root: Path, lexicon_only: bool, t2g_minutes: float | None = None) -> dict:
    import yaml
    tag = scale.replace("/", "-")
    base = root / tag
    corpus, data, log = base / "corpus", base / "data", base / "log.txt"
    base.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, T2G2P2S_PROGRESS="0", T2G2P2S_DATA=str(data.resolve()))
    res: dict = {"scale": scale}
    print(f"\n== scale {scale}: corpus", flush=True)
    res["corpus"] = timed(CLI + ["sample-corpus", "build", "--out", str(corpus), "--scale", scale], env, log)
    res["summary"] = json.loads((corpus / "REHEARSAL_SUMMARY.json").read_text())
    port = free_port()
    prof = yaml.safe_load((ROOT / "params" / "rehearsal.yaml").read_text())
    prof["notebooks"]["02"]["base_url"] = f"http://127.0.0.1:{port}/meinedgs/"
    if lexicon_only: prof["only"] = ["02", "03a", "05a"]
    if t2g_minutes is not None: prof["notebooks"]["07c"]["dgs_minutes"] = t2g_minutes
    ppath = base / "rehearsal.yaml"
    ppath.write_text(yaml.safe_dump(prof, sort_keys=False))
    srv = subprocess.Popen(CLI + ["sample-corpus", "serve", str(corpus), "--port", str(port)], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        print(f"== scale {scale}: the rehearsal profile (log: {log})", flush=True)
        run_id = f"rehearsal-{tag}"                      # the run of `make rehearsal` at this scale, if any
        res["run"] = timed(CLI + ["run", str(ppath), "--resume", "--run-id", run_id], env, log)
    finally:
        srv.terminate(); srv.wait()
    m = json.loads((ROOT / "runs" / run_id / "manifest.json").read_text())
    res["stages"] = {r["notebook"].split(".")[0]: {"seconds": r.get("seconds") or r.get("earlier_seconds"),
                                                   "peak_mb": r.get("peak_rss_mb") or r.get("earlier_peak_rss_mb"),
                                                   "status": r["status"]} for r in m["notebooks"]}
    print(f"== scale {scale}: lexicon build per process", flush=True)
    res["lexicon"] = lexicon_runs(data)
    return res


# ---------------------------------------------------------------- report

def report(results: list[dict]) -> dict:
    ns = np.array([r["summary"]["transcripts"] for r in results], float)
    print("\ncorpus per scale:")
    for r in results:
        s = r["summary"]
        print(f"  {r['scale']:>5}: {s['transcripts']} transcripts, {s['hours']} h, {s['frames_a1_b1']:,} a1+b1 frames, "
              f"{s['json_bytes'] / 1e9:.1f} GB JSON ({s['gz_bytes'] / 1e9:.1f} GB gz), {s['types']:,} types; "
              f"built in {r['corpus']['seconds']:.0f} s, peak {r['corpus']['peak_mb']:.0f} MB")
    names = ["corpus build"] + list(dict.fromkeys(k for r in results for k in r["stages"]))
    def row(r, name):
        if name == "corpus build": return r["corpus"]["seconds"], r["corpus"]["peak_mb"]
        st = r["stages"].get(name) or {}
        return st.get("seconds"), st.get("peak_mb")
    head = "".join(f"{r['scale']:>16}" for r in results)
    print(f"\n{'stage (seconds / peak MB)':28s}{head}{'fit: s + s/transcript':>26}{'at 400 transcripts':>20}")
    extrap = {}
    for name in names:
        cells, ts = [], []
        for r in results:
            s, mb = row(r, name)
            cells.append("—" if s is None else f"{s:7.0f} / {mb or 0:5.0f}")
            ts.append(np.nan if s is None else s)
        ts = np.array(ts, float)
        ok = ~np.isnan(ts)
        fit = np.polyfit(ns[ok], ts[ok], 1) if ok.sum() >= 2 else None
        capped = name.startswith("07c")
        if fit is not None:
            at = ts[ok].max() if capped else fit[1] + fit[0] * REAL_TRANSCRIPTS
            extrap[name] = {"intercept_s": fit[1], "per_transcript_s": fit[0], "at_400_s": at, "capped": capped}
            tail = f"{fit[1]:8.0f} + {fit[0]:6.2f}·n{'':6s}" + (f"{at / 60:14.0f} min" + (" (capped)" if capped else ""))
        else: tail = ""
        print(f"  {name:26s}" + "".join(f"{c:>16}" for c in cells) + f"  {tail}")
    total = sum(v["at_400_s"] for v in extrap.values())
    print(f"  {'all stages':26s}{'':{16 * len(results)}s}{'':26s}{total / 3600:14.1f} h")
    print("\nlexicon build, one process (frames/s of a1 + b1 read; peak MB):")
    ratios = {}
    for r in results:
        lx = r["lexicon"]
        base, two, allr = lx["baseline, 2 smallest"], lx["ours, 2 smallest"], lx["ours, all transcripts"]
        same = lx.get("ours, 2 smallest, spans only")
        ratios[r["scale"]] = {"same files": two["frames_per_s"] / base["frames_per_s"],
                              "all transcripts vs baseline": allr["frames_per_s"] / base["frames_per_s"]}
        if same: ratios[r["scale"]]["same files, same work"] = same["frames_per_s"] / base["frames_per_s"]
        print(f"  {r['scale']:>5}: baseline {base['frames_per_s']:8.0f} fr/s {base['peak_mb']:7.0f} MB | ours (same 2) "
              f"{two['frames_per_s']:8.0f} fr/s {two['peak_mb']:5.0f} MB | ours (all {allr['transcripts']}) "
              f"{allr['frames_per_s']:8.0f} fr/s {allr['peak_mb']:5.0f} MB | ratio same files "
              f"{ratios[r['scale']]['same files']:.1f}×"
              + (f", same files and work (spans only, {same['frames_per_s']:.0f} fr/s) "
                 f"{ratios[r['scale']]['same files, same work']:.1f}×" if same else ""))
    peaks = [r["lexicon"]["ours, all transcripts"]["peak_mb"] for r in results]
    print(f"  ours, peak MB over the scales: {', '.join(f'{p:.0f}' for p in peaks)} "
          f"(largest / smallest {max(peaks) / min(peaks):.2f}; transcripts {ns.max() / ns.min():.0f}×)")
    return {"extrapolation": extrap, "lexicon_ratios": ratios, "lexicon_peak_mb": peaks}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scales", default="1/64,1/32,1/16", help="comma-separated fractions of the real corpus")
    ap.add_argument("--root", default=str(ROOT / "build" / "rehearsal"), help="where corpora and tiers go (the "
                    "folders of `make rehearsal`: a scale rehearsed there is resumed, not run again)")
    ap.add_argument("--lexicon-only", action="store_true", help="run only 02, 03a, 05a of the profile")
    ap.add_argument("--t2g-minutes", type=float, default=None,
                    help="Text2Gloss budget per re-split at every scale but the largest (default: the profile's); the "
                         "stage is capped by its budget, not by the corpus, so its extrapolation is the largest scale's")
    ap.add_argument("--lexicon-runs", metavar="OUT", default=None,
                    help="only the per-process lexicon build (part 3) on scales already rehearsed under --root; "
                         "results to OUT (e.g. bench/results/corpus-lexicon-2core.json)")
    ap.add_argument("--repeats", type=int, default=3,
                    help="runs of each same-files variant of the lexicon build (the median is reported)")
    ap.add_argument("--child", choices=("ours", "ours-spans", "ours-pool", "baseline"), help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--only", help=argparse.SUPPRESS)
    ap.add_argument("--warm", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        only = a.only.split(",") if a.only else None
        res = (run_baseline(Path(a.data), only, warm=a.warm) if a.child == "baseline"
               else run_ours(Path(a.data), only, with_sentences=a.child != "ours-spans", warm=a.warm,
                             pool=a.child == "ours-pool"))
        print(json.dumps(res))
        return 0
    root = Path(a.root)
    scales = [s.strip() for s in a.scales.split(",") if s.strip()]
    scales.sort(key=lambda s: float(fractions.Fraction(s)))
    if a.lexicon_runs:
        out, runs = Path(a.lexicon_runs), {}
        for s in scales:
            data = root / s.replace("/", "-") / "data"
            if not (data / "raw").is_dir(): raise SystemExit(f"{data / 'raw'}: scale {s} not rehearsed yet")
            print(f"== scale {s}: lexicon build per process", flush=True)
            runs[s] = lexicon_runs(data, a.repeats)
            base = runs[s]["baseline, 2 smallest"]["frames_per_s"]
            for k, v in runs[s].items():
                pool = "worker processes" in k
                more = (f" (tables read: {v['inputs_mb']:.0f} MB, extraction: {v['extract_peak_mb']:.0f} MB)"
                        if "extract_peak_mb" in v and not pool else "")
                if pool:
                    print(f"  {k}: {v['frames_per_s']:8.0f} fr/s, coordinating process {v['peak_mb']:.0f} MB, "
                          f"largest worker {v['extract_peak_mb']:.0f} MB", flush=True)
                    continue
                print(f"  {k:30s} {v['frames_per_s']:8.0f} fr/s ({v['frames_per_s'] / base:5.1f}×) "
                      f"{v['peak_mb']:6.0f} MB{more}", flush=True)
        for what, k, key in (("one process, peak", "ours, all transcripts", "peak_mb"),
                             ("one process, extraction peak", "ours, all transcripts", "extract_peak_mb"),
                             ("pool, coordinating process", "ours, all transcripts, 2 worker processes", "peak_mb"),
                             ("pool, largest worker", "ours, all transcripts, 2 worker processes", "extract_peak_mb")):
            peaks = [runs[s][k][key] for s in scales]
            print(f"ours, all transcripts, {what} MB: {', '.join(f'{p:.0f}' for p in peaks)} (largest / smallest "
                  f"{max(peaks) / min(peaks):.2f})")
        print("lexicon entries (the top-k of every gloss type): "
              + ", ".join(f"{runs[s]['ours, all transcripts']['entries']:,}" for s in scales)
              + "; transcripts: " + ", ".join(str(runs[s]["ours, all transcripts"]["transcripts"]) for s in scales))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"what": " ".join(lexicon_runs.__doc__.split()),
                                   "command": f"python bench/corpus.py --lexicon-runs {out} --scales {a.scales} "
                                              f"--repeats {a.repeats}",
                                   "cores": os.cpu_count(), "date": time.strftime("%Y-%m-%d"), "scales": runs},
                                  indent=1) + "\n")
        return 0
    results = [rehearse(s, root, a.lexicon_only, a.t2g_minutes if s != scales[-1] else None) for s in scales]
    summary = report(results)
    (root / "results.json").write_text(json.dumps({"results": results, **summary}, indent=1, default=float))
    print(f"\nwrote {root / 'results.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
