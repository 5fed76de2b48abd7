"""The papermill runner and the console script, end to end on toy notebooks in a temporary folder."""
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from t2g2p2s.core import ConfigError
from t2g2p2s.pipeline import (RunFailed, cell_directives, keep_cell, notebook_key, numbered_notebooks, run_profile,
                              select_notebooks)

KERNEL = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
CLI = [str(Path(sys.executable).parent / "t2g2p2s")]  # the installed console script


def _nb(path, params, *cells, tags=None):
    c = [nbformat.v4.new_code_cell(params)] + [nbformat.v4.new_code_cell(s) for s in cells]
    c[0].metadata["tags"] = ["parameters"]
    for i, t in (tags or {}).items():
        c[i].metadata["tags"] = t
    nbformat.write(nbformat.v4.new_notebook(cells=c, metadata=KERNEL), path)


@pytest.fixture
def proj(tmp_path):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    _nb(nbs / "00_first.ipynb", "seed: int = 0  # RNG seed\nrun_id: str = 'dev'  # run", "from pathlib import Path",
        "Path(__import__('os').environ['OUT']).joinpath('00.txt').write_text(f'{seed} {run_id}')")
    _nb(nbs / "01a_sub.ipynb", "seed: int = 0  # RNG seed\nlimit: int = 5  # max items",
        "#| gpu\nraise RuntimeError('gpu cell must be dropped on cpu')",
        "#| eval: false\nraise RuntimeError('doc-only cell must be dropped')",
        "raise RuntimeError('skip-execution cell must be dropped')",
        "import os; open(os.path.join(os.environ['OUT'], '01a.txt'), 'w').write(str(seed + limit))",
        tags={3: ["skip-execution"]})
    _nb(nbs / "01_mid.ipynb", "seed: int = 0  # RNG seed", "pass")
    (tmp_path / "out").mkdir()
    return tmp_path


def _env(proj, monkeypatch):
    monkeypatch.setenv("OUT", str(proj / "out"))


def test_order_keys_and_only(proj):
    nbs = numbered_notebooks(proj / "nbs")
    assert [notebook_key(p) for p in nbs] == ["00", "01", "01a"]
    assert [p.name for p in select_notebooks(nbs, "01a,00")] == ["00_first.ipynb", "01a_sub.ipynb"]
    with pytest.raises(ConfigError, match="07"):
        select_notebooks(nbs, "07")


def test_directives_and_dropped_cells():
    assert cell_directives("#| gpu\n#| eval: false\nx=1") == {"gpu": "", "eval": "false"}
    mk = nbformat.v4.new_code_cell
    assert keep_cell(mk("x = 1"), set()) and not keep_cell(mk("#| gpu\nx"), {"slow"})
    assert keep_cell(mk("#| gpu\nx"), {"gpu"}) and not keep_cell(mk("#| net\nx"), {"gpu", "slow"})
    assert not keep_cell(mk("#| eval: false\nx"), {"gpu", "slow", "net"})


def test_success_injects_only_declared_parameters(proj, monkeypatch):
    _env(proj, monkeypatch)
    (proj / "p.yaml").write_text("seed: 3\nlimit: 4\nnotebooks:\n  '01a': {limit: 10}\n")
    m = run_profile(proj / "p.yaml", run_id="ok1", nbs=proj / "nbs", out_root=proj / "runs", echo=lambda *a, **k: None)
    assert m["status"] == "ok"
    assert [r["notebook"] for r in m["notebooks"]] == ["00_first.ipynb", "01_mid.ipynb", "01a_sub.ipynb"]
    recs = {r["key"]: r for r in m["notebooks"]}
    assert recs["00"]["parameters"] == {"seed": 3, "run_id": "ok1"}
    assert recs["01"]["parameters"] == {"seed": 3}
    assert recs["01a"]["parameters"] == {"seed": 3, "limit": 10} and recs["01a"]["cells_dropped"] == 3
    assert (proj / "out/00.txt").read_text() == "3 ok1" and (proj / "out/01a.txt").read_text() == "13"
    man = json.loads((proj / "runs/ok1/manifest.json").read_text())
    assert man["status"] == "ok" and set(man) >= {"git", "packages", "profile_sha256", "device", "notebooks"}
    assert sorted(p.name for p in (proj / "nbs").iterdir()) == ["00_first.ipynb", "01_mid.ipynb", "01a_sub.ipynb"]


def test_unknown_parameter_and_wrong_type_fail_before_running(proj, monkeypatch):
    _env(proj, monkeypatch)
    (proj / "typo.yaml").write_text("seed: 1\nlimt: 2\n")
    with pytest.raises(ConfigError, match="limt"):
        run_profile(proj / "typo.yaml", nbs=proj / "nbs", out_root=proj / "runs", echo=lambda *a, **k: None)
    (proj / "type.yaml").write_text("seed: one\n")
    with pytest.raises(ConfigError, match="seed"):
        run_profile(proj / "type.yaml", nbs=proj / "nbs", out_root=proj / "runs", echo=lambda *a, **k: None)
    assert not list((proj / "out").iterdir()), "nothing may run when the profile is wrong"


def test_prepare_only_executes_nothing(proj, monkeypatch):
    _env(proj, monkeypatch)
    (proj / "p.yaml").write_text("seed: 2\n")
    m = run_profile(proj / "p.yaml", run_id="prep", prepare_only=True, nbs=proj / "nbs", out_root=proj / "runs",
                    echo=lambda *a, **k: None)
    assert m["status"] == "prepared" and not list((proj / "out").iterdir())
    nb = nbformat.read(proj / "runs/prep/00_first.ipynb", as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) and "seed = 2" in c.source for c in nb.cells)


def test_failure_stops_with_nonzero_exit_and_keeps_partial_notebook(proj, monkeypatch):
    """Through the real console entry point: a raising notebook → exit 1, partial notebook and manifest kept."""
    _env(proj, monkeypatch)
    _nb(proj / "nbs/01_mid.ipynb", "seed: int = 0  # RNG seed", "x = 41", "raise ValueError(f'boom {x + 1}')", "y = 1")
    (proj / "p.yaml").write_text("seed: 1\n")
    r = subprocess.run(CLI + ["run", str(proj / "p.yaml"), "--run-id", "bad", "--nbs-dir", str(proj / "nbs")],
                       capture_output=True, text=True, cwd=proj, env={**__import__("os").environ, "OUT": str(proj / "out")})
    assert r.returncode == 1, r.stdout + r.stderr
    assert "01_mid.ipynb" in r.stderr and "[2/3] 01_mid.ipynb" in r.stdout
    assert "without encryption" not in r.stdout + r.stderr     # kernels talk over IPC, not unencrypted TCP
    run = Path(__import__("t2g2p2s.core", fromlist=["runs_dir"]).runs_dir()) / "bad"
    try:
        partial = nbformat.read(run / "01_mid.ipynb", as_version=4)
        outs = [o for c in partial.cells for o in c.get("outputs", [])]
        assert any(o.get("ename") == "ValueError" and "boom 42" in o.get("evalue", "") for o in outs)
        man = json.loads((run / "manifest.json").read_text())
        assert man["status"] == "failed" and [n["status"] for n in man["notebooks"]] == ["ok", "failed"]
        assert not (run / "01a_sub.ipynb").exists(), "the run must stop at the first failure"
    finally:
        import shutil
        shutil.rmtree(run, ignore_errors=True)


def test_cli_reports_config_errors_with_exit_2(tmp_path):
    (tmp_path / "p.yaml").write_text("- not a mapping\n")
    r = subprocess.run(CLI + ["run", str(tmp_path / "p.yaml")], capture_output=True, text=True)
    assert r.returncode == 2 and "expected a mapping" in r.stderr
    r = subprocess.run(CLI + ["run", str(tmp_path / "missing.yaml")], capture_output=True, text=True)
    assert r.returncode == 2 and "no such file" in r.stderr


def test_sample_profile_prepares(root, tmp_path):
    """The shipped sample profile is accepted by every shipped notebook (parameters injected, nothing executed)."""
    m = run_profile(root / "params/sample.yaml", run_id="prep-sample", prepare_only=True, out_root=tmp_path,
                    echo=lambda *a, **k: None)
    assert m["status"] == "prepared" and len(m["notebooks"]) == len(numbered_notebooks(root / "nbs"))
