"""Where the window's page (ui/app, with ui/common) and icons (assets/icons) are, in a source tree or a package.

A source checkout (``pip install -e``, ``make run``) uses the repository folders directly, so UI edits show
at the next start; an installed package carries the copy ``python -m softphone.widget.assets --sync`` made
under ``softphone/web/app`` (ui/app with ui/common at ``app/common``) and the icons under ``softphone/web/icons``.

The page is served to Qt WebEngine at ``softphone://app/…`` (see ``qtmain.PageScheme``), not from a file: URL:
its scripts are ES modules, which Chromium refuses to load from file:. ``page_file`` is the one rule mapping a
URL path to a file: ``/common/…`` is ui/common, everything else ui/app.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

_PKG = Path(__file__).resolve().parent.parent          # softphone/
_REPO = _PKG.parent

SCHEME = "softphone"
PAGE_HOST = "app"
PAGE_URL = f"{SCHEME}://{PAGE_HOST}/index.html"
SHARED = "common"

# what the page may load, with the type Chromium needs (module scripts must be served as JavaScript)
PAGE_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}


def _first(*candidates: Path) -> Path:
    for c in candidates:
        if c.exists():
            return c
    return candidates[-1]


def app_dir() -> Path:
    return _first(_REPO / "ui" / "app" / "index.html", _PKG / "web" / "app" / "index.html").parent


def common_dir() -> Path:
    """ui/common in a source tree; the package's copy beside the page (``web/app/common``) otherwise."""
    return _first(_REPO / "ui" / SHARED / "dom.js", _PKG / "web" / "app" / SHARED / "dom.js").parent


def page_file(url_path: str) -> Path | None:
    """The file behind a page URL path (``/index.html``, ``/common/dom.js``), or None when there is none.

    Only files of the page's own folders and types: no ``..``, no hidden files, nothing a link leads out to."""
    parts = PurePosixPath("/" + url_path).parts[1:]
    if not parts or any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        return None
    base, rel = (common_dir(), parts[1:]) if parts[0] == SHARED else (app_dir(), parts)
    if not rel:
        return None
    path = base.joinpath(*rel)
    if path.suffix not in PAGE_TYPES or not path.is_file():
        return None
    if not path.resolve().is_relative_to(base.resolve()):
        return None
    return path


def icons_dir() -> Path:
    return _first(_REPO / "assets" / "icons" / "softphone.svg", _PKG / "web" / "icons" / "softphone.svg").parent


def icon(name: str) -> Path:
    """``name`` without extension: ``softphone``, ``tray-ready`` … (SVG preferred, PNG fallback)."""
    d = icons_dir()
    svg = d / f"{name}.svg"
    return svg if svg.exists() else d / f"{name}.png"


def desktop_template() -> Path | None:
    """packaging/softphone.desktop in a source tree (installed packages use the built-in copy)."""
    p = _REPO / "packaging" / "softphone.desktop"
    return p if p.exists() else None
