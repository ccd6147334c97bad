"""The digest of everything a build is made from, so a build can say whether it is stale.

``python packaging/build_inputs.py`` prints it; packaging/build-linux.sh writes it into
``dist/softphone/BUILD-INFO.json`` and tests/packaging rebuilds only when the two differ. Content, not
timestamps: a fresh clone has new mtimes but the same build.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# (folder or file, glob) relative to the repository root
INPUTS: tuple[tuple[str, str], ...] = (
    ("pyproject.toml", ""),
    ("softphone", "**/*.py"),
    ("softphone/web", "**/*"),
    ("ui/app", "**/*"),
    ("ui/common", "**/*"),
    ("ui/widget", "**/*"),
    ("ui/sandbox", "**/*"),
    ("ui/package-lock.json", ""),
    ("assets/icons", "**/*"),
    ("packaging/softphone.spec", ""),
    ("packaging/softphone_entry.py", ""),
    ("packaging/bundle_check.py", ""),
    ("packaging/build-linux.sh", ""),
    ("packaging/hooks", "*.py"),
    ("packaging/rthooks", "*.py"),
    ("packaging/softphone.desktop", ""),
)


def input_files(repo: Path = REPO) -> Iterator[Path]:
    for rel, pattern in INPUTS:
        base = repo / rel
        if not pattern:
            if base.is_file():
                yield base
            continue
        for p in sorted(base.glob(pattern)):
            if p.is_file() and "__pycache__" not in p.parts:
                yield p


def digest(repo: Path = REPO) -> str:
    h = hashlib.sha256()
    for p in input_files(repo):
        h.update(p.relative_to(repo).as_posix().encode())
        h.update(b"\0")
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


if __name__ == "__main__":
    print(digest(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO))
