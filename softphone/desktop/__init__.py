"""The desktop window (pywebview + PySide6): a client of the engine process over the control API.

Entry points: ``softphone.desktop.main:run_window`` (``softphone run`` and tel:/sip:/callto: links) and
``softphone.desktop.cli:register`` (``softphone install-desktop``).
"""
