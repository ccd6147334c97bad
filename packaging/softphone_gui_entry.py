"""Entry point of the windowed executable on Windows (``SoftphoneApp.exe``) and macOS (``Softphone.app``): with no
arguments it is ``softphone run``; a link (``tel:…``) dials through the window; anything else (the window
starting its engine as ``sys.executable -m softphone serve``) is the normal command line.
Linux has one executable (packaging/softphone_entry.py): its desktop entry runs ``softphone %u``.
"""

from __future__ import annotations

import sys

from softphone_entry import frozen_argv


def gui_argv(argv: list[str]) -> list[str]:
    args = [a for a in frozen_argv(argv) if not a.startswith("-psn_")]  # old macOS Finder process serial number
    return args or ["run"]


def main() -> int:
    from softphone.cli import main as cli_main

    return cli_main(gui_argv(sys.argv[1:]))


if __name__ == "__main__":
    sys.exit(main())
