"""Tests of t2g2p2s.figures: every figure is drawn from (small, synthetic) stage outputs only, with pdf, png and a
sidecar naming its inputs; rendering twice gives byte-identical files; a missing input names the notebook that makes
it; publishing copies a run's set and prunes stale figures; the statistics files read back as notebook 04a's mapping."""
import contextlib
import io

import numpy as np
import pandas as pd
import pytest

from t2g2p2s.core import read_json, write_json
from t2g2p2s.core import run_command
from t2g2p2s.figures import (FIGURES, FigureInputs, MissingInput, fig_text2gloss_metrics, make_figures,
                             publish_figures, read_text2gloss_stats, stretching_counts, transition_example)
from t2g2p2s.lexicon import Lexicon, LexiconWriter
from t2g2p2s.text2gloss_data import Pair
from t2g2p2s.text2gloss_dgs import dataset_statistics, write_statistics

W, H = 640, 360


def body(T: int, g: int, seed: int) -> np.ndarray:
    "(T, 137, 3) frames: a still upper body whose right wrist moves along a gloss-dependent line; hands follow."
    rng = np.random.default_rng(seed)
    d = np.zeros((T, 137, 3), np.float32)
    for i, (x, y) in {0: (320, 100), 1: (320, 150), 2: (280, 155), 3: (265, 215), 5: (360, 155), 6: (375, 215), 8: (320, 300),
                      7: (390, 250)}.items():
        d[:, i] = (x, y, 0.9)
    s = np.linspace(0, 1, T)
    d[:, 4] = np.stack([240 + 40 * s * np.cos(g), 250 - 40 * s * np.sin(g), np.full(T, 0.9)], 1)
    for off, w in ((95, 7), (116, 4)):
        d[:, off:off + 21, :2] = d[:, w:w + 1, :2] + np.arange(21)[None, :, None] % 5 * 3
        d[:, off:off + 21, 2] = 0.8
    d[..., :2] += rng.normal(0, 0.3, d[..., :2].shape).astype(np.float32)
    d[d[..., 2] == 0] = 0
    return d


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> FigureInputs:
    root = tmp_path_factory.mktemp("run")
    # 04a: statistics of two datasets
    pairs = {"dgs": [Pair("Morgen regnet es.", ("MORGEN1", "REGEN1")), Pair("Es ist kalt im Norden.", ("KALT1", "NORD1", "REGEN1")),
                     Pair("Sonne.", ("SONNE1",))],
             "phoenix-train": [Pair("morgen regen", ("MORGEN", "REGEN")), Pair("im norden wind", ("NORD", "WIND", "WIND"))]}
    for name, p in pairs.items(): write_statistics(dataset_statistics(p), root / "stats" / name)
    # 05: a lexicon with sentences and a build report
    glosses = ["MORGEN1", "REGEN1", "KALT1", "NORD1"]
    lex = root / "lexicon"
    with LexiconWriter(lex, top_k=2) as w:
        for g, name in enumerate(glosses):
            for k in range(2):
                w.add(body(8 + 3 * g + k, g, 10 * g + k), name, quality=1.0 - 0.1 * k, fps=50.0, width=W, height=H,
                      type=name, transcript_id=f"t{k}", start_ms=1000 * g, end_ms=1000 * g + 200)
        sent = np.concatenate([body(10, 0, 1), body(12, 1, 2), body(9, 3, 3)])
        w.add_sentence(sent, "t0:A:0", transcript_id="t0", speaker="A", camera="a1", german="Morgen Regen Norden.",
                       glosses=["MORGEN1", "REGEN1", "NORD1"], gloss_hands=["r"] * 3, gloss_start_ms=[0, 200, 440],
                       gloss_end_ms=[200, 440, 620], start_ms=0, end_ms=620, first_frame=0, fps=50.0, width=W, height=H)
    write_json(lex / "build_report.json", {
        "out": str(lex), "n_transcripts": 2, "transcripts_failed": [], "problems": [], "span_counts": {}, "status_counts": {},
        "n_entries": 8, "n_glosses": 4, "lexicon_frames": 100, "lexicon_bytes": 100 * 1644, "n_sentences": 1, "sentence_frames": 31,
        "raw_bytes": 900_000, "raw_json_bytes": 2_000_000, "raw_frames": 1000, "span_frames": 300, "seconds": 1.0, "settings": {}})
    # 06: per-occurrence metrics (thesis and improved) and the thesis's table
    rng = np.random.default_rng(0)
    n = 40
    m = pd.DataFrame({"gloss": rng.choice(glosses, n), "gd": rng.integers(80, 600, n).astype(float),
                      "igt": rng.integers(0, 300, n).astype(float), "ogt": rng.integers(0, 300, n).astype(float),
                      "igt_structural": np.arange(n) % 4 == 0, "ogt_structural": np.arange(n) % 5 == 0})
    m["type"] = m.gloss
    m["tgt"] = m.igt + m.gd + m.ogt
    gt = root / "gloss-times"; gt.mkdir()
    m.to_parquet(gt / "raw_gloss_time_metrics.parquet"); m.to_parquet(gt / "improved_gloss_time_metrics.parquet")
    pd.DataFrame({"gloss": glosses, "median_igt": [100.0] * 4, "median_ogt": [120.0] * 4,
                  "median_gd": [400.0, 100.0, 0.0, 300.0]}).to_csv(gt / "thesis_gloss_times_for_frame_interpolation.csv", index=False)
    # 07: two evaluation files
    for model, split in (("mbart-sample", "phoenix/dev"), ("lora-tiny", "dgs/dev")):
        write_json(root / "text2gloss" / "models" / model / "eval-dev.json",
                   {"split": split, "config": {"direction": "text2gloss"},
                    "metrics": {"bleu4": 5.0, "chrf": 20.0, "rouge_l": 25.0, "wer": 80.0, "n": 10}})
    # 10: per-sentence results, summary settings, back-translation scores
    rows = []
    for i in range(6):
        for v, k in (("real", 0.0), ("thesis", 1.0), ("ours", 0.5)):
            rows.append({"sentence_id": f"s{i}", "variant": v, "status": "ok", "coverage": 1.0 if i else 0.5,
                         "dtw_mje": 0.1 * k * (1 + i), "duration_ratio": 1.0 - 0.1 * k + 0.01 * i, "ldlj_wrists": -10 - k - 0.1 * i,
                         "msj_wrists": 1e6 * (1 + 9 * k) * (1 + i), "ldlj_hands": -11 - k, "msj_hands": 2e6 * (1 + 9 * k) * (1 + i)})
    ev = root / "evaluation"; ev.mkdir()
    pd.DataFrame(rows).to_parquet(ev / "stitched_vs_real.parquet", index=False)
    write_json(ev / "evaluation_summary.json", {"settings": {"min_coverage": 0.75}})
    write_json(ev / "back_translation.json", {"scores": [{"variant": v, "decoder": d, "wer": w, "bleu": 10.0, "n": 5}
                                                          for v, w in (("real", 20.0), ("thesis", 40.0), ("ours", 30.0))
                                                          for d in ("given_spans", "sliding")]})
    # 10: the realism table and the per-sentence features it compares
    methods = (("real", 0.0), ("thesis", 1.0), ("ours", 0.2))
    pd.DataFrame([{"method": v, "sentence_id": f"s{i}", **{f"log_msj_{g}": 6.8 + k + 0.05 * i for g in ("wrists", "hands", "face")}}
                  for i in range(6) for v, k in methods]).to_parquet(ev / "realism_features.parquet", index=False)
    pd.DataFrame({"method": [v for v, _ in methods], "sentences": 6, "realism": [0.4, 1.5, 0.5], "rank": [np.nan, 2, 1],
                  "range_low": [0.3, 1.2, 0.4], "range_high": [0.5, 1.8, 0.6], "wrists": [0.4, 1.6, 0.5], "hands": [0.4, 1.4, 0.5],
                  "face": [0.3, 6.0, 5.0]}).to_csv(ev / "realism_table.csv", index=False)
    return FigureInputs(gt, lex, root / "stats", root / "text2gloss", ev)


def test_every_figure_is_made_with_sidecar_and_identical_on_rerun(inputs, tmp_path):
    # two runs with different run ids: the run id names a run, it must not change a figure's files
    reps = [make_figures(inputs, tmp_path / k, "test", {"seed": 0, "run_id": f"run-{k}"}, f"run-{k}", seed=0) for k in ("a", "b")]
    assert (reps[0].status == "made").all(), reps[0][reps[0].status != "made"]
    assert list(reps[0].figure) == list(FIGURES)
    for name in FIGURES:
        for ext in ("pdf", "png", "json"):
            a, b = (tmp_path / k / f"{name}.{ext}" for k in ("a", "b"))
            assert a.read_bytes() == b.read_bytes(), f"{name}.{ext} differs between two renderings"
        side = read_json(tmp_path / "a" / f"{name}.json")
        assert side["figure"] == name and side["inputs"] and side["reproduces"] and side["notebook"] == "test"
        assert "run_id" not in side and side["parameters"] == {"seed": 0} and side["git"]
        assert "CreationDate" not in (tmp_path / "a" / f"{name}.pdf").read_bytes().decode("latin-1")
    assert make_figures(inputs, tmp_path / "c", "test", {"seed": 1}, "t", names=["fig-90-stitched-vs-real"], seed=1).status.iloc[0] == "made"
    assert (tmp_path / "c" / "fig-90-stitched-vs-real.png").read_bytes() != (tmp_path / "a" / "fig-90-stitched-vs-real.png").read_bytes()


def test_sidecar_checksums_follow_the_inputs(inputs, tmp_path):
    make_figures(inputs, tmp_path, "test", {}, "t", names=["fig-90-stretching-pie"])
    side = read_json(tmp_path / "fig-90-stretching-pie.json")
    assert {k.rsplit("/", 1)[-1] for k in side["inputs"]} == {"index.parquet", "thesis_gloss_times_for_frame_interpolation.csv"}


def test_missing_input_names_the_notebook(inputs, tmp_path):
    import dataclasses
    empty = dataclasses.replace(inputs, text2gloss=tmp_path / "nothing", evaluation=None)
    rep = make_figures(empty, tmp_path / "out", "test", {}, "t").set_index("figure")
    assert rep.loc["fig-90-text2gloss-metrics-by-split", "status"] == "missing"
    assert "07c_text2gloss" in rep.loc["fig-90-text2gloss-metrics-by-split", "detail"]
    assert "10_evaluation" in rep.loc["fig-90-stitched-vs-real", "detail"] and "10_evaluation" in rep.loc["fig-90-realism", "detail"]
    assert (rep.drop(["fig-90-text2gloss-metrics-by-split", "fig-90-stitched-vs-real", "fig-90-smoothness-by-method",
                      "fig-90-realism"]).status == "made").all()
    assert not (tmp_path / "out" / "fig-90-stitched-vs-real.png").exists()
    with pytest.raises(MissingInput, match="07c_text2gloss"):
        fig_text2gloss_metrics(empty)
    with pytest.raises(Exception, match="unknown figure"):
        make_figures(inputs, tmp_path, names=["fig-nope"])


def test_statistics_read_back_as_04a_mapping(inputs):
    stats, used = read_text2gloss_stats(inputs.text2gloss_stats)
    assert list(stats) == ["dgs", "phoenix-train"] and len(used) == 10
    ref = dataset_statistics([Pair("Morgen regnet es.", ("MORGEN1", "REGEN1")), Pair("Es ist kalt im Norden.", ("KALT1", "NORD1", "REGEN1")),
                              Pair("Sonne.", ("SONNE1",))])
    for k in ("sentence_lengths", "gloss_sequence_lengths", "gloss_frequencies", "gloss_buckets"):
        assert dict(stats["dgs"][k]) == dict(ref[k]), k
    assert stats["dgs"]["gloss_detailed_metrics"]["unique_glosses"] == 5


def test_stretching_counts_and_transition_example(inputs):
    ix = pd.read_parquet(inputs.lexicon / "index.parquet")
    c = stretching_counts(ix, pd.read_csv(inputs.gloss_times / "thesis_gloss_times_for_frame_interpolation.csv"))
    # rank-1 lengths 8, 11, 14, 17 frames = 160, 220, 280, 340 ms against medians 400, 100, 0, 300
    assert c.to_dict() == {"will be stretched": 1, "long enough": 2, "no median (0 in the table)": 1}
    ex = transition_example(Lexicon.open(inputs.lexicon))
    assert ex["glosses"] in {("MORGEN1", "REGEN1"), ("REGEN1", "NORD1")} and len(ex["with"]) == len(ex["without"]) + 7
    seam = ex["seam"]
    assert np.allclose(ex["with"][:seam], ex["without"][:seam]) and np.allclose(ex["with"][seam + 7:], ex["without"][seam:])


def test_publish_copies_prunes_and_keeps_readme(inputs, tmp_path):
    src, dst = tmp_path / "run", tmp_path / "published"
    make_figures(inputs, src, "test", {}, "t", names=["fig-90-stretching-pie", "fig-90-data-size-reduction"])
    (src / "fig-05-from-a-stage.png").write_bytes(b"png"); (src / "notes.txt").write_text("not a figure")
    dst.mkdir(); (dst / "README.md").write_text("keep"); (dst / "fig-old.pdf").write_bytes(b"stale")
    r = publish_figures(src, dst)
    assert sorted(r["copied"]) == sorted(p.name for p in src.iterdir() if p.name.startswith("fig-")) and r["removed"] == ["fig-old.pdf"]
    assert (dst / "README.md").read_text() == "keep" and not (dst / "notes.txt").exists()
    assert publish_figures(src, dst)["copied"] == []
    buf = io.StringIO()
    with contextlib.redirect_stderr(buf):
        assert run_command("figures", ["--no-regenerate", "--src", str(src), "--dst", str(dst), "--no-prune"]) == 0
    assert "0 copied" in buf.getvalue()
    with pytest.raises(Exception, match="no figures"):
        publish_figures(tmp_path / "empty", dst)
