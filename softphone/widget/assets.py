"""Web assets shipped inside the Python package, so the app needs no Node at run time.

One clear rule: **the sources live in ``ui/``** (``ui/app``, ``ui/widget``, ``ui/sandbox``, the helpers they
share in ``ui/common``, and the SDK installed by ``npm ci`` from ``ui/package-lock.json``); **the server and an
installed window only ever use ``softphone/web/``**, a generated copy (not in git) made by
``python -m softphone.widget.assets --sync``, which ``make``'s set-up and the packaging build run. ``--check``
exits non-zero when the copy is stale, and a unit test runs it, so an edit in ``ui/`` that was not synced cannot
go unnoticed.

Each page's scripts are ES modules that import the shared helpers as ``./common/…``: the copy puts ``ui/common``
inside every page (build-free bundling), so each page is served from one folder under the routes it already
has. (A source-tree window serves ``ui/common`` at the same place itself: softphone/desktop/resources.py.)

Layout of ``softphone/web``::

    app/       the desktop window's page (softphone://app/ in Qt WebEngine), with common/
    widget/    the calling widget (served at ``/``, ``/widget/*``), with common/
    sandbox/   the CRM sandbox playing HubSpot's role (served at ``/sandbox``), with common/
    vendor/    calling-extensions-sdk.js (the SDK's UMD ``dist/main.js``), its LICENSE and a version stamp
"""

from __future__ import annotations

import argparse
import filecmp
import hashlib
import json
import shutil
import sys
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent
WEB_DIR = PACKAGE_DIR / "web"
REPO_UI = PACKAGE_DIR.parent / "ui"
SDK_PACKAGE = "@hubspot/calling-extensions-sdk"
SDK_FILE = "calling-extensions-sdk.js"
MIRRORED = ("app", "widget", "sandbox")
SHARED = "common"


def sdk_source_dir(ui_dir: Path = REPO_UI) -> Path:
    return ui_dir / "node_modules" / SDK_PACKAGE


def vendor_stamp(web_dir: Path = WEB_DIR) -> dict[str, str]:
    """``{"package", "version", "sha256"}`` of the vendored SDK, or {} if it is missing."""
    try:
        data = json.loads((web_dir / "vendor" / "calling-extensions-sdk.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def page_files(page: str, ui_dir: Path = REPO_UI) -> list[tuple[Path, Path]]:
    """(source, path inside the page's folder) for one page: its own files and ``common/`` (ui/common)."""
    root, shared = ui_dir / page, ui_dir / SHARED
    own = [(src, src.relative_to(root)) for src in _files(root)]
    clash = [str(rel) for _, rel in own if rel.parts[0] == SHARED]
    if clash:
        raise ValueError(f"ui/{page} has its own {SHARED}/ ({', '.join(clash)}): shared helpers live in ui/{SHARED}")
    return own + [(src, Path(SHARED) / src.relative_to(shared)) for src in _files(shared)]


def _planned(ui_dir: Path, web_dir: Path) -> list[tuple[Path, Path]]:
    """(source, destination) pairs the copy must consist of."""
    pairs: list[tuple[Path, Path]] = []
    sdk = sdk_source_dir(ui_dir)
    pairs.append((sdk / "dist" / "main.js", web_dir / "vendor" / SDK_FILE))
    pairs.append((sdk / "LICENSE", web_dir / "vendor" / "calling-extensions-sdk.LICENSE"))
    for name in MIRRORED:
        pairs += [(src, web_dir / name / rel) for src, rel in page_files(name, ui_dir)]
    return pairs


def _stamp_for(ui_dir: Path) -> dict[str, str]:
    sdk = sdk_source_dir(ui_dir)
    meta = json.loads((sdk / "package.json").read_text(encoding="utf-8"))
    digest = hashlib.sha256((sdk / "dist" / "main.js").read_bytes()).hexdigest()
    return {"package": SDK_PACKAGE, "version": str(meta["version"]), "sha256": digest}


def check(ui_dir: Path = REPO_UI, web_dir: Path = WEB_DIR) -> list[str]:
    """Differences between ``ui/`` and the packaged copy ([] = in sync)."""
    if not sdk_source_dir(ui_dir).is_dir():
        return [f"{sdk_source_dir(ui_dir)} is missing: run `npm ci` in {ui_dir}"]
    problems: list[str] = []
    wanted = _planned(ui_dir, web_dir)
    for src, dst in wanted:
        if not dst.is_file():
            problems.append(f"missing {dst.relative_to(web_dir)}")
        elif not filecmp.cmp(src, dst, shallow=False):
            problems.append(f"stale {dst.relative_to(web_dir)}")
    wanted_dst = {dst for _, dst in wanted}
    for name in MIRRORED:
        for extra in _files(web_dir / name):
            if extra not in wanted_dst:
                problems.append(f"extra {extra.relative_to(web_dir)} (not in ui/{name} or ui/{SHARED})")
    if vendor_stamp(web_dir) != _stamp_for(ui_dir):
        problems.append("stale vendor/calling-extensions-sdk.json")
    return problems


def sync(ui_dir: Path = REPO_UI, web_dir: Path = WEB_DIR) -> list[str]:
    """Copy ``ui/`` sources and the installed SDK into the package; returns what changed."""
    if not sdk_source_dir(ui_dir).is_dir():
        raise FileNotFoundError(f"{sdk_source_dir(ui_dir)} is missing: run `npm ci` in {ui_dir}")
    changed: list[str] = []
    wanted = _planned(ui_dir, web_dir)
    for src, dst in wanted:
        if dst.is_file() and filecmp.cmp(src, dst, shallow=False):
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        changed.append(str(dst.relative_to(web_dir)))
    wanted_dst = {dst for _, dst in wanted}
    for name in MIRRORED:
        for extra in _files(web_dir / name):
            if extra not in wanted_dst:
                extra.unlink()
                changed.append(f"removed {extra.relative_to(web_dir)}")
    stamp = _stamp_for(ui_dir)
    if vendor_stamp(web_dir) != stamp:
        (web_dir / "vendor" / "calling-extensions-sdk.json").write_text(
            json.dumps(stamp, indent=2) + "\n", encoding="utf-8")
        changed.append("vendor/calling-extensions-sdk.json")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m softphone.widget.assets", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--sync", action="store_true", help="copy ui/ pages, ui/common and the SDK into softphone/web")
    mode.add_argument("--check", action="store_true", help="exit 1 if softphone/web is out of date")
    parser.add_argument("--ui-dir", type=Path, default=REPO_UI)
    args = parser.parse_args(argv)
    try:
        if args.sync:
            changed = sync(args.ui_dir)
            print("assets: " + (", ".join(changed) if changed else "up to date"))
            return 0
        problems = check(args.ui_dir)
    except (FileNotFoundError, ValueError) as exc:
        print(f"assets: {exc}", file=sys.stderr)
        return 1
    for p in problems:
        print(f"assets: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
