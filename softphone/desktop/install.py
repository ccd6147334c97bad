"""``softphone install-desktop``: a per-user .desktop entry, the icon, and tel:/sip:/callto: link handlers.

Windows: the handlers go to ``HKCU\\Software\\Classes\\<scheme>`` through the platform links seam (no menu
entry: the installer makes the Start-menu shortcut). macOS: the app bundle's Info.plist declares them (written
at build time), so there is nothing to install. Linux: writes ``$XDG_DATA_HOME/applications/softphone.desktop``
(from packaging/softphone.desktop, with ``Exec`` pointing at this installation) and the icon under
``icons/hicolor/scalable/apps``, then asks ``xdg-mime`` to make it the default handler for the link schemes.
Nothing is written outside the user's data directory.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from softphone.desktop import resources
from softphone.platform import links

DESKTOP_ID = "softphone.desktop"
SCHEMES = ("tel", "sip", "sips", "callto")
MIME_TYPES = tuple(f"x-scheme-handler/{s}" for s in SCHEMES)

# The built-in copy of packaging/softphone.desktop (an installed wheel has no packaging/ folder);
# tests/desktop/test_install.py keeps the two identical.
TEMPLATE = """[Desktop Entry]
Type=Application
Version=1.5
Name=Softphone
GenericName=SIP Softphone
Comment=Call from HubSpot with your SIP account
Exec=softphone %u
TryExec=softphone
Icon=softphone
Terminal=false
Categories=Network;Telephony;Office;
Keywords=phone;call;sip;voip;dialer;hubspot;
MimeType=x-scheme-handler/tel;x-scheme-handler/sip;x-scheme-handler/sips;x-scheme-handler/callto;
StartupNotify=true
StartupWMClass=softphone
SingleMainWindow=true
"""


@dataclass
class InstallReport:
    desktop_file: Path | None
    icon_file: Path | None
    handlers: dict[str, bool] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def xdg_data_home() -> Path:
    env = os.environ.get("XDG_DATA_HOME")
    return Path(env) if env else Path.home() / ".local" / "share"


def launcher() -> list[str]:
    """How the desktop should start us: the ``softphone`` script next to this interpreter, else ``-m``."""
    script = Path(sys.executable).with_name("softphone")
    if script.exists():
        return [str(script)]
    found = shutil.which("softphone")
    if found:
        return [found]
    return [sys.executable, "-m", "softphone"]


def render_entry(exec_argv: list[str]) -> str:
    template = resources.desktop_template()
    text = template.read_text(encoding="utf-8") if template is not None else TEMPLATE
    command = " ".join(_desktop_quote(a) for a in exec_argv)
    out = []
    for line in text.splitlines():
        if line.startswith("Exec="):
            out.append(f"Exec={command} %u")
        elif line.startswith("TryExec="):
            out.append(f"TryExec={exec_argv[0]}")
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def _desktop_quote(arg: str) -> str:
    """Quoting per the Desktop Entry spec (a reserved character → double quotes with escapes)."""
    if arg and not any(c in arg for c in ' \t\n"\'\\><~|&;$*?#()`%'):
        return arg
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`").replace("$", "\\$")
    return f'"{escaped}"'.replace("%", "%%")


def windows_launcher() -> tuple[str, tuple[str, ...]]:
    """(exe, args) Windows starts for a link: the windowed SoftphoneApp.exe of a build, else pythonw -m softphone."""
    if getattr(sys, "frozen", False):
        return str(Path(sys.executable).with_name("SoftphoneApp.exe")), ()
    pythonw = Path(sys.executable).with_name("pythonw.exe")
    return str(pythonw if pythonw.exists() else Path(sys.executable)), ("-m", "softphone")


def install_windows(registry: links.Registry | None = None, set_default: bool = True) -> InstallReport:
    """Per-user link handlers in HKCU (no admin rights); ``registry`` is injectable for tests and dry runs."""
    report = InstallReport(None, None)
    if not set_default:
        report.notes.append("--no-default: no link handler written (the installer adds the Start-menu entry).")
        return report
    exe, args = windows_launcher()
    written = links.register_windows(registry or links.WinRegistry(), exe, args)
    for scheme in links.SCHEMES:
        report.handlers[f"HKCU\\Software\\Classes\\{scheme}"] = f"Software\\Classes\\{scheme}" in written
    report.notes.append("Windows may still ask once which app opens tel: links (Settings > Apps > Default apps > "
                        "Softphone).")
    return report


def install(*, data_home: Path | None = None, set_default: bool = True) -> InstallReport:
    if sys.platform == "win32":
        return install_windows(set_default=set_default)
    if sys.platform == "darwin":
        report = InstallReport(None, None)
        report.notes.append("macOS: Softphone.app declares tel:, sip:, sips: and callto: in its Info.plist "
                            "(CFBundleURLTypes); nothing to install. To make it the default for calls: FaceTime > "
                            "Settings > Default for calls.")
        return report
    home = data_home or xdg_data_home()
    apps = home / "applications"
    icons = home / "icons" / "hicolor" / "scalable" / "apps"
    apps.mkdir(parents=True, exist_ok=True)
    icons.mkdir(parents=True, exist_ok=True)
    desktop_file = apps / DESKTOP_ID
    desktop_file.write_text(render_entry(launcher()), encoding="utf-8")
    icon_file = icons / "softphone.svg"
    shutil.copyfile(resources.icon("softphone"), icon_file)
    report = InstallReport(desktop_file, icon_file)

    if shutil.which("update-desktop-database"):
        subprocess.run(["update-desktop-database", str(apps)], check=False, capture_output=True, timeout=30)
    if not set_default:
        return report
    xdg_mime = shutil.which("xdg-mime")
    if xdg_mime is None:
        report.notes.append("xdg-mime not found (package xdg-utils): link handlers not registered; "
                            "the .desktop entry still declares them.")
        return report
    env = {**os.environ, "XDG_DATA_HOME": str(home)}
    for mime in MIME_TYPES:
        r = subprocess.run([xdg_mime, "default", DESKTOP_ID, mime], env=env, check=False,
                           capture_output=True, text=True, timeout=30)
        report.handlers[mime] = r.returncode == 0
        if r.returncode != 0:
            report.notes.append(f"xdg-mime default {mime} failed: {(r.stderr or r.stdout).strip()[:200]}")
    return report


def describe(report: InstallReport) -> str:
    lines = []
    if report.desktop_file is not None:
        lines.append(f"desktop entry: {report.desktop_file}")
    if report.icon_file is not None:
        lines.append(f"icon:          {report.icon_file}")
    for mime, ok in report.handlers.items():
        lines.append(f"{mime:24} {'handled by Softphone' if ok else 'NOT registered'}")
    lines += [f"note: {n}" for n in report.notes]
    opener = "start" if sys.platform == "win32" else "open" if sys.platform == "darwin" else "xdg-open"
    lines.append(f"Try it: {opener} tel:+14155552671   (or: softphone " + shlex.quote("tel:+14155552671") + ")")
    return "\n".join(lines)
