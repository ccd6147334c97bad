"""``softphone cert ...``: the local CA that lets browsers trust ``https://localhost:9025/``.

    softphone cert path [--leaf]          print the CA certificate's path (creates the CA on first use)
    softphone cert install [--dry-run] [--no-system] [--nss-db DIR]...
                                          trust the CA: Chrome/Chromium/Firefox NSS databases on Linux, the
                                          system store (root: runs it; otherwise prints the sudo commands),
                                          the login keychain on macOS, the user Root store on Windows
    softphone cert uninstall [--dry-run] [--no-system] [--nss-db DIR]...

Manual equivalents (what ``install`` runs):
  Linux NSS:  certutil -d sql:$HOME/.pki/nssdb -A -t "C,," -n "Softphone local CA …" -i ca.pem
  Debian:     sudo cp ca.pem /usr/local/share/ca-certificates/softphone-local-ca.crt && sudo update-ca-certificates
  macOS:      security add-trusted-cert -r trustRoot -k ~/Library/Keychains/login.keychain-db ca.pem
  Windows:    certutil -user -addstore Root ca.pem

Exit codes: 0 ok, 1 a trust store refused (the rest were still tried), 2 bad usage.
Restart the browser afterwards (Chrome reads NSS at start-up).
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from softphone import config as cfg
from softphone.widget.certs import TrustStep, ensure_certificates, install_steps, uninstall_steps


def _paths_from(args: argparse.Namespace) -> Any:
    return ensure_certificates(cfg.data_dir())


def cmd_path(args: argparse.Namespace) -> int:
    paths = _paths_from(args)
    print(paths.leaf if args.leaf else paths.ca)
    return 0


def _run_steps(steps: list[TrustStep], dry_run: bool) -> int:
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    failures = 0
    manual: list[TrustStep] = []
    for step in steps:
        cmd = " ".join(shlex.quote(a) for a in step.argv)
        if step.needs_root and not is_root:
            manual.append(step)
            continue
        if dry_run:
            if step.create_dir is not None:
                print(f"mkdir -p {shlex.quote(str(step.create_dir))} && "
                      f"certutil -d sql:{shlex.quote(str(step.create_dir))} -N --empty-password")
            print(cmd)
            continue
        if shutil.which(step.argv[0]) is None:
            hint = " (install libnss3-tools)" if step.argv[0] == "certutil" else ""
            print(f"cert: {step.where}: `{step.argv[0]}` not found{hint}", file=sys.stderr)
            failures += 1
            continue
        if step.create_dir is not None:
            step.create_dir.mkdir(parents=True, exist_ok=True)
            subprocess.run(["certutil", "-d", f"sql:{step.create_dir}", "-N", "--empty-password"],
                           capture_output=True, check=False)
        res = subprocess.run(list(step.argv), capture_output=True, text=True, check=False)
        if res.returncode != 0:
            print(f"cert: {step.where}: failed: {(res.stderr or res.stdout).strip()[:300]}", file=sys.stderr)
            failures += 1
        else:
            print(f"cert: {step.where}: ok")
    if manual:
        print("cert: the system store needs root; run:")
        for step in manual:
            print("  sudo " + " ".join(shlex.quote(a) for a in step.argv))
    return 1 if failures else 0


def cmd_install(args: argparse.Namespace) -> int:
    paths = _paths_from(args)
    dbs = [Path(d).expanduser() for d in args.nss_db] if args.nss_db else None
    steps = install_steps(paths, system=not args.no_system, nss_dbs=dbs)
    if not args.dry_run:
        print(f"cert: trusting {paths.ca}")
    rc = _run_steps(steps, args.dry_run)
    if not args.dry_run and rc == 0:
        print("cert: done. Restart your browser, then open https://localhost:"
              f"{cfg.load().widget.port}/sandbox to check.")
    return rc


def cmd_uninstall(args: argparse.Namespace) -> int:
    paths = _paths_from(args)
    dbs = [Path(d).expanduser() for d in args.nss_db] if args.nss_db else None
    return _run_steps(uninstall_steps(paths, system=not args.no_system, nss_dbs=dbs), args.dry_run)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("cert", help="the local CA for the HubSpot widget (https://localhost)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cert_command", required=True)
    path = sub.add_parser("path", help="print the CA certificate path")
    path.add_argument("--leaf", action="store_true", help="print the localhost certificate instead")
    path.set_defaults(func=cmd_path)
    for name, func, text in (("install", cmd_install, "trust the local CA in browsers and the OS"),
                             ("uninstall", cmd_uninstall, "remove the local CA from trust stores")):
        c = sub.add_parser(name, help=text)
        c.add_argument("--dry-run", action="store_true", help="print the commands instead of running them")
        c.add_argument("--no-system", action="store_true", help="browsers' NSS databases only (Linux)")
        c.add_argument("--nss-db", action="append", metavar="DIR",
                       help="this NSS database instead of the detected ones (repeatable)")
        c.set_defaults(func=func)
