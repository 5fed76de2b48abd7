"""Text2Gloss models (notebook 07): evaluation protocol, LoRA machinery, seq2seq backend, robustness, CLI.

Every model here is tiny and built from a config (no network, no download); each test runs in seconds."""
import copy
import dataclasses
import io
import json
import math
import random
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest
import torch

import t2g2p2s.text2gloss as T
import t2g2p2s.text2gloss_config as C
import t2g2p2s.text2gloss_lora as L
import t2g2p2s.text2gloss_seq2seq as S
from t2g2p2s.core import ConfigError, resolve_device, run_command
from t2g2p2s.text2gloss_data import Pair, load_pairs, read_parallel

torch.set_num_threads(1)

TINY_S2S = dict(d_model=32, encoder_layers=1, decoder_layers=1, heads=2, ffn_dim=64, vocab_size=400, epochs=2,
                train_limit=300, dev_limit=20, eval_from=0, num_beams=2, max_new_tokens=24, lr=3e-3, warmup_steps=5,
                average_best=2, max_minutes=2)
TINY_LORA = dict(train_limit=64, dev_limit=8, epochs=1, base_pretrain_epochs=1, vocab_size=400, max_new_tokens=12)


@pytest.fixture(scope="module")
def s2s(tmp_path_factory):
    model, result = T.train_model("phoenix-sample", tmp_path_factory.mktemp("s2s") / "model", device="cpu", eval_limit=20, **TINY_S2S)
    return model, result


@pytest.fixture(scope="module")
def lora(tmp_path_factory):
    model, result = T.train_model("lora-tiny", tmp_path_factory.mktemp("lora") / "model", device="cpu", eval_limit=8, **TINY_LORA)
    return model, result


# ---------------------------------------------------------------- evaluation protocol

def test_metrics_hand_computed():
    hyps, refs = ["NORD REGEN SONNE", "MORGEN KALT"], ["NORD SONNE", "MORGEN KALT"]
    m = C.translation_metrics(hyps, refs)
    # unigrams: 2/3 + 2/2 matched = 4/5; bigrams: 0/2 + 1/1 = 1/3; hyp 5 tokens >= ref 4 tokens: no brevity penalty
    assert m["bleu1"] == pytest.approx(80.0, abs=1e-3)
    assert m["bleu2"] == pytest.approx(100 * math.sqrt(4 / 5 * 1 / 3), abs=1e-3)
    assert m["wer"] == pytest.approx(25.0)            # one insertion over four reference tokens
    assert m["ter"] == pytest.approx(25.0)
    assert m["rouge_l"] == pytest.approx(100 * (0.8 + 1.0) / 2)   # LCS 2: P 2/3, R 1 → F1 0.8
    assert m["exact_match"] == pytest.approx(50.0)
    assert (m["n"], m["hyp_tokens"], m["ref_tokens"]) == (2, 5, 4)
    one = C.translation_metrics(["A B C"], ["A B D"])
    assert one["bleu2"] == pytest.approx(100 * math.sqrt(2 / 3 * 1 / 2), abs=1e-3)
    perfect = C.translation_metrics(["NORD REGEN KOMMEN MORGEN SONNE"], ["NORD REGEN KOMMEN MORGEN SONNE"])
    assert perfect["bleu4"] == pytest.approx(100) and perfect["chrf"] == pytest.approx(100) and perfect["wer"] == 0


def test_rouge_l_keeps_umlauts_and_case():
    assert C.lcs_length(["HÄUSER1A", "B"], ["HÄUSER1A", "C", "B"]) == 2
    assert C.rouge_l(["HÄUSER1A"], ["häuser1a"]) == 0.0          # no lower-casing, no character filter
    assert C.rouge_l(["GEHEN"], ["GEHT"]) == 0.0                 # no stemming
    assert C.rouge_l([], ["A"]) == 0.0


def test_comma_string_bleu_inflation_is_gone():
    h, r = [["ICH1", "INDEX1"]], [["HAUS1", "BAUM2"]]
    assert C.thesis_style_bleu(h, r, 1) == pytest.approx(100 / 3, abs=1e-3)   # the shared comma "matches"
    assert C.translation_metrics(h, r)["bleu1"] == 0.0
    # glosses with punctuation stay whole tokens: `$NUM-EINER1A:4` is one token, matched or not as a whole
    m = C.translation_metrics([["$NUM-EINER1A:4", "ICH1"]], [["$NUM-EINER1A:5", "ICH1"]])
    assert m["bleu1"] == pytest.approx(50.0)
    assert C.thesis_style_bleu([["$NUM-EINER1A:4", "ICH1"]], [["$NUM-EINER1A:5", "ICH1"]], 1) > 50


def test_metrics_errors_and_empty_hypotheses():
    with pytest.raises(ConfigError):
        C.translation_metrics(["A"], ["A", "B"])
    with pytest.raises(ConfigError):
        C.translation_metrics([], [])
    m = C.translation_metrics(["", "A"], ["B", "A"])
    assert m["wer"] == pytest.approx(50.0) and m["exact_match"] == pytest.approx(50.0)


def test_aggregate_runs_mean_std():
    agg = C.aggregate_runs([{"bleu4": 20.0}, {"bleu4": 22.0}, {"bleu4": 24.0}], keys=["bleu4"])
    assert agg["bleu4"] == {"mean": 22.0, "std": 2.0, "n": 3}
    assert C.aggregate_runs([{"bleu4": 5.0}], keys=["bleu4"])["bleu4"]["std"] == 0.0
    with pytest.raises(ConfigError):
        C.aggregate_runs([])


# ---------------------------------------------------------------- configs

def test_presets_and_yaml(tmp_path):
    for name in ("phoenix-cpu", "phoenix-sample", "lora-tiny", "lora-thesis", "mbart-phoenix", "phoenix-g2t-sample"):
        assert C.preset_config(name).name == name
    thesis = C.preset_config("lora-thesis")
    assert (thesis.pretrained, thesis.lora_r, thesis.lora_alpha, thesis.lora_dropout) == ("unsloth/DeepSeek-R1-Distill-Llama-8B", 16, 16, 0.0)
    assert set(thesis.target_modules) == set(C.LLAMA_TARGETS) and thesis.load_in_4bit
    y = tmp_path / "mine.yaml"
    y.write_text("base: phoenix-sample\nepochs: 1\nd_model: 64\n", encoding="utf-8")
    cfg = C.load_config(y)
    assert (cfg.name, cfg.epochs, cfg.d_model, cfg.vocab_size) == ("mine", 1, 64, C.preset_config("phoenix-sample").vocab_size)
    y.write_text("epoch: 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown key"):
        C.load_config(y)
    with pytest.raises(ConfigError):
        C.load_config("no-such-preset")
    with pytest.raises(ConfigError):
        C.load_config("phoenix-cpu", backend="rnn")
    assert C.T2GConfig.from_dict(C.preset_config("phoenix-cpu").to_dict()) == C.preset_config("phoenix-cpu")


def test_recase_glosses_roundtrip_on_phoenix():
    for split in ("train", "dev"):
        for p in load_pairs("phoenix", split):
            assert S.recase_glosses(p.target.lower()) == p.target


# ---------------------------------------------------------------- LoRA backend

def _tiny_lora_setup(seed=0):
    cfg = C.load_config("lora-tiny", vocab_size=400)
    train = load_pairs("phoenix", "train")[:64]
    src, tgt = C.text_pairs(train, cfg)
    tok = C.build_tokenizer(src + tgt + [cfg.prompt], cfg.vocab_size, chat=True)
    torch.manual_seed(seed)
    model = L._tiny_llama(cfg, tok)
    return cfg, tok, model, src, tgt


def test_lora_step_lowers_loss():
    from peft import LoraConfig, get_peft_model
    cfg, tok, model, src, tgt = _tiny_lora_setup()
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=list(C.LLAMA_TARGETS), task_type="CAUSAL_LM"))
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    ex = [L.lora_example(tok, cfg.prompt, s, t) for s, t in zip(src[:8], tgt[:8])]
    x = S.pad_batch([i for i, _ in ex], tok.pad_token_id)
    y = S.pad_batch([l for _, l in ex], -100)
    mask = (x != tok.pad_token_id).long()
    def loss():
        return S._label_smoothed_loss(model(input_ids=x, attention_mask=mask).logits[:, :-1], y[:, 1:], 0.0)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-3)
    before = float(loss().detach())
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    for _ in range(5):
        opt.zero_grad(); l = loss(); l.backward(); opt.step()
    after = float(loss().detach())
    assert after < before
    assert all(torch.equal(p, frozen[n]) for n, p in model.named_parameters() if not p.requires_grad)


def test_template_identical_at_training_and_inference():
    cfg, tok, _, src, tgt = _tiny_lora_setup()
    for s, t in zip(src[:10], tgt[:10]):
        ids, labels = L.lora_example(tok, cfg.prompt, s, t)
        prompt = L.chat_prompt_ids(tok, cfg.prompt, s)
        assert ids[:len(prompt)] == prompt
        assert labels[:len(prompt)] == [-100] * len(prompt)              # completion-only loss
        assert labels[len(prompt):] == L.completion_ids(tok, t) and labels[-1] == tok.eos_token_id
    # a DeepSeek-R1-style template whose generation prompt appends `<think>\n`: training sees the same prefix
    tok.chat_template = ("{{ bos_token }}{% for m in messages %}{% if m['role'] == 'system' %}{{ m['content'] }}"
                         "{% elif m['role'] == 'user' %}<|user|>{{ m['content'] }}{% endif %}{% endfor %}"
                         "{% if add_generation_prompt %}<|assistant|><think>\n{% endif %}")
    ids, _ = L.lora_example(tok, cfg.prompt, src[0], tgt[0])
    prompt = L.chat_prompt_ids(tok, cfg.prompt, src[0])
    assert ids[:len(prompt)] == prompt and "think" in tok.decode(prompt)


def test_lora_adapter_save_load_identical(lora, tmp_path):
    model, result = lora
    h = model.report["history"]
    assert (model.folder / "adapter" / "adapter_config.json").is_file() and (model.folder / "base").is_dir()
    probe = [p.source for p in load_pairs("phoenix", "dev")[:4]]
    again = T.Translator.load(model.folder)
    assert isinstance(again, T.Text2Gloss) and again.translate(probe) == model.translate(probe)
    x = torch.tensor([L.chat_prompt_ids(model.backend.tok, model.cfg.prompt, "regen im norden .")])
    with torch.no_grad():
        a = model.backend.model(input_ids=x).logits
        b = again.backend.model(input_ids=x).logits
    assert torch.allclose(a, b, atol=1e-6)
    merged = T.Translator.load(L.merge_lora(model.folder, tmp_path / "merged"))
    with torch.no_grad():
        c = merged.backend.model(input_ids=x).logits
    assert torch.allclose(a, c, atol=1e-4) and not (tmp_path / "merged" / "adapter").exists()
    assert result["metrics"]["n"] == TINY_LORA["dev_limit"] and h[0]["train_loss"] > 0


# ---------------------------------------------------------------- seq2seq backend, decoding, robustness

def test_bf16_autocast_and_word_dropout_train_deterministically(tmp_path):
    "amp='bf16' and word_dropout train (loss falls), give the same model twice from one seed, and bad values are refused."
    over = dict(TINY_S2S, epochs=2, amp="bf16", word_dropout=0.3, average_best=0, max_minutes=0)
    runs = [T.train_model("phoenix-sample", tmp_path / f"m{i}", device="cpu", eval_limit=4, **over) for i in range(2)]
    h = runs[0][0].report["members"][0]["history"]
    assert h[1]["train_loss"] < h[0]["train_loss"]
    a, b = (r[0].backend.models[0].state_dict() for r in runs)
    assert all(torch.equal(a[k], b[k]) for k in a)
    for bad in (dict(amp="fp8"), dict(word_dropout=1.0), dict(word_dropout=-0.1)):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            C.load_config("phoenix-sample", **bad)


def _fake_clock_training(monkeypatch, eval_cost: float, deadline: float, **cfg_overrides):
    "train_loop on a tiny model under a fake clock: 1 s per step (5 per epoch), `eval_cost` s per evaluation."
    clock = {"t": 1000.0}
    monkeypatch.setattr(S.time, "perf_counter", lambda: clock["t"])
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    x = torch.randn(4, 3)
    def step_loss(batch):
        clock["t"] += 1.0
        return model(x).pow(2).mean()
    def evaluate():
        clock["t"] += eval_cost
        with torch.no_grad(): return -float(model(x).pow(2).mean())
    cfg = C.load_config("phoenix-sample", epochs=50, schedule="linear", patience=0, grad_accum=1, lr=0.01,
                        **cfg_overrides)
    rep = S.train_loop(model, 5, lambda epoch: [[i] for i in range(5)], step_loss, cfg, evaluate, deadline=deadline)
    return rep, cfg, clock["t"]


@pytest.mark.parametrize("fit", [True, False])
def test_fit_schedule_ends_the_linear_decay_within_the_budget(monkeypatch, fit):
    "A fake clock (1 s per step and per evaluation, a 100 s budget): the fitted plan ends at lr 0, the plain one is cut off."
    rep, cfg, t = _fake_clock_training(monkeypatch, 1.0, 1100.0, warmup_steps=0, eval_from=0, eval_every=1,
                                       fit_schedule=fit)
    h = rep["history"]
    if fit:
        assert 10 <= rep["planned_epochs"] == len(h) < 50 and "fitted" in rep["stopped"]
        assert h[-1]["lr"] == 0.0 and "dev" in h[-1] and t <= 1100.0
        assert [r["lr"] for r in h] == sorted((r["lr"] for r in h), reverse=True)
    else:
        assert rep["planned_epochs"] == 50 and rep["stopped"] == "time budget" and h[-1]["lr"] > 0.5 * cfg.lr


def test_fit_schedule_plan_grows_when_evaluations_are_cheaper_than_estimated(monkeypatch):
    "Evaluations from epoch 10 cost 0.1 s (estimated 1.5 s before the first): the plan grows, the rate never rises."
    rep, _, t = _fake_clock_training(monkeypatch, 0.1, 1150.0, warmup_steps=3, eval_from=10, eval_every=2,
                                     fit_schedule=True)
    h = rep["history"]
    plans = [r["planned_epochs"] for r in h if "planned_epochs" in r]
    assert max(plans) > plans[0] and rep["planned_epochs"] == len(h) == 29 and t <= 1150.0
    lrs = [r["lr"] for r in h]
    assert lrs == sorted(lrs, reverse=True) and lrs[-1] == 0.0 and "dev" in h[-1]


def test_translit_source_spells_umlauts_like_phoenix_glosses():
    "Only the text2gloss model input changes: ä ö ü ß → ae oe ue ss after the PHOENIX text normalisation."
    on = C.load_config("phoenix-sample", translit_source=True)
    assert C.prepare_source("Im Süden wird es schön, Straßenglätte!", on) == "im sueden wird es schoen strassenglaette ."
    assert C.prepare_source("Im Süden", C.load_config("phoenix-sample")) == "im süden ."
    assert C.transliterate_umlauts("ÄÖÜäöüß") == "AeOeUeaeoeuess"
    g2t = C.load_config("phoenix-g2t-sample", translit_source=True)     # gloss input of gloss2text: untouched
    assert C.prepare_source("SUED ÜBER", g2t) == "SUED ÜBER"
    assert C.T2GConfig.from_dict(on.to_dict()).translit_source is True  # saved with the model, so translate applies it too


def test_lemmatize_source_uses_lemmas():
    "Lemmas (simplemma), lower-cased, before the umlaut spelling; gloss2text input untouched; saved with the model."
    on = C.load_config("phoenix-sample", lemmatize_source=True)
    assert C.prepare_source("Die Temperaturen steigen, es regnet.", on) == "der temperatur steigen es regnen ."
    both = C.load_config("phoenix-sample", lemmatize_source=True, translit_source=True)
    assert C.prepare_source("Im Süden regnet es", both) == "im sueden regnen es ."
    assert C.prepare_source("REGEN SUED", C.load_config("phoenix-g2t-sample", lemmatize_source=True)) == "REGEN SUED"
    assert C.T2GConfig.from_dict(on.to_dict()).lemmatize_source is True


# ---------------------------------------------------------------- minimum-Bayes-risk decoding

def test_mbr_select_hand_made_nbest():
    "The consensus wins over a lone best beam once weights are flat enough; sharp weights give the best beam back."
    from sacrebleu.metrics import CHRF
    cands, lps = ["sonne nord", "regen sued morgen", "regen sued", "regen sued kalt"], [-0.5, -1.0, -1.1, -1.2]
    assert S.mbr_select(cands, lps, "chrf", alpha=0.5) == 1            # the middle of the three `regen sued …`
    assert S.mbr_select(cands, lps, "chrf", alpha=100.0) == 0          # all weight on the top beam
    # by hand: with alpha → 0 the weights are uniform, and the utility is the mean chrF against all four
    c = CHRF()
    util = [sum(100.0 if h == r else c.sentence_score(h, [r]).score for r in cands) / 4 for h in cands]
    assert S.mbr_select(cands, lps, "chrf", alpha=1e-9) == int(np.argmax(util))
    # duplicates pool their weight: two equal strings outweigh one more probable string
    assert S.mbr_select(["a b", "c d", "c d"], [-1.0, -1.2, -1.2], "chrf", 1.0) == 1
    assert S.mbr_select(["x y", "q r"], [-1.0, -1.0], "chrf++", 1.0) == 0    # a tie keeps the earlier (better) beam
    assert S.mbr_select(["nur eins"], [-3.0]) == 0
    with pytest.raises(ValueError, match="2 candidates but 1"): S.mbr_select(["a", "b"], [-1.0])
    with pytest.raises(ValueError, match="at least one"): S.mbr_select([], [])
    with pytest.raises(ConfigError, match="bleu"): S.mbr_select(["a", "b"], [-1.0, -2.0], "bleu")
    with pytest.raises(ConfigError, match="mbr='bleu'"): C.load_config("phoenix-sample", mbr="bleu")
    with pytest.raises(ConfigError, match="seq2seq"): C.load_config("lora-tiny", mbr="chrf")
    with pytest.raises(ConfigError, match="mbr_alpha"): C.load_config("phoenix-sample", mbr="chrf", mbr_alpha=0)


@torch.no_grad()
def test_beam_candidates_and_mbr_decoding(s2s):
    "The n-best is sorted, scored as documented and headed by ensemble_generate's choice; MBR picks one of its strings, deterministically."
    model, _ = s2s
    be = model.backend
    src = [C.prepare_source(p.source, model.cfg) for p in load_pairs("phoenix", "dev")[:12]]
    x, mask = be._encode_sources(src)
    ids = S._decoder_start(be.models[0], be.tok, model.cfg)
    args = (x, mask, 4, 24, ids["decoder_start_token_id"], be.tok.eos_token_id, be.tok.pad_token_id, 1.0)
    cands = S.beam_candidates(be.models, *args, banned=[be.tok.pad_token_id, be.tok.bos_token_id])
    best = S.ensemble_generate(be.models, *args, banned=[be.tok.pad_token_id, be.tok.bos_token_id])
    assert len(cands) == 12 and all(len(c) >= 4 for c in cands)
    for c, b in zip(cands, best):
        assert c[0][1] == b and [s for s, _, _ in c] == sorted((s for s, _, _ in c), reverse=True)
        assert all(score == pytest.approx(raw / len(seq)) and raw < 0 for score, seq, raw in c)
    mbr = S.Seq2SeqBackend(dataclasses.replace(model.cfg, mbr="chrf"), be.tok, be.models)
    out = mbr.generate(src, num_beams=4)
    assert out == mbr.generate(src, num_beams=4)
    strings = [[be.tok.decode(s, skip_special_tokens=True).strip() for _, s, _ in c] for c in cands]
    assert all(o in st for o, st in zip(out, strings))
    sharp = S.Seq2SeqBackend(dataclasses.replace(model.cfg, mbr="chrf", mbr_alpha=1e4), be.tok, be.models)
    most_probable = [st[max(range(len(c)), key=lambda k: (c[k][2], -k))] for c, st in zip(cands, strings)]
    assert sharp.generate(src, num_beams=4) == most_probable     # all weight on the most probable hypothesis
    # the length penalty re-ranks the same finished hypotheses (the search itself ranks by raw log-probability)
    long = S.beam_candidates(be.models, *args[:-1], 4.0, banned=[be.tok.pad_token_id, be.tok.bos_token_id])
    for c, lc in zip(cands, long):
        assert sorted(seq for _, seq, _ in c) == sorted(seq for _, seq, _ in lc)
        assert all(score == pytest.approx(raw / len(seq) ** 4) for score, seq, raw in lc)
        assert len(lc[0][1]) >= len(c[0][1])       # a stronger penalty never picks a shorter best hypothesis
    lp_be = S.Seq2SeqBackend(dataclasses.replace(model.cfg, length_penalty=4.0), be.tok, be.models)
    assert lp_be.generate(src, num_beams=4) == [be.tok.decode(lc[0][1], skip_special_tokens=True).strip() for lc in long]


def test_rdrop_kl_and_training():
    "R-Drop's symmetric KL: 0 for identical passes, symmetric, positive otherwise, padding ignored; a run with it learns."
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, 3, 7, generator=g), torch.randn(2, 3, 7, generator=g)
    y = torch.tensor([[1, 2, -100], [3, -100, -100]])
    assert S._rdrop_kl(a, a, y).item() == pytest.approx(0.0, abs=1e-7)
    kl = S._rdrop_kl(a, b, y)
    assert kl.item() > 0 and kl.item() == pytest.approx(S._rdrop_kl(b, a, y).item(), rel=1e-6)
    la, lb = torch.log_softmax(a, -1), torch.log_softmax(b, -1)
    by_hand = [0.5 * float((la[i, j].exp() * (la[i, j] - lb[i, j])).sum() + (lb[i, j].exp() * (lb[i, j] - la[i, j])).sum())
               for i, j in ((0, 0), (0, 1), (1, 0))]
    assert kl.item() == pytest.approx(sum(by_hand) / 3, rel=1e-5)
    b2 = b.clone(); b2[0, 2] += 100.0; b2[1, 1:] -= 50.0          # changes at padded positions do not count
    assert S._rdrop_kl(a, b2, y).item() == pytest.approx(kl.item(), rel=1e-6)
    with pytest.raises(ConfigError, match="rdrop"): C.load_config("phoenix-sample", rdrop=-1)


def test_rdrop_training_lowers_the_loss(tmp_path):
    over = dict(TINY_S2S, epochs=2, rdrop=5.0, average_best=0, max_minutes=0)
    model, _ = T.train_model("phoenix-sample", tmp_path / "m", device="cpu", eval_limit=4, **over)
    h = model.report["members"][0]["history"]
    assert math.isfinite(h[0]["train_loss"]) and h[1]["train_loss"] < h[0]["train_loss"]


def test_seq2seq_model_folder_and_result(s2s):
    model, result = s2s
    meta = json.loads((model.folder / "t2g.json").read_text(encoding="utf-8"))
    assert meta["config"]["d_model"] == 32 and (model.folder / "member0").is_dir() and (model.folder / "tokenizer").is_dir()
    res = json.loads((model.folder / "eval-dev.json").read_text(encoding="utf-8"))
    assert res["protocol"] == C.PROTOCOL and set(C.METRICS) <= set(res["metrics"]) and res["metrics"]["n"] == 20
    assert model.report["members"][0]["history"][0]["dev"] >= 0


def test_decoding_is_deterministic(s2s):
    model, _ = s2s
    probe = [p.source for p in load_pairs("phoenix", "dev")[:8]]
    gc = model.backend.models[0].generation_config
    gc.do_sample, gc.temperature, gc.top_p = True, 1.5, 0.9          # sampling defaults must not leak in
    outs = [model.translate(probe) for _ in range(3)] + [T.Translator.load(model.folder).translate(probe)]
    assert outs[0] == outs[1] == outs[2] == outs[3]
    assert model.translate(probe, num_beams=1) == model.translate(probe, num_beams=1)


def _hf_rows(out: torch.Tensor, eos: int, pad: int) -> list[list[int]]:
    "Hugging Face's generated rows without the decoder start, cut after the first eos (padding follows it)."
    rows = [r[1:] for r in out.tolist()]
    return [r[:r.index(eos) + 1] if eos in r else [t for t in r if t != pad] for r in rows]


def _assert_same_search(model, x, mask, ids, limits, beams=(1, 3, 4), penalties=(1.0, 2.0), ban=(0, 1)):
    start, eos, pad = ids["decoder_start_token_id"], ids["eos_token_id"], ids["pad_token_id"]
    for limit in limits:
        for nb in beams:
            for lp in penalties:
                gc = S.deterministic_generation_config(model, ids, nb, limit, lp, suppress=list(ban))
                hf = _hf_rows(model.generate(input_ids=x, attention_mask=mask, generation_config=gc), eos, pad)
                own = S.ensemble_generate([model], x, mask, nb, limit, start, eos, pad, lp, banned=list(ban))
                bad = [(i, a, b) for i, (a, b) in enumerate(zip(hf, own)) if a != b]
                assert not bad, (limit, nb, lp, bad[:2])
                assert own == S.ensemble_generate([model], x, mask, nb, limit, start, eos, pad, lp, banned=list(ban), use_cache=False)


@torch.no_grad()
@pytest.mark.parametrize("init_std,eos_bias", [(0.5, 0.0), (0.3, 1.0), (1.0, 2.0)])
def test_ensemble_generate_is_hf_beam_search(init_std, eos_bias):
    """One member: `ensemble_generate` finds exactly Hugging Face's hypotheses (greedy and beam, length penalties
    1 and 2, token limits that cut search short and ones that do not). Random float64 models with peaked
    distributions, so that no near-tie decides; an eos bias moves where hypotheses finish. The short limits are
    where beams still running at the limit must compete with those finished before."""
    from transformers import MBartConfig, MBartForConditionalGeneration
    torch.manual_seed(0)
    cfg = MBartConfig(vocab_size=40, d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                      decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=64,
                      pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1, forced_eos_token_id=None,
                      init_std=init_std, dropout=0.0)
    model = MBartForConditionalGeneration(cfg).double().eval()
    model.final_logits_bias[0, 2] = eos_bias
    x = torch.randint(3, 40, (32, 7))
    ids = dict(decoder_start_token_id=1, eos_token_id=2, pad_token_id=0)
    _assert_same_search(model, x, torch.ones_like(x), ids, limits=(3, 4, 6, 10, 16))


@torch.no_grad()
def test_ensemble_generate_matches_hf_generate(s2s):
    "The same on the trained tiny model (in float64, where its float32 near-ties cannot decide); ensembles of one model twice."
    model, _ = s2s
    be = model.backend
    x, mask = be._encode_sources([p.source for p in load_pairs("phoenix", "dev")[:16]])
    ids = S._decoder_start(be.models[0], be.tok, model.cfg)   # carries eos and pad ids too
    _assert_same_search(copy.deepcopy(be.models[0]).double(), x, mask, ids, limits=(8, 24), beams=(1, 3),
                        penalties=(1.0,), ban=(be.tok.pad_token_id, be.tok.bos_token_id))
    two = S.Seq2SeqBackend(model.cfg, be.tok, [be.models[0], be.models[0]])      # an ensemble of one model twice
    assert two.generate(["regen im norden ."], num_beams=3) == be.generate(["regen im norden ."], num_beams=3)


def test_empty_long_and_foreign_input(s2s):
    model, _ = s2s
    rows = model.translate_detailed(["", "   ", "Regen im Norden.", " ".join(["im süden scheint die sonne ."] * 40),
                                     "Bonjour, il fait beau aujourd'hui.", "xqzt brrk"])
    assert rows[0]["output"] == [] and rows[1]["output"] == [] and "empty input" in rows[0]["warnings"]
    assert isinstance(rows[2]["output"], list) and not rows[2]["warnings"]
    assert rows[3]["chunks"] > 1 and any("chunks" in w for w in rows[3]["warnings"])
    assert rows[4]["output"] == [] and rows[4]["coverage"] == 0.0 and rows[4]["warnings"]
    assert rows[5]["output"] == [] and rows[5]["warnings"]
    mixed = model.translate_detailed("bonjour regen madame monsieur")[0]
    assert 0 < mixed["coverage"] < 0.5 and any("only" in w for w in mixed["warnings"])
    assert model.translate("Regen im Norden.") == [rows[2]["output"]]


def test_text2gloss_refuses_gloss2text_model(s2s):
    model, _ = s2s
    with pytest.raises(ConfigError, match="Gloss2Text|gloss2text"):
        T.Gloss2Text.load(model.folder)


def test_gloss2text_same_machinery(tmp_path):
    g2t, res = T.train_model("phoenix-g2t-sample", tmp_path / "g2t", device="cpu", eval_limit=8, **{**TINY_S2S, "postprocess": "none", "epochs": 1, "dev_limit": 8})
    assert isinstance(g2t, T.Gloss2Text) and isinstance(g2t.translate(["MORGEN REGEN"])[0], str)
    assert res["metrics"]["n"] == 8 and res["config"]["direction"] == "gloss2text"


def test_pretrained_local_model_keeps_its_tokenizer(tmp_path):
    cfg = C.load_config("phoenix-sample", **TINY_S2S)
    pairs = load_pairs("phoenix", "train")[:300]
    tok = C.build_tokenizer([p.source for p in pairs] + [p.target for p in pairs], 350)
    torch.manual_seed(0)
    S._seq2seq_from_config(cfg, tok).save_pretrained(tmp_path / "pre")
    tok.save_pretrained(tmp_path / "pre")
    ft, _ = T.train_model(cfg, tmp_path / "ft", device="cpu", eval_limit=8, pretrained=str(tmp_path / "pre"), epochs=1)
    assert ft.backend.tok.get_vocab() == tok.get_vocab()
    assert T.Translator.load(ft.folder).backend.tok.get_vocab() == tok.get_vocab()


def test_cuda_request_without_cuda_is_a_config_error():
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(ConfigError, match="CUDA"):
        resolve_device("cuda")
    assert resolve_device("auto") == "cpu"


# ---------------------------------------------------------------- augmentation

def test_degeneracy_filter():
    assert not T.is_degenerate("regen regen regen regen")                  # < 5 words: never degenerate
    assert T.is_degenerate("regen regen regen regen regen")
    assert T.is_degenerate("im norden im norden im norden")
    assert not T.is_degenerate("morgen im norden regen und im süden sonne")


def test_back_translation_train_only_and_filtered(tmp_path):
    from transformers import MarianConfig, MarianMTModel
    train = load_pairs("phoenix", "train")[:12]
    folders = []
    for k in range(2):
        tk = C.build_tokenizer([p.source for p in load_pairs("phoenix", "train")[:200]], 300)
        conf = MarianConfig(vocab_size=len(tk), d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                            decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=256,
                            pad_token_id=tk.pad_token_id, eos_token_id=tk.eos_token_id, decoder_start_token_id=tk.pad_token_id)
        torch.manual_seed(k)
        f = tmp_path / f"m{k}"
        MarianMTModel(conf).save_pretrained(f); tk.save_pretrained(f)
        folders.append(f)
    out, counts = T.back_translate(train, *folders, n=1, max_attempts=2, min_sim=0, max_sim=100, seed=0)
    again, counts2 = T.back_translate(train, *folders, n=1, max_attempts=2, min_sim=0, max_sim=100, seed=0)
    assert out == again and counts == counts2                                  # seeded
    by_id = {p.id: p for p in train}
    for p in out:
        orig = by_id[p.id.split("-bt")[0]]
        assert p.split == "train" and p.glosses == orig.glosses and p.source != orig.source
    assert counts.get("candidates", 0) == sum(v for k, v in counts.items() if k != "candidates")
    strict, c3 = T.back_translate(train, *folders, n=1, max_attempts=1, min_sim=101, max_sim=102, seed=0)
    assert strict == [] and c3.get("accepted", 0) == 0
    with pytest.raises(ConfigError, match="only train"):
        T.back_translate(load_pairs("phoenix", "dev")[:2], *folders)


# ---------------------------------------------------------------- CLI

def _cli(action, *argv):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = run_command(f"text2gloss {action}", list(argv))
    return rc, out.getvalue(), err.getvalue()


def test_cli_without_model_says_how_to_get_one(tmp_path, monkeypatch):
    monkeypatch.setenv("T2G2P2S_DATA", str(tmp_path / "full"))
    rc, out, err = _cli("translate", "--tier", "full", "Morgen Regen.")
    assert rc == 2 and "text2gloss train phoenix-cpu" in err and "phoenix-sample" in err and out == ""
    rc, _, err = _cli("evaluate", "--tier", "full", "--src", "x.de", "--ref", "x.gloss")
    assert rc == 2 and "train" in err


def test_cli_translate_evaluate_presets(s2s, tmp_path):
    model, _ = s2s
    rc, out, _ = _cli("presets")
    assert rc == 0 and "phoenix-cpu" in out and "lora-thesis" in out
    rc, out, err = _cli("translate", "--model", str(model.folder), "Regen im Norden.", "")
    lines = out.split("\n")
    assert rc == 0 and len(lines) == 3 and lines[1] == "" and "empty input" in err
    rc, out, _ = _cli("translate", "--model", str(model.folder), "--json", "Regen im Norden.")
    rec = json.loads(out)
    assert rc == 0 and rec[0]["input"] == "Regen im Norden." and isinstance(rec[0]["output"], list)
    dev = load_pairs("phoenix", "dev")[:6]
    (tmp_path / "d.de").write_text("".join(p.source + "\n" for p in dev), encoding="utf-8")
    (tmp_path / "d.gloss").write_text("".join(p.target + "\n" for p in dev), encoding="utf-8")
    rc, out, _ = _cli("evaluate", "--model", str(model.folder), "--src", str(tmp_path / "d.de"), "--ref", str(tmp_path / "d.gloss"), "--json",
                      "--out", str(tmp_path / "r.json"))
    res = json.loads(out)
    assert rc == 0 and res["metrics"]["n"] == 6 and json.loads((tmp_path / "r.json").read_text())["metrics"] == res["metrics"]
    assert res["metrics"] == model.evaluate([p.source for p in dev], [p.target for p in dev])
    rc, _, err = _cli("evaluate", "--model", str(model.folder), "--src", str(tmp_path / "d.de"), "--ref", str(tmp_path / "missing.gloss"))
    assert rc == 2 and "missing.gloss" in err
    rc, out, _ = _cli("evaluate", "--model", str(model.folder), "--src", str(tmp_path / "d.de"), "--ref", str(tmp_path / "d.gloss"), "--json",
                      "--mbr", "chrf", "--beams", "4", "--length-penalty", "3")
    res = json.loads(out)
    assert rc == 0 and res["config"]["mbr"] == "chrf" and res["config"]["length_penalty"] == 3.0 and res["num_beams"] == 4
    mbr_model = T.Translator.load(model.folder)
    mbr_model.cfg = mbr_model.backend.cfg = dataclasses.replace(mbr_model.cfg, mbr="chrf", length_penalty=3.0)
    assert res["metrics"] == mbr_model.evaluate([p.source for p in dev], [p.target for p in dev], num_beams=4)


def test_train_resplits_mean_std(tmp_path):
    from t2g2p2s.text2gloss_data import SOURCES, register_source
    phx = load_pairs("phoenix", "train")
    def fake(split, tier="sample"):
        k, part = int(split.split("/")[0][5:]), split.split("/")[1]
        start = 40 * k if part == "dev" else 200 + 150 * k
        return [Pair(p.source, p.glosses, "fake", split, p.id) for p in phx[start:start + (12 if part == "dev" else 150)]]
    register_source("fake-resplits", fake)
    try:
        summary = T.train_resplits("phoenix-sample", (1, 2), out_dir=tmp_path, device="cpu", source="fake-resplits",
                                   **{**TINY_S2S, "epochs": 1, "dev_limit": 0, "train_limit": 0})
    finally:
        SOURCES.pop("fake-resplits")
    assert set(summary["runs"]) == {"split1", "split2"} and summary["mean_std"]["bleu1"]["n"] == 2
    vals = [summary["runs"][k]["wer"] for k in ("split1", "split2")]
    assert summary["mean_std"]["wer"]["mean"] == pytest.approx(sum(vals) / 2, abs=1e-3)
    assert json.loads((tmp_path / "resplits.json").read_text())["mean_std"] == summary["mean_std"]
    assert all(r["n"] == 12 for r in summary["runs"].values())


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads process states from /proc")
def test_member_workers_die_with_their_parent(tmp_path):
    "A training worker whose parent is gone stops (instead of keeping the cores busy): `_exit_with_parent`."
    import subprocess, sys, time
    pid_file, ready = tmp_path / "child.pid", tmp_path / "ready"
    child = (f"from t2g2p2s.text2gloss_seq2seq import _exit_with_parent; import time; _exit_with_parent(0.1); "
             f"open({str(ready)!r}, 'w').write('1'); time.sleep(120)")
    middle = (f"import subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', {child!r}]); "
              f"open({str(pid_file)!r}, 'w').write(str(p.pid)); time.sleep(120)")
    mid = subprocess.Popen([sys.executable, "-c", middle])
    try:
        for _ in range(1200):
            if ready.is_file() and pid_file.is_file() and pid_file.read_text(): break
            time.sleep(0.1)
        pid = int(pid_file.read_text())
        def alive() -> bool:
            try: state = Path(f"/proc/{pid}/status").read_text()
            except FileNotFoundError: return False
            return "\nState:\tZ" not in state
        time.sleep(0.5)
        assert alive()                    # watching, and the parent lives: it keeps running
    finally:
        mid.kill(); mid.wait()
    for _ in range(100):
        if not alive(): break
        time.sleep(0.1)
    assert not alive()


def test_training_lets_dev_choose_the_length_penalty(tmp_path):
    over = dict(TINY_S2S, epochs=1, train_limit=120, average_best=0, length_penalties=[0.5, 1.0, 3.0])
    model, result = T.train_model("phoenix-sample", tmp_path / "m", device="cpu", eval_limit=12, **over)
    tried = {float(k): v for k, v in result["length_penalty_dev_bleu4"].items()}
    assert list(tried) == [0.5, 1.0, 3.0]
    best = max(tried, key=lambda v: (tried[v], -list(tried).index(v)))
    saved = json.loads((model.folder / "t2g.json").read_text(encoding="utf-8"))
    assert saved["config"]["length_penalty"] == best == result["config"]["length_penalty"]
    assert saved["report"]["length_penalty_dev_bleu4"] == result["length_penalty_dev_bleu4"]
    assert result["metrics"]["bleu4"] == pytest.approx(tried[best])      # the reported score is the chosen one's
    with pytest.raises(ConfigError, match="length_penalties"): C.load_config("phoenix-sample", length_penalties=["x"])
