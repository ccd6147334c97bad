"""Runtime hook of the frozen app: programs we start that are not part of the bundle get the user's own
environment back.

PyInstaller's bootloader points ``LD_LIBRARY_PATH`` at the bundle (``_internal/``) so that the app finds its
libraries; every child inherits it. A child that is not ours - ``xdg-open`` and then the user's browser
(Help links), ``xdg-mime`` (install-desktop), ``certutil``/``update-ca-certificates`` (cert install) - would then
load the bundle's copies of libnss3, libglib, libssl... built for the build machine, not for the user's system.
PyInstaller's PySide6 hook also sets ``QT_PLUGIN_PATH``/``QML2_IMPORT_PATH`` to the bundle, which a Qt program
(a KDE browser or viewer opened through xdg-open) would obey. So: for any child whose program is outside the
bundle, restore ``LD_LIBRARY_PATH`` (PyInstaller keeps the original in ``LD_LIBRARY_PATH_ORIG``), drop the
bootloader's ``_PYI_*`` variables and every variable that points into the bundle. Children that are the
bundle itself (the engine the window starts, ``sys.executable``) keep them. Qt's own helper
(QtWebEngineProcess) is started by Chromium, not through ``subprocess``, and keeps the bundle's libraries.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any


def _install() -> None:
    bundle = os.path.dirname(os.path.realpath(sys.executable))
    ours = os.environ.get("LD_LIBRARY_PATH", "")
    original_init: Any = subprocess.Popen.__init__

    def program(args: Any, executable: Any, shell: Any) -> str:
        if executable:
            return str(executable)
        if shell:
            return "/bin/sh"
        if isinstance(args, (str, bytes, os.PathLike)):
            return os.fsdecode(args)
        try:
            return os.fsdecode(next(iter(args)))
        except (TypeError, StopIteration):
            return ""

    def is_ours(prog: str) -> bool:
        if not prog:
            return False
        if os.sep not in prog:
            import shutil

            prog = shutil.which(prog) or prog
        return os.path.realpath(prog).startswith(bundle + os.sep)

    def user_env(env: dict[str, str]) -> dict[str, str]:
        env = dict(env)
        if "LD_LIBRARY_PATH_ORIG" in env:
            env["LD_LIBRARY_PATH"] = env.pop("LD_LIBRARY_PATH_ORIG")
        elif env.get("LD_LIBRARY_PATH") == ours:
            env.pop("LD_LIBRARY_PATH", None)
        for key in list(env):
            value = env[key]
            if key.startswith("_PYI_"):
                del env[key]
            elif bundle in value:
                # PyInstaller's Qt hook points QT_PLUGIN_PATH/QML2_IMPORT_PATH into the bundle: a Qt program the
                # user opens through us (a KDE browser or viewer) would load our plugins. Search lists lose our
                # entries; anything else pointing into the bundle goes.
                kept = [p for p in value.split(os.pathsep) if p and bundle not in p]
                if key in ("PATH", "XDG_DATA_DIRS", "XDG_CONFIG_DIRS") and kept:
                    env[key] = os.pathsep.join(kept)
                else:
                    del env[key]
        return env

    def __init__(self: Any, args: Any, *a: Any, **kw: Any) -> None:
        # env is keyword-only in practice (positional index 9 of Popen); leave positional calls alone
        if len(a) < 9 and not is_ours(program(args, kw.get("executable"), kw.get("shell"))):
            env = kw.get("env")
            kw["env"] = user_env(dict(os.environ) if env is None else dict(env))
        original_init(self, args, *a, **kw)

    setattr(subprocess.Popen, "__init__", __init__)  # noqa: B010


if getattr(sys, "frozen", False) and sys.platform.startswith("linux"):
    _install()
