#!/usr/bin/env bash
# `make package`: the Linux one-folder build, dist/softphone/ (run it as dist/softphone/softphone).
#
#   bash packaging/build-linux.sh            build (incremental: PyInstaller's cache in build/pyinstaller)
#   CLEAN=1 bash packaging/build-linux.sh    build from scratch
#   TARBALL=1 bash packaging/build-linux.sh  also write dist/softphone-VERSION-linux-x86_64.tar.gz
#
# Needs the dev set-up first (.venv with the app installed: `make setup`, which `make package` runs).
# Writes only build/pyinstaller/ and dist/ (both git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."

PYINSTALLER_PIN="pyinstaller==6.22.3"
HOOKS_PIN="pyinstaller-hooks-contrib==2026.9"
PY=.venv/bin/python

if [ ! -x "$PY" ]; then
  echo "package: no .venv: run 'make setup' first (make package does it)." >&2
  exit 2
fi

# 1. The pinned PyInstaller (a dev tool: the `dev` extra should carry the same pins).
want_pyi=${PYINSTALLER_PIN#*==}
have_pyi=$("$PY" -c 'import PyInstaller; print(PyInstaller.__version__)' 2>/dev/null || true)
if [ "$have_pyi" != "$want_pyi" ]; then
  echo "package: installing $PYINSTALLER_PIN $HOOKS_PIN into .venv"
  .venv/bin/pip install -q "$PYINSTALLER_PIN" "$HOOKS_PIN"
fi

# 2. One version source: pyproject.toml. The frozen app reads it from the copied dist-info, so the installed
#    metadata must match pyproject before we copy it.
read_version() {
  "$PY" - <<'EOF'
try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
with open("pyproject.toml", "rb") as fh:
    print(tomllib.load(fh)["project"]["version"])
EOF
}
VERSION=$(read_version)
installed=$("$PY" -c 'from importlib.metadata import version; print(version("softphone"))' 2>/dev/null || true)
if [ "$installed" != "$VERSION" ]; then
  echo "package: installed metadata says $installed, pyproject says $VERSION: refreshing the editable install"
  .venv/bin/pip install -q --no-deps -e .
fi

# 3. The widget assets shipped in the build must be the ones ui/ says (SDK bundle included).
#    softphone/web is generated (not in git): make it from ui/ and the npm-installed SDK, then verify.
if [ ! -d ui/node_modules ]; then
  echo "package: ui/node_modules is missing: run 'make setup' first (npm ci)" >&2
  exit 1
fi
"$PY" -m softphone.widget.assets --sync >/dev/null
if ! "$PY" -m softphone.widget.assets --check; then
  echo "package: softphone/web does not match ui/ after syncing" >&2
  exit 1
fi

# 4. Build.
ARGS=(--noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller)
if [ "${CLEAN:-0}" = "1" ]; then ARGS+=(--clean); fi
rm -rf dist/softphone
start=$(date +%s)
.venv/bin/pyinstaller "${ARGS[@]}" packaging/softphone.spec
build_s=$(( $(date +%s) - start ))

APP=dist/softphone
# 5. Desktop integration files next to the binary: `dist/softphone/softphone install-desktop` writes the
#    per-user entry (Exec = this binary) and icon; share/ is for system packagers (.deb/.rpm, /opt installs).
install -D -m 0644 packaging/softphone.desktop "$APP/share/applications/softphone.desktop"
install -D -m 0644 assets/icons/softphone.svg "$APP/share/icons/hicolor/scalable/apps/softphone.svg"
install -D -m 0644 docs/CHANGELOG.md "$APP/CHANGELOG.md"

# 6. Quick check + build info (the digest lets tests/packaging know whether this build is stale).
got=$("$APP/softphone" --version)
if [ "$got" != "softphone $VERSION" ]; then
  echo "package: the build says '$got', expected 'softphone $VERSION'" >&2
  exit 1
fi
size_b=$(du -sb "$APP" | cut -f1)
"$PY" - "$APP/BUILD-INFO.json" "$VERSION" "$build_s" "$size_b" <<'EOF'
import json, platform, subprocess, sys, time
from pathlib import Path
sys.path.insert(0, "packaging")
import build_inputs
import PyInstaller
out, version, build_s, size_b = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
try:
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
except Exception:
    commit = ""
info = {
    "version": version, "inputs_sha256": build_inputs.digest(), "git_commit": commit,
    "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "build_seconds": build_s,
    "size_bytes": size_b, "python": platform.python_version(), "pyinstaller": PyInstaller.__version__,
    "platform": f"{platform.system()}-{platform.machine()}", "glibc": "-".join(platform.libc_ver()),
}
Path(out).write_text(json.dumps(info, indent=2) + "\n")
EOF

echo "package: built $APP (softphone $VERSION) in ${build_s}s"
echo "package: size $(du -sh "$APP" | cut -f1) on disk ($size_b bytes); largest parts:"
( cd "$APP/_internal" && du -s -- * 2>/dev/null | sort -rn | head -8 | awk '{printf "  %6.1f MB  %s\n", $1/1024, $2}' )

if [ "${TARBALL:-0}" = "1" ]; then
  tarball="dist/softphone-$VERSION-linux-$(uname -m).tar.gz"
  tar -C dist -czf "$tarball" softphone
  echo "package: $tarball ($(du -h "$tarball" | cut -f1))"
fi
