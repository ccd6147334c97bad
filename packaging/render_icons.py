"""Render assets/icons/softphone.svg into the icon formats Windows and macOS builds need (Qt's SVG renderer,
already a dependency: no extra tool).

    python packaging/render_icons.py ico  build/icons/softphone.ico
    python packaging/render_icons.py iconset build/icons/softphone.iconset   # then: iconutil -c icns …
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SVG = REPO / "assets" / "icons" / "softphone.svg"


def _image(size: int):  # type: ignore[no-untyped-def]
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    img = QImage(size, size, QImage.Format.Format_ARGB32)
    img.fill(Qt.GlobalColor.transparent)
    painter = QPainter(img)
    QSvgRenderer(str(SVG)).render(painter)
    painter.end()
    return img


def main(kind: str, out: Path) -> int:
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance() or QGuiApplication(["render_icons", "-platform", "offscreen"])  # noqa: F841
    out.parent.mkdir(parents=True, exist_ok=True)
    if kind == "ico":
        ok = _image(256).save(str(out), "ICO")
    elif kind == "iconset":
        out.mkdir(parents=True, exist_ok=True)
        ok = True
        for size in (16, 32, 128, 256, 512):
            ok &= _image(size).save(str(out / f"icon_{size}x{size}.png"), "PNG")
            ok &= _image(size * 2).save(str(out / f"icon_{size}x{size}@2x.png"), "PNG")
    else:
        print(f"unknown kind {kind!r}: ico or iconset", file=sys.stderr)
        return 2
    if not ok:
        print(f"could not write {out}", file=sys.stderr)
        return 1
    print(out)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(main(sys.argv[1], Path(sys.argv[2])))
