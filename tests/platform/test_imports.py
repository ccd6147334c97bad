"""No module outside softphone/platform imports a POSIX-only or Windows-only module at import time.

Two checks: a static walk of every module's top-level code (also sees branches Linux never runs), and a real
import of every module with ``__import__`` watched, which also catches imports done by module-level calls.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "softphone"
POSIX_ONLY = {"fcntl", "termios", "pwd", "grp", "resource", "posix", "tty", "pty"}
WINDOWS_ONLY = {"winreg", "msvcrt", "_winapi", "winsound", "_overlapped", "nt"}
FORBIDDEN = POSIX_ONLY | WINDOWS_ONLY


def _top_level_imports(tree: ast.AST) -> list[tuple[int, str]]:
    """Imports executed when the module is imported: everything not inside a function body."""
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if isinstance(child, ast.Import):
                found.extend((child.lineno, a.name.split(".")[0]) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                found.append((child.lineno, child.module.split(".")[0]))
            visit(child)

    visit(tree)
    return found


def offending_imports(package: Path) -> list[str]:
    bad = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package.parent)
        if rel.parts[:2] == ("softphone", "platform"):
            continue
        for line, mod in _top_level_imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if mod in FORBIDDEN:
                bad.append(f"{rel}:{line}: import {mod}")
    return bad


def test_no_platform_only_import_outside_the_seams() -> None:
    bad = offending_imports(PACKAGE)
    assert not bad, "move these behind softphone/platform (or into the function that needs them):\n" + "\n".join(bad)


def test_the_walk_sees_guarded_and_nested_imports(tmp_path: Path) -> None:
    """The checker itself: a top-level import inside ``if``/``try`` counts, one inside a function does not."""
    pkg = tmp_path / "softphone"
    (pkg / "platform").mkdir(parents=True)
    (pkg / "platform" / "ok.py").write_text("import fcntl\n")
    (pkg / "lazy.py").write_text("def f():\n    import fcntl\n    return fcntl\n")
    (pkg / "guarded.py").write_text("import sys\nif sys.platform == 'win32':\n    import winreg\n"
                                    "try:\n    from termios import tcgetattr\nexcept ImportError:\n    pass\n")
    assert offending_imports(pkg) == ["softphone/guarded.py:3: import winreg",
                                      "softphone/guarded.py:5: import termios"]


_WATCH = r"""
import builtins, importlib, json, pkgutil, sys
FORBIDDEN = set(json.loads(sys.argv[1]))
seen = []
orig = builtins.__import__
def watched(name, globals=None, locals=None, fromlist=(), level=0):
    who = (globals or {}).get("__name__") or ""
    if level == 0 and name.split(".")[0] in FORBIDDEN and (who == "softphone" or who.startswith("softphone.")) \
            and not who.startswith("softphone.platform"):
        seen.append(f"{who}: import {name}")
    return orig(name, globals, locals, fromlist, level)
builtins.__import__ = watched
import softphone
failed = []
for info in pkgutil.walk_packages(softphone.__path__, "softphone."):
    if info.name.endswith("__main__"):
        continue
    try:
        importlib.import_module(info.name)
    except Exception as exc:
        failed.append(f"{info.name}: {exc!r}")
print(json.dumps({"seen": seen, "failed": failed}))
"""


def test_importing_every_module_imports_no_platform_only_module() -> None:
    r = subprocess.run([sys.executable, "-c", _WATCH, json.dumps(sorted(FORBIDDEN))], cwd=ROOT,
                       capture_output=True, text=True, timeout=120,
                       env={"QTWEBENGINE_DISABLE_SANDBOX": "1", "PATH": "/usr/bin:/bin", "HOME": str(ROOT)})
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["failed"] == [], "modules that do not import (run `make setup`):\n" + "\n".join(out["failed"])
    assert out["seen"] == [], "import-time platform-only imports:\n" + "\n".join(out["seen"])
