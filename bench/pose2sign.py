"""Benchmark: Pose2Sign (MimicMotion on diffusers: nbs/09_mimicmotion, nbs/09a_mimicmotion_pipeline and
nbs/09b_pose2sign) at the real size.

`--size real` (a GPU) builds MimicMotion at its released size with random weights (nothing is downloaded): the
SVD-xt UNet from diffusers' default `UNetSpatioTemporalConditionModel` config (1.52 B parameters), a temporal VAE
with SVD's channels, a CLIP ViT-H/14 vision tower and the pose encoder, written as a diffusers folder plus a
checkpoint in MimicMotion's `unet.`/`pose_net.` layout (cached in the work folder) and loaded through
`load_pipeline` in fp16. The reference is a synthetic figure with its OpenPose keypoints; the sentence is the
sample `data/pose-samples/tests_openpose.pose` (3.88 s: 58 frames at 15 fps, one 72-frame tile at 576×1024).
Random weights compute exactly as much as trained ones: the times and the memory are the real ones.

Parts (`--only`, comma-separated; all by default):

  speed    warm-up, then the sentence at 1, 5 and 25 steps on today's path (`SpeedPlan()`, guidance batched,
           decoder chunk 16) and on the fast path (`FAST`: compiled UNet and decoder, NHWC/NDHWC weights, cuDNN
           autotuning, tiles batched, held-only decoder chunks skipped, the one-key cross-attention, time-only
           convolutions in 2-D), each broken down into pose fitting and rendering, CLIP, VAE encoder,
           PoseNet, UNet steps, VAE decoding and frame transfer, with the peak GPU memory of each phase; the largest
           difference of the frames and of the final latents between the paths; the ratio of the time per video
           second at 25 steps (goal ≥ 2×);
  rtf      the real-time factor (seconds of compute per second of video) at 25 steps of a short (< 1 tile) and a
           long (3 tiles) sentence, on both paths;
  batch    throughput of a batch of sentences through `pose2sign_batch` (one loaded model), fast path, with and
           without CPU work (reading, fitting, drawing, video encoding) overlapping the GPU's;
  options  first the output-keeping rewrites one at a time on today's path (NHWC/NDHWC weights, the one-key
           cross-attention, the time-only convolutions in 2-D, cuDNN's attention kernel first; at 5 steps, against
           today's path at 5 steps) and variants of the fast path (cuDNN's attention first, the decoder not
           compiled, CUDA graphs), then the settings that change the output, with their time and their difference
           from the released 25 Euler steps: DPM-Solver++(2M) at 10 and 15 steps, guidance on half of the steps,
           Euler at 10 steps, decoder chunk 32 (in this order: `--deadline` skips what is left, and a compiled
           variant whose compilation, about 5 minutes at the real size, would end past it; every row is saved as it
           is measured);
  flops    the operations of a UNet step (by family: attention, feed-forwards, convolutions, ...) and of decoding
           the sentence, counted on meta copies of the components (nothing computed: `--size real` runs on the
           CPU too), and the rate each path achieved: from this run's `speed` part, or from an earlier results
           file (`--times bench/results/pose2sign-real-h200.json`);
  memory   peak memory of one denoising step against resolution, tile length, guidance batching and tiles per
           call, and of the VAE decoder against resolution and chunk: the table `plan_memory` plans from
           (`--write-table` writes it to bench/pose2sign-memory.json, keeping the rows of the other model size).

`--size tiny` runs every part with the tiny random models of notebook 09 on the CPU in well under a minute (CI):
it shows that the machinery works and that the fast path gives the same frames; its times say nothing about a
GPU. On the CPU the fast path traces the UNet with the `eager` backend (`--compile-backend`; inductor would spend
minutes compiling C++), and memory is counted by `TensorBytesMeter` (tensor storages created by operators).

    .venv/bin/python bench/pose2sign.py --size tiny [--write-table]                  # CPU, CI
    .venv/bin/python bench/pose2sign.py --size real --only speed,rtf                  # GPU (see the README)
    .venv/bin/python bench/pose2sign.py --size real --only memory,batch,options --write-table
    .venv/bin/python bench/pose2sign.py --size real --only flops --device cpu \
        --times bench/results/pose2sign-real-h200.json                            # no GPU: operations and rates

Parts run in the order given to `--only`. Results are printed and written to `<workdir>/results-<size>.json`
(default workdir bench/out/pose2sign) after every part; on a GPU a part that fails is reported there and the next
one runs.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("T2G2P2S_PROGRESS", "0")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from t2g2p2s import mimicmotion as mm  # noqa: E402
from t2g2p2s import mimicmotion_pipeline as mp  # noqa: E402
from t2g2p2s import pose2sign as p2s  # noqa: E402
from t2g2p2s.poses import OPENPOSE_137, Pose, openpose_person, read_pose_file, write_pose_file  # noqa: E402

SAMPLE = ROOT / "data" / "pose-samples" / "tests_openpose.pose"
TABLE = ROOT / mm.MEMORY_TABLE
PARTS = ("speed", "rtf", "batch", "options", "memory", "flops")
#: the one real-size measurement before this bench existed (issue 18), kept in the table with its provenance
ISSUE18_ROW = dict(model="real", phase="total", device="NVIDIA H200 (141 GB)", dtype="float16", width=576,
                   height=1024, tile_frames=72, tile_batch=1, cfg_batched=True, decode_chunk=16, peak_gib=28.1,
                   source="issue 18: one H200 measurement quoted there (the project's code, real size, random "
                          "weights; tests_openpose.pose, 58 frames at 15 fps, one 72-frame tile at 576x1024, fp16, "
                          "guidance batched, decoder chunk 16: peak allocated 28.1 GiB at 1 and at 4 steps); "
                          "resident_gib = the components' fp16 weights, computed from parameter counts")
SIZES = {
    "real": dict(resolution=576, tile=72, overlap=6, fps=15.0, dtype="fp16", decode_chunk=16, steps=(1, 5, 25),
                 batch=4, batch_steps=25, mem_res=(320, 448, 576), mem_tiles=(16, 32, 72), mem_tile_batches=(2, 3),
                 mem_chunks=(4, 8, 16, 32), option_chunk=32, compile_s=300),
    "tiny": dict(resolution=32, tile=12, overlap=4, fps=8.0, dtype="fp32", decode_chunk=4, steps=(1, 5, 25),
                 batch=3, batch_steps=5, mem_res=(32, 48, 64), mem_tiles=(8, 16), mem_tile_batches=(2, 3),
                 mem_chunks=(2, 4, 8), option_chunk=8, compile_s=0),
}


# ---------------------------------------------------------------------------------------------- set-up

def build_pipeline(size: str, workdir: Path, device: str, dtype: str) -> tuple[mp.MimicMotionPipeline, dict]:
    "The random model of `size` (built once into the work folder) loaded through `load_pipeline`."
    folder = workdir / f"{size}-model"
    base, ckpt = folder / "svd", folder / "mimicmotion.pth"
    t0 = time.perf_counter()
    built = not ckpt.is_file()
    if built:
        mm.build_random_base_model(base, size=size, seed=0, device=device)
        mm.write_random_checkpoint(base, ckpt, seed=1, device=device)
    t1 = time.perf_counter()
    pipe = mp.load_pipeline(base, ckpt, device=device, dtype=dtype)
    if pipe.device.type == "cuda": torch.cuda.synchronize()
    n_unet = sum(p.numel() for p in pipe.unet.parameters())
    info = dict(model_folder=str(folder), built_now=built, build_seconds=round(t1 - t0, 1),
                load_seconds=round(time.perf_counter() - t1, 1), unet_parameters=n_unet,
                checkpoint_gb=round(ckpt.stat().st_size / 1e9, 2), load_report=pipe.load_report,
                components_gib=mm.component_gib(size), dtype=str(pipe.dtype).replace("torch.", ""))
    return pipe, info


def make_reference(workdir: Path, sample: Pose) -> tuple[Path, Path]:
    "A 360 × 640 synthetic reference (the sample's first body, 1.6× larger, moved) and its OpenPose JSON."
    from PIL import Image
    first = sample.slice(0, 1)
    d = first.data.copy()
    m = d[..., 2] > 0
    d[..., :2][m] = d[..., :2][m] * 1.6 + np.array([180 - 1.6 * d[0, 1, 0], 230 - 1.6 * d[0, 1, 1]], np.float32)
    pose = Pose(d, OPENPOSE_137, 1.0, 360, 640)
    img, kp = workdir / "reference.png", workdir / "reference.json"
    Image.fromarray(p2s.draw_mannequin(pose, 360, 640)).save(img)
    kp.write_text(json.dumps({"version": 1.3, "people": [openpose_person(pose, 0)]}))
    return img, kp


def ping_pong(pose: Pose, times: int) -> Pose:
    "`pose` forwards, backwards, forwards … `times` times (a longer sentence without jumps)."
    parts = [pose.data if i % 2 == 0 else pose.data[::-1] for i in range(times)]
    return Pose(np.concatenate(parts), pose.skeleton, pose.fps, pose.width, pose.height)


def sentences(size: str, sample: Pose) -> dict[str, Pose]:
    "The short (< 1 tile) and the long (3 tiles) sentence of a size."
    if size == "real": return {"short": sample, "long": ping_pong(sample, 3)}
    return {"short": sample.slice(0, 27), "long": sample.slice(0, 72)}          # 9 frames (1 tile), 24 (3 tiles)


# ---------------------------------------------------------------------------------------------- one run

def run_once(pipe, prepared, steps: int, memory: mm.MemoryPlan, cfg: dict, **opts) -> dict:
    "One sentence (prepared) through the pipeline with the phase timer: frames, final latents, times, peaks."
    timer = pipe.timer
    n = prepared.plan.n_pose
    t0 = time.perf_counter()
    frames, latents = pipe.generate(prepared.reference.pixels, prepared.condition, tile_size=cfg["tile"],
                                    tile_overlap=cfg["overlap"], num_inference_steps=steps, seed=42, memory=memory,
                                    show_progress=False, decode_frames=1 + n, return_latents=True, **opts)
    wall = time.perf_counter() - t0
    return dict(frames=frames[1:1 + n], latents=latents, wall=wall, phases=json.loads(json.dumps(timer.phases)))


def timed_sentence(pipe, pose: Pose, ref: tuple[Path, Path], cfg: dict, steps: int, memory: mm.MemoryPlan,
                   **opts) -> dict:
    "Fit and draw the sentence (the `render` phase), then generate it: the whole of `pose2sign`, timed."
    pipe.timer.reset()
    with pipe._phase("render"):
        prepared = p2s.prepare_sentence(pose, ref[0], ref[1], size_multiple=pipe.size_multiple,
                                        resolution=cfg["resolution"], fps=cfg["fps"], num_frames=cfg["tile"],
                                        frames_overlap=cfg["overlap"])
    render = pipe.timer.phases["render"]["seconds"]
    out = run_once(pipe, prepared, steps, memory, cfg, **opts)
    out.update(total=out["wall"] + render, video_seconds=prepared.plan.n_pose / cfg["fps"],
               tiles=len(prepared.plan.tiles), n_pose=prepared.plan.n_pose)
    return out


def diff(a: dict, b: dict) -> dict:
    "Largest and mean differences of the frames (uint8 levels) and of the final latents."
    fa, fb = a["frames"].astype(np.int16), b["frames"].astype(np.int16)
    la, lb = a["latents"].float(), b["latents"].float()
    return dict(frames_max=int(np.abs(fa - fb).max()), frames_mean=round(float(np.abs(fa - fb).mean()), 4),
                latents_max=float((la - lb).abs().max()), latents_mean=float((la - lb).abs().mean()))


PHASES = ("render", "clip", "vae_encode", "pose_net", "unet", "decode", "transfer")


def breakdown_row(label: str, steps: int, r: dict) -> dict:
    ph = r["phases"]
    row = dict(path=label, steps=steps, total_s=round(r["total"], 3))
    row.update({f"{p}_s": round(ph[p]["seconds"], 3) for p in PHASES if p in ph})
    row["unet_per_step_s"] = round(ph["unet"]["seconds"] / steps, 4)
    peaks = {p: ph[p]["peak_gib"] for p in PHASES if p in ph and ph[p]["peak_gib"] is not None}
    if peaks: row.update({f"{p}_peak_gib": round(v, 3) for p, v in peaks.items()})
    return row


def print_table(rows: list[dict], title: str):
    print(f"\n== {title}")
    if not rows: print("  (nothing)"); return
    cols = list(dict.fromkeys(k for r in rows for k in r))
    width = {c: max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in cols}
    print("  " + "  ".join(c.rjust(width[c]) for c in cols))
    for r in rows: print("  " + "  ".join(_fmt(r.get(c)).rjust(width[c]) for c in cols))


def _fmt(v) -> str:
    if v is None: return "-"
    if isinstance(v, float): return f"{v:.4g}" if abs(v) < 1e4 else f"{v:.0f}"
    return str(v)


# ---------------------------------------------------------------------------------------------- parts

_TILE_BATCH: dict = {}


def plans(cfg: dict, n_tiles: int) -> dict[str, mm.MemoryPlan]:
    """Today's memory settings (issue 18: guidance batched, decoder chunk of the size) and the fast path's: the same
    with as many tiles per call (up to FAST's) as `plan_memory` lets fit the free GPU memory."""
    today = mm.MemoryPlan(decode_chunk_size=cfg["decode_chunk"], pose_chunk_size=64, cfg_batched=True)
    tb = min(mp.FAST.tile_batch, n_tiles)
    if cfg.get("free_bytes"):
        W, H = p2s.target_size(360, 640, cfg["resolution"], multiple=cfg["multiple"])
        try:
            tb = mm.plan_memory(cfg["free_bytes"], W, H, decode_chunk_size=cfg["decode_chunk"], tile_size=cfg["tile"],
                                n_tiles=n_tiles, max_tile_batch=tb).tile_batch
        except mm.ConfigError: tb = 1
    _TILE_BATCH[n_tiles] = tb
    return {"today": today, "fast": dataclasses.replace(today, tile_batch=tb)}


def part_speed(pipe, fast: mp.SpeedPlan, pose: Pose, ref, cfg: dict, res: dict) -> dict:
    out, runs = {}, {}
    for label, speed in (("today", mp.SpeedPlan()), ("fast", fast)):
        pipe.optimise(speed)
        t0 = time.perf_counter()
        warm = timed_sentence(pipe, pose, ref, cfg, 1, plans(cfg, 1)[label])           # warm-up (and compile)
        out[f"warmup_{label}_s"] = round(time.perf_counter() - t0, 2)
        print(f"  {label}: warm-up {out[f'warmup_{label}_s']} s", flush=True)
        for steps in cfg["steps"]:
            runs[(label, steps)] = r = timed_sentence(pipe, pose, ref, cfg, steps, plans(cfg, warm["tiles"])[label])
            print(f"  {label}, {steps} steps: {r['total']:.3f} s (unet {r['phases']['unet']['seconds']:.3f} s)",
                  flush=True)
    pipe.optimise(mp.SpeedPlan())
    rows = [breakdown_row(label, s, runs[(label, s)]) for label in ("today", "fast") for s in cfg["steps"]]
    print_table(rows, f"speed: one sentence ({runs[('today', 1)]['video_seconds']:.2f} s of video, "
                      f"{runs[('today', 1)]['tiles']} tile), seconds per phase and peak GiB")
    s = cfg["steps"][-1]
    a, b = runs[("today", s)], runs[("fast", s)]
    d = diff(a, b)
    ratio = (a["total"] / a["video_seconds"]) / (b["total"] / b["video_seconds"])
    # fixed cost and cost per step, fitted over 1/5/25 steps (after the warm-up)
    fits = {}
    for label in ("today", "fast"):
        xs = np.array(cfg["steps"], float)
        ys = np.array([runs[(label, st)]["total"] for st in cfg["steps"]])
        per_step, fixed = np.polyfit(xs, ys, 1)
        fits[label] = dict(fixed_s=round(float(fixed), 3), per_step_s=round(float(per_step), 4))
    print(f"  fixed cost + per step (fitted over {list(cfg['steps'])} steps): {fits}")
    print(f"  fast vs today at {s} steps: frames differ by at most {d['frames_max']} levels "
          f"(mean {d['frames_mean']}), final latents by at most {d['latents_max']:.3g}")
    print(f"  time per video second at {s} steps: today {a['total'] / a['video_seconds']:.3f} s, "
          f"fast {b['total'] / b['video_seconds']:.3f} s: ratio {ratio:.2f}x (goal >= 2x)")
    res["_short_runs"] = {k: runs[(k, s)] for k in ("today", "fast")}
    res["_runs"] = runs
    out.update(breakdown=rows, fit=fits, fast_vs_today=d, ratio_25=round(ratio, 3), steps=list(cfg["steps"]))
    return out


def part_rtf(pipe, fast: mp.SpeedPlan, sents: dict, ref, cfg: dict, res: dict) -> dict:
    s, rows, runs = cfg["steps"][-1], [], {}
    for label, speed in (("today", mp.SpeedPlan()), ("fast", fast)):
        pipe.optimise(speed)
        for name, pose in sents.items():
            r = res.get("_short_runs", {}).get(label) if name == "short" else None
            if r is None:
                timed_sentence(pipe, pose, ref, cfg, 1, plans(cfg, 3)[label])             # warm-up of this shape
                r = timed_sentence(pipe, pose, ref, cfg, s, plans(cfg, 3)[label])
                print(f"  {label}, {name} sentence ({r['tiles']} tiles), {s} steps: {r['total']:.3f} s", flush=True)
            runs[(label, name)] = r
            rows.append(dict(path=label, sentence=name, tiles=r["tiles"], video_s=round(r["video_seconds"], 2),
                             compute_s=round(r["total"], 2), rtf=round(r["total"] / r["video_seconds"], 3),
                             peak_gib=max((p["peak_gib"] or 0) for p in r["phases"].values()) or None))
    pipe.optimise(mp.SpeedPlan())
    print_table(rows, f"real-time factor at {s} steps (seconds of compute per second of video)")
    d = diff(runs[("today", "long")], runs[("fast", "long")])
    ratio = rows[1]["rtf"] / rows[3]["rtf"]
    print(f"  long sentence, fast vs today: ratio {ratio:.2f}x; frames differ by at most {d['frames_max']} levels, "
          f"latents by {d['latents_max']:.3g}")
    return dict(rows=rows, long_fast_vs_today=d, ratio_long=round(ratio, 3))


def part_batch(pipe, fast: mp.SpeedPlan, sample: Pose, ref, cfg: dict, workdir: Path) -> dict:
    folder = workdir / "batch"
    folder.mkdir(parents=True, exist_ok=True)
    n = cfg["batch"]
    variants = ([sample, sample.slice(0, int(sample.n_frames * 0.6)), ping_pong(sample, 2),
                 sample.slice(sample.n_frames // 4, sample.n_frames)] if cfg["tile"] >= 72 else
                [sample.slice(0, 27), sample.slice(24, 72), sample.slice(0, 72)])      # tiny: 1, 2 and 3 tiles
    items = []
    for i in range(n):
        write_pose_file(variants[i % len(variants)], folder / f"sentence-{i}.pose")
        items.append(folder / f"sentence-{i}.pose")
    kw = dict(resolution=cfg["resolution"], fps=cfg["fps"], num_frames=cfg["tile"], frames_overlap=cfg["overlap"],
              num_inference_steps=cfg["batch_steps"], seed=42, decode_chunk_size=cfg["decode_chunk"])
    pipe.optimise(fast)
    pipe.timer = None
    p2s.pose2sign_batch(pipe, items, *ref, out_dir=folder / "warmup", overlap=False,      # every shape compiled
                        **{**kw, "num_inference_steps": 1})
    rows = []
    for overlap in (False, True):
        r = p2s.pose2sign_batch(pipe, items, *ref, out_dir=folder / f"overlap-{overlap}", overlap=overlap, **kw)
        video = sum(x["frames"] for x in r.report) / cfg["fps"]
        rows.append(dict(sentences=n, overlap=overlap, video_s=round(video, 2), wall_s=round(r.seconds, 2),
                         rtf=round(r.seconds / video, 3), video_s_per_hour=round(3600 * video / r.seconds),
                         sentences_per_hour=round(3600 * n / r.seconds, 1),
                         errors=sum(bool(x["error"]) for x in r.report)))
    pipe.optimise(mp.SpeedPlan())
    pipe.timer = mp.PhaseTimer(pipe.device, memory=pipe.device.type == "cuda")
    print_table(rows, f"batch throughput, fast path, {cfg['batch_steps']} steps, one loaded model")
    return dict(rows=rows)


def part_options(pipe, fast: mp.SpeedPlan, pose: Pose, ref, cfg: dict, res: dict, backend: str) -> dict:
    s, s_short = cfg["steps"][-1], cfg["steps"][1]
    runs = res.setdefault("_runs", {})

    def today(steps: int) -> dict:                              # today's path at `steps`, from the speed part if run
        if ("today", steps) not in runs:
            pipe.optimise(mp.SpeedPlan())
            timed_sentence(pipe, pose, ref, cfg, 1, plans(cfg, 1)["today"])                # warm-up
            runs[("today", steps)] = timed_sentence(pipe, pose, ref, cfg, steps, plans(cfg, 1)["today"])
            print(f"  released, {steps} steps: {runs[('today', steps)]['total']:.3f} s", flush=True)
        return runs[("today", steps)]

    R = dataclasses.replace
    variants = [  # (name, changes the output?, speed plan, steps, generate options, memory changes), most telling first
        ("today + NHWC/NDHWC weights", False, mp.SpeedPlan(channels_last=True), s_short, {}, {}),
        ("today + one-key cross-attention", False, mp.SpeedPlan(one_key_attention=True), s_short, {}, {}),
        ("today + time-only convolutions in 2-D", False, mp.SpeedPlan(time_conv_2d=True), s_short, {}, {}),
        ("today + cuDNN attention first", False, mp.SpeedPlan(attention="cudnn"), s_short, {}, {}),
        ("fast + cuDNN attention first", False, R(fast, attention="cudnn"), s, {}, {}),
        ("fast, decoder not compiled", False, R(fast, compile=("unet",)), s, {}, {}),
    ]
    if pipe.device.type == "cuda":
        variants.append(("fast + CUDA graphs (reduce-overhead)", False, R(fast, compile_mode="reduce-overhead"), s,
                         {}, {}))
    variants += [
        ("dpm++2m, 10 steps", True, mp.SpeedPlan(), 10, dict(solver="dpm++2m"), {}),
        ("dpm++2m, 15 steps", True, mp.SpeedPlan(), 15, dict(solver="dpm++2m"), {}),
        ("guidance on the first half of the steps", True, mp.SpeedPlan(), s, dict(guidance_steps=0.5), {}),
        ("euler, 10 steps", True, mp.SpeedPlan(), 10, {}, {}),
        (f"decoder chunk {cfg['option_chunk']}", True, mp.SpeedPlan(), s, {},
         dict(decode_chunk_size=cfg["option_chunk"])),
    ]
    base = today(s)
    rows = [dict(setting=f"released: euler, {s} steps (today's path)", changes_output=False, steps=s,
                 compute_s=round(base["total"], 3), rtf=round(base["total"] / base["video_seconds"], 3),
                 unet_s=round(base["phases"]["unet"]["seconds"], 3),
                 decode_s=round(base["phases"]["decode"]["seconds"], 3),
                 speedup=1.0, frames_max_diff=0, latents_max_diff=0.0)]
    for name, changes, speed, steps, opts, mem in variants:
        # a compiled variant needs its compilation's time too (about 5 minutes for the real UNet on an H200)
        need = cfg.get("compile_s", 0) if speed.compile else 0
        if cfg.get("stop_at") and time.perf_counter() + need > cfg["stop_at"]:        # --deadline reached
            rows.append(dict(setting=name, changes_output=changes, error="skipped: would end past the deadline"))
            continue
        try:
            # output-keeping rows compare with today's path at their own step count; the others with 25 Euler steps
            ref_run = base if changes else today(steps)
            pipe.optimise(speed)
            memory = dataclasses.replace(plans(cfg, 1)["fast" if speed.tile_batch > 1 else "today"], **mem)
            timed_sentence(pipe, pose, ref, cfg, 1, memory, **opts)                      # warm-up
            r = timed_sentence(pipe, pose, ref, cfg, steps, memory, **opts)
            d = diff(ref_run, r)
            print(f"  {name}: {r['total']:.3f} s, frames differ by at most {d['frames_max']} levels", flush=True)
            rows.append(dict(setting=name, changes_output=changes, steps=steps, compute_s=round(r["total"], 3),
                             rtf=round(r["total"] / r["video_seconds"], 3),
                             unet_s=round(r["phases"]["unet"]["seconds"], 3),
                             decode_s=round(r["phases"]["decode"]["seconds"], 3),
                             speedup=round(ref_run["total"] / r["total"], 3), frames_max_diff=d["frames_max"],
                             latents_max_diff=round(d["latents_max"], 5)))
        except Exception as e:                        # an option that fails here is reported, not fatal
            rows.append(dict(setting=name, changes_output=changes, error=f"{type(e).__name__}: {str(e)[:120]}"))
        finally: pipe.optimise(mp.SpeedPlan())
        res["options"] = dict(rows=rows, compile_backend=backend, complete=False)
        res.get("_save", lambda: None)()                # every row kept, should the run be stopped from outside
    print_table(rows, f"options: time and difference from today's path (output-keeping rows: at their step count; "
                      f"the others: the released {s} Euler steps), short sentence")
    return dict(rows=rows, compile_backend=backend, complete=True)


def part_flops(size: str, cfg: dict, sample: Pose, res: dict, times: Path | None) -> dict:
    """Operations of one UNet call and of decoding the short sentence, by family, for today's path and the fast
    path (counted on meta copies); with times (this run's speed part or an earlier results file), the rates."""
    with torch.device("meta"): unet, vae, _ = mm._components(size)
    multiple = mp._size_multiple(unet, vae)
    plan = mm.plan_frames(mm.sentence_frames(sample, cfg["fps"]), cfg["tile"], cfg["overlap"])   # as prepare_sentence
    W, H = p2s.target_size(360, 640, cfg["resolution"], multiple=multiple)
    if len(plan.tiles) != 1: raise ValueError(f"the short sentence has {len(plan.tiles)} tiles, not one")
    frames, chunk = len(plan.tiles[0]), cfg["decode_chunk"]         # reference + sentence + held frames
    kept = min(frames, -(-(1 + plan.n_pose) // chunk) * chunk)      # what the fast path decodes (held chunks skipped)
    dtype = torch.float16 if cfg["dtype"] == "fp16" else torch.float32
    counts = {label: mp.count_flops(unet, vae, W, H, frames, decode_chunk=chunk, dtype=dtype, one_key=one_key,
                                    decode_frames=n) for label, one_key, n in (("today", False, frames),
                                                                               ("fast", True, kept))}
    scale, unit = (1e12, "TFLOP") if size == "real" else (1e6, "MFLOP")   # the tiny model: millions
    tf = lambda n: round(n / scale, 4)
    u = unit.lower()
    fam = [{"family": k, f"today_{u}": tf(v), f"fast_{u}": tf(counts["fast"]["unet_families"][k]),
            "share": round(v / counts["today"]["unet_call"], 4)} for k, v in counts["today"]["unet_families"].items()]
    fam.append({"family": "UNet call (one step, guidance batched)", f"today_{u}": tf(counts["today"]["unet_call"]),
                f"fast_{u}": tf(counts["fast"]["unet_call"]), "share": 1.0})
    fam.append({"family": f"decoding (today {frames}, fast {kept} frames, chunks of {chunk})",
                f"today_{u}": tf(counts["today"]["decode"]), f"fast_{u}": tf(counts["fast"]["decode"]), "share": None})
    print_table(fam, f"operations ({unit}, multiply and add counted apart) at {W}x{H}, one tile of {frames} frames "
                     f"({plan.n_pose} of the sentence); fast = the one-key cross-attention, held chunks skipped")
    out = dict(width=W, height=H, frames=frames, decoded=dict(today=frames, fast=kept), counts=counts, families=fam)
    source, speed, fast_plan = None, None, None
    if "speed" in res and "breakdown" in res["speed"]:
        source, speed, fast_plan = "this run", res["speed"], res["fast"]
    elif times is not None:
        old = json.loads(Path(times).read_text())
        source, speed, fast_plan = str(times), old.get("speed", {}), old.get("fast", {})
    if speed and speed.get("breakdown"):
        rates = []
        for row in speed["breakdown"]:
            c = dict(counts["today"])
            if row["path"] == "fast":                             # what that run's fast plan did
                if fast_plan.get("skip_held_decode"): c["decode"] = counts["fast"]["decode"]
                if fast_plan.get("one_key_attention"): c["unet_call"] = counts["fast"]["unet_call"]
            rates.append({"path": row["path"], "steps": row["steps"], "unet_s": row["unet_s"],
                          f"unet_{u}_per_s": round(c["unet_call"] * row["steps"] / row["unet_s"] / scale, 1),
                          "decode_s": row["decode_s"],
                          f"decode_{u}_per_s": round(c["decode"] / row["decode_s"] / scale, 1)})
        best = max(r[f"unet_{u}_per_s"] for r in rates)
        print_table(rates, f"achieved rate ({unit}/s) from the times of {source}")
        if best > 0:
            print(f"  decoding {frames} frames at the best UNet rate ({best} {unit}/s) would take "
                  f"{counts['today']['decode'] / best / scale:.2f} s")
        out.update(rates=rates, times_from=source)
    return out


def _measure(pipe, fn) -> dict | None:
    "Run `fn` with a fresh timer; the timer's phases, or None after running out of memory."
    pipe.timer.reset()
    try: fn()
    except torch.OutOfMemoryError:
        torch.cuda.empty_cache()
        return None
    return json.loads(json.dumps(pipe.timer.phases))


def part_memory(pipe, cfg: dict, size: str) -> dict:
    dev = pipe.device
    gen = torch.Generator().manual_seed(0)
    rows, device_name = [], (torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu")
    stamp = (f"bench/pose2sign.py --size {size} ({time.strftime('%Y-%m-%d')}, torch {torch.__version__}, "
             f"{'CUDA allocator peak' if dev.type == 'cuda' else 'TensorBytesMeter: live tensor storages'})")
    common = dict(model=size, device=device_name, dtype=str(pipe.dtype).replace("torch.", ""), source=stamp)
    pipe.optimise(mp.SpeedPlan(skip_held_decode=True))                  # the unet rows decode one chunk only

    def unet_row(res_px: int, tile: int, cfg_batched: bool, tile_batch: int):
        W, H = p2s.target_size(360, 640, res_px, multiple=pipe.size_multiple)
        n_tiles = max(1, tile_batch)
        F = tile + (n_tiles - 1) * (tile - cfg["overlap"])                   # exactly n_tiles tiles
        ref = torch.randint(0, 256, (H, W, 3), generator=gen, dtype=torch.uint8).numpy()
        poses = torch.randint(0, 256, (F, H, W, 3), generator=gen, dtype=torch.uint8).numpy()
        plan = mm.MemoryPlan(decode_chunk_size=1, cfg_batched=cfg_batched, tile_batch=tile_batch)
        overlap = min(cfg["overlap"], tile - 1)
        # on a GPU the row's resident memory is what was allocated before the call (the weights): the sentence's
        # latents and pose latents count as the call's own need, as they do for plan_memory's free memory
        before = torch.cuda.memory_allocated(dev) / 2 ** 30 if dev.type == "cuda" else None
        ph = _measure(pipe, lambda: pipe.generate(ref, poses, tile_size=tile, tile_overlap=overlap,
                                                  num_inference_steps=1, memory=plan, show_progress=False,
                                                  decode_frames=1))
        row = dict(common, phase="unet", width=W, height=H, tile_frames=tile, tile_batch=tile_batch,
                   cfg_batched=cfg_batched, decode_chunk=None)
        resident = ph and (round(before, 4) if before is not None else ph["unet"]["resident_gib"])
        rows.append(dict(row, resident_gib=resident, peak_gib=ph and ph["unet"]["peak_gib"], oom=ph is None))

    def decode_row(res_px: int, chunk: int):
        W, H = p2s.target_size(360, 640, res_px, multiple=pipe.size_multiple)
        z = torch.randn(1, chunk, 4, H // pipe.vae_scale_factor, W // pipe.vae_scale_factor, generator=gen)
        ph = _measure(pipe, lambda: pipe.decode(z.to(pipe.device, pipe.dtype), chunk))
        rows.append(dict(common, phase="decode", width=W, height=H, tile_frames=None, tile_batch=None,
                         cfg_batched=None, decode_chunk=chunk, resident_gib=ph and ph["decode"]["resident_gib"],
                         peak_gib=ph and ph["decode"]["peak_gib"], oom=ph is None))

    for r in cfg["mem_res"]:
        for tile in cfg["mem_tiles"]:
            for cb in (True, False): unet_row(r, tile, cb, 1)
        for c in cfg["mem_chunks"]: decode_row(r, c)
    for tb in cfg["mem_tile_batches"]:
        for cb in (True, False): unet_row(cfg["resolution"], cfg["tile"], cb, tb)
    show = [{k: v for k, v in r.items() if k not in ("source", "model", "device", "dtype")} for r in rows]
    pipe.optimise(mp.SpeedPlan())
    print_table(show, f"memory: peak GiB per phase ({stamp})")
    return dict(rows=rows)


def write_table(rows: list[dict], size: str):
    "Merge the measured rows of `size` into the committed table (rows of the other size are kept)."
    old = json.loads(TABLE.read_text()) if TABLE.is_file() else {"rows": []}
    keep = [r for r in old["rows"] if r["model"] != size or r["phase"] == "total"]
    if not any(r.get("source", "").startswith("issue 18") for r in keep):
        keep.insert(0, dict(ISSUE18_ROW, resident_gib=round(sum(mm.component_gib("real").values()), 3)))
    new = [{k: v for k, v in r.items() if k != "oom"} for r in rows if not r["oom"]]
    measured = sorted({r["model"] for r in keep + new if r["phase"] != "total"})
    table = dict(
        about=("Peak memory of Pose2Sign's phases, measured by bench/pose2sign.py (see each row's source); read by "
               "plan_memory (nbs/09_mimicmotion.ipynb). resident_gib: allocated when the phase began (weights, "
               "latents); peak_gib: the phase's peak. Model sizes with phase rows: "
               f"{', '.join(measured) or 'none'}. "
               + ("The real size has only the whole-call row of issue 18 so far: plans for it are extrapolated "
                  "from that one measurement until `bench/pose2sign.py --size real --only memory --write-table` "
                  "runs on a GPU." if "real" not in measured else "")),
        components_gib={s: mm.component_gib(s) for s in mm.MODEL_SIZES},
        rows=keep + new)
    rows_text = ",\n".join("  " + json.dumps(r, ensure_ascii=False) for r in table.pop("rows"))
    head = json.dumps(table, indent=1, ensure_ascii=False)[:-2]                  # one row per line below
    TABLE.write_text(f'{head},\n "rows": [\n{rows_text}\n ]\n}}\n')
    print(f"\nwrote {TABLE.relative_to(ROOT)}: {len(new)} {size} rows, {len(keep)} kept")


# ---------------------------------------------------------------------------------------------- main

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", choices=("tiny", "real"), default="tiny")
    ap.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts of {PARTS}")
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda (real needs cuda)")
    ap.add_argument("--compile-backend", default=None, help="torch.compile backend (default: inductor on CUDA, "
                                                            "eager on the CPU)")
    ap.add_argument("--workdir", default=str(ROOT / "bench" / "out" / "pose2sign"))
    ap.add_argument("--write-table", action="store_true", help=f"merge the memory rows into {mm.MEMORY_TABLE}")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (default 1 for tiny: latency-bound)")
    ap.add_argument("--deadline", type=float, default=None, help="seconds after the start past which no further "
                                                                  "part is begun (results are saved after each part)")
    ap.add_argument("--times", default=None, help="flops part: an earlier results file whose speed part gives the "
                                                  "times (when this run has no speed part)")
    a = ap.parse_args(argv)
    parts = [p.strip() for p in a.only.split(",") if p.strip()]
    if bad := set(parts) - set(PARTS): ap.error(f"unknown parts {sorted(bad)}; choose from {PARTS}")
    cfg = SIZES[a.size]
    device = mp.resolve_device(a.device)
    needs_model = set(parts) - {"flops"}
    if a.size == "real" and needs_model and not device.startswith("cuda"):
        ap.error("--size real needs a CUDA GPU (about 30 GiB) for every part but flops; use --size tiny on the CPU")
    if device == "cpu": torch.set_num_threads(a.threads or 1)
    backend = a.compile_backend or ("inductor" if device.startswith("cuda") else "eager")
    fast = dataclasses.replace(mp.FAST, compile_backend=backend)
    workdir = Path(a.workdir) / a.size
    workdir.mkdir(parents=True, exist_ok=True)
    import diffusers, transformers
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()
    diffusers.utils.logging.set_verbosity_error()

    t_start = time.perf_counter()
    cfg = dict(cfg, stop_at=t_start + a.deadline if a.deadline else None)
    env = dict(device=torch.cuda.get_device_name(0) if device.startswith("cuda") else "cpu", torch=torch.__version__,
               diffusers=diffusers.__version__, compile_backend=backend, threads=torch.get_num_threads())
    pipe, info = None, {}
    if needs_model:                                       # the flops part alone builds nothing
        pipe, info = build_pipeline(a.size, workdir, device, cfg["dtype"])
        pipe.timer = mp.PhaseTimer(pipe.device, memory=pipe.device.type == "cuda")
        cfg.update(multiple=pipe.size_multiple, free_bytes=mm._free_memory(pipe.device))
        env["sdpa_processor"] = type(pipe.unet.attn_processors[next(iter(pipe.unet.attn_processors))]).__name__
    print(f"Pose2Sign bench, size {a.size}: {env}")
    if info:
        print(f"model: UNet {info['unet_parameters'] / 1e9:.3f} B parameters, checkpoint {info['checkpoint_gb']} GB, "
              f"built in {info['build_seconds']} s{' (cached)' if not info['built_now'] else ''}, loaded through "
              f"load_pipeline in {info['load_seconds']} s, weights {info['components_gib']} GiB")
    sample = read_pose_file(SAMPLE)
    ref = make_reference(workdir, sample) if pipe is not None else None
    sents = sentences(a.size, sample)
    res: dict = dict(size=a.size, env=env, model=info, config=dict(cfg), fast=dataclasses.asdict(fast))
    runners = dict(speed=lambda: part_speed(pipe, fast, sents["short"], ref, cfg, res),
                   rtf=lambda: part_rtf(pipe, fast, sents, ref, cfg, res),
                   batch=lambda: part_batch(pipe, fast, sample, ref, cfg, workdir),
                   options=lambda: part_options(pipe, fast, sents["short"], ref, cfg, res, backend),
                   memory=lambda: part_memory(pipe, cfg, a.size),
                   flops=lambda: part_flops(a.size, cfg, sents["short"], res, Path(a.times) if a.times else None))
    res["part_seconds"] = {"set-up": round(time.perf_counter() - t_start, 1)}
    res["fast_tile_batch"] = _TILE_BATCH
    out = workdir.parent / f"results-{a.size}.json"

    def save():                                           # after every part: a run stopped later keeps these
        keep = {k: v for k, v in res.items() if not k.startswith("_")}
        keep["seconds"] = round(time.perf_counter() - t_start, 1)
        tmp = out.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(keep, indent=1, default=str) + "\n")
        os.replace(tmp, out)
    res["_save"] = save

    for part in parts:                                    # in the order given
        if a.deadline and time.perf_counter() - t_start > a.deadline:
            res.setdefault("skipped", []).append(part)
            print(f"\n{part}: skipped, past the deadline of {a.deadline} s", flush=True)
            continue
        t0 = time.perf_counter()
        if part == "memory": pipe.timer = mp.PhaseTimer(pipe.device, memory=True)
        try: res[part] = runners[part]()
        except Exception as e:                            # one failing part is reported; the others still run
            if a.size == "tiny": raise
            import traceback
            res[part] = dict(error=f"{type(e).__name__}: {e}"[:2000], traceback=traceback.format_exc()[-4000:])
            print(f"\n{part} failed: {res[part]['traceback']}", flush=True)
            pipe.optimise(mp.SpeedPlan())
            if pipe.device.type == "cuda": torch.cuda.empty_cache()
        res["part_seconds"][part] = round(time.perf_counter() - t0, 1)
        if part == "memory" and a.write_table and "rows" in res[part]: write_table(res[part]["rows"], a.size)
        save()
    save()
    res["seconds"] = round(time.perf_counter() - t_start, 1)
    print(f"\n{a.size}: {res['seconds']} s in all ({res['part_seconds']}); results in {out}")
    if a.size == "tiny":
        print("(tiny random models on the CPU: the machinery and the equality of the outputs, not GPU figures)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
