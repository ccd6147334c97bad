"""Run every benchmark in bench/ one after the other and print their tables (numbers, never assertions)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SKIP = {"run_all.py", "__init__.py"}


def main() -> int:
    scripts = sorted(p for p in HERE.glob("*.py") if p.name not in SKIP and not p.name.startswith("_"))
    only = set(sys.argv[1:])
    rc = 0
    for script in scripts:
        if only and script.stem not in only:
            continue
        print(f"\n## {script.stem}\n", flush=True)
        r = subprocess.run([sys.executable, str(script)], check=False)
        if r.returncode != 0:
            print(f"(benchmark {script.name} failed with exit code {r.returncode})")
            rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
