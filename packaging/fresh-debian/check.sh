#!/usr/bin/env bash
# Proves the developer set-up on a bare Debian 12: debootstrap minbase, add only what a user who just
# installed Debian would have (python3 make git sudo ca-certificates, the stock /etc/hosts), clone this
# repository's HEAD into it and run `make test` (default) or another make target inside the chroot as
# root. A package packaging/apt/*.txt forgets shows up here instead of on a user's machine.
#
# Usage (as root, or through sudo):  packaging/fresh-debian/check.sh [make-target ...]
#   FRESH_REBUILD=1  debootstrap again instead of unpacking the cached base tarball
#   FRESH_KEEP=1     keep the chroot after the run (to look around; mounts are removed all the same)
#   FRESH_MIRROR=URL Debian mirror for debootstrap (default: the host's first Debian mirror)
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$(pwd)
WORK="$REPO/build/fresh-debian"
ROOT="$WORK/root"
BASE_TAR="$WORK/base-bookworm.tar"
LOG="$WORK/last-run.log"
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(test)

if [ "$(id -u)" != "0" ]; then exec sudo -E "$0" "$@"; fi
mkdir -p "$WORK"
if ! command -v debootstrap >/dev/null 2>&1; then
  echo "fresh-debian: installing debootstrap on the host"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi

# Mounts are undone on every exit, failures included; processes the suite left running inside the
# chroot (daemons keep mounts busy) are ended first, found by their root directory.
MOUNTS=()
cleanup() {
  local rc=$?
  set +e
  for pid in $(ls /proc | grep -E '^[0-9]+$'); do
    if [ "$(readlink "/proc/$pid/root" 2>/dev/null)" = "$ROOT" ]; then kill -KILL "$pid" 2>/dev/null; fi
  done
  # network namespaces the suite made inside the chroot live under its /run: unmount them first
  if [ -d "$ROOT/run/netns" ]; then
    for ns in "$ROOT"/run/netns/*; do [ -e "$ns" ] && umount -l "$ns" 2>/dev/null; done
  fi
  for ((i=${#MOUNTS[@]}-1; i>=0; i--)); do
    umount -R "${MOUNTS[$i]}" 2>/dev/null || umount -lR "${MOUNTS[$i]}" 2>/dev/null
  done
  if [ -d "$ROOT" ] && [ -z "${FRESH_KEEP:-}" ]; then
    if grep -q " $ROOT" /proc/mounts; then
      echo "fresh-debian: mounts still under $ROOT; not deleting it" >&2
    else
      rm -rf --one-file-system "$ROOT"
    fi
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

host_mirror() {
  # the first Debian archive URI in the host's apt sources (deb822 or one-line style)
  local uri
  uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ {for (i=2;i<=NF;i++) print $i}' \
        | grep -E '/debian/?$' | head -1 || true)
  if [ -z "$uri" ]; then
    uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
          | awk '$1=="deb" {for (i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) {print $i; break}}' \
          | grep -E '/debian/?$' | head -1 || true)
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}
MIRROR=${FRESH_MIRROR:-$(host_mirror)}

# a run that was killed hard may have left mounts behind: never delete through them
if [ -d "$ROOT" ]; then
  { grep -o " $ROOT[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do umount -l "$m" || true; done
  if grep -q " $ROOT" /proc/mounts; then echo "fresh-debian: mounts left under $ROOT" >&2; exit 1; fi
  rm -rf --one-file-system "$ROOT"
fi
: >"$LOG"
if [ -n "${FRESH_REBUILD:-}" ] || [ ! -f "$BASE_TAR" ]; then
  echo "fresh-debian: debootstrap bookworm minbase from $MIRROR"
  t0=$(date +%s)
  debootstrap --variant=minbase --include=python3,make,git,sudo,ca-certificates \
    bookworm "$ROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -30 "$WORK/debootstrap.log" >&2; exit 1; }
  # the host's Debian archive configuration (security updates included); third-party archives are
  # left out: a bare Debian has none
  rm -f "$ROOT/etc/apt/sources.list"
  copied=0
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    if grep -qE '^(URIs:|deb )' "$f" && ! grep -E '^(URIs:|deb )' "$f" | grep -vqE '/debian(-security)?/?( |$)'; then
      cp "$f" "$ROOT/etc/apt/${f#/etc/apt/}"; copied=1
    fi
  done
  [ $copied = 1 ] || echo "deb $MIRROR bookworm main" >"$ROOT/etc/apt/sources.list"
  chroot "$ROOT" apt-get clean
  tar -C "$ROOT" -cf "$BASE_TAR" .
  echo "fresh-debian: base system ready in $(( $(date +%s) - t0 )) s (cached in ${BASE_TAR#$REPO/})"
else
  echo "fresh-debian: unpacking the cached base (FRESH_REBUILD=1 to debootstrap again)"
  mkdir -p "$ROOT"
  tar -C "$ROOT" -xf "$BASE_TAR"
fi

# Trust what the host trusts: certificates the host added to its store (e.g. a TLS-intercepting proxy's CA)
# are added to the chroot's, and pip/node are pointed at the system bundle (pip's own bundle would not have
# them). On an ordinary network nothing is added.
EXTRA_CA=$(python3 - "$ROOT" <<'PY'
import re, sys
from pathlib import Path
pem = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)
host = pem.findall(Path("/etc/ssl/certs/ca-certificates.crt").read_text())
mine = set(pem.findall((Path(sys.argv[1]) / "etc/ssl/certs/ca-certificates.crt").read_text()))
extra = [c for c in host if c not in mine]
d = Path(sys.argv[1]) / "usr/local/share/ca-certificates"
for i, c in enumerate(extra):
    (d / f"host-trust-{i}.crt").write_text(c + "\n")
print(len(extra))
PY
)
CA_ENV=()
if [ "$EXTRA_CA" != 0 ]; then
  chroot "$ROOT" /usr/sbin/update-ca-certificates
  CA_ENV=(PIP_CERT=/etc/ssl/certs/ca-certificates.crt NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt)
  echo "fresh-debian: added $EXTRA_CA certificate(s) the host trusts beyond Debian's to the chroot"
fi

# what every installed Debian has, and nothing more
printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$ROOT/etc/hosts"
echo fresh-debian >"$ROOT/etc/hostname"
cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"

# this repository's HEAD (committed work only), cloned from the working tree, not from a remote
git clone -q --no-hardlinks "$REPO" "$ROOT/root/softphone"
echo "fresh-debian: cloned $(git -C "$REPO" rev-parse --short HEAD) into the chroot"

mnt() { mount "$@"; MOUNTS+=("${@: -1}"); }
# the chroot's / must be a mount point, as on an installed machine: `ip netns exec` (the NAT tests) remounts it
mnt --bind "$ROOT" "$ROOT"
mnt -t proc proc "$ROOT/proc"
mnt -t sysfs sysfs "$ROOT/sys"
mnt --bind /dev "$ROOT/dev"
mnt --bind /dev/pts "$ROOT/dev/pts"
mnt -t tmpfs -o mode=1777 tmpfs "$ROOT/dev/shm"
mnt -t tmpfs -o mode=0755 tmpfs "$ROOT/run"

rc=0
for target in "${TARGETS[@]}"; do
  echo "fresh-debian: make $target (log: ${LOG#$REPO/})"
  t0=$(date +%s)
  set +e
  chroot "$ROOT" /usr/bin/env -i HOME=/root USER=root LOGNAME=root LANG=C.UTF-8 TERM=dumb \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    QTWEBENGINE_DISABLE_SANDBOX=1 "${CA_ENV[@]}" \
    /bin/bash -c "cd /root/softphone && make $target" 2>&1 | tee -a "$LOG"
  rc=${PIPESTATUS[0]}
  set -e
  echo "fresh-debian: make $target exited $rc after $(( $(date +%s) - t0 )) s"
  [ $rc = 0 ] || break
done
exit $rc
