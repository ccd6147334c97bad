"""``softphone install-desktop`` (wired by softphone/cli.py through ``register``)."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "install-desktop",
        help="add Softphone to the desktop menu and make it open tel:, sip: and callto: links",
    )
    p.add_argument("--no-default", action="store_true",
                   help="write the menu entry but do not make Softphone the default link handler")
    p.set_defaults(func=cmd_install_desktop)


def cmd_install_desktop(args: argparse.Namespace) -> int:
    from softphone.desktop.install import describe, install

    report = install(set_default=not args.no_default)
    print(describe(report))
    return 0 if all(report.handlers.values()) else 1
