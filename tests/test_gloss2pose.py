"""Tests of t2g2p2s.gloss2pose: the engine (assembly records, no (0, 0) fly-ins, the thesis preset, validation), round
trips of every output, the MimicMotion config and the `translate` / `gloss2pose` commands (errors as exit status 2
with a message, no torch or pandas on the cold path). Everything runs on a small synthetic lexicon in tmp_path."""
import json
import subprocess
import sys

import numpy as np
import pytest
import yaml

from t2g2p2s.assembly import AssemblyConfig
from t2g2p2s.core import ConfigError, run_command
from t2g2p2s.gloss2pose import Gloss2Pose, mimicmotion_config, write_translation
from t2g2p2s.lexicon import INDEX_JSON, Lexicon
from t2g2p2s.matching import UnknownGlossError
from t2g2p2s.pipeline import main
from t2g2p2s.poses import OPENPOSE_137, Pose, read_openpose_folder, read_pose_file, read_skels

from synthetic import FakeEncoder, H, lex, times_csv, W, write_lexicon, write_times_csv  # noqa: F401 (fixtures)


def fly_in_count(p: Pose) -> int:
    return int(((p.data[..., 2] > 0) & (p.data[..., 0] < W / 5) & (p.data[..., 1] < H / 5)).sum())


# ------------------------------------------------------------------ the engine

def test_assembly_records_and_no_fly_ins(lex, times_csv):
    eng = Gloss2Pose(lex, times_csv, steps=("exact", "variant", "rule", "fuzzy", "fingerspelling"))
    tr = eng.translate("REGEN1 WOLKE2 GEHEN1 HAUS3 MÜLLER")
    p = tr.pose
    assert p.skeleton == OPENPOSE_137 and (p.width, p.height) == (W, H) and p.fps == 50
    ends = [r["end"] for r in tr.segments]
    assert [r["start"] for r in tr.segments] == [0] + ends[:-1] and ends[-1] == p.n_frames
    assert [r["kind"] for r in tr.segments][:3] == ["sign", "transition", "sign"]
    assert sum(r["kind"] == "letter" for r in tr.segments) == 6
    corner = (p.data[..., 2] > 0) & (p.data[..., 0] < W / 5) & (p.data[..., 1] < H / 5)
    assert not corner.any()
    rep = tr.report()
    assert list(rep.method) == ["exact", "exact", "exact", "variant", "fingerspelling"] and rep.frames.notna().all()


def test_thesis_preset_reproduces_its_defaults(lex):
    eng = Gloss2Pose.thesis(lex, times=None, encoder=FakeEncoder(), store_index=False)
    tr = eng.translate("REGEN1 WOLKE2 GEHEN1")
    trans = [r for r in tr.segments if r["kind"] == "transition"]
    assert [r["frames"] for r in trans] == [7, 7] and all("default" in r["why"] for r in trans)
    assert fly_in_count(tr.pose) > 0                           # REGEN1 ends without hands: they fly in from (0, 0)
    eng7 = Gloss2Pose(lex, None, AssemblyConfig(transition_frames="fixed", fixed_frames=7, duration="stretch"),
                      steps=("exact",))
    tr7 = eng7.translate("REGEN1 GEHEN1")
    assert tr7.segments[1]["frames"] == 7 and tr7.segments[0]["frames"] >= tr7.segments[0]["source_frames"]


def test_engine_validates(lex):
    with pytest.raises(ConfigError): Gloss2Pose(lex, None, AssemblyConfig(transition_frames="learned"))
    with pytest.raises(UnknownGlossError): Gloss2Pose(lex, None, steps=("exact",)).translate("NOPE1")


# ------------------------------------------------------------------ outputs

def test_round_trips_of_every_output(lex, times_csv, tmp_path):
    import imageio_ffmpeg
    tr = Gloss2Pose(lex, times_csv, steps=("exact",)).translate("HAUS1A WOLKE2")
    paths = write_translation(tr, tmp_path / "a.pose", tmp_path / "op", tmp_path / "a.skels", tmp_path / "a.mp4",
                              tmp_path / "a.yml", tmp_path / "a.json", video_size=(320, 180))
    assert read_pose_file(paths["pose"]).allclose(tr.pose)
    op = read_openpose_folder(paths["openpose"], fps=tr.pose.fps)
    assert op.n_frames == tr.pose.n_frames and np.allclose(op.data, tr.pose.data, atol=1e-3)
    sk = read_skels(paths["skels"])[0]
    assert sk.n_frames == tr.pose.n_frames and sk.n_points == 50
    assert abs(np.linalg.norm(sk.data[:, 2, :2] - sk.data[:, 5, :2], axis=1).mean() - 1 / 3) < 0.02
    rd = imageio_ffmpeg.read_frames(str(paths["video"]))
    meta = next(rd)
    assert meta["codec"] == "h264" and tuple(meta["size"]) == (320, 180) and sum(1 for _ in rd) == tr.pose.n_frames
    cfg = yaml.safe_load(paths["config"].read_text())["test_case"][0]
    assert cfg["num_frames"] <= tr.pose.n_frames and cfg["frames_overlap"] < cfg["num_frames"] and cfg["fps"] == 50
    rep = json.loads(paths["report"].read_text())
    assert [m["gloss"] for m in rep["matches"]] == ["HAUS1A", "WOLKE2"]
    assert not list(tmp_path.glob(".*.part*"))                # atomic writes leave nothing behind


def test_video_needs_even_size(lex, tmp_path):
    tr = Gloss2Pose(lex, None, steps=("exact",)).translate("HAUS1A")
    with pytest.raises(ConfigError): write_translation(tr, video_path=tmp_path / "odd.mp4", video_size=(321, 180))
    assert not (tmp_path / "odd.mp4").exists()


def test_mimicmotion_tile_never_exceeds_the_sequence():
    for n in (2, 3, 10, 71, 72, 73, 500):
        c = mimicmotion_config("v.mp4", "r.jpg", n, 50.0)["test_case"][0]
        assert 2 <= c["num_frames"] <= min(n, 72) and 0 <= c["frames_overlap"] < c["num_frames"]
    c = mimicmotion_config("v.mp4", "r.jpg", 100, 50.0, use_preprocessed_video_pose=False,
                           sample_stride=2)["test_case"][0]
    assert c["num_frames"] == 25 and c["fps"] == 12.5          # upstream strides 2 × int(50 / 24) = 4
    with pytest.raises(ConfigError): mimicmotion_config("v.mp4", "r.jpg", 1, 50.0)


# ------------------------------------------------------------------ the translate and gloss2pose commands

def run_translate(args, capsys):
    "(exit status, stdout, stderr) of `t2g2p2s translate ARGS`."
    rc = run_command("translate", args)
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_writes_outputs_and_json(lex, times_csv, tmp_path, capsys):
    rc, out, _ = run_translate(["--glosses", "HAUS1A,WOLKEN 4711", "--lexicon", str(lex.folder), "--times",
                                str(times_csv), "--out", str(tmp_path / "o.pose"), "--config", str(tmp_path / "o.yml"),
                                "--no-embedding", "--no-fingerspelling", "--json"], capsys)
    rep = json.loads(out)
    assert rc == 0 and [m["method"] for m in rep["matches"]] == ["exact", "fuzzy", "unknown"]
    assert read_pose_file(tmp_path / "o.pose").n_frames == rep["frames"] and (tmp_path / "o.yml").is_file()
    rc, out, err = run_translate(["--glosses", "HAUS1A,4711", "--lexicon", str(lex.folder), "--strict",
                                  "--no-embedding", "--no-fingerspelling", "--json"], capsys)
    assert rc == 2 and out == "" and "t2g2p2s translate: error:" in err and "4711" in err   # an unknown gloss
    rc, out, _ = run_translate(["--glosses", "REGEN1 GEHEN1", "--lexicon", str(lex.folder), "--thesis",
                                "--no-embedding", "--json"], capsys)
    assert rc == 0 and [r["frames"] for r in json.loads(out)["segments"] if r["kind"] == "transition"] == [7]


@pytest.mark.parametrize("args,match", [
    (["--glosses", "HAUS1A", "--lexicon", "{tmp}/nope", "--json"], "no such folder"),
    (["--glosses", "HAUS1A", "--lexicon", "{tmp}", "--json"], "not a lexicon"),
    (["--glosses", " , ", "--lexicon", "{lex}", "--json"], "empty input"),
    (["--glosses", "HAUS1A,<b>", "--lexicon", "{lex}", "--json"], "not a valid gloss"),
    (["--lexicon", "{lex}", "--json"], "no input"),
    (["--glosses", "HAUS1A", "--lexicon", "{lex}"], "nothing to write"),
])
def test_cli_errors(lex, tmp_path, capsys, args, match):
    args = [a.format(tmp=tmp_path, lex=lex.folder) for a in args]
    rc, out, err = run_translate(args, capsys)
    assert rc == 2 and out == "" and "t2g2p2s translate: error:" in err and match in err
    assert main(["translate", *args]) == 2
    assert "error" in capsys.readouterr().err


def test_gloss2pose_command_is_translate_for_glosses_only(lex, times_csv, tmp_path, capsys):
    common = ["--lexicon", str(lex.folder), "--glosses", "HAUS1A,REGEN1 GEHEN1", "--times", str(times_csv),
              "--no-embedding"]
    assert main(["gloss2pose", *common, "--out", str(tmp_path / "g.pose"), "--config", str(tmp_path / "g.yml")]) == 0
    assert main(["translate", *common, "--out", str(tmp_path / "t.pose")]) == 0
    g, t = read_pose_file(tmp_path / "g.pose"), read_pose_file(tmp_path / "t.pose")
    assert g.n_frames > 0 and np.array_equal(g.data, t.data) and (tmp_path / "g.yml").is_file()
    capsys.readouterr()
    assert main(["gloss2pose", "Morgen regnet es.", "--lexicon", str(lex.folder), "--json"]) == 2   # translate's job
    assert "--glosses" in capsys.readouterr().err
    assert main(["gloss2pose", "--glosses", "HAUS1A", "--lexicon", str(lex.folder), "--model", "x", "--json"]) == 2
    assert "--model" in capsys.readouterr().err                # no Text2Gloss options on gloss2pose


def test_cold_cli_does_not_import_torch(lex, tmp_path):
    assert (lex.folder / INDEX_JSON).is_file()                 # the reader's index, written with the lexicon
    code = ("import sys; from t2g2p2s.pipeline import main; "
            f"rc = main(['translate', '--glosses', 'HAUS1A,HAUS3,WOLKEN', '--lexicon', {str(lex.folder)!r}, "
            f"'--out', {str(tmp_path / 'c.pose')!r}]); "
            "bad = [m for m in ('torch', 'sentence_transformers', 'transformers', 'imageio_ffmpeg', 'pandas', 'scipy') "
            "if m in sys.modules]; "
            "assert rc == 0 and not bad, (rc, bad)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / "c.pose").is_file()
