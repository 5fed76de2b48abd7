"""The full profile's machinery at scale, on a small rehearsal corpus (notebook 01e) in the full tier: a lexicon build
killed half-way resumes without redoing finished transcripts and ends with the outputs of an uninterrupted build; the
lexicon build on a Dask cluster of separate processes (`dask scheduler`, two `dask worker`) gives the single-machine
outputs, also when a worker is killed mid-stage; the runner skips notebooks whose stages are finished."""
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from t2g2p2s.core import make_stage, stage_done, stage_outputs
from t2g2p2s.lexicon_build import build_lexicon, find_openpose_files
from t2g2p2s.rehearsal_corpus import REHEARSAL, build_rehearsal_corpus
from t2g2p2s.sample_corpus import serve_corpus

CLI = [sys.executable, "-c", "from t2g2p2s.pipeline import main; raise SystemExit(main())"]
#: store files that must be byte-identical between builds (meta/index.json/build_report carry times and paths)
SAME_BYTES = ("frames.f32", "sentence_frames.f32")
SAME_TABLES = ("index.parquet", "candidates.parquet", "sentences.parquet")


@pytest.fixture(scope="module")
def full_tier(tmp_path_factory):
    """A full tier under a temporary T2G2P2S_DATA: a rehearsal corpus of 4 transcripts (about 6,000 frames each, all
    with camera c) served like the portal, scraped (stage raw) and parsed (stage transcripts)."""
    root = tmp_path_factory.mktemp("scale")
    build_rehearsal_corpus(root / "corpus", "0.01", 0,
                           dict(REHEARSAL, frames_median=6_000, frames_max=8_000, third_camera=1.0))
    old = os.environ.get("T2G2P2S_DATA")
    os.environ["T2G2P2S_DATA"] = str(root / "data")
    try:
        with serve_corpus(root / "corpus") as base: make_stage("raw", "full", 0, base_url=base, delay=0.0)
        make_stage("transcripts", "full", 0, n_jobs=1)
        yield root / "data"
    finally:
        if old is None: os.environ.pop("T2G2P2S_DATA", None)
        else: os.environ["T2G2P2S_DATA"] = old


def _inputs():
    tr, raw = stage_outputs("transcripts", "full"), stage_outputs("raw", "full")
    return pd.read_parquet(tr.tokens), pd.read_parquet(tr.sentences), find_openpose_files(raw.folder)


def _build(out: Path, **kw):
    tokens, sents, ops = _inputs()
    return build_lexicon(tokens, ops, out, sentences=sents, **kw)


@pytest.fixture(scope="module")
def reference(full_tier, tmp_path_factory):
    "The lexicon of an uninterrupted single-process build."
    out = tmp_path_factory.mktemp("reference") / "lexicon"
    _build(out, executor="serial")
    return out


def assert_same_store(a: Path, b: Path):
    for f in SAME_BYTES: assert (a / f).read_bytes() == (b / f).read_bytes(), f
    for f in SAME_TABLES: pd.testing.assert_frame_equal(pd.read_parquet(a / f), pd.read_parquet(b / f), obj=f)


def test_killed_lexicon_build_resumes(full_tier, reference):
    """`lexicon build --stage --tier full` killed (SIGKILL) once a transcript is finished: no stamp, the finished
    transcripts kept; the rerun reuses them and the store equals the uninterrupted build's."""
    env = dict(os.environ, T2G2P2S_DATA=str(full_tier), T2G2P2S_PROGRESS="0", T2G2P2S_LOG="INFO")
    cmd = CLI + ["lexicon", "build", "--stage", "--tier", "full", "--n-jobs", "1"]
    shards = full_tier / "lexicon" / ".lexicon.shards"
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not any(shards.glob("*/done.json")):
        assert proc.poll() is None, f"the build ended before a transcript was finished: {proc.communicate()}"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    finished = sorted(p.parent.name for p in shards.glob("*/done.json"))
    assert finished and stage_done("lexicon", "full") is None
    n_transcripts = len(list(shards.iterdir()))
    stamps = {p: p.stat().st_mtime_ns for p in shards.glob("*/done.json")}
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(finished)} of " in rerun.stderr and "reused" in rerun.stderr, rerun.stderr
    assert stage_done("lexicon", "full") is not None and not shards.exists()
    assert_same_store(stage_outputs("lexicon", "full").lexicon, reference)
    assert n_transcripts >= len(stamps)


def _start(cmd, env):
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture
def dask_cluster(tmp_path):
    """A scheduler and two workers, each a separate process started by the `dask` command line (no nanny, so killing
    a worker's process kills the worker); yields the address and the worker processes by name."""
    dask = Path(sys.executable).with_name("dask")
    env = dict(os.environ, T2G2P2S_PROGRESS="0")
    sfile = tmp_path / "scheduler.json"
    procs = [_start([str(dask), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                     "--scheduler-file", str(sfile)], env)]
    workers = {}
    try:
        deadline = time.monotonic() + 60
        while not sfile.exists():
            assert time.monotonic() < deadline and procs[0].poll() is None, "the scheduler did not start"
            time.sleep(0.1)
        for name in ("w1", "w2"):
            workers[name] = _start([str(dask), "worker", "--scheduler-file", str(sfile), "--nthreads", "1",
                                    "--no-nanny", "--name", name, "--no-dashboard"], env)
            procs.append(workers[name])
        from distributed import Client
        with Client(scheduler_file=str(sfile), timeout=60) as c:
            c.wait_for_workers(2, timeout=60)
            address = c.scheduler.address
        yield address, workers
    finally:
        for p in procs[::-1]:
            p.terminate()
        for p in procs:
            try: p.wait(timeout=20)
            except subprocess.TimeoutExpired: p.kill()


def test_dask_cluster_gives_the_single_machine_lexicon(full_tier, reference, dask_cluster, tmp_path):
    address, _ = dask_cluster
    rep = _build(tmp_path / "lexicon", executor="dask", scheduler=address)
    assert rep.n_entries > 0 and not rep.transcripts_failed
    assert_same_store(tmp_path / "lexicon", reference)


def test_dask_worker_killed_mid_stage(full_tier, reference, dask_cluster, tmp_path):
    """One of the two workers is killed as soon as it runs a transcript: the scheduler gives its work to the other
    worker and the build completes with the single-machine outputs."""
    from distributed import Client
    address, workers = dask_cluster
    result, killed = {}, []
    def build():
        try: result["report"] = _build(tmp_path / "lexicon", executor="dask", scheduler=address)
        except BaseException as e: result["error"] = e
    t = threading.Thread(target=build)
    with Client(address, timeout=60) as c:
        t.start()
        deadline = time.monotonic() + 120
        while not killed and t.is_alive():
            assert time.monotonic() < deadline
            info = c.scheduler_info()["workers"]
            for addr, tasks in c.processing().items():
                if tasks and addr in info:
                    name = info[addr]["name"]
                    workers[name].send_signal(signal.SIGKILL)
                    killed.append(name)
                    break
            time.sleep(0.01)
        t.join(timeout=300)
    assert not t.is_alive() and "error" not in result, result.get("error")
    assert killed and workers[killed[0]].wait(timeout=10) == -signal.SIGKILL
    assert not result["report"].transcripts_failed
    assert_same_store(tmp_path / "lexicon", reference)


def test_runner_resume_skips_finished_stages(tmp_path, monkeypatch):
    """`run --resume`: a notebook whose stages are stamped finished (same tier and seed) is not executed again; one
    without a stamp (here: stopped before its end) is; the manifest keeps the seconds of the run that finished it."""
    import nbformat
    from t2g2p2s.pipeline import run_profile
    monkeypatch.setenv("T2G2P2S_DATA", str(tmp_path / "data"))
    nbs = tmp_path / "nbs"; nbs.mkdir()
    body = ("from pathlib import Path\nfrom t2g2p2s.core import finish_stage, stage_outputs\n"
            "out = stage_outputs('gloss_times', tier)\nout.folder.mkdir(parents=True, exist_ok=True)\n"
            "for p in out.values(): p.write_text('x')\n"
            "with open(Path(log), 'a') as f: f.write('ran\\n')\n"
            "if not stop: finish_stage('gloss_times', tier, seed)")
    params = ("tier: str = 'sample'  # tier\nseed: int = 0  # seed\nlog: str = ''  # a file to append to\n"
              "stop: bool = False  # stop before the stamp")
    cells = [nbformat.v4.new_code_cell(params), nbformat.v4.new_code_cell(body)]
    cells[0].metadata["tags"] = ["parameters"]
    ks = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": ks}), nbs / "06_gloss_times.ipynb")
    log = tmp_path / "ran.txt"
    def run(stop):
        prof = tmp_path / "p.yaml"
        prof.write_text(f"tier: full\nseed: 3\nlog: {str(log)!r}\nstop: {str(stop).lower()}\n")
        return run_profile(prof, nbs=nbs, out_root=tmp_path / "runs", resume=True, run_id="r",
                           echo=lambda *a, **k: None)
    assert run(stop=True)["notebooks"][0]["status"] == "ok" and stage_done("gloss_times", "full") is None
    assert run(stop=False)["notebooks"][0]["status"] == "ok" and stage_done("gloss_times", "full")["seed"] == 3
    m = run(stop=False)
    assert m["notebooks"][0]["status"] == "done earlier" and m["notebooks"][0]["stages"] == ["gloss_times"]
    assert m["notebooks"][0]["earlier_seconds"] > 0                  # the finished run's figures are kept
    assert run(stop=False)["notebooks"][0]["earlier_seconds"] == m["notebooks"][0]["earlier_seconds"]
    assert log.read_text().count("ran") == 2
