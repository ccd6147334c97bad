"""Run every benchmark in bench/ one after the other and print their tables (numbers, never assertions).

Each benchmark exits non-zero when a peer carried no call or no audio; this run then ends non-zero too and
names the ones that failed, so a table that measured nothing is never taken for a result.

    .venv/bin/python bench/run_all.py [NAME ...]      (names without .py; none: all of them)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SKIP = {"run_all.py", "__init__.py", "peers_bench.py"}   # (peers_bench: helpers, not a benchmark)


def main() -> int:
    scripts = sorted(p for p in HERE.glob("*.py") if p.name not in SKIP and not p.name.startswith("_"))
    only = set(sys.argv[1:])
    unknown = only - {p.stem for p in scripts}
    if unknown:
        print(f"no such benchmark: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    failed: list[str] = []
    for script in scripts:
        if only and script.stem not in only:
            continue
        print(f"\n## {script.stem}\n", flush=True)
        r = subprocess.run([sys.executable, str(script)], check=False)
        if r.returncode != 0:
            print(f"(benchmark {script.name} failed with exit code {r.returncode})", flush=True)
            failed.append(script.stem)
    if failed:
        print(f"\nFAILED: {', '.join(failed)} (their tables do not measure a real call; see above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
