"""Core (nbs/00_core.ipynb): file modes of atomic writes, devices, and commands declared with `command`."""
import subprocess
import sys
from pathlib import Path

import pytest

from t2g2p2s.core import COMMANDS, ConfigError, command, command_parser, resolve_device, run_command

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_written_files_follow_the_umask(tmp_path, umask, mode):
    "Every writer (text, bytes, JSON, a path handed to a library) gives new files 0666 less the process's umask."
    code = (f"import os; os.umask({umask}); from pathlib import Path; from t2g2p2s.core import *\n"
            f"d = Path({str(tmp_path)!r})\n"
            "write_text(d / 'a.txt', 'x'); write_bytes(d / 'b.bin', b'x'); write_json(d / 'c.json', {'a': 1})\n"
            "with atomic_path(d / 'd.txt') as p: p.write_text('x')\n"
            "print(' '.join(oct(os.stat(d / n).st_mode & 0o777) for n in ('a.txt', 'b.bin', 'c.json', 'd.txt')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.split() == [oct(mode)] * 4


def test_resolve_device():
    assert resolve_device("cpu") == "cpu" and resolve_device("auto") in ("cpu", "cuda") and resolve_device(None) in ("cpu", "cuda")
    with pytest.raises(ConfigError, match="gpu"): resolve_device("gpu")
    with pytest.raises(ConfigError, match="cuda:x"): resolve_device("cuda:x")


@pytest.fixture
def demo():
    calls = []

    @command("test demo", positional=("extra",), choices={"mode": ("a", "b")}, aliases={"count": "-n"},
             groups={"output": ("loud",)}, hidden=("secret",))
    def demo_cmd(name: str,                  # who
                 extra: list[str] = (),      # more names
                 *, out: str,                # where to write
                 mode: str = "a",            # the mode
                 count: int = 1,             # how often
                 ratio: float | None = None, # a ratio
                 loud: bool = False,         # shout
                 quiet: bool = True,         # stay quiet
                 secret: str = "s"):         # not on the command line
        "A demonstration command.\n\nMore text."
        if count < 0: raise ConfigError(f"count={count}: must be ≥ 0")
        calls.append(dict(name=name, extra=extra, out=out, mode=mode, count=count, ratio=ratio, loud=loud,
                          quiet=quiet, secret=secret))
        return 3 if loud else None
    yield calls
    COMMANDS.pop("test demo")


def test_command_arguments_follow_the_signature(demo):
    assert run_command("test demo", ["A", "B", "C", "--out", "o", "-n", "2", "--ratio", "0.5", "--loud",
                                     "--no-quiet", "--mode", "b"]) == 3
    assert demo[-1] == dict(name="A", extra=["B", "C"], out="o", mode="b", count=2, ratio=0.5, loud=True, quiet=False,
                            secret="s")
    assert run_command("test demo", ["A", "--out", "o"]) == 0 and demo[-1]["extra"] == [] and demo[-1]["quiet"] is True


def test_command_help_and_errors(demo, capsys):
    text = command_parser(COMMANDS["test demo"]).format_help()
    assert "A demonstration command." in text and "how often (default: 1)" in text and "output:" in text
    assert "--secret" not in text and "turn off: stay quiet" in text
    assert run_command("test demo", ["A"]) == 2 and "--out" in capsys.readouterr().err          # a required option
    assert run_command("test demo", ["A", "--out", "o", "--mode", "c"]) == 2                    # not a choice
    assert run_command("test demo", ["A", "--out", "o", "-n", "-1"]) == 2
    assert "test demo: error: count=-1" in capsys.readouterr().err
    assert run_command("test demo", ["--help"]) == 0


def test_every_declared_command_builds_its_parser():
    "All commands of the package: each module imports, each command has a summary and a parser that builds."
    from t2g2p2s.pipeline import COMMAND_MODULES, _import_group
    for g in COMMAND_MODULES: _import_group(g)
    groups = set(COMMAND_MODULES)
    for name, cmd in COMMANDS.items():
        if name.startswith("test "): continue
        assert name.split()[0] in groups, f"{name}: its group is not in pipeline.COMMAND_MODULES"
        assert cmd.func.__module__ in COMMAND_MODULES[name.split()[0]], f"{name}: declared in {cmd.func.__module__}"
        assert cmd.summary and command_parser(cmd).format_help()


def test_run_tasks_takes_tasks_from_a_generator_as_results_come_back():
    """A generator's tasks are made as they are handed out: two per worker ahead of the results in a pool, one at a
    time in this process; every task runs once, with or without worker replacement."""
    from t2g2p2s.core import run_tasks
    for executor, n_jobs, recycle, ahead in (("process", 2, None, 5), ("process", 2, 1, 5), ("serial", 1, None, 1)):
        made = []
        def tasks(n=9):
            for i in range(n): made.append(i); yield -i
        results = run_tasks(abs, tasks(), executor, n_jobs=n_jobs, recycle_workers=recycle, total=9)
        first = next(results)
        assert len(made) <= ahead, (executor, recycle, made)
        assert sorted([first, *results]) == list(range(9)) and made == list(range(9))


def test_process_pool_replaces_workers_when_asked():
    """With recycle_workers=1 and two workers, every two tasks run in new worker processes (results come pool by
    pool); without it the two workers do all six."""
    from synthetic import worker_pid
    from t2g2p2s.core import ConfigError, run_tasks
    fresh = list(run_tasks(worker_pid, range(6), "process", n_jobs=2, recycle_workers=1))
    pools = [set(fresh[i:i + 2]) for i in (0, 2, 4)]
    assert all(not (a & b) for a, b in ((pools[0], pools[1]), (pools[1], pools[2]), (pools[0], pools[2])))
    assert len(set(run_tasks(worker_pid, range(6), "process", n_jobs=2))) <= 2
    with pytest.raises(ConfigError, match="recycle_workers=0"):
        list(run_tasks(worker_pid, range(2), "process", n_jobs=2, recycle_workers=0))
