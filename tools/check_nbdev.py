"""Fail when `nbdev_clean` or `nbdev_export` would change a file: notebooks must be clean and the library in sync.

Runs both commands on a temporary copy of the checkout (settings.ini, nbs/, t2g2p2s/), so the work tree is never
modified, and lists every file that would change.
"""
import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _digest(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


def main() -> int:
    bindir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory(prefix="t2g2p2s-nbdev-") as tmp:
        tmp = Path(tmp)
        for name in ("settings.ini", "setup.py", "README.md"):
            shutil.copy2(ROOT / name, tmp / name)
        for name in ("nbs", "t2g2p2s"):
            shutil.copytree(ROOT / name, tmp / name, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
        before = {**{f"nbs/{k}": v for k, v in _digest(tmp / "nbs").items()},
                  **{f"t2g2p2s/{k}": v for k, v in _digest(tmp / "t2g2p2s").items()}}
        for cmd in ("nbdev_clean", "nbdev_export"):
            r = subprocess.run([str(bindir / cmd)], cwd=tmp, capture_output=True, text=True)
            if r.returncode != 0:
                print(f"{cmd} failed:\n{r.stdout}{r.stderr}", file=sys.stderr)
                return 1
        after = {**{f"nbs/{k}": v for k, v in _digest(tmp / "nbs").items()},
                 **{f"t2g2p2s/{k}": v for k, v in _digest(tmp / "t2g2p2s").items()}}
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    if changed:
        print("nbdev_clean/nbdev_export would change these files (run `make sync` and commit):", file=sys.stderr)
        for k in changed:
            print(f"  {k}", file=sys.stderr)
        return 1
    print(f"nbdev: {len([k for k in before if k.startswith('nbs/')])} notebooks clean, library in sync")
    return 0


if __name__ == "__main__":
    sys.exit(main())
