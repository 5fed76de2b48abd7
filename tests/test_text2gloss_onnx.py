"""The lean Text2Gloss path (notebooks 07 and 07c): word-level vocabulary, post-LN Marian, the shared beam search,
the ONNX export and the ONNX Runtime engine (same glosses as PyTorch, no PyTorch import).

Models are tiny, built from configs and trained for an epoch on PHOENIX pairs from data/; no network."""
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

import t2g2p2s.text2gloss as T
import t2g2p2s.text2gloss_config as C
O = C   # the ONNX engine lives in notebook 07
import t2g2p2s.text2gloss_seq2seq as S
from t2g2p2s.core import ConfigError, DataError, run_command
from t2g2p2s.text2gloss_data import load_pairs

torch.set_num_threads(1)

TINY = dict(arch="marian", tokenizer="word", vocab_size=0, d_model=32, encoder_layers=1, decoder_layers=1, heads=2,
            ffn_dim=64, epochs=1, train_limit=400, dev_limit=16, eval_from=0, num_beams=3, max_new_tokens=16,
            lr=3e-3, warmup_steps=5, max_minutes=2, ensemble=2, parallel=1)


@pytest.fixture(scope="module")
def marian(tmp_path_factory):
    model, result = T.train_model("phoenix-sample", tmp_path_factory.mktemp("marian") / "model", device="cpu",
                                  eval_limit=16, **TINY)
    return model, result


def test_word_tokenizer_is_deterministic_and_word_level():
    texts = ["regen im norden .", "REGEN NORD", "sonne im sueden .", "SONNE SUED", "regen ."]
    a, b = C.build_word_tokenizer(texts), C.build_word_tokenizer(list(reversed(texts)))
    assert a.get_vocab() == b.get_vocab()
    assert a.convert_ids_to_tokens([4, 5, 6]) == [".", "im", "regen"]   # by falling frequency, ties alphabetical
    enc = a("regen im westen .")["input_ids"]
    assert a.convert_ids_to_tokens(enc) == ["regen", "im", "<unk>", ".", "</s>"]
    assert a.decode(enc, skip_special_tokens=True) == "regen im ."
    assert len(C.build_word_tokenizer(texts, max_words=3)) == len(C.SPECIAL_TOKENS) + 3
    with pytest.raises(ConfigError, match="no training text"): C.build_word_tokenizer(["", "  "])
    with pytest.raises(ConfigError, match="tokenizer='sentencepiece'"): C.T2GConfig(tokenizer="sentencepiece")


def test_marian_from_config_is_post_ln_with_sinusoidal_positions():
    cfg = C.load_config("phoenix-sample", **TINY)
    tok = S.make_tokenizer(cfg, ["a b c", "A B C"])
    m = S._seq2seq_from_config(cfg, tok)
    assert type(m).__name__ == "MarianMTModel" and m.config.scale_embedding and not m.config.normalize_before \
        if hasattr(m.config, "normalize_before") else type(m).__name__ == "MarianMTModel"
    assert "Sinusoidal" in type(m.model.encoder.embed_positions).__name__
    assert m.get_input_embeddings().weight.data_ptr() == m.lm_head.weight.data_ptr()      # tied
    with pytest.raises(ConfigError, match="marian"): S._seq2seq_from_config(C.load_config("phoenix-sample", arch="t5"), tok)


def test_beam_search_toy_model_and_token_limit():
    P = np.log(np.array([[.01, .01, .6, .01, .37], [.01, .01, .6, .01, .37], [.01, .01, .01, .96, .01],
                         [.2, .2, .2, .2, .2], [.01, .01, .01, .9, .07]]))
    calls = []
    def step(tokens, rows):
        calls.append((tokens.shape, None if rows is None else rows.tolist()))
        return P[tokens[:, -1]]
    hyps = C.beam_search(step, 1, 2, 5, start_id=1, eos_id=3, pad_id=0)[0]
    assert [h[1] for h in hyps[:2]] == [[2, 3], [4, 3]]
    assert hyps[0][0] == pytest.approx(np.log(.6 * .96) / 2) and hyps[0][2] == pytest.approx(np.log(.6 * .96))
    assert calls[0] == ((2, 1), None) and calls[1][0] == (2, 2)
    short = C.beam_search(step, 1, 2, 1, 1, 3, 0)[0]          # the limit: the best two finish whatever they end with
    assert sorted(h[1] for h in short) == [[2], [4]]
    assert C.beam_search(step, 1, 2, 5, 1, 3, 0, banned=[2])[0][0][1] == [4, 3]


def test_training_exports_onnx_and_both_engines_agree(marian):
    model, result = marian
    check = json.loads((model.folder / "onnx" / "onnx.json").read_text(encoding="utf-8"))
    assert len(check["members"]) == 2 and all(max(m["max_abs_diff"].values()) < 1e-4 for m in check["members"])
    assert O.has_onnx(model.folder) and not (model.folder / "onnx.part").exists()
    onnx_m = T.Translator.load(model.folder, engine="onnx")
    torch_m = T.Translator.load(model.folder, engine="torch")
    assert isinstance(onnx_m.backend, O.OnnxBackend) and isinstance(torch_m.backend, S.Seq2SeqBackend)
    assert isinstance(T.Translator.load(model.folder).backend, S.Seq2SeqBackend)   # auto: PyTorch is loaded here
    src = [p.source for p in load_pairs("phoenix", "dev")[:40]]
    for nb in (1, 3):
        assert onnx_m.translate(src, num_beams=nb) == torch_m.translate(src, num_beams=nb) == model.translate(src, num_beams=nb)
    for m in (onnx_m, torch_m):
        m.cfg = m.backend.cfg = C.T2GConfig(**{**m.cfg.to_dict(), "mbr": "chrf"})
    assert onnx_m.translate(src[:12]) == torch_m.translate(src[:12])
    assert onnx_m.backend.count_tokens("regen im norden .") == torch_m.backend.count_tokens("regen im norden .")
    # the result of training was computed in PyTorch; the ONNX engine scores the same
    dev = load_pairs("phoenix", "dev")[:16]
    onnx_m = T.Translator.load(model.folder, engine="onnx")
    assert onnx_m.evaluate([p.source for p in dev], [p.target for p in dev]) == result["metrics"]


def test_onnx_engine_never_imports_torch(marian):
    model, _ = marian
    code = ("import sys; from t2g2p2s.text2gloss import Translator; m = Translator.load(sys.argv[1]); "
            "print(m.translate(['Morgen regnet es im Norden.'])[0]); "
            "print('torch' in sys.modules, 'transformers' in sys.modules)")
    p = subprocess.run([sys.executable, "-c", code, str(model.folder)], capture_output=True, text=True, check=True)
    glosses, flags = p.stdout.strip().splitlines()
    assert flags == "False False"
    assert glosses == str(model.translate(["Morgen regnet es im Norden."])[0])


def test_export_refuses_and_keeps_what_was_there(marian, tmp_path):
    model, _ = marian
    folder = tmp_path / "copy"
    shutil.copytree(model.folder, folder)
    before = (folder / "onnx" / "onnx.json").read_bytes()
    with pytest.raises(DataError, match="differs from PyTorch"): O.export_onnx(folder, atol=-1.0)
    assert (folder / "onnx" / "onnx.json").read_bytes() == before and not (folder / "onnx.part").exists()
    meta = json.loads((folder / "t2g.json").read_text(encoding="utf-8"))
    meta["config"]["pretrained"] = "some/hub-model"
    (folder / "t2g.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ConfigError, match="only seq2seq models built from a config"): O.export_onnx(folder)
    with pytest.raises(DataError, match="no t2g.json"): O.export_onnx(tmp_path)
    with pytest.raises(ConfigError, match="engine='jax'"): T.Translator.load(model.folder, engine="jax")
    shutil.rmtree(folder / "onnx")
    with pytest.raises(DataError, match="export-onnx"): T.Translator.load(folder, engine="onnx")


def test_export_command_and_translate_engines_write_the_same_pose(marian, tmp_path, capsys):
    import t2g2p2s.gloss2pose  # noqa: F401  (declares the translate command)
    from synthetic import write_lexicon
    model, _ = marian
    folder = tmp_path / "m"
    shutil.copytree(model.folder, folder)
    shutil.rmtree(folder / "onnx")
    assert run_command("text2gloss export-onnx", ["--model", str(folder)]) == 0 and O.has_onnx(folder)
    assert "largest difference to PyTorch" in capsys.readouterr().out
    lexicon = write_lexicon(tmp_path / "lexicon")
    outs = {}
    for engine in ("torch", "onnx"):
        out = tmp_path / f"{engine}.pose"
        rc = run_command("translate", ["Regen im Norden, Schnee in der Nacht.", "--model", str(folder), "--lexicon",
                                       str(lexicon), "--out", str(out), "--engine", engine, "--no-embedding",
                                       "--report", str(tmp_path / f"{engine}.json")])
        assert rc == 0
        rep = json.loads((tmp_path / f"{engine}.json").read_text(encoding="utf-8"))
        outs[engine] = (out.read_bytes(), [m["query"] for m in rep["matches"]], rep["glosser"])
    assert outs["torch"] == outs["onnx"] and outs["onnx"][2].startswith("text2gloss")
