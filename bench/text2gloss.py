"""Benchmark: Text2Gloss on CPU: sentences per second (one at a time and batched) on both engines, and the cold
start of one sentence (text → glosses, and text → glosses → pose) in fresh processes.

Uses the trained CPU model of a tier (phoenix-cpu if it exists, else phoenix-sample; or `--model DIR`) and the
PHOENIX-2014T dev sentences as input. Each warm setting is timed after one warm-up call; the decoding is the
model's own (beam size from its config unless `--beams`). Ratios against baselines of the same run:

* warm: the ONNX Runtime engine (notebook 07) against PyTorch, single and batched (same glosses required);
  batched against one at a time; the beam search's key-value cache against recomputing every prefix; MBR
  (`mbr="chrf"`) over the n-best against the plain best beam;
* cold: `t2g2p2s text2gloss translate SENTENCE` and `t2g2p2s translate SENTENCE --lexicon DIR --out x.pose`,
  each `--cold-runs` times per engine in a fresh process (median wall seconds, peak RSS of the process); the
  PyTorch engine (`--engine torch`) is today's path, the ONNX one the new default. Same stdout and the same
  pose file are required.

Prints one JSON object (also written to `--out`). The model folder gets an ONNX export first if it has none.
Usage:

    .venv/bin/python bench/text2gloss.py [--model DIR] [--tier sample] [--n 128] [--batch-sizes 16,64]
        [--threads 2] [--cold-runs 3] [--out bench/results/text2gloss-2core.json]
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

SENTENCE = "Morgen regnet es im Süden."


#: a small launcher, so the measured process does not inherit this process's peak RSS across fork (Linux reports
#: the forking parent's high-water mark as the child's `ru_maxrss`)
LAUNCH = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]).returncode; "
          "print('peak-rss-kib', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(r)")


def rss_cold(argv: list[str], runs: int) -> dict:
    """Median wall seconds of `argv` run `runs` times in fresh processes, the largest peak RSS of the process and
    the last stdout."""
    secs, rss, out = [], [], ""
    for _ in range(runs):
        t0 = time.perf_counter()
        p = subprocess.run([sys.executable, "-c", LAUNCH] + argv, capture_output=True, text=True)
        secs.append(time.perf_counter() - t0)
        if p.returncode != 0: raise RuntimeError(f"{' '.join(argv)} failed:\n{p.stderr[-2000:]}")
        rss.append(int(p.stderr.strip().splitlines()[-1].split()[-1]) / 1024)
        out = p.stdout
    return {"runs": runs, "median_s": round(statistics.median(secs), 3), "min_s": round(min(secs), 3),
            "peak_rss_mib": round(max(rss), 1), "stdout": out.strip()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="model folder or trained config name (default: phoenix-cpu, else phoenix-sample)")
    ap.add_argument("--tier", default="sample", help="tier whose models folder (and lexicon) is used")
    ap.add_argument("--n", type=int, default=128, help="number of dev sentences to translate per batched setting")
    ap.add_argument("--single-n", type=int, default=32, help="sentences for the one-at-a-time setting")
    ap.add_argument("--batch-sizes", default="16,64", help="comma-separated batch sizes for the batched settings")
    ap.add_argument("--beams", type=int, help="beam size (default: the model's)")
    ap.add_argument("--cache-n", type=int, default=64, help="sentences (one batch) for the key-value cache comparison")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads")
    ap.add_argument("--cold-runs", type=int, default=3, help="fresh processes per cold setting (median reported)")
    ap.add_argument("--sentence", default=SENTENCE, help="the cold-start sentence")
    ap.add_argument("--out", help="also write the JSON here")
    a = ap.parse_args(argv)

    torch.set_num_threads(a.threads)
    from t2g2p2s.core import ensure_stage, write_json
    from t2g2p2s.text2gloss import Translator, find_model, prepare_source
    from t2g2p2s.text2gloss_data import load_pairs
    from t2g2p2s.text2gloss_config import export_onnx, has_onnx
    from t2g2p2s.text2gloss_seq2seq import Seq2SeqBackend, _decoder_start, ensemble_generate

    folder = find_model(a.model, a.tier)
    if not has_onnx(folder): export_onnx(folder)
    engines = {e: Translator.load(folder, device="cpu", engine=e) for e in ("torch", "onnx")}
    torch.set_num_threads(a.threads)
    model = engines["torch"]
    sents = [p.source for p in load_pairs("phoenix", "dev")]

    def timed(m, texts, batch_size):
        t0 = time.perf_counter()
        if batch_size == 1: outs = [m.translate([t], num_beams=a.beams)[0] for t in texts]
        else: outs = m.translate(texts, num_beams=a.beams, batch_size=batch_size)
        dt = time.perf_counter() - t0
        return {"sentences": len(texts), "seconds": round(dt, 3), "sentences_per_s": round(len(texts) / dt, 2)}, outs

    res = {"model": str(folder), "config": model.cfg.name, "members": len(model.backend.models),
           "num_beams": a.beams or model.cfg.num_beams, "threads": a.threads, "torch": torch.__version__,
           "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "engines": {}}
    for name, m in engines.items():
        m.translate(sents[:4], num_beams=a.beams)  # warm-up
        single, out1 = timed(m, sents[:a.single_n], 1)
        rec = {"single": single, "batched": {}}
        outs = {"single": out1}
        for bs in [int(b) for b in a.batch_sizes.split(",") if b.strip()]:
            rec["batched"][str(bs)], outs[str(bs)] = timed(m, sents[:a.n], bs)
            rec["batched"][str(bs)]["speedup_vs_single"] = round(
                rec["batched"][str(bs)]["sentences_per_s"] / single["sentences_per_s"], 2)
        res["engines"][name] = rec
        rec["_outs"] = outs
    t_out, o_out = res["engines"]["torch"].pop("_outs"), res["engines"]["onnx"].pop("_outs")
    res["onnx_vs_torch"] = {"same_glosses": t_out == o_out, **{
        k: round(res["engines"]["onnx"]["batched"][k]["sentences_per_s"] / res["engines"]["torch"]["batched"][k][
            "sentences_per_s"], 2) for k in res["engines"]["torch"]["batched"]},
        "single": round(res["engines"]["onnx"]["single"]["sentences_per_s"]
                        / res["engines"]["torch"]["single"]["sentences_per_s"], 2)}

    # the key-value cache of the (ensemble) beam search against recomputing each prefix, one batch
    be, nb = model.backend, a.beams or model.cfg.num_beams
    ids = _decoder_start(be.models[0], be.tok, model.cfg)
    x, m = be._encode_sources([prepare_source(t, model.cfg) for t in sents[:a.cache_n]])
    runs = {}
    for uc in (False, True):
        t0 = time.perf_counter()
        out = ensemble_generate(be.models, x, m, nb, model.cfg.max_new_tokens, ids["decoder_start_token_id"],
                                be.tok.eos_token_id, be.tok.pad_token_id, model.cfg.length_penalty,
                                banned=[be.tok.pad_token_id, be.tok.bos_token_id], use_cache=uc)
        runs[uc] = (time.perf_counter() - t0, out)
    res["kv_cache"] = {"sentences": len(x), "seconds_without": round(runs[False][0], 3),
                       "seconds_with": round(runs[True][0], 3), "speedup": round(runs[False][0] / runs[True][0], 2),
                       "same_output": runs[False][1] == runs[True][1]}
    # the cost of MBR: the same n-best, then the expected-chrF choice instead of the best beam
    src = [prepare_source(t, model.cfg) for t in sents[:a.n]]
    secs = {}
    for mode in ("none", "chrf"):
        dec = Seq2SeqBackend(dataclasses.replace(model.cfg, mbr=mode), be.tok, be.models)
        t0 = time.perf_counter()
        dec.generate(src, num_beams=nb)
        secs[mode] = time.perf_counter() - t0
    res["mbr"] = {"sentences": len(src), "seconds_best_beam": round(secs["none"], 3),
                  "seconds_mbr_chrf": round(secs["chrf"], 3), "cost_ratio": round(secs["chrf"] / secs["none"], 2)}

    # cold starts in fresh processes: today's path (--engine torch) against the ONNX engine
    cli = [str(Path(sys.executable).with_name("t2g2p2s"))]
    if not Path(cli[0]).exists(): cli = [sys.executable, "-c", "import sys; from t2g2p2s.pipeline import main; "
                                                                "sys.exit(main())"]
    lexicon = ensure_stage("lexicon", a.tier, 0).lexicon if a.tier == "sample" else None
    res["cold"] = {"sentence": a.sentence}
    with tempfile.TemporaryDirectory(prefix="t2g-cold-") as tmp:
        for name in ("torch", "onnx"):
            t2g = rss_cold(cli + ["text2gloss", "translate", "--model", str(folder), "--engine", name, a.sentence],
                           a.cold_runs)
            rec = {"text2gloss translate": t2g}
            if lexicon is not None:
                pose = Path(tmp) / f"{name}.pose"
                rec["translate (text → pose)"] = rss_cold(cli + ["translate", a.sentence, "--model", str(folder),
                                                                "--lexicon", str(lexicon), "--out", str(pose),
                                                                "--engine", name], a.cold_runs)
                rec["translate (text → pose)"]["pose_sha256"] = hashlib.sha256(pose.read_bytes()).hexdigest()
            res["cold"][name] = rec
        ct, co = res["cold"]["torch"], res["cold"]["onnx"]
        res["cold"]["same_output"] = all(ct[k].get("stdout") == co[k].get("stdout")
                                         and ct[k].get("pose_sha256") == co[k].get("pose_sha256") for k in ct)
        res["cold"]["speedup"] = {k: round(ct[k]["median_s"] / co[k]["median_s"], 2) for k in ct}
        res["cold"]["memory_ratio"] = {k: round(ct[k]["peak_rss_mib"] / co[k]["peak_rss_mib"], 2) for k in ct}
    text = json.dumps(res, indent=2, ensure_ascii=False)
    print(text)
    if a.out: write_json(a.out, res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
