"""Benchmark: sentences per second of `Text2Gloss.translate` on CPU, one sentence at a time and batched.

Uses the trained CPU model of a tier (phoenix-cpu if it exists, else phoenix-sample; or `--model DIR`) and the
PHOENIX-2014T dev sentences as input (free German text would go through the same `to_phoenix_text`). Each
setting is timed after one warm-up call; the decoding is the model's own (beam size from its config unless
`--beams`). Ratios against baselines of the same run: batched against one at a time, the beam search's key-value
cache against recomputing every prefix (same output required), and minimum-Bayes-risk selection (`mbr="chrf"`) over
the n-best against the plain best beam (same beams, same batch). Prints one JSON object (also written to `--out` if given). Usage:

    .venv/bin/python bench/text2gloss.py [--model DIR] [--tier sample] [--n 128] [--batch-sizes 1,16,64] [--threads 2]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import time

import torch


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="model folder or trained config name (default: phoenix-cpu, else phoenix-sample)")
    ap.add_argument("--tier", default="sample", help="tier whose models folder is searched")
    ap.add_argument("--n", type=int, default=128, help="number of dev sentences to translate per setting")
    ap.add_argument("--single-n", type=int, default=32, help="sentences for the one-at-a-time setting")
    ap.add_argument("--batch-sizes", default="16,64", help="comma-separated batch sizes for the batched settings")
    ap.add_argument("--beams", type=int, help="beam size (default: the model's)")
    ap.add_argument("--cache-n", type=int, default=64, help="sentences (one batch) for the key-value cache comparison")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    ap.add_argument("--out", help="also write the JSON here")
    a = ap.parse_args(argv)

    torch.set_num_threads(a.threads)
    from t2g2p2s.core import write_json
    from t2g2p2s.text2gloss import Seq2SeqBackend, Translator, _decoder_start, ensemble_generate, find_model, prepare_source
    from t2g2p2s.text2gloss_data import load_pairs

    folder = find_model(a.model, a.tier)
    model = Translator.load(folder, device="cpu")
    torch.set_num_threads(a.threads)
    sents = [p.source for p in load_pairs("phoenix", "dev")]
    model.translate(sents[:4], num_beams=a.beams)  # warm-up

    def timed(texts, batch_size):
        t0 = time.perf_counter()
        if batch_size == 1:
            for t in texts: model.translate([t], num_beams=a.beams)
        else:
            model.translate(texts, num_beams=a.beams, batch_size=batch_size)
        dt = time.perf_counter() - t0
        return {"sentences": len(texts), "seconds": round(dt, 3), "sentences_per_s": round(len(texts) / dt, 2)}

    res = {"model": str(folder), "config": model.cfg.name, "members": len(model.backend.models),
           "num_beams": a.beams or model.cfg.num_beams, "threads": a.threads, "torch": torch.__version__,
           "cpu": platform.processor() or platform.machine(), "single": timed(sents[:a.single_n], 1), "batched": {}}
    for bs in [int(b) for b in a.batch_sizes.split(",") if b.strip()]:
        res["batched"][str(bs)] = timed(sents[:a.n], bs)
        res["batched"][str(bs)]["speedup_vs_single"] = round(res["batched"][str(bs)]["sentences_per_s"] / res["single"]["sentences_per_s"], 2)

    # the key-value cache of the (ensemble) beam search against recomputing each prefix, on one batch of the same sentences
    if model.backend.kind == "seq2seq":
        be, nb = model.backend, a.beams or model.cfg.num_beams
        ids = _decoder_start(be.models[0], be.tok, model.cfg)
        x, m = be._encode_sources([prepare_source(t, model.cfg) for t in sents[:a.cache_n]])
        runs = {}
        for uc in (False, True):
            t0 = time.perf_counter()
            out = ensemble_generate(be.models, x, m, nb, model.cfg.max_new_tokens, ids["decoder_start_token_id"], be.tok.eos_token_id,
                                    be.tok.pad_token_id, model.cfg.length_penalty, banned=[be.tok.pad_token_id, be.tok.bos_token_id], use_cache=uc)
            runs[uc] = (time.perf_counter() - t0, out)
        res["kv_cache"] = {"sentences": len(x), "seconds_without": round(runs[False][0], 3), "seconds_with": round(runs[True][0], 3),
                           "speedup": round(runs[False][0] / runs[True][0], 2), "same_output": runs[False][1] == runs[True][1]}
        # the cost of MBR: the same n-best, then the expected-chrF choice instead of the best beam
        src = [prepare_source(t, model.cfg) for t in sents[:a.n]]
        secs = {}
        for mode in ("none", "chrf"):
            dec = Seq2SeqBackend(dataclasses.replace(model.cfg, mbr=mode), be.tok, be.models)
            t0 = time.perf_counter()
            dec.generate(src, num_beams=nb)
            secs[mode] = time.perf_counter() - t0
        res["mbr"] = {"sentences": len(src), "seconds_best_beam": round(secs["none"], 3), "seconds_mbr_chrf": round(secs["chrf"], 3),
                      "cost_ratio": round(secs["chrf"] / secs["none"], 2)}
    text = json.dumps(res, indent=2)
    print(text)
    if a.out: write_json(a.out, res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
