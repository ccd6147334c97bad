"""PyInstaller hook for pjsua2-python (the wheel the engine uses).

pjsua2/__init__.py imports its SWIG layer lazily (``import_module(".pjsua2")`` on first attribute access), so
static analysis misses both ``pjsua2.pjsua2`` and the extension ``pjsua2._pjsua2``. The wheel's auditwheel
libraries (its own OpenSSL 1.0.2k under hashed names, and the krb5/selinux libraries that build needs) must stay
in ``pjsua2_python.libs/`` next to ``pjsua2/``: the extension's RPATH is ``$ORIGIN/../pjsua2_python.libs`` and
``pjsua2._init_openssl_digests`` globs that folder for its libcrypto. Kept there, under names no other library
asks for, they cannot shadow the system-named ``libssl.so.3`` of Python's ssl and Qt.
"""

from pathlib import Path

from PyInstaller.utils.hooks import copy_metadata, get_package_paths  # type: ignore[import-untyped]

hiddenimports = ["pjsua2.pjsua2", "pjsua2._pjsua2", "pjsua2._version"]

_site, _pkg = get_package_paths("pjsua2")
# Linux (auditwheel) wheels only; the macOS wheel keeps its OpenSSL 3 in pjsua2/.dylibs (found by PyInstaller's
# own dependency analysis through @loader_path) and the Windows wheel is a single .pyd.
_libs = Path(_site) / "pjsua2_python.libs"
binaries = [(str(p), "pjsua2_python.libs") for p in sorted(_libs.iterdir()) if p.is_file()] if _libs.is_dir() else []
datas = copy_metadata("pjsua2-python")
