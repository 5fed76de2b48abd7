"""Rewrite the sha256 list of data/README.md (between the checksums markers) from the files in data/."""
import hashlib
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- checksums:begin -->", "<!-- checksums:end -->"


def main() -> int:
    data = ROOT / "data"
    readme = data / "README.md"
    text = readme.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        print(f"{readme}: markers {BEGIN} / {END} missing", file=sys.stderr)
        return 2
    files = sorted(p for p in data.rglob("*") if p.is_file() and p != readme)
    lines = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(data).as_posix()}" for p in files]
    block = "\n".join([BEGIN, "```", *lines, "```", END])
    head, rest = text.split(BEGIN, 1)
    new = head + block + rest.split(END, 1)[1]
    fd, tmp = tempfile.mkstemp(dir=data, prefix=".README.md.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(new)
    os.replace(tmp, readme)
    print(f"{len(lines)} files listed in {readme.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
