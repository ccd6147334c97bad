"""The tray icon: state at a glance (ready / do not disturb / in call / ringing / missed / offline) and a
small menu (show, do not disturb, quit). Clicking the icon shows or hides the window."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QAction, QIcon
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from softphone.desktop import resources
from softphone.desktop.state import TrayState


def tray_icon(state: TrayState) -> QIcon:
    return QIcon(str(resources.icon(f"tray-{state.value}")))


class Tray:
    def __init__(self, *, on_toggle_window: Callable[[], None], on_show: Callable[[], None],
                 on_dnd: Callable[[bool], None], on_quit: Callable[[], None]) -> None:
        self.state = TrayState.OFFLINE
        self._icons = {s: tray_icon(s) for s in TrayState}
        self.icon = QSystemTrayIcon(self._icons[self.state])
        self.icon.setToolTip("Softphone")
        menu = QMenu()
        self.show_action = QAction("Show Softphone", menu)
        self.show_action.triggered.connect(on_show)
        self.dnd_action = QAction("Do not disturb", menu)
        self.dnd_action.setCheckable(True)
        self.dnd_action.toggled.connect(lambda checked: on_dnd(bool(checked)))
        self.quit_action = QAction("Quit Softphone", menu)
        self.quit_action.triggered.connect(on_quit)
        menu.addAction(self.show_action)
        menu.addAction(self.dnd_action)
        menu.addSeparator()
        menu.addAction(self.quit_action)
        self._menu = menu
        self.icon.setContextMenu(menu)

        def activated(reason: QSystemTrayIcon.ActivationReason) -> None:
            reasons = QSystemTrayIcon.ActivationReason
            if reason in (reasons.Trigger, reasons.DoubleClick):
                on_toggle_window()

        self.icon.activated.connect(activated)
        self.icon.show()

    @staticmethod
    def available() -> bool:
        return bool(QSystemTrayIcon.isSystemTrayAvailable())

    def set_state(self, state: TrayState, tooltip: str) -> None:
        self.state = state
        self.icon.setIcon(self._icons[state])
        self.icon.setToolTip(tooltip)

    def set_dnd(self, dnd: bool) -> None:
        """Reflect the engine's availability without firing ``on_dnd`` again."""
        self.dnd_action.blockSignals(True)
        self.dnd_action.setChecked(dnd)
        self.dnd_action.blockSignals(False)

    def hide(self) -> None:
        self.icon.hide()
