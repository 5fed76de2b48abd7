"""The sample corpus (nbs/01b_sample_transcripts.ipynb, nbs/01c_sample_corpus.ipynb): determinism, the portal/ELAN/SRT/OpenPose formats, every
corpus convention, the motions, and the HTTP server. Everything is read back from the files, not from the summary."""
import gzip
import http.client
import json
import re
import urllib.parse
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import requests
from bs4 import BeautifulSoup

from t2g2p2s import corpus_poses, poses
from t2g2p2s.core import ConfigError, read_json, sha256_file
from t2g2p2s.glosses import gloss_key as motion_key, portal_type as gloss_type
from t2g2p2s.sample_corpus import (CAMERAS, FRAME_MS, HEIGHT, WIDTH, base_motion, build_sample_corpus,
                                   load_motion_clips, serve_corpus)
from t2g2p2s.sample_transcripts import dgs_style_glosses, eaf_tier_names, recase_sentence, restore_umlauts

N = 8


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample-corpus") / "corpus"
    summary = build_sample_corpus(out, seed=0, n_transcripts=N)
    return out, summary


def _ids(out):
    return sorted(p.stem for p in (out / "eaf").glob("*.eaf"))


def _tiers(path):
    doc = ET.parse(path).getroot()
    ts = {s.get("TIME_SLOT_ID"): int(s.get("TIME_VALUE")) for s in doc.iter("TIME_SLOT")}
    tiers = {}
    for t in doc.iter("TIER"):
        anns = []
        for a in t.iter("ALIGNABLE_ANNOTATION"):
            anns.append((ts[a.get("TIME_SLOT_REF1")], ts[a.get("TIME_SLOT_REF2")], a.findtext("ANNOTATION_VALUE"), a.get("ANNOTATION_ID")))
        for a in t.iter("REF_ANNOTATION"):
            anns.append((a.get("ANNOTATION_REF"), None, a.findtext("ANNOTATION_VALUE"), a.get("ANNOTATION_ID")))
        tiers[t.get("TIER_ID")] = anns
    return doc, tiers


SRT_TIME = re.compile(r"^(\d\d):(\d\d):(\d\d),(\d\d\d) --> (\d\d):(\d\d):(\d\d),(\d\d\d)$")


def _ms(h, m, s, f):
    return ((int(h) * 60 + int(m)) * 60 + int(s)) * 1000 + int(f)


def _srt(path):
    "[(index, start, end, [lines])] with strict checks of the block layout."
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n") and "\r" not in text
    blocks = []
    for raw in text.strip("\n").split("\n\n"):
        lines = raw.split("\n")
        assert len(lines) >= 3, (path.name, raw)
        m = SRT_TIME.match(lines[1])
        assert m, (path.name, lines[1])
        g = m.groups()
        blocks.append((int(lines[0]), _ms(*g[:4]), _ms(*g[4:]), lines[2:]))
    return blocks


# --- determinism -----------------------------------------------------------------------------------------------

def test_rebuild_with_same_seed_is_byte_identical(corpus, tmp_path):
    out, _ = corpus
    again = tmp_path / "again"
    build_sample_corpus(again, seed=0, n_transcripts=N)
    assert (out / "MANIFEST.json").read_bytes() == (again / "MANIFEST.json").read_bytes()
    files_a = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(again).as_posix() for p in again.rglob("*") if p.is_file())
    assert files_a == files_b
    for rel in files_a:
        assert (out / rel).read_bytes() == (again / rel).read_bytes(), rel


def test_other_seed_changes_the_corpus(tmp_path):
    a = build_sample_corpus(tmp_path / "a", seed=0, n_transcripts=2)
    b = build_sample_corpus(tmp_path / "b", seed=1, n_transcripts=2)
    ma, mb = read_json(tmp_path / "a" / "MANIFEST.json"), read_json(tmp_path / "b" / "MANIFEST.json")
    assert ma != mb and [t["id"] for t in a["transcripts"]] != [t["id"] for t in b["transcripts"]]
    sa = {p.read_text(encoding="utf-8") for p in (tmp_path / "a" / "srt").glob("*_de.srt")}
    sb = {p.read_text(encoding="utf-8") for p in (tmp_path / "b" / "srt").glob("*_de.srt")}
    assert not sa & sb


def test_manifest_lists_every_file_with_its_checksum(corpus):
    out, summary = corpus
    manifest = read_json(out / "MANIFEST.json")
    on_disk = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert sorted([*manifest, "MANIFEST.json"]) == on_disk == summary["files"]
    for rel, meta in manifest.items():
        assert sha256_file(out / rel) == meta["sha256"] and (out / rel).stat().st_size == meta["size"], rel
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert "NOT the real signs" in readme and "PHOENIX" in readme


def test_rebuild_removes_files_of_an_earlier_build_only(tmp_path):
    out = tmp_path / "c"
    build_sample_corpus(out, seed=0, n_transcripts=3)
    (out / "mine.txt").write_text("user file")
    old = set(read_json(out / "MANIFEST.json"))
    build_sample_corpus(out, seed=1, n_transcripts=2)
    new = set(read_json(out / "MANIFEST.json"))
    for rel in old - new: assert not (out / rel).exists(), rel
    assert (out / "mine.txt").read_text() == "user file"


# --- the portal pages ------------------------------------------------------------------------------------------

def test_start_page_like_the_portal(corpus):
    out, summary = corpus
    for lang in ("de", "en"):
        soup = BeautifulSoup((out / "ling" / f"start-name_{lang}.html").read_text(encoding="utf-8"), "html.parser")
        table = soup.find("table")
        head = [th.get_text(strip=True) for th in table.find_all("th")]
        assert {"Video A", "Video B", "SRT", "ELAN", "OpenPose"} <= set(head)
        assert ("Transkript" if lang == "de" else "Transcript") in head
        rows = table.find_all("tr")[1:]
        assert len(rows) == N
        no_op = 0
        for tr in rows:
            cells = tr.find_all("td")
            links = {h: (c.a["href"] if c.a else None) for h, c in zip(head, cells)}
            for h in ("SRT", "ELAN"):
                assert links[h].startswith("../")
                assert (out / "ling" / links[h]).resolve().is_file(), links[h]
            assert links["SRT"].endswith(f"_{lang}.srt")
            if links["OpenPose"] is None: no_op += 1
            else: assert (out / "ling" / links["OpenPose"]).resolve().is_file()
        assert no_op == 1
    missing = out / "openpose" / f"{summary['no_openpose']}_openpose.json.gz"
    assert not missing.exists() and (out / "eaf" / f"{summary['no_openpose']}.eaf").exists()


def test_types_page_lists_every_gloss_type(corpus):
    out, _ = corpus
    soup = BeautifulSoup((out / "ling" / "types_de.html").read_text(encoding="utf-8"), "html.parser")
    types = set()
    for p in soup.select("div.textWrapper p"):
        m = re.match(r"^[^\s(]+", p.get_text().strip())   # the thesis's rule: leading token up to whitespace or (
        types.add(m.group(0))
        assert p.find("a").get_text() == m.group(0)
    used = set()
    for f in (out / "eaf").glob("*.eaf"):
        _, tiers = _tiers(f)
        used |= {gloss_type(v) for n, anns in tiers.items() if n.startswith("Lexem_Gebärde_") for _, _, v, _ in anns}
    assert used == types
    assert any(t.endswith("^") for t in types) and not any("*" in t or ":" in t for t in types)


# --- ELAN --------------------------------------------------------------------------------------------------------

def test_eaf_has_the_corpus_tiers_and_is_consistent(corpus):
    out, _ = corpus
    for f in (out / "eaf").glob("*.eaf"):
        doc, tiers = _tiers(f)
        assert doc.tag == "ANNOTATION_DOCUMENT" and doc.get("FORMAT") == "3.0" and doc.get("AUTHOR") == "meinedgs.de"
        assert f.read_bytes().startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
        head = doc.find("HEADER")
        assert head.get("TIME_UNITS") == "milliseconds" and len(head.findall("MEDIA_DESCRIPTOR")) == 3
        assert head.find("LINKED_FILE_DESCRIPTOR").get("LINK_URL") == f"../cmdi/{f.stem}.cmdi"
        assert list(tiers) == eaf_tier_names()
        for x in "AB":
            for h in "rl":
                lex = tiers[f"Lexem_Gebärde_{h}_{x}"]
                dep = tiers[f"Gebärde_{h}_{x}"]
                assert [d[0] for d in dep] == [a[3] for a in lex] and [d[2] for d in dep] == [a[2] for a in lex]
                assert all(a < b and a % FRAME_MS == 0 and b % FRAME_MS == 0 for a, b, _, _ in lex)
            assert tiers[f"Deutsche_Übersetzung_{x}"] and tiers[f"Lexem_Gebärde_r_{x}"]
            assert not tiers[f"Translation_into_English_{x}"]       # the sample has no English translations
        types = {t.get("LINGUISTIC_TYPE_ID") for t in doc.iter("LINGUISTIC_TYPE")}
        assert {t.get("LINGUISTIC_TYPE_REF") for t in doc.iter("TIER")} <= types
        assert {c.get("STEREOTYPE") for c in doc.iter("CONSTRAINT")} >= {"Symbolic_Association", "Time_Subdivision"}
        ids = [a.get("ANNOTATION_ID") for a in doc.iter() if a.tag.endswith("_ANNOTATION")]
        assert len(ids) == len(set(ids)) and int(head.find("PROPERTY").text) == len(ids)


# --- SRT ---------------------------------------------------------------------------------------------------------

def test_srt_blocks_parse_and_match_the_eaf(corpus):
    out, _ = corpus
    for tid in _ids(out):
        de, en = _srt(out / "srt" / f"{tid}_de.srt"), _srt(out / "srt" / f"{tid}_en.srt")
        _, tiers = _tiers(out / "eaf" / f"{tid}.eaf")
        for blocks in (de, en):
            assert [b[0] for b in blocks] == list(range(1, len(blocks) + 1))
            assert all(a <= b for _, a, b, _ in blocks)
            assert [b[1] for b in blocks] == sorted(b[1] for b in blocks)
            assert all(re.match(r"^[ABC]: \S", line) for b in blocks for line in b[3])
        sentences = {(a, b, f"{x}: {v}") for x in "AB" for a, b, v, _ in tiers[f"Deutsche_Übersetzung_{x}"]}
        assert sentences <= {(a, b, line) for _, a, b, lines in de for line in lines}
        en_lines = [line for _, _, _, lines in en for line in lines]
        assert not any(line.startswith("C:") for line in en_lines)
        assert not {line for _, _, line in sentences} & set(en_lines)
        # every gloss of the ELAN file is in the SRT at its time, right || left
        srt_glosses = set()
        for _, a, b, lines in de:
            for line in lines:
                x, text = line.split(": ", 1)
                if (a, b, line) in sentences or x == "C": continue
                r, _, l = text.partition("||")
                if r: srt_glosses.add((x, "r", a, b, r))
                if l: srt_glosses.add((x, "l", a, b, l))
        eaf_glosses = {(x, h, a, b, v) for x in "AB" for h in "rl" for a, b, v, _ in tiers[f"Lexem_Gebärde_{h}_{x}"]}
        assert srt_glosses == eaf_glosses


# --- the conventions, read from the files ----------------------------------------------------------------------

def test_every_convention_occurs_in_the_files(corpus):
    out, summary = corpus
    tokens, lines, blocks, sentences, moderator, outside = [], [], [], [], [], 0
    for tid in _ids(out):
        _, tiers = _tiers(out / "eaf" / f"{tid}.eaf")
        tokens += [v for n, anns in tiers.items() if n.startswith("Lexem_Gebärde_") for _, _, v, _ in anns]
        moderator += [v for _, _, v, _ in tiers["Moderator"]]
        for x in "AB":
            sents = tiers[f"Deutsche_Übersetzung_{x}"]
            sentences += [v for _, _, v, _ in sents]
            for h in "rl":
                for a, b, _, _ in tiers[f"Lexem_Gebärde_{h}_{x}"]:
                    outside += not any(s0 <= a <= s1 for s0, s1, _, _ in sents)
        for blk in _srt(out / "srt" / f"{tid}_de.srt"):
            blocks.append(blk); lines += blk[3]
    found = {
        "variant (REGEN1A)": any(re.fullmatch(r"[A-ZÄÖÜ][A-ZÄÖÜ-]*\d+[A-Z]", t) for t in tokens),
        "star *": any(t.endswith("*") and not t.startswith("$") for t in tokens),
        "caret ^ (lexical)": any(t.endswith("^") and not t.startswith("$") for t in tokens),
        "$INDEX1": "$INDEX1" in tokens,
        "$GEST-…^": any(re.fullmatch(r"\$GEST-[A-ZÄÖÜ0-9-]+\^", t) for t in tokens),
        "$PROD": any(t.startswith("$PROD") for t in tokens),
        "$ALPHA1:X-Y": any(re.fullmatch(r"\$ALPHA1:[A-ZÄÖÜß](-[A-ZÄÖÜß])+", t) for t in tokens),
        "qualifier $NUM-EINER1A:n": any(re.fullmatch(r"\$NUM-EINER1A:\dd?", t) for t in tokens),
        "dual X||Y": any(re.match(r"^[AB]: [^|]+\|\|[^|]+$", line) for line in lines),
        "left hand only ||Y": any(re.match(r"^[AB]: \|\|\S", line) for line in lines),
        "moderator C:": any(line.startswith("C: ") for line in lines) and bool(moderator),
        "gloss outside any sentence": outside > 0,
        "interrupted sentence /": any(s.endswith("/") for s in sentences),
        "multi-line block": any(len(b[3]) > 1 for b in blocks),
    }
    assert all(found.values()), [k for k, v in found.items() if not v]
    assert all(v > 0 for v in summary["conventions"].values())


# --- OpenPose ----------------------------------------------------------------------------------------------------

def test_wrappers_cameras_frames_and_the_planted_defect(corpus):
    out, summary = corpus
    durations = {t["id"]: t["duration_ms"] for t in summary["transcripts"]}
    files = sorted((out / "openpose").glob("*_openpose.json.gz"))
    assert len(files) == N - 1
    d = summary["defect"]
    bad = []
    for i, f in enumerate(files):
        raw = f.read_bytes()
        assert raw[:3] == b"\x1f\x8b\x08" and raw[4:8] == b"\0\0\0\0" and not raw[3] & 0x08   # no mtime, no file name
        tid = f.name[: -len("_openpose.json.gz")]
        if i > 1 and tid != d["transcript"]: continue        # every record of the defect file and of two others, in full
        recs = json.loads(gzip.decompress(raw))
        assert [r["camera"] for r in recs] == list(CAMERAS) and {r["id"] for r in recs} == {tid}
        n_frames = -(-durations[tid] // FRAME_MS)
        for r in recs:
            assert (r["width"], r["height"]) == (WIDTH, HEIGHT)
            nums = sorted(map(int, r["frames"]))
            assert all(re.fullmatch(r"\d+", k) for k in r["frames"])
            assert nums[-1] < n_frames and 0.97 * n_frames <= len(nums) < n_frames      # 50 fps, a few frames absent
            xy = []
            for k, fr in r["frames"].items():
                assert len(fr["people"]) == (2 if r["camera"] == "c" else 1)
                for pi, person in enumerate(fr["people"]):
                    lens = [len(person[key]) for key, _ in poses.OPENPOSE_ARRAYS]
                    if lens != [75, 210, 63, 63]:
                        bad.append((tid, r["camera"], int(k), pi, lens[0]))
                        with pytest.raises(poses.PoseFileError, match="pose_keypoints_2d has 72 values"):
                            poses.person_to_array(person)
                        continue
                    xy.append(person["pose_keypoints_2d"] + person["face_keypoints_2d"] + person["hand_left_keypoints_2d"] + person["hand_right_keypoints_2d"])
            a = np.asarray(xy, dtype=np.float64).reshape(-1, 3)
            p = a[a[:, 2] > 0]
            assert ((p[:, 0] >= 0) & (p[:, 0] < WIDTH) & (p[:, 1] >= 0) & (p[:, 1] < HEIGHT)).all()
            assert (a[a[:, 2] == 0, :2] == 0).all() and (a[:, 2] <= 1).all()
            assert np.array_equal(np.round(a, 3), a)              # rounded coordinates (2 decimals) and confidences (3)
    assert bad == [(d["transcript"], d["camera"], d["frame"], d["person"], 72)]


def _wrist_paths(out, n=8):
    "Per single right-hand token: (motion key, right-wrist path relative to the shoulders, resampled to n points)."
    paths = []
    for f in sorted((out / "openpose").glob("*_openpose.json.gz")):
        tid = f.name[: -len("_openpose.json.gz")]
        _, tiers = _tiers(out / "eaf" / f"{tid}.eaf")
        for x, cam in (("A", "a1"), ("B", "b1")):
            try:
                pose = corpus_poses.read_dgs_wrapper(f, camera=cam, person="first")
            except poses.PoseFileError:
                continue                                   # the record with the planted defect
            lefts = {(a, b) for a, b, _, _ in tiers[f"Lexem_Gebärde_l_{x}"]}
            for a, b, g, _ in tiers[f"Lexem_Gebärde_r_{x}"]:
                if (a, b) in lefts or g.startswith("$ALPHA"): continue
                seg = pose.data[a // FRAME_MS: min(b // FRAME_MS, pose.n_frames)]
                ok = (seg[:, [2, 4, 5], 2] > 0).all(axis=1)
                if ok.sum() < 3: continue
                mid = (seg[ok, 2, :2] + seg[ok, 5, :2]) / 2
                sw = np.linalg.norm(seg[ok, 2, :2] - seg[ok, 5, :2], axis=1)[:, None]
                w = (seg[ok, 4, :2] - mid) / sw
                s = np.linspace(0, 1, len(w))
                paths.append((motion_key(g), np.stack([np.interp(np.linspace(0, 1, n), s, w[:, k]) for k in (0, 1)], 1)))
    return paths


def test_same_gloss_same_base_motion(corpus):
    out, _ = corpus
    paths = _wrist_paths(out)
    same, diff = [], []
    for i in range(len(paths)):
        for j in range(i + 1, len(paths)):
            d = float(np.linalg.norm(paths[i][1] - paths[j][1], axis=1).mean())
            (same if paths[i][0] == paths[j][0] else diff).append(d)
    assert len(same) >= 10
    assert np.median(same) < 0.3 * np.median(diff) and np.percentile(same, 90) < np.median(diff)


def test_motion_choice_is_seeded_and_per_gloss():
    clips = load_motion_clips()
    assert base_motion("REGEN1A", clips, 0) == base_motion("REGEN1A", clips, 0)
    picks = {base_motion(g, clips, 0) for g in ("REGEN1A", "SONNE2", "WIND3A", "$INDEX1", "MORGEN1B", "NACHT2")}
    assert len(picks) >= 5
    assert motion_key("REGEN1A*") == motion_key("REGEN1A^") == "REGEN1A"
    assert any(base_motion(g, clips, 0) != base_motion(g, clips, 1) for g in ("REGEN1A", "SONNE2", "WIND3A"))


# --- text conversion -------------------------------------------------------------------------------------------

def test_phoenix_to_dgs_style():
    vocab = frozenset({"küh", "kühl", "kühle", "feu", "feue", "feuer", "süd", "süde", "süden"})
    g = dgs_style_glosses("__ON__ IX loc-NORD cl-KOMMEN ZWEI neg-HABEN KUEHL-PLUSPLUS SUED __OFF__ __EMP__", vocab)
    assert g[0] == "$INDEX1" and re.fullmatch(r"NORD\d+[A-Z]?\*", g[1]) and g[2] == "$PROD"
    assert re.fullmatch(r"\$NUM-EINER1A:2d?", g[3]) and g[4].startswith("NICHT-HABEN")
    assert re.fullmatch(r"KÜHL\d+[A-Z]?\*", g[5]) and g[6].startswith("SÜD") and len(g) == 7
    assert restore_umlauts("FEUER", vocab) == "FEUER"
    assert dgs_style_glosses("REGEN", vocab, seed=3) == dgs_style_glosses("REGEN", vocab, seed=3)
    assert gloss_type("$NUM-EINER1A:3d") == "$NUM-EINER1A" and gloss_type("HAUS1A*") == "HAUS1A"
    assert gloss_type("$GEST-OFF^") == "$GEST-OFF^"
    assert recase_sentence("liebe zuschauer guten abend .") == "Liebe zuschauer guten abend."


def test_too_few_transcripts_is_refused(tmp_path):
    with pytest.raises(ConfigError):
        build_sample_corpus(tmp_path / "x", n_transcripts=1)


# --- the server --------------------------------------------------------------------------------------------------

def test_server_serves_bytes_exactly_and_refuses_outside_paths(corpus):
    out, _ = corpus
    gz = sorted((out / "openpose").glob("*.json.gz"))[0]
    with serve_corpus(out) as base:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/meinedgs/", base)
        r = requests.get(base + "ling/start-name_de.html", timeout=10)
        assert r.status_code == 200 and r.content == (out / "ling" / "start-name_de.html").read_bytes()
        assert r.headers["Content-Type"].startswith("text/html")
        g = requests.get(urllib.parse.urljoin(base + "ling/", "../openpose/" + gz.name), timeout=10)
        assert g.status_code == 200 and g.content == gz.read_bytes() and "Content-Encoding" not in g.headers
        k = gz.stat().st_size - 1000
        rg = requests.get(base + "openpose/" + gz.name, headers={"Range": f"bytes={k}-"}, timeout=10)
        assert rg.status_code == 206 and rg.content == gz.read_bytes()[k:]
        assert requests.head(base + "eaf/" + next((out / "eaf").glob("*.eaf")).name, timeout=10).status_code == 200
        host, port = urllib.parse.urlsplit(base).netloc.split(":")
        for raw in ("/meinedgs/../x", "/meinedgs/../../etc/passwd", "/meinedgs/%2e%2e/corpus/README.md",
                    "/meinedgs/ling/", "/meinedgs/missing.html", "/README.md", "/meinedgs/ling/..%2fREADME.md"):
            c = http.client.HTTPConnection(host, int(port), timeout=10)
            c.request("GET", raw)                      # sent as is (requests would normalise the dots away)
            resp = c.getresponse(); resp.read(); c.close()
            assert resp.status == 404, raw
    with pytest.raises(requests.ConnectionError):
        requests.get(base + "ling/start-name_de.html", timeout=2)


# --- the console commands ----------------------------------------------------------------------------------------

def test_cli_build_equals_the_library_build(corpus, tmp_path, capsys):
    "`t2g2p2s sample-corpus build --out DIR --seed 0` writes exactly the files of `build_sample_corpus(DIR, seed=0)`."
    from t2g2p2s.pipeline import main
    out, _ = corpus
    assert main(["sample-corpus", "build", "--out", str(tmp_path / "cli"), "--seed", "0"]) == 0
    said = capsys.readouterr().out
    assert str((tmp_path / "cli").resolve()) in said and f"({N} transcripts)" in said
    mine = {p.relative_to(tmp_path / "cli").as_posix(): sha256_file(p) for p in (tmp_path / "cli").rglob("*") if p.is_file()}
    lib = {p.relative_to(out).as_posix(): sha256_file(p) for p in out.rglob("*") if p.is_file()}
    assert mine == lib


def test_cli_serve_prints_its_url_and_serves_the_folder(corpus):
    "`t2g2p2s sample-corpus serve DIR --port 0`, the console script in its own process: URL first, then the files."
    import subprocess
    import sys
    out, _ = corpus
    code = "import sys; from t2g2p2s.pipeline import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen([sys.executable, "-c", code, "sample-corpus", "serve", str(out), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        m = re.search(r"(http://127\.0\.0\.1:\d+/meinedgs/)", line)
        assert m, (line, proc.stderr.read() if proc.poll() is not None else "")
        r = requests.get(m.group(1) + "ling/start-name_de.html", timeout=10)
        assert r.status_code == 200 and r.content == (out / "ling" / "start-name_de.html").read_bytes()
        assert requests.get(m.group(1) + "../README.md", timeout=10).status_code == 404
    finally:
        proc.terminate(); proc.wait(timeout=10)


def test_cli_serve_refuses_a_missing_folder(tmp_path, capsys):
    from t2g2p2s.pipeline import main
    assert main(["sample-corpus", "serve", str(tmp_path / "no-such-folder"), "--port", "0"]) == 2
    assert "no-such-folder" in capsys.readouterr().err
