"""Tests of t2g2p2s.lexicon: the quality score, store round trips, the one reader (`Lexicon`: its index.json written,
rebuilt when missing or stale, a read-only folder still opens, no pandas to read a pose), spoken-to-signed
export/import, the thesis-dictionary importer (streamed, bad input named) and the `lexicon info`, `export-s2s`,
`import-s2s` and `import-thesis` commands. Everything is written in tmp_path."""
import gzip
import json
import math
import os
import re
import shutil
import stat
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import t2g2p2s.lexicon as lexicon_module
from t2g2p2s.core import ConfigError, DataError, data_dir, run_command
from t2g2p2s.gloss2pose import Gloss2Pose
from t2g2p2s.lexicon import (ENTRY_COLUMNS, FRAME_BYTES, INDEX_CSV_COLUMNS, INDEX_JSON, THESIS_ARRAYS, THESIS_BODY13,
                             Entry, Lexicon, LexiconError, LexiconWriter, export_spoken_to_signed,
                             import_spoken_to_signed, import_thesis_dictionary, iter_thesis_dictionary,
                             quality_components)
from t2g2p2s.poses import OPENPOSE_137

from synthetic import FakeEncoder, GLOSSES, H, lex, signer, W, write_lexicon  # noqa: F401 (fixtures)


def camera_frame(f: int, conf: float = 0.9) -> np.ndarray:
    "A (137, 3) frame of camera a1 whose values name the frame (multiples of 1/4: exact in float32 and JSON)."
    a = np.zeros((137, 3), np.float64)
    a[:, 0] = 100.0 + f
    a[:, 1] = 50.0 + np.arange(137)
    a[:, 2] = conf
    return a


def frames(f0: int, f1: int) -> np.ndarray:
    return np.stack([camera_frame(f) for f in range(f0, f1)]).astype(np.float32)


def parquet_entries(folder) -> list[Entry]:
    "The entries as index.parquet holds them (missing values as None), read with pandas."
    ix = pd.read_parquet(folder / "index.parquet")
    return [Entry(*(None if pd.isna(r[c]) else r[c] for c in ENTRY_COLUMNS)) for _, r in ix.iterrows()]


# ---------------------------------------------------------------- the quality score (thesis-spec §10 item 14)

def test_quality_components_formula():
    a = frames(0, 10)
    q = quality_components(a, "r", 200, 200)
    assert q["present"] == 1 and q["hand_visible"] == 1 and q["duration_score"] == 1
    assert q["quality"] == pytest.approx(0.25 * 0.9 + 0.25 * 0.9 + 0.5 * 1.0, abs=1e-6)
    a[:5] = 0                                                              # half the frames missing
    assert quality_components(a, "r", 200, 200)["quality"] == pytest.approx(0.5 * q["quality"], abs=1e-6)
    assert quality_components(a, "r", 400, 200)["duration_score"] == pytest.approx(math.exp(-0.5), abs=1e-9)
    b = a.copy(); b[:, 116:137, 2] = 0; b[b[..., 2] == 0, :2] = 0                # right hand gone, left hand fine
    assert quality_components(b, "r", 200, 200)["hand_visible"] == 0
    assert quality_components(b, "l", 200, 200)["hand_visible"] == 1


# ---------------------------------------------------------------- the store

def test_writer_top_k_matches_sorting(tmp_path):
    rng = np.random.default_rng(1)
    offered = [(g, float(q)) for g in ("A1", "B1", "C1") for q in rng.random(9)]
    rng.shuffle(offered)
    with LexiconWriter(tmp_path / "lx", top_k=3) as w:
        for i, (g, q) in enumerate(offered):
            w.add(np.full((2 + i % 3, 137, 3), q, np.float32), g, quality=q, fps=50.0, width=W, height=H)
    lex = Lexicon.open(tmp_path / "lx")
    for g in ("A1", "B1", "C1"):
        want = sorted((q for gg, q in offered if gg == g), reverse=True)[:3]
        got = [e.quality for e in lex.entries(g)]
        assert got == want
        assert [float(lex.pose(e.entry_id).data[0, 0, 0]) for e in lex.entries(g)] == [np.float32(q) for q in want]
    assert lex.meta["n_frames"] * FRAME_BYTES == (tmp_path / "lx" / "frames.f32").stat().st_size
    assert list(lex.index.entry_id) == list(range(len(lex))) and lex.glosses == ["A1", "B1", "C1"]


def test_in_order_writer_writes_the_index_in_batches(tmp_path, monkeypatch):
    """Entries offered in the store's order to an `in_order` writer (index rows written two at a time) give the store
    the ranking writer gives for all offers: the same index, frames, index.json text and meta; offers out of order or
    beyond top_k are refused by name; index.json is the text `write_json` gives for the whole index."""
    from t2g2p2s.core import to_json, read_json
    monkeypatch.setattr(lexicon_module, "INDEX_BATCH", 2)
    rng = np.random.default_rng(3)
    offered = [(g, float(q), i) for i, (g, q) in enumerate((g, q) for g in ("Ä1", "B1", "C1^") for q in rng.random(5))]
    offered.append(("D1", float("nan"), len(offered)))                   # no score: ranked last, still kept
    extra = lambda g, q, i: dict(fps=50.0 if i % 4 else 25.0, width=W, height=H, hand="r" if i % 2 else None,
                                 speaker=None if i % 3 else "A")
    with LexiconWriter(tmp_path / "ranked", top_k=3) as w:
        for g, q, i in offered: w.add(np.full((2 + i % 3, 137, 3), i, np.float32), g, quality=q, **extra(g, q, i))
    chosen = sorted(offered, key=lambda o: (o[0].replace("^", ""), -(o[1] if o[1] == o[1] else -np.inf)))
    kept = [o for k, o in enumerate(chosen) if sum(c[0] == o[0] for c in chosen[:k]) < 3]
    with LexiconWriter(tmp_path / "in_order", top_k=3, in_order=True) as w:
        for g, q, i in kept:
            w.add(np.full((2 + i % 3, 137, 3), i, np.float32), g, quality=q, **extra(g, q, i))
            assert len(w._index_rows) < 2
    a, b = tmp_path / "ranked", tmp_path / "in_order"
    pd.testing.assert_frame_equal(pd.read_parquet(b / "index.parquet"), pd.read_parquet(a / "index.parquet"))
    assert (b / "frames.f32").read_bytes() == (a / "frames.f32").read_bytes()
    ma, mb = read_json(a / "meta.json"), read_json(b / "meta.json")
    assert {**ma, "n_offered": 0} == {**mb, "n_offered": 0} and mb["n_glosses"] == 4 and mb["fps"] == [25.0, 50.0]
    assert read_json(b / INDEX_JSON)["columns"] == read_json(a / INDEX_JSON)["columns"]
    ix = pd.read_parquet(b / "index.parquet")
    whole = {c: [lexicon_module._plain(x) for x in (ix[c].tolist() if c in ix else [None] * len(ix))]
             for c in ENTRY_COLUMNS}
    key = lexicon_module._index_key(b, mb)
    assert (b / INDEX_JSON).read_text(encoding="utf-8") == to_json({"key": key, "columns": whole})
    assert Lexicon.open(b).entries("D1")[0].quality is None
    with LexiconWriter(tmp_path / "empty", in_order=True): pass
    assert len(Lexicon.open(tmp_path / "empty")) == 0
    assert read_json(tmp_path / "empty" / INDEX_JSON)["columns"]["gloss"] == []
    for bad, msg in (([("B1", 0.5), ("A1", 0.9)], "'A1'.*offered after 'B1'"),
                     ([("A1", 0.5), ("A1", 0.9)], "best first"),
                     ([("A1", 0.9)] * 4, "more than top_k=3 entries of 'A1'")):
        with pytest.raises(LexiconError, match=msg):
            with LexiconWriter(tmp_path / "bad", top_k=3, in_order=True) as w:
                for g, q in bad: w.add(np.zeros((2, 137, 3), np.float32), g, quality=q)
        assert not (tmp_path / "bad").exists()


def test_writer_failure_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with LexiconWriter(tmp_path / "lx", top_k=1) as w:
            w.add(np.zeros((3, 137, 3), np.float32), "A1", quality=1.0)
            raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(LexiconError): LexiconWriter(tmp_path / "ly").add(np.zeros((3, 10, 3)), "A1", quality=1.0)


def test_open_rejects_inconsistent_store(tmp_path):
    with LexiconWriter(tmp_path / "lx") as w: w.add(np.zeros((3, 137, 3), np.float32), "A1", quality=1.0, fps=50.0)
    with open(tmp_path / "lx" / "frames.f32", "ab") as f: f.write(b"\0" * 8)
    with pytest.raises(LexiconError, match="bytes"): Lexicon.open(tmp_path / "lx")
    with pytest.raises(LexiconError, match="meta.json"): Lexicon.open(tmp_path)
    with pytest.raises(LexiconError, match="^" + re.escape(f"lexicon {tmp_path / 'nope'}: no such folder")):
        Lexicon.open(tmp_path / "nope")


# ---------------------------------------------------------------- the reader and its index.json

def test_entries_are_records_best_rank_first(lex):
    e = lex.entries("HAUS1A")
    assert isinstance(e, list) and all(isinstance(x, Entry) for x in e) and [x.rank for x in e] == [1, 2]
    assert e[0] == lex.entry(e[0].entry_id) and e[0].quality >= e[1].quality and e[0].gloss == "HAUS1A"
    assert lex.best("HAUS1A") == lex.pose(e[0].entry_id) and lex.pose(e[0].entry_id).n_frames == e[0].length
    assert lex.entries("NOPE1") == [] and "HAUS1A" in lex and "NOPE1" not in lex
    assert lex.glosses == sorted(GLOSSES) and len(lex) == 2 * len(GLOSSES)
    with pytest.raises(KeyError): lex.entry(len(lex))


def test_missing_index_json_is_rebuilt_from_index_parquet(lex, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(lex.folder, folder)
    assert (folder / INDEX_JSON).is_file()                    # written with the lexicon
    (folder / INDEX_JSON).unlink()
    lx = Lexicon.open(folder)
    assert (folder / INDEX_JSON).is_file()                    # written again on first open
    assert [lx.entry(i) for i in range(len(lx))] == parquet_entries(folder)
    assert lx.glosses == lex.glosses and len(lx) == len(lex)
    for e in range(len(lex)): assert lx.pose(e) == lex.pose(e)
    assert lx.entries("HAUS1A") == lex.entries("HAUS1A") and lx.best("HAUS1A") == lex.best("HAUS1A")
    assert Lexicon.open(folder).table == lx.table             # read back from index.json: the same table


def test_stale_index_json_is_not_trusted(lex, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(lex.folder, folder)
    old = (folder / INDEX_JSON).read_bytes()
    with LexiconWriter(folder, top_k=1) as w:                  # the lexicon is rebuilt ...
        w.add(signer(5), "NEU1", quality=1.0, fps=50.0, width=W, height=H)
    (folder / INDEX_JSON).write_bytes(old)                    # ... and an old index.json put back
    lx = Lexicon.open(folder)
    assert lx.glosses == ["NEU1"] and len(lx) == 1 and lx.best("NEU1").n_frames == 5
    assert (folder / INDEX_JSON).read_bytes() != old
    ix = pd.read_parquet(folder / "index.parquet")            # index.parquet changed in place: index.json is stale
    ix["gloss"] = pd.Series(["NEU2"], dtype="string")
    ix.to_parquet(folder / "index.parquet", index=False)
    lx = Lexicon.open(folder)
    assert lx.glosses == ["NEU2"] and lx.entries("NEU2")[0].gloss == "NEU2"
    assert [lx.entry(i) for i in range(len(lx))] == parquet_entries(folder)


def test_read_only_lexicon_without_index_json_opens(lex, tmp_path, monkeypatch):
    folder = tmp_path / "copy"
    shutil.copytree(lex.folder, folder)
    (folder / INDEX_JSON).unlink()
    if os.geteuid() == 0:                                     # root writes into read-only folders: refuse it here
        def read_only(folder):
            raise PermissionError(f"{folder}: read-only")
        monkeypatch.setattr(lexicon_module, "write_index_json", read_only)
    mode = folder.stat().st_mode
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)
    try:
        lx = Lexicon.open(folder)
        assert not (folder / INDEX_JSON).exists()
        assert [lx.entry(i) for i in range(len(lx))] == [lex.entry(i) for i in range(len(lex))]
        assert lx.glosses == lex.glosses and lx.best("WOLKE2") == lex.best("WOLKE2")
    finally:
        folder.chmod(mode)


def test_opening_and_reading_a_pose_does_not_import_pandas(lex, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(lex.folder, folder)
    code = ("import sys; from t2g2p2s.lexicon import Lexicon; "
            f"lx = Lexicon.open({str(folder)!r}); e = lx.entries('HAUS1A'); p = lx.best('HAUS1A'); "
            "q = lx.pose(e[1].entry_id); "
            "assert p.n_frames == e[0].length and q.n_frames == e[1].length and 'HAUS1A' in lx; "
            "bad = [m for m in ('pandas', 'pyarrow', 'scipy', 'torch') if m in sys.modules]; "
            "assert not bad, bad")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]


# ---------------------------------------------------------------- spoken-to-signed

def test_spoken_to_signed_roundtrip(tmp_path):
    with LexiconWriter(tmp_path / "lex", top_k=3) as w:           # speaker A's spans at 50 fps, camera a1
        for f0, f1, g, q in ((5, 15, "HAUS1A*", 0.9), (20, 28, "HAUS1A*", 0.8), (35, 40, "$INDEX1", 0.9)):
            w.add(frames(f0, f1), g, quality=q, fps=50.0, width=W, height=H, type=g, transcript_id="T1",
                  speaker="A", camera="a1", hand="r", start_ms=f0 * 20, end_ms=f1 * 20, source="test")
    lex = Lexicon.open(tmp_path / "lex")
    out = export_spoken_to_signed(lex, tmp_path / "s2s")
    idx = pd.read_csv(out / "index.csv", dtype=str, keep_default_na=False)
    assert tuple(idx.columns) == INDEX_CSV_COLUMNS and len(idx) == 3
    assert set(idx.words) == {"haus", ""} and sorted(idx.priority) == ["0", "0", "1"]
    back = import_spoken_to_signed(out, tmp_path / "back")
    assert back.glosses == lex.glosses
    for g in lex.glosses:
        pairs = zip(lex.entries(g), back.entries(g))
        assert [lex.pose(e.entry_id) == back.pose(b.entry_id) for e, b in pairs] == [True] * len(lex.entries(g))


def test_import_real_fingerspelling_lexicon(tmp_path):
    lex = import_spoken_to_signed(data_dir() / "fingerspelling-gsg", tmp_path / "fs")
    src = pd.read_csv(data_dir() / "fingerspelling-gsg" / "index.csv", dtype=str)
    assert len(lex) == len(src) == 30 and set(lex.glosses) == set(src.glosses)
    p = lex.best("A")
    assert p.skeleton == OPENPOSE_137 and p.fps == 30 and (p.width, p.height) == (500, 500)
    assert p.mask[:, :25].mean() > 0.5 and p.mask[:, 95:].any()                     # body and hand points present
    assert lex.index.source.str.startswith("spoken-to-signed").all()


# ---------------------------------------------------------------- thesis dictionary import

def write_thesis_dict(path, entries, compact=True, gz=False):
    text = json.dumps(entries, separators=(",", ":") if compact else None, indent=None if compact else 2,
                      ensure_ascii=False)
    with (gzip.open(path, "wt", encoding="utf-8") if gz else open(path, "w", encoding="utf-8")) as f: f.write(text)


def thesis_frames(d: np.ndarray) -> list:
    n = d.astype(np.float64).copy(); n[..., 0] /= W; n[..., 1] /= H
    return [{k: n[t, idx].ravel().tolist() for k, idx in THESIS_ARRAYS} for t in range(len(n))]


@pytest.mark.parametrize("gz,compact", [(False, True), (True, False)])
def test_import_thesis_dictionary_streamed(tmp_path, gz, compact):
    src = {"HAUS1A": signer(7, seed=1), "GEHEN1": signer(5, seed=2), "ÄRGER1": signer(3, seed=3)}
    entries = {g: thesis_frames(d) for g, d in src.items()}
    entries["LEER1"] = []
    bad = thesis_frames(signer(2))
    bad[1]["pose_keypoints_2d"] = bad[1]["pose_keypoints_2d"][:27]     # the thesis's double-normalisation defect
    entries["KAPUTT1"] = bad
    path = tmp_path / ("d.json.gz" if gz else "d.json")
    write_thesis_dict(path, entries, compact, gz)
    assert [g for g, _ in iter_thesis_dictionary(path, chunk_size=64)] == list(entries)   # tiny chunks: every boundary
    times = tmp_path / "t.csv"
    pd.DataFrame({"gloss": ["HAUS1A"], "median_igt": [140], "median_ogt": [160],
                  "median_gd": [400]}).to_csv(times, index=False)
    s = import_thesis_dictionary(path, tmp_path / "lex", times)
    assert s["glosses"] == 3 and s["frames"] == 15 and {x["gloss"] for x in s["skipped"]} == {"LEER1", "KAPUTT1"}
    assert any("frame 1" in x["reason"] for x in s["skipped"])
    lx = Lexicon.open(tmp_path / "lex")
    kept = np.r_[THESIS_BODY13, 25:137]
    for g, d in src.items():
        got = lx.best(g).data
        assert got.shape == d.shape and np.allclose(got[:, kept], d[:, kept], atol=1e-2)
        assert not got[:, [i for i in range(25) if i not in THESIS_BODY13]].any()
    eng = Gloss2Pose.thesis(lx, encoder=FakeEncoder(), store_index=False)    # the times stored with the lexicon
    assert eng.times.thesis and eng.times.lookup("HAUS1A")[0] == 400


def test_import_thesis_errors(tmp_path):
    p = tmp_path / "trunc.json"
    p.write_text('{"HAUS1A": [{"pose_keypoints_2d": [0.1, 0.2')
    with pytest.raises(DataError, match="trunc.json"): list(iter_thesis_dictionary(p))
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(DataError, match="list.json"): list(iter_thesis_dictionary(tmp_path / "list.json"))
    with pytest.raises(ConfigError): import_thesis_dictionary(tmp_path / "missing.json", tmp_path / "out")
    with pytest.raises(ConfigError): import_thesis_dictionary(p, tmp_path / "out", tmp_path / "no-times.csv")
    assert not (tmp_path / "out").exists()


def test_import_thesis_command(tmp_path, capsys):
    write_thesis_dict(tmp_path / "d.json", {"HAUS1A": thesis_frames(signer(4))})
    assert run_command("lexicon import-thesis", [str(tmp_path / "d.json"), "--out", str(tmp_path / "lex")]) == 0
    assert json.loads(capsys.readouterr().out)["glosses"] == 1 and Lexicon.open(tmp_path / "lex").glosses == ["HAUS1A"]
    assert run_command("lexicon import-thesis", [str(tmp_path / "missing.json"), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "t2g2p2s lexicon import-thesis: error:" in err and "missing.json" in err and not (tmp_path / "x").exists()


# ---------------------------------------------------------------- the info, export-s2s and import-s2s commands

def test_info_export_and_import_commands(tmp_path, capsys):
    with LexiconWriter(tmp_path / "lex", top_k=2) as w:
        for i, g in enumerate(("HAUS1A", "HAUS1A", "HAUS1A", "REGEN1")):
            w.add(signer(6 + i, seed=i), g, quality=1.0 - 0.1 * i, fps=50.0, width=W, height=H)
        for s in range(3):
            w.add_sentence(signer(12, seed=10 + s), f"T1:A:{s}", transcript_id="T1", speaker="A", german="Satz.",
                           glosses=["HAUS1A", "REGEN1"], fps=50.0, width=W, height=H)
    assert run_command("lexicon info", [str(tmp_path / "lex")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["n_entries"] == len(Lexicon.open(tmp_path / "lex")) == 3 and info["top_k"] == 2
    assert info["n_sentences"] == 3 and info["entries_per_gloss"] == {"1": 1, "2": 1}
    assert run_command("lexicon export-s2s", [str(tmp_path / "lex"), str(tmp_path / "s2s")]) == 0
    assert run_command("lexicon import-s2s", [str(tmp_path / "s2s"), str(tmp_path / "back")]) == 0
    assert len(Lexicon.open(tmp_path / "back")) == info["n_entries"]
    capsys.readouterr()
    assert run_command("lexicon info", [str(tmp_path / "nope")]) == 2
    assert f"t2g2p2s lexicon info: error: lexicon {tmp_path / 'nope'}" in capsys.readouterr().err


def test_sentence_table_is_written_in_batches(tmp_path, monkeypatch):
    """The writer holds at most SENTENCE_BATCH sentence rows; the table written batch by batch (the first batch with
    only empty lists and a missing column) reads back as the rows written all at once."""
    import pandas as pd
    import t2g2p2s.lexicon as L
    monkeypatch.setattr(L, "SENTENCE_BATCH", 3)
    rows = []
    for s in range(8):
        cols = dict(transcript_id="T1", speaker="A", german=f"Satz {s}.", glosses=["HAUS1A", "REGEN1"][: s // 3],
                    gloss_start_ms=[0, 400][: s // 3], fps=50.0, width=W, height=H)
        if s < 3: cols.pop("german")
        rows.append((f"T1:A:{s}", cols))
    with LexiconWriter(tmp_path / "lex") as w:
        w.add(signer(6), "HAUS1A", quality=0.9, fps=50.0, width=W, height=H)
        for sid, cols in rows:
            w.add_sentence(signer(5 + int(sid[-1])), sid, **cols)
            assert len(w._sent_rows) < 3
    got = Lexicon.open(tmp_path / "lex").sentences
    want = L._typed([dict(c, sentence_id=sid) for sid, c in rows], L.SENTENCE_INDEX_COLUMNS)
    assert len(got) == 8 and Lexicon.open(tmp_path / "lex").meta["n_sentences"] == 8
    assert got.sentence_id.tolist() == want.sentence_id.tolist() and got.german.isna().sum() == 3
    assert [list(g) for g in got.glosses] == [list(g) for g in want.glosses]
    assert [list(g) for g in got.gloss_start_ms] == [[], [], [], [0], [0], [0], [0, 400], [0, 400]]
    assert got.start.tolist() == [sum(5 + i for i in range(s)) for s in range(8)]
    assert pd.api.types.is_integer_dtype(got.start) and pd.api.types.is_float_dtype(got.fps)
