"""Where the window's page (ui/app) and icons (assets/icons) are, in a source tree or an installed package.

A source checkout (``pip install -e``, ``make run``) uses the repository folders directly, so UI edits show
at the next start; an installed wheel carries copies under ``softphone/web/app`` and ``softphone/web/icons``
(package data).
"""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent.parent          # softphone/
_REPO = _PKG.parent


def _first(*candidates: Path) -> Path:
    for c in candidates:
        if c.exists():
            return c
    return candidates[-1]


def app_dir() -> Path:
    return _first(_REPO / "ui" / "app" / "index.html", _PKG / "web" / "app" / "index.html").parent


def icons_dir() -> Path:
    return _first(_REPO / "assets" / "icons" / "softphone.svg", _PKG / "web" / "icons" / "softphone.svg").parent


def index_html() -> Path:
    return app_dir() / "index.html"


def icon(name: str) -> Path:
    """``name`` without extension: ``softphone``, ``tray-ready`` … (SVG preferred, PNG fallback)."""
    d = icons_dir()
    svg = d / f"{name}.svg"
    return svg if svg.exists() else d / f"{name}.png"


def desktop_template() -> Path | None:
    """packaging/softphone.desktop in a source tree (installed packages use the built-in copy)."""
    p = _REPO / "packaging" / "softphone.desktop"
    return p if p.exists() else None
