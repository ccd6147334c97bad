"""The incoming-call toast: a small always-on-top Qt card with Answer and Decline.

A plain Qt widget rather than a desktop notification: it works with the main window hidden, on any desktop
(no notification daemon needed, none under Xvfb), never takes keyboard focus from what the rep is typing,
and its buttons act at once. The same card, in "missed" mode, offers Call back for a missed call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QRect, Qt, QTimer
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from softphone.desktop.state import caller_label

MISSED_HIDE_MS = 20_000
MARGIN = 16

_STYLE = """
QFrame#card {{ background: {bg}; border: 1px solid {border}; border-radius: 14px; }}
QLabel {{ color: {fg}; background: transparent; }}
QLabel#kicker {{ color: {muted}; font-size: 12px; font-weight: 600; letter-spacing: 0.5px; }}
QLabel#name {{ font-size: 17px; font-weight: 600; }}
QLabel#detail {{ color: {muted}; font-size: 13px; }}
QPushButton {{ border-radius: 10px; padding: 8px 14px; font-size: 14px; font-weight: 600; min-width: 96px; }}
QPushButton#answer, QPushButton#callback {{ background: #1f9d55; color: white; border: 1px solid #1a8a4a; }}
QPushButton#answer:hover, QPushButton#callback:hover {{ background: #1a8a4a; }}
QPushButton#decline {{ background: #d64545; color: white; border: 1px solid #bf3b3b; }}
QPushButton#decline:hover {{ background: #bf3b3b; }}
QPushButton#dismiss {{ background: transparent; color: {fg}; border: 1px solid {border}; }}
QPushButton:focus {{ outline: none; border: 2px solid #4c8dff; }}
"""


def _palette(dark: bool) -> dict[str, str]:
    if dark:
        return {"bg": "#1f2329", "border": "#3a404a", "fg": "#eef1f5", "muted": "#a3acb9"}
    return {"bg": "#ffffff", "border": "#d9dee5", "fg": "#1b1f24", "muted": "#5b6472"}


class CallToast(QWidget):
    """``on_action(action, call)`` with action ``answer`` | ``decline`` | ``callback`` | ``open``."""

    def __init__(self, on_action: Callable[[str, dict[str, Any]], None], icon: QIcon, dark: bool) -> None:
        super().__init__(None)
        self._on_action = on_action
        self._call: dict[str, Any] = {}
        self.mode = "incoming"
        self.setWindowFlags(Qt.WindowType.Window | Qt.WindowType.FramelessWindowHint
                            | Qt.WindowType.WindowStaysOnTopHint | Qt.WindowType.Tool
                            | Qt.WindowType.WindowDoesNotAcceptFocus)
        self.setAttribute(Qt.WidgetAttribute.WA_TranslucentBackground)
        self.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)
        self.setWindowIcon(icon)
        self.setFixedSize(380, 136)

        card = QFrame(self)
        card.setObjectName("card")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(card)
        lay = QVBoxLayout(card)
        lay.setContentsMargins(18, 14, 18, 14)
        lay.setSpacing(2)
        self.kicker = QLabel(card)
        self.kicker.setObjectName("kicker")
        self.name = QLabel(card)
        self.name.setObjectName("name")
        self.detail = QLabel(card)
        self.detail.setObjectName("detail")
        for w in (self.kicker, self.name, self.detail):
            w.setTextFormat(Qt.TextFormat.PlainText)
            lay.addWidget(w)
        lay.addStretch(1)
        row = QHBoxLayout()
        row.setSpacing(10)
        row.addStretch(1)
        self.secondary = QPushButton(card)
        self.primary = QPushButton(card)
        for b in (self.secondary, self.primary):
            b.setCursor(Qt.CursorShape.PointingHandCursor)
            row.addWidget(b)
        lay.addLayout(row)
        self.secondary.clicked.connect(lambda: self._act(self._secondary_action()))
        self.primary.clicked.connect(lambda: self._act(self._primary_action()))
        self._hide_timer = QTimer(self)
        self._hide_timer.setSingleShot(True)
        self._hide_timer.timeout.connect(self.hide)
        self.set_dark(dark)

    # ------------------------------------------------------------------ API (Qt main thread)

    @property
    def call_id(self) -> str | None:
        return str(self._call.get("call_id")) if self._call and self.isVisible() else None

    def set_dark(self, dark: bool) -> None:
        self.setStyleSheet(_STYLE.format(**_palette(dark)))

    def show_incoming(self, call: dict[str, Any]) -> None:
        self._hide_timer.stop()
        self.mode = "incoming"
        self._call = call
        label = caller_label(call)
        self.setWindowTitle(f"Incoming call — {label}")
        self.kicker.setText("INCOMING CALL" + (f"  ·  {call['account']}" if call.get("account") else ""))
        self.name.setText(label)
        self.detail.setText(_detail(call, label) or "Ringing…")
        self._buttons(("decline", "Decline"), ("answer", "Answer"))
        self._place()

    def show_missed(self, call: dict[str, Any]) -> None:
        if self.isVisible() and self.mode == "incoming":
            return              # an incoming call is more urgent; the tray and history still show the miss
        self.mode = "missed"
        self._call = call
        label = caller_label(call)
        self.setWindowTitle(f"Missed call — {label}")
        self.kicker.setText("MISSED CALL")
        self.name.setText(label)
        self.detail.setText(_detail(call, label))
        self._buttons(("dismiss", "Dismiss"), ("callback", "Call back"))
        self._place()
        self._hide_timer.start(MISSED_HIDE_MS)

    def hide_call(self, call_id: str) -> None:
        if self.mode == "incoming" and self._call.get("call_id") == call_id:
            self.hide()

    def button_rects(self) -> dict[str, list[int]]:
        """Global screen rectangles of the buttons (test hook: real clicks with xdotool)."""
        out: dict[str, list[int]] = {}
        for b in (self.primary, self.secondary):
            top_left = b.mapToGlobal(b.rect().topLeft())
            out[b.objectName()] = [top_left.x(), top_left.y(), b.width(), b.height()]
        return out

    def click(self, action: str) -> bool:
        for b in (self.primary, self.secondary):
            if b.objectName() == action and self.isVisible():
                b.click()
                return True
        return False

    # ------------------------------------------------------------------ internals

    def _buttons(self, secondary: tuple[str, str], primary: tuple[str, str]) -> None:
        for button, (name, text) in ((self.secondary, secondary), (self.primary, primary)):
            button.setObjectName(name)
            button.setText(text)
            button.setAccessibleName(f"{text} call from {caller_label(self._call)}")
        self.setStyleSheet(self.styleSheet())       # re-polish: object names changed
        self.setAccessibleName(self.windowTitle())

    def _primary_action(self) -> str:
        return self.primary.objectName()

    def _secondary_action(self) -> str:
        return self.secondary.objectName()

    def _act(self, action: str) -> None:
        call = dict(self._call)
        self.hide()
        if action != "dismiss":
            self._on_action(action, call)

    def _place(self) -> None:
        screen = QGuiApplication.primaryScreen()
        area = screen.availableGeometry() if screen is not None else QRect(0, 0, 1280, 800)
        self.move(area.right() - self.width() - MARGIN, area.bottom() - self.height() - MARGIN)
        self.show()
        self.raise_()

    def mousePressEvent(self, event: Any) -> None:
        """Clicking the card (not a button) opens the window on the call."""
        if self._call:
            self._on_action("open", dict(self._call))
        super().mousePressEvent(event)


def _detail(call: dict[str, Any], label: str) -> str:
    """Under the name: the contact's company and the number (when the name is not the number itself)."""
    remote = str(call.get("remote") or "")
    bits = [str(call.get("remote_company") or "").strip(), remote if label != remote else ""]
    return " · ".join(b for b in bits if b)
