"""Link-handler seam: how the OS learns that Softphone opens ``tel:``, ``sip:``, ``sips:`` and ``callto:``.

- Windows: per-user keys under ``HKCU\\Software\\Classes\\<scheme>`` (``URL Protocol``, ``shell\\open\\command``)
  plus the Default Apps capabilities, written through an injectable ``Registry`` (``WinRegistry`` uses
  ``winreg``; ``TreeRegistry`` writes the same keys into a directory tree and renders a ``.reg`` file, which is
  how tests and dry runs see exactly what would be written).
- macOS: ``CFBundleURLTypes`` in the app bundle's ``Info.plist`` (``plistlib``), written at build time.
- Linux: the .desktop entry and ``xdg-mime`` (softphone.desktop.install).
"""

from __future__ import annotations

import contextlib
import json
import plistlib
import sys
from pathlib import Path
from typing import Any, Protocol

SCHEMES = ("tel", "sip", "sips", "callto")
APP_KEY = "Softphone"
PROG_ID = "Softphone.Link"
URL_TYPE_NAME = "Phone links"


class Registry(Protocol):
    """The slice of the HKCU registry we write: string values (``name=""`` is the key's default value)."""

    def set_value(self, key: str, name: str, value: str) -> None: ...

    def delete_tree(self, key: str) -> None: ...


class WinRegistry:
    """The real HKEY_CURRENT_USER (Windows only; ``winreg`` is imported when used)."""

    def set_value(self, key: str, name: str, value: str) -> None:
        if sys.platform != "win32":
            raise OSError("the Windows registry exists on Windows only")
        else:
            import winreg

            with winreg.CreateKeyEx(winreg.HKEY_CURRENT_USER, key, 0, winreg.KEY_WRITE) as k:
                winreg.SetValueEx(k, name or None, 0, winreg.REG_SZ, value)

    def delete_tree(self, key: str) -> None:
        if sys.platform != "win32":
            raise OSError("the Windows registry exists on Windows only")
        else:
            import winreg

            def delete(path: str) -> None:   # winreg has no DeleteTree: children first
                with winreg.OpenKey(winreg.HKEY_CURRENT_USER, path, 0, winreg.KEY_ALL_ACCESS) as k:
                    while True:
                        try:
                            child = winreg.EnumKey(k, 0)
                        except OSError:
                            break
                        delete(f"{path}\\{child}")
                winreg.DeleteKey(winreg.HKEY_CURRENT_USER, path)

            with contextlib.suppress(FileNotFoundError):
                delete(key)


class TreeRegistry:
    """HKCU as a directory tree: one folder per key, its values in ``values.json``; renders a ``.reg`` file."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _dir(self, key: str) -> Path:
        parts = [p for p in key.split("\\") if p]
        if not parts or any(p in (".", "..") or "/" in p for p in parts):
            raise ValueError(f"bad registry key {key!r}")
        return self.root.joinpath(*parts)

    def set_value(self, key: str, name: str, value: str) -> None:
        d = self._dir(key)
        d.mkdir(parents=True, exist_ok=True)
        f = d / "values.json"
        values = json.loads(f.read_text(encoding="utf-8")) if f.exists() else {}
        values[name] = value
        f.write_text(json.dumps(values, indent=1, sort_keys=True), encoding="utf-8")

    def delete_tree(self, key: str) -> None:
        import shutil

        shutil.rmtree(self._dir(key), ignore_errors=True)

    def values(self, key: str) -> dict[str, str]:
        f = self._dir(key) / "values.json"
        data: dict[str, str] = json.loads(f.read_text(encoding="utf-8")) if f.exists() else {}
        return data

    def to_reg(self) -> str:
        """The tree as a ``regedit`` import file (Windows Registry Editor Version 5.00)."""
        out = ["Windows Registry Editor Version 5.00", ""]
        for f in sorted(self.root.rglob("values.json")):
            key = "\\".join(f.parent.relative_to(self.root).parts)
            out.append(f"[HKEY_CURRENT_USER\\{key}]")
            for name, value in sorted(json.loads(f.read_text(encoding="utf-8")).items()):
                esc = value.replace("\\", "\\\\").replace('"', '\\"')
                out.append(f'@="{esc}"' if name == "" else f'"{name}"="{esc}"')
            out.append("")
        return "\r\n".join(out)


def windows_command(exe: str, *args: str) -> str:
    """The ``shell\\open\\command`` line: the windowed exe, quoted, and the link as one quoted argument."""
    for part in (exe, *args):
        if '"' in part:
            raise ValueError(f"a command part cannot contain a double quote: {part!r}")
    return " ".join(f'"{p}"' for p in (exe, *args)) + ' "%1"'


def register_windows(registry: Registry, exe: str, args: tuple[str, ...] = (),
                     schemes: tuple[str, ...] = SCHEMES) -> list[str]:
    """Register ``exe args… <link>`` for the link schemes for this user; returns the keys written."""
    command = windows_command(exe, *args)
    written: list[str] = []
    for scheme in schemes:
        key = f"Software\\Classes\\{scheme}"
        registry.set_value(key, "", f"URL:{scheme} link")
        registry.set_value(key, "URL Protocol", "")
        registry.set_value(f"{key}\\DefaultIcon", "", f'"{exe}",0')
        registry.set_value(f"{key}\\shell\\open\\command", "", command)
        written.append(key)
    # Windows 10/11 "Default apps": the user can pick Softphone for each scheme in Settings
    registry.set_value(f"Software\\Classes\\{PROG_ID}", "", "Softphone link")
    registry.set_value(f"Software\\Classes\\{PROG_ID}\\shell\\open\\command", "", command)
    caps = f"Software\\{APP_KEY}\\Capabilities"
    registry.set_value(caps, "ApplicationName", "Softphone")
    registry.set_value(caps, "ApplicationDescription", "Call from HubSpot with your SIP account")
    for scheme in schemes:
        registry.set_value(f"{caps}\\URLAssociations", scheme, PROG_ID)
    registry.set_value("Software\\RegisteredApplications", APP_KEY, caps)
    written += [f"Software\\Classes\\{PROG_ID}", caps, "Software\\RegisteredApplications"]
    return written


def url_types(schemes: tuple[str, ...] = SCHEMES) -> list[dict[str, Any]]:
    """The ``CFBundleURLTypes`` value (also used by packaging/macos/softphone.spec)."""
    return [{"CFBundleURLName": URL_TYPE_NAME, "CFBundleTypeRole": "Viewer", "CFBundleURLSchemes": list(schemes)}]


def write_url_types(info_plist: Path, schemes: tuple[str, ...] = SCHEMES) -> dict[str, Any]:
    """Declare the schemes in an app bundle's ``Info.plist``, keeping every other key and URL type."""
    with info_plist.open("rb") as fh:
        plist: dict[str, Any] = plistlib.load(fh)
    others = [t for t in plist.get("CFBundleURLTypes", []) if t.get("CFBundleURLName") != URL_TYPE_NAME]
    plist["CFBundleURLTypes"] = others + url_types(schemes)
    tmp = info_plist.with_name(info_plist.name + ".tmp")
    with tmp.open("wb") as fh:
        plistlib.dump(plist, fh)
    tmp.replace(info_plist)
    return plist
