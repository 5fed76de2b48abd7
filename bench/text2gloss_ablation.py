"""Benchmark: what makes a Text2Gloss model on PHOENIX-2014T better per epoch on CPU: one change at a time.

The reference run is one member of the `phoenix-cpu` preset as it was when this ablation was measured (post-LN
Marian built from a config, word-level vocabulary, targets in the dev convention with their case, mixed batches of
64, inverse-square-root decay, no word dropout; `REFERENCE` pins what has changed in the preset since: it now uses
the batch-32 row with a linear decay fitted to its time budget); every other run changes one thing back to what the earlier preset's members used (pre-LN mBART or post-LN
BART with learned positions, a 3,000-piece BPE vocabulary, lower-cased targets, batch 32 with linear decay, word
dropout 0.1, batches grouped by length), then the earlier member itself (all changes at once, 2+2 layers); the last
two runs add one thing to the batch-32 row instead (lemmatised source words, bfloat16 autocast). Every run trains for the same number of epochs from the same seed, keeps the epoch with the best greedy
dev BLEU-4 and decodes the whole dev split with beam 5 (the protocol of notebook 07).

Runs go two at a time in one-thread processes (one per core); each finished run is written to `--out` at once,
and a run already there with the same settings is not repeated (so an interrupted bench resumes). Notebook 07c
shows the table from the results file. Usage:

    .venv/bin/python bench/text2gloss_ablation.py [--epochs 6] [--workers 2] [--only recipe,bpe]
        [--out bench/results/text2gloss-ablation.json]
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import multiprocessing as mp
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

#: the preset's settings at the time of the measured ablation where the preset has changed since (the reference)
REFERENCE = dict(batch_size=64, warmup_steps=400, schedule="inverse_sqrt", fit_schedule=False)
#: (key, what changes against the reference, config overrides); the reference is one member of phoenix-cpu
RUNS = [
    ("recipe", "reference: post-LN Marian, word vocabulary, case kept, mixed batches of 64, inverse-sqrt", {}),
    ("mbart", "pre-LN mBART, learned positions", dict(arch="mbart")),
    ("bart", "post-LN BART, learned positions", dict(arch="bart")),
    ("bpe", "BPE vocabulary of 3,000 pieces", dict(tokenizer="bpe", vocab_size=3000)),
    ("lower", "glosses lower-cased inside the model", dict(target_case="lower")),
    ("batch32-linear", "batch 32, warm-up 500, linear decay to 0", dict(batch_size=32, warmup_steps=500,
                                                                          schedule="linear")),
    ("word-dropout", "word dropout 0.1", dict(word_dropout=0.1)),
    ("length-batches", "batches of sentences of similar length (not mixed)", dict(batching="length")),
    ("old-member", "the earlier preset's member: all of the above, 2+2 layers, attention/activation dropout 0.1",
     dict(arch="mbart", tokenizer="bpe", vocab_size=3000, target_case="lower", batch_size=32, warmup_steps=500,
          schedule="linear", word_dropout=0.1, batching="length", encoder_layers=2, decoder_layers=2,
          attention_dropout=0.1, activation_dropout=0.1)),
    # on top of the preset's row (batch 32, linear decay): what more could be added to it
    ("lemma", "batch32-linear + source words lemmatised (simplemma)",
     dict(batch_size=32, warmup_steps=500, schedule="linear", lemmatize_source=True)),
    ("bf16", "batch32-linear + bfloat16 autocast of the training forward pass",
     dict(batch_size=32, warmup_steps=500, schedule="linear", amp="bf16")),
]


def one_run(key: str, overrides: dict, epochs: int, eval_from: int, seed: int, train_limit: int = 0,
            dev_limit: int = 0) -> dict:
    "Train one configuration in this process (one thread) and return its record."
    import torch
    torch.set_num_threads(1)
    from t2g2p2s.text2gloss import train_model
    over = dict(ensemble=1, parallel=1, threads=1, average_best=0, max_minutes=0, epochs=epochs, eval_from=eval_from,
                eval_every=1, patience=0, seed=seed, num_beams=5, train_limit=train_limit, dev_limit=dev_limit,
                **{**REFERENCE, **overrides})
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"t2g-ablation-{key}-") as tmp:
        model, result = train_model("phoenix-cpu", Path(tmp) / "model", tier="sample", device="cpu",
                                    eval_limit=dev_limit, **over)
    member = model.report["members"][0]
    hist = member["history"]
    dev = [(h["epoch"], h["dev"]) for h in hist if "dev" in h]
    return {"key": key, "overrides": overrides, "settings": over, "epochs": len(hist),
            "greedy_by_epoch": {int(e): d for e, d in dev},
            "best_greedy_bleu4": max(d for _, d in dev), "best_epoch": max(dev, key=lambda x: x[1])[0],
            "dev_beam5": result["metrics"], "vocab": model.report["vocab"],
            "parameters": model.report["parameters_per_member"],
            "train_seconds": member["seconds"], "seconds_per_epoch": round(member["seconds"] / max(len(hist), 1), 1),
            "wall_seconds": round(time.perf_counter() - t0, 1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=6, help="epochs of every run")
    ap.add_argument("--eval-from", type=int, default=2, help="first epoch (0-based) with a greedy dev evaluation")
    ap.add_argument("--workers", type=int, default=2, help="runs at a time (one thread each)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", default="", help="comma-separated run keys (default: all)")
    ap.add_argument("--train-limit", type=int, default=0, help="first N train pairs only (a quick check; 0 = all)")
    ap.add_argument("--dev-limit", type=int, default=0, help="first N dev pairs only (a quick check; 0 = all)")
    ap.add_argument("--out", default="bench/results/text2gloss-ablation.json")
    a = ap.parse_args(argv)
    out = Path(a.out)
    done = json.loads(out.read_text(encoding="utf-8")) if out.is_file() else {}
    runs = done.get("runs", {})
    want = [r for r in RUNS if not a.only or r[0] in a.only.split(",")]
    todo = [r for r in want if not (r[0] in runs and runs[r[0]]["overrides"] == r[2]
                                    and runs[r[0]]["settings"]["epochs"] == a.epochs
                                    and runs[r[0]]["settings"]["seed"] == a.seed
                                    and runs[r[0]]["settings"]["train_limit"] == a.train_limit
                                    and runs[r[0]]["settings"]["dev_limit"] == a.dev_limit)]
    print(f"{len(want) - len(todo)} of {len(want)} runs already in {out}; {len(todo)} to run, {a.workers} at a time",
          flush=True)
    meta = {"what": __doc__.split("\n\n")[0], "epochs": a.epochs, "seed": a.seed, "cpu": platform.processor() or
            platform.machine(), "cores": os.cpu_count(), "python": sys.version.split()[0],
            "descriptions": {k: d for k, d, _ in RUNS}}

    def save():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".json.part")
        tmp.write_text(json.dumps({**meta, "runs": runs}, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(out)

    t0 = time.perf_counter()
    with cf.ProcessPoolExecutor(max_workers=a.workers, mp_context=mp.get_context("spawn")) as ex:
        futs = {ex.submit(one_run, k, o, a.epochs, a.eval_from, a.seed, a.train_limit, a.dev_limit): k
                for k, _, o in todo}
        for f in cf.as_completed(futs):
            rec = f.result()
            runs[rec["key"]] = rec
            save()
            print(f"{rec['key']:16s} greedy {rec['best_greedy_bleu4']:.2f} (epoch {rec['best_epoch']}), "
                  f"beam 5 {rec['dev_beam5']['bleu4']:.2f}, {rec['seconds_per_epoch']:.0f} s/epoch "
                  f"[{time.perf_counter() - t0:.0f} s]", flush=True)
    save()
    ref = runs.get("recipe")
    print(f"\n{'run':16s} {'greedy':>7s} {'beam 5':>7s} {'vs ref':>7s}  change")
    for k, d, _ in RUNS:
        if k not in runs: continue
        r = runs[k]
        delta = r["dev_beam5"]["bleu4"] - ref["dev_beam5"]["bleu4"] if ref else float("nan")
        print(f"{k:16s} {r['best_greedy_bleu4']:7.2f} {r['dev_beam5']['bleu4']:7.2f} {delta:+7.2f}  {d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
