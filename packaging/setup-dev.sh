#!/usr/bin/env bash
# One-shot developer/CI set-up on Debian/Ubuntu: system packages (only when missing), a .venv on a
# CPython that pjsua2-python has wheels for (3.10-3.12), the package in editable mode, and the npm
# packages for the widget. Idempotent: a second run costs a few seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

# One list per area in packaging/apt/*.txt (base, and what each test area adds), so lists never collide.
mapfile -t APT_PACKAGES < <(cat packaging/apt/*.txt | sed 's/#.*//' | tr -s ' \t' '\n' | grep -v '^$' | sort -u)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing missing system packages: ${missing[*]}"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  # Debian's npm pulls many node-* packages; a distro with nodejs from NodeSource already has npm.
  if command -v npm >/dev/null 2>&1; then
    missing=("${missing[@]/npm/}"); missing=("${missing[@]/nodejs/}")
  fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${missing[*]} >/dev/null
fi

pick_python() {
  for cand in python3.12 python3.11 python3.10 /usr/bin/python3 python3; do
    if command -v "$cand" >/dev/null 2>&1; then
      if "$cand" -c 'import sys, venv, ensurepip; sys.exit(0 if (3,10) <= sys.version_info[:2] <= (3,12) else 1)' 2>/dev/null; then
        command -v "$cand"; return 0
      fi
    fi
  done
  return 1
}

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; sys.exit(0 if (3,10) <= sys.version_info[:2] <= (3,12) else 1)'; then
  PY=$(pick_python) || {
    echo "setup: ERROR: pjsua2-python 2.15.1.post1 has wheels for CPython 3.10-3.12 only; none was found." >&2
    echo "       Install python3.11 or python3.12 (with venv), then run make again." >&2
    exit 1
  }
  echo "setup: creating .venv with $PY ($($PY --version))"
  rm -rf .venv
  "$PY" -m venv .venv
fi

STAMP=.venv/.installed
if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ]; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e ".[dev]"
  touch "$STAMP"
fi

if [ -f ui/package-lock.json ]; then
  if [ ! -d ui/node_modules ] || [ ui/package-lock.json -nt ui/node_modules/.package-lock.json ]; then
    (cd ui && npm ci --no-audit --no-fund --loglevel=error)
  fi
  # the web assets the app serves are generated from ui/ (+ the SDK from npm) into softphone/web
  .venv/bin/python -m softphone.widget.assets --sync >/dev/null
fi
