"""The downloader of notebook 02 against a scripted, faulty portal on 127.0.0.1 (stdlib http.server, port 0).

Failure modes: 500 then success, 429 with Retry-After, a connection dropped before the headers and in the
middle of a body (reset), a body shorter than its Content-Length, a truncated gzip, a redirect on the same host
and one to another host name, links with hostile names, a link to another host, a missing OpenPose link, a
server that stalls. Everything runs offline with delay 0 and a tiny backoff; waits go through a recording sleep.
"""
from __future__ import annotations

import email.utils
import gzip
import hashlib
import io
import json
import socket
import struct
import threading
import time
from contextlib import redirect_stdout
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from t2g2p2s import scrape
from t2g2p2s.core import DataError, sha256_file
from t2g2p2s.core import run_command

T1, T2, T3, T4, HOSTILE = "1413451-11105600-11163240", "1413485", "1427158-12345-67890", "1200000", "x"


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def eaf(tid: str) -> bytes:
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<ANNOTATION_DOCUMENT AUTHOR="meinedgs.de">{tid}</ANNOTATION_DOCUMENT>\n'.encode()


def srt(tid: str) -> bytes:
    return f"1\n00:00:00,000 --> 00:00:01,000\nA: Hallo {tid}.\n\n2\n00:00:01,000 --> 00:00:01,200\nA: HALLO1A\n".encode()


def openpose(tid: str) -> bytes:
    rec = [{"id": tid, "camera": cam, "width": 1280, "height": 720, "frames": {"0": {"version": 1.3, "people": []}}} for cam in ("a1", "b1", "c")]
    return gz(json.dumps(rec).encode() * 50)


# --------------------------------------------------------------------------------------------------------------
# the scripted portal
# --------------------------------------------------------------------------------------------------------------
class Portal:
    """Routes: path -> list of behaviours; each request consumes the first one, the last one repeats."""

    def __init__(self):
        self.routes: dict[str, list[tuple]] = {}
        self.log: list[str] = []
        self.agents: set[str] = set()
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.portal = self
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}/meinedgs/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def route(self, path: str, *behaviours: tuple):
        self.routes[path] = list(behaviours)

    def ok(self, path: str, body: bytes):
        self.route(path, ("ok", body))

    def next(self, path: str) -> tuple | None:
        with self.lock:
            self.log.append(path)
            seq = self.routes.get(path)
            if not seq: return None
            return seq.pop(0) if len(seq) > 1 else seq[0]

    def hits(self, path: str) -> int:
        return self.log.count(path)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):  # quiet
        pass

    def _send(self, code: int, body: bytes, headers: dict | None = None, length: int | None = None):
        self.send_response(code)
        for k, v in (headers or {}).items(): self.send_header(k, v)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        portal: Portal = self.server.portal
        portal.agents.add(self.headers.get("User-Agent", ""))
        b = portal.next(self.path)
        if b is None: return self._send(404, b"not found")
        kind = b[0]
        if kind == "ok": return self._send(200, b[1], b[2] if len(b) > 2 else None)
        if kind == "status": return self._send(b[1], b"error", b[2] if len(b) > 2 else None)
        if kind == "redirect": return self._send(302, b"", {"Location": b[1]})
        if kind == "drop_headers":   # close without an answer
            self.close_connection = True
            return
        if kind == "short":          # Content-Length longer than the body, then a clean close
            self.close_connection = True
            return self._send(200, b[1], length=b[2])
        if kind == "reset":          # half the body, then a TCP reset
            self.close_connection = True
            body = b[1]
            self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
            self.wfile.write(body[: len(body) // 2]); self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return
        if kind == "stall":          # headers, then nothing
            self.send_response(200); self.send_header("Content-Length", "100"); self.end_headers(); self.wfile.flush()
            time.sleep(b[1])
            self.close_connection = True
            return
        raise AssertionError(kind)


def list_page(rows: list[dict[str, str]]) -> bytes:
    """A transcript list like the portal's: header cells name the columns; the order differs from the real one."""
    cols = ["Transkript", "Format", "ELAN", "Video A", "Video B", "OpenPose", "SRT", "iLex", "CMDI"]
    head = "".join(f"<th>{c}</th>" for c in cols)
    body = []
    for r in rows:
        cells = []
        for c in cols:
            href = r.get(c)
            cells.append(f'<td><a href="{href}">{c}</a></td>' if href else ("<td>Gespräch</td>" if c == "Transkript" else "<td></td>"))
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f"<html><body><h1>Transkripte</h1><table><tr>{head}</tr>{''.join(body)}</table>"
            "<table><tr><th>ELAN</th></tr><tr><td><a href='../eaf/decoy.eaf'>no</a></td></tr></table></body></html>").encode()


TYPES = ("<html><body><div class='textWrapper'><p><a href='#'>HAUS1A</a> (Haus)</p><p>$INDEX1 (zeigen)</p>"
         "<p>$GEST-ABWINKEN1^ (abwinken)</p><p><a href='#'>ZEIGEN1</a></p></div></body></html>").encode()


def row(tid: str, openpose: bool = True, videos: bool = False) -> dict[str, str]:
    r = {"Transkript": f"../html/{tid}_de.html", "ELAN": f"../eaf/{tid}.eaf", "SRT": f"../srt/{tid}_de.srt",
         "iLex": f"../ilex/{tid}.ilex", "CMDI": f"../cmdi/{tid}.cmdi"}
    if openpose: r["OpenPose"] = f"../openpose/{tid}_openpose.json.gz"
    if videos: r.update({"Video A": f"../videos/{tid}/{tid}_1a1.mp4", "Video B": f"../videos/{tid}/{tid}_1b1.mp4"})
    return r


def serve_files(p: Portal, tid: str, openpose_ok: bool = True):
    p.ok(f"/meinedgs/eaf/{tid}.eaf", eaf(tid))
    p.ok(f"/meinedgs/srt/{tid}_de.srt", srt(tid))
    if openpose_ok: p.ok(f"/meinedgs/openpose/{tid}_openpose.json.gz", openpose(tid))


@pytest.fixture
def portal():
    p = Portal()
    p.thread.start()
    yield p
    p.server.shutdown()
    p.server.server_close()


def faulty(p: Portal) -> Portal:
    """The portal with every failure mode; see the module docstring."""
    hostile = {"ELAN": "../../../../x.eaf", "SRT": "../srt/..%2F..%2Fx_de.srt",
               "OpenPose": f"http://localhost:{p.port}/meinedgs/openpose/x_openpose.json.gz"}
    p.ok("/meinedgs/ling/start-name_de.html",
         list_page([row(T1, videos=True), row(T2), row(T3, openpose=False), row(T4), hostile,
                    {"ELAN": "../eaf/y.eaf", "SRT": "../srt/%2E%2E", "OpenPose": "../openpose/y_openpose.json.gz?x=/../.."}]))
    p.ok("/meinedgs/ling/types_de.html", TYPES)
    # T1: 500 then fine; a two-member gzip with zero padding is valid
    serve_files(p, T1, openpose_ok=False)
    p.route(f"/meinedgs/eaf/{T1}.eaf", ("status", 500), ("ok", eaf(T1)))
    p.ok(f"/meinedgs/openpose/{T1}_openpose.json.gz", openpose(T1) + gz(b"[]") + b"\0\0")
    p.ok(f"/meinedgs/videos/{T1}/{T1}_1a1.mp4", b"\0\0\0\x18ftypmp42" * 100)
    p.ok(f"/meinedgs/videos/{T1}/{T1}_1b1.mp4", b"\0\0\0\x18ftypmp42" * 90)
    # T2: 429 with Retry-After 1, a reset mid-body, a body shorter than Content-Length
    serve_files(p, T2)
    p.route(f"/meinedgs/eaf/{T2}.eaf", ("status", 429, {"Retry-After": "1"}), ("ok", eaf(T2)))
    p.route(f"/meinedgs/srt/{T2}_de.srt", ("reset", srt(T2)), ("ok", srt(T2)))
    op2 = openpose(T2)
    p.route(f"/meinedgs/openpose/{T2}_openpose.json.gz", ("short", op2[:100], len(op2)), ("ok", op2))
    # T3: no OpenPose link; ELAN redirected on the same host; SRT: connection closed before any answer
    serve_files(p, T3, openpose_ok=False)
    p.route(f"/meinedgs/eaf/{T3}.eaf", ("redirect", f"/meinedgs/eaf/moved/{T3}.eaf"))
    p.ok(f"/meinedgs/eaf/moved/{T3}.eaf", eaf(T3))
    p.route(f"/meinedgs/srt/{T3}_de.srt", ("drop_headers",), ("ok", srt(T3)))
    # T4: ELAN redirected to another host name, SRT always 500, OpenPose a truncated gzip (complete per Content-Length)
    serve_files(p, T4, openpose_ok=False)
    p.route(f"/meinedgs/eaf/{T4}.eaf", ("redirect", f"http://localhost:{p.port}/meinedgs/eaf/{T4}.eaf"))
    p.route(f"/meinedgs/srt/{T4}_de.srt", ("status", 500))
    p.ok(f"/meinedgs/openpose/{T4}_openpose.json.gz", openpose(T4)[:-7])
    # hostile names
    p.ok("/x.eaf", eaf("x"))
    p.ok("/meinedgs/srt/..%2F..%2Fx_de.srt", srt("x"))
    p.ok("/meinedgs/openpose/x_openpose.json.gz", openpose("x"))
    p.ok("/meinedgs/eaf/y.eaf", eaf("y"))
    p.ok("/meinedgs/openpose/y_openpose.json.gz?x=/../..", openpose("y"))
    return p


def clean(p: Portal, tids=(T1, T2, T3), videos: bool = False) -> Portal:
    p.ok("/meinedgs/ling/start-name_de.html", list_page([row(t, openpose=(t != T3), videos=videos) for t in tids]))
    p.ok("/meinedgs/ling/types_de.html", TYPES)
    for t in tids: serve_files(p, t, openpose_ok=(t != T3))
    if videos:
        for t in tids:
            p.ok(f"/meinedgs/videos/{t}/{t}_1a1.mp4", b"a" * 1000)
            p.ok(f"/meinedgs/videos/{t}/{t}_1b1.mp4", b"b" * 1000)
    return p


class Sleeps(list):
    def __call__(self, s: float):
        self.append(s)


def run(p: Portal, out: Path, sleeps=None, **kw):
    kw = dict(dict(delay=0, backoff=0.001, max_backoff=0.01, max_retries=2, timeout=5), **kw)
    return scrape.scrape_corpus(p.base, out, sleep=sleeps if sleeps is not None else Sleeps(), **kw)


def all_files(root: Path) -> list[Path]:
    return sorted(q for q in root.rglob("*") if q.is_file())


# --------------------------------------------------------------------------------------------------------------
# parsing
# --------------------------------------------------------------------------------------------------------------
def test_parse_transcript_list_ids_from_links_and_columns_by_header():
    url = "http://h/meinedgs/ling/start-name_de.html"
    rows = scrape.parse_transcript_list(list_page([row(T1, videos=True), row(T3, openpose=False)]), url)
    assert [r.transcript_id for r in rows] == [T1, T3]          # from the links: the row text is the same for both
    assert {r.name for r in rows} == {"Transkript"}
    assert rows[0].eaf == f"http://h/meinedgs/eaf/{T1}.eaf"
    assert rows[0].srt == f"http://h/meinedgs/srt/{T1}_de.srt"
    assert rows[0].openpose == f"http://h/meinedgs/openpose/{T1}_openpose.json.gz"
    assert rows[0].get("video_a").endswith(f"{T1}_1a1.mp4") and rows[0].get("ilex").endswith(".ilex")
    assert rows[1].openpose is None and rows[1].get("video_a") is None


def test_parse_transcript_list_majority_id_row_id_fallback_and_errors():
    url = "http://h/meinedgs/ling/start-name_de.html"
    html = ("<table><thead><tr><th>SRT</th><th>ELAN</th><th>OpenPose</th></tr></thead>"
            "<tr><td><a href='../srt/111_de.srt'>s</a></td><td><a href='../eaf/111.eaf'>e</a></td><td><a href='../openpose/999_openpose.json.gz'>o</a></td></tr>"
            "<tr id='222'><td></td><td></td><td></td></tr>"
            "<tr><td><a href='../srt/111_de.srt'>dup</a></td><td></td><td></td></tr>"
            "<tr><td>nothing</td><td></td><td></td></tr></table>")
    rows = scrape.parse_transcript_list(html, url)
    assert [r.transcript_id for r in rows] == ["111", "222"]
    assert rows[1].srt is None and rows[1].eaf is None
    with pytest.raises(DataError, match="no <table>"):
        scrape.parse_transcript_list("<p>maintenance</p>", url)
    with pytest.raises(DataError, match="none of the columns"):
        scrape.parse_transcript_list("<table><tr><th>A</th></tr><tr><td>x</td></tr></table>", url)


def test_parse_types_list():
    assert scrape.parse_types_list(TYPES) == ["$GEST-ABWINKEN1^", "$INDEX1", "HAUS1A", "ZEIGEN1"]
    with pytest.raises(DataError, match="textWrapper"):
        scrape.parse_types_list("<p>HAUS1A</p>")


def test_names_ids_hosts_and_retry_after():
    assert scrape.url_file_name("http://h/meinedgs/srt/..%2F..%2Fx_de.srt") == "x_de.srt"
    assert scrape.id_from_file_name("1413451-11105600-11163240_openpose.json.gz") == T1
    assert scrape.id_from_file_name("1413485.eaf") == "1413485" and scrape.id_from_file_name("..") is None
    assert scrape.column_key(" Video\n A ") == "video_a" and scrape.column_key("ELAN") == "eaf"
    assert not scrape.same_host("http://localhost:80/a", "http://127.0.0.1/")
    assert not scrape.same_host("http://127.0.0.1:81/a", "http://127.0.0.1:80/")
    assert scrape.same_host("/relative", "http://127.0.0.1/") is False
    now = 1_700_000_000.0
    assert scrape.parse_retry_after(" 7 ") == 7.0
    assert scrape.parse_retry_after(email.utils.formatdate(now + 42, usegmt=True), now=now) == pytest.approx(42)
    assert scrape.parse_retry_after(email.utils.formatdate(now - 42, usegmt=True), now=now) == 0.0
    assert scrape.parse_retry_after("later, please") is None


def test_gzip_verifier():
    data = gz(b"x" * 3_000_000) + gz(b"second member")
    assert scrape.verify_gzip_bytes(data, chunk=1000) == 3_000_000 + 13
    assert scrape.verify_gzip_bytes(data + b"\0" * 10, chunk=7) == 3_000_013
    with pytest.raises(DataError, match="truncated gzip"):
        scrape.verify_gzip_bytes(data[:-1], "f.json.gz")
    with pytest.raises(DataError, match=r"f.json.gz: member 1"):
        scrape.verify_gzip_bytes(b"{not gzip}", "f.json.gz")
    with pytest.raises(DataError, match="invalid gzip"):   # CRC mismatch in the trailer
        good = gz(b"hello world")
        scrape.verify_gzip_bytes(good[:-8] + bytes([good[-8] ^ 1]) + good[-7:])
    with pytest.raises(DataError, match="empty"):
        scrape.verify_gzip_bytes(b"")


# --------------------------------------------------------------------------------------------------------------
# the faulty portal
# --------------------------------------------------------------------------------------------------------------
def test_faulty_portal_every_file_complete_or_reported_and_second_run_downloads_nothing(portal, tmp_path):
    faulty(portal)
    out = tmp_path / "raw"
    sleeps = Sleeps()
    rep = run(portal, out, sleeps)

    # what failed, with transcript id, URL and reason
    failed = {(t, u.rsplit("/", 1)[-1]): r for t, u, r in rep.failed}
    assert set(failed) == {(T4, f"{T4}.eaf"), (T4, f"{T4}_de.srt"), (T4, f"{T4}_openpose.json.gz"), (HOSTILE, "x_openpose.json.gz"),
                           ("y", "%2E%2E")}, rep.failed
    assert "no usable file name" in failed[("y", "%2E%2E")]
    assert "redirect to another host refused" in failed[(T4, f"{T4}.eaf")]
    assert "HTTP 500" in failed[(T4, f"{T4}_de.srt")] and "3 attempts" in failed[(T4, f"{T4}_de.srt")]
    assert "truncated gzip" in failed[(T4, f"{T4}_openpose.json.gz")] and "byte" in failed[(T4, f"{T4}_openpose.json.gz")]
    assert "another host" in failed[(HOSTILE, "x_openpose.json.gz")]
    assert rep.missing_links == [(T3, "openpose")]
    assert rep.listed == 6 and rep.files == 17 and rep.downloaded == 12 and not rep.ok

    # the refused targets were never requested; the bad gzip was not retried (it arrived complete)
    assert portal.hits(f"/meinedgs/eaf/{T4}.eaf") == 1 and portal.hits("/meinedgs/openpose/x_openpose.json.gz") == 0
    assert portal.hits(f"/meinedgs/openpose/{T4}_openpose.json.gz") == 1 and portal.hits(f"/meinedgs/srt/{T4}_de.srt") == 3
    assert portal.hits(f"/meinedgs/eaf/{T1}.eaf") == 2 and portal.hits(f"/meinedgs/srt/{T2}_de.srt") == 2
    assert portal.hits(f"/meinedgs/openpose/{T2}_openpose.json.gz") == 2 and portal.hits(f"/meinedgs/srt/{T3}_de.srt") == 2
    assert not any(p.endswith(".mp4") for p in portal.log), "videos only when asked"
    # Retry-After honoured exactly once, every other wait is the tiny backoff
    assert sorted(sleeps)[-1] == 1.0 and sum(s >= 0.5 for s in sleeps) == 1, sleeps
    assert {a.split("/")[0] for a in portal.agents} == {"t2g2p2s"}

    # every complete file is verified: the manifest hash, the served bytes and the disk agree
    m = json.loads((out / "manifest.json").read_text())
    files = {e["path"]: e for e in m["files"]}
    complete = {p for p, e in files.items() if e["status"] == "complete"}
    assert complete == {f"{T1}/{T1}.eaf", f"{T1}/{T1}_de.srt", f"{T1}/{T1}_openpose.json.gz",
                        f"{T2}/{T2}.eaf", f"{T2}/{T2}_de.srt", f"{T2}/{T2}_openpose.json.gz",
                        f"{T3}/{T3}.eaf", f"{T3}/{T3}_de.srt", "x/x.eaf", "x/x_de.srt", "y/y.eaf", "y/y_openpose.json.gz"}
    expected_bytes = {f"{T2}/{T2}_openpose.json.gz": openpose(T2), f"{T3}/{T3}.eaf": eaf(T3), "x/x.eaf": eaf("x"),
                      f"{T1}/{T1}_openpose.json.gz": openpose(T1) + gz(b"[]") + b"\0\0", f"{T2}/{T2}_de.srt": srt(T2)}
    for p in complete:
        e = files[p]
        assert sha256_file(out / p) == e["sha256"] and (out / p).stat().st_size == e["size"] and e["url"].startswith("http://127.0.0.1")
        if p in expected_bytes: assert (out / p).read_bytes() == expected_bytes[p]
    failed_entries = {p for p, e in files.items() if e["status"] == "failed"}
    assert failed_entries == {f"{T4}/{T4}.eaf", f"{T4}/{T4}_de.srt", f"{T4}/{T4}_openpose.json.gz"}
    assert all(files[p]["reason"] for p in failed_entries) and not any((out / p).exists() for p in failed_entries)

    # nothing partial, nothing outside the output folder
    assert all_files(tmp_path) == sorted([out / p for p in complete] + [out / "manifest.json", out / "transcripts.csv", out / "types.txt"])
    assert (out / "types.txt").read_text().splitlines() == ["$GEST-ABWINKEN1^", "$INDEX1", "HAUS1A", "ZEIGEN1"]
    csv_lines = (out / "transcripts.csv").read_text().splitlines()
    assert csv_lines[0].split(",")[:3] == ["transcript_id", "transkript", "eaf"] and len(csv_lines) == 7
    assert f"{T3}," in csv_lines[3] and f"{portal.base}eaf/{T3}.eaf" in csv_lines[3]

    # downstream view
    lst = {f.transcript_id: f for f in scrape.list_downloaded(out)}
    assert set(lst) == {T1, T2, T3, HOSTILE, "y"} and lst["y"].srt is None
    assert lst[T3].openpose is None and lst[T1].openpose == out / T1 / f"{T1}_openpose.json.gz" and lst[HOSTILE].eaf == out / "x" / "x.eaf"

    # second run: only the pages and the failed items are requested; nothing is downloaded
    portal.log.clear()
    rep2 = run(portal, out)
    assert rep2.downloaded == 0 and rep2.skipped_complete == 12 and len(rep2.failed) == 5
    assert rep2.requests == 2 + 1 + 3 + 1, portal.log      # the pages, then T4's three files again (the SRT with its retries)
    assert portal.hits("/x.eaf") == 0
    assert set(portal.log) <= {"/meinedgs/ling/start-name_de.html", "/meinedgs/ling/types_de.html",
                               f"/meinedgs/eaf/{T4}.eaf", f"/meinedgs/srt/{T4}_de.srt", f"/meinedgs/openpose/{T4}_openpose.json.gz"}


def test_resume_refetches_a_corrupted_file_and_removes_stale_temp_files(portal, tmp_path):
    clean(portal)
    out = tmp_path / "raw"
    assert run(portal, out).downloaded == 8
    (out / T1 / f"{T1}_de.srt").write_bytes(srt(T1).replace(b"Hallo", b"Hallx"))   # same size, other bytes
    (out / T2 / f".{T2}.eaf.abc123.part").write_bytes(b"half")    # left by a killed run
    portal.log.clear()
    rep = run(portal, out)
    assert rep.ok and rep.downloaded == 1 and rep.skipped_complete == 7
    assert portal.log.count(f"/meinedgs/srt/{T1}_de.srt") == 1 and len(portal.log) == 3
    assert (out / T1 / f"{T1}_de.srt").read_bytes() == srt(T1)
    assert not list(out.rglob("*.part"))
    # changed URL on the portal (a new release): fetched again
    portal.ok("/meinedgs/ling/start-name_de.html", list_page([{**row(T1), "ELAN": f"../eaf/v2/{T1}.eaf"}]))
    portal.ok(f"/meinedgs/eaf/v2/{T1}.eaf", eaf(T1) + b"<!-- v2 -->")
    rep = run(portal, out)
    assert rep.downloaded == 1
    assert (out / T1 / f"{T1}.eaf").read_bytes() == eaf(T1) + b"<!-- v2 -->"


def test_videos_limit_and_delay(portal, tmp_path):
    clean(portal, videos=True)
    clock = [0.0]
    sleeps = Sleeps()
    def sleep(s):
        sleeps.append(s); clock[0] += s
    rep = scrape.scrape_corpus(portal.base, tmp_path / "raw", limit=2, with_videos=True, delay=0.5,
                               sleep=sleep, clock=lambda: clock[0])
    assert rep.ok and rep.listed == 2 and rep.downloaded == 2 * (3 + 2)        # eaf, srt, openpose, video A and B
    assert rep.missing_links == [(T1, "video_total"), (T2, "video_total")]    # the table has no total-view column
    assert sorted(p.name for p in (tmp_path / "raw" / T1).iterdir()) == sorted([f"{T1}.eaf", f"{T1}_de.srt", f"{T1}_openpose.json.gz", f"{T1}_1a1.mp4", f"{T1}_1b1.mp4"])
    assert not (tmp_path / "raw" / T3).exists()
    assert len(sleeps) == rep.requests - 1 and all(s == 0.5 for s in sleeps)     # one pause between any two requests
    lst = scrape.list_downloaded(tmp_path / "raw")
    assert set(lst[0].videos) == {"video_a", "video_b"}


def test_timeout_and_retry_after_cap(portal, tmp_path):
    clean(portal, tids=(T1,))
    portal.route(f"/meinedgs/srt/{T1}_de.srt", ("stall", 2.0))
    portal.route(f"/meinedgs/eaf/{T1}.eaf", ("status", 503, {"Retry-After": "3600"}))
    t0 = time.monotonic()
    rep = run(portal, tmp_path / "raw", timeout=0.3, max_retries=1, max_retry_after=60)
    assert time.monotonic() - t0 < 5
    reasons = {u.rsplit("/", 1)[-1]: r for _, u, r in rep.failed}
    assert set(reasons) == {f"{T1}_de.srt", f"{T1}.eaf"}
    assert "2 attempts" in reasons[f"{T1}_de.srt"] and "3600" in reasons[f"{T1}.eaf"]
    assert portal.hits(f"/meinedgs/eaf/{T1}.eaf") == 1
    assert not list((tmp_path / "raw").rglob("*.part"))


def test_list_page_failure_is_reported(portal, tmp_path):
    portal.route("/meinedgs/ling/start-name_de.html", ("status", 404))
    rep = run(portal, tmp_path / "raw")
    assert not rep.ok and rep.listed == 0 and rep.failed[0][0] == "(transcript list)" and "HTTP 404" in rep.failed[0][2]


def test_list_downloaded_without_manifest(tmp_path):
    (tmp_path / T1).mkdir()
    for n in (f"{T1}.eaf", f"{T1}_en.srt", f"{T1}_de.srt", f"{T1}_openpose.json.gz", f".{T1}.eaf.x.part"):
        (tmp_path / T1 / n).write_bytes(b"x")
    (f,) = scrape.list_downloaded(tmp_path)
    assert (f.eaf.name, f.srt.name, f.openpose.name) == (f"{T1}.eaf", f"{T1}_de.srt", f"{T1}_openpose.json.gz")


# --------------------------------------------------------------------------------------------------------------
# the command line
# --------------------------------------------------------------------------------------------------------------
def _cli(args):
    buf = io.StringIO()
    with redirect_stdout(buf):
        code = run_command("scrape", args)
    return code, buf.getvalue()


def test_cli_exit_codes(portal, tmp_path):
    clean(portal)
    out = tmp_path / "raw"
    code, text = _cli(["--base-url", portal.base, "--out", str(out), "--delay", "0", "--json"])
    rep = json.loads(text)
    assert code == 0 and rep["ok"] and rep["downloaded"] == 8 and rep["missing_links"] == [{"transcript_id": T3, "column": "openpose"}]
    code, text = _cli(["--base-url", portal.base, "--out", str(out), "--delay", "0"])
    assert code == 0 and text.startswith("OK") and "0 downloaded" in text
    portal.route(f"/meinedgs/eaf/{T2}.eaf", ("status", 500))
    (out / T2 / f"{T2}.eaf").unlink()
    code, text = _cli(["--base-url", portal.base, "--out", str(out), "--delay", "0", "--max-retries", "1", "--backoff", "0"])
    assert code == 1 and text.startswith("INCOMPLETE") and f"failed  {T2}" in text and "HTTP 500" in text
    assert not (out / T2 / f"{T2}.eaf").exists()
    assert _cli(["--out"])[0] == 2
    assert _cli(["--base-url", "ftp://example.org/", "--out", str(out)])[0] == 2
    assert _cli(["--base-url", portal.base, "--out", str(out), "--delay", "-1"])[0] == 2
    assert _cli(["--help"])[0] == 0


def test_content_encoding_gzip(portal, tmp_path):
    """A server that labels files with Content-Encoding: gzip: a .gz is stored as served, anything else decoded."""
    clean(portal, tids=(T1,))
    portal.route("/meinedgs/ling/types_de.html", ("ok", gz(TYPES), {"Content-Encoding": "gzip"}))
    portal.route(f"/meinedgs/eaf/{T1}.eaf", ("ok", gz(eaf(T1)), {"Content-Encoding": "gzip"}))
    portal.route(f"/meinedgs/openpose/{T1}_openpose.json.gz", ("ok", openpose(T1), {"Content-Encoding": "gzip"}))
    out = tmp_path / "raw"
    rep = run(portal, out)
    assert rep.ok and rep.downloaded == 3
    assert (out / T1 / f"{T1}.eaf").read_bytes() == eaf(T1)
    assert (out / T1 / f"{T1}_openpose.json.gz").read_bytes() == openpose(T1)
    assert (out / "types.txt").read_text().splitlines()[0] == "$GEST-ABWINKEN1^"
