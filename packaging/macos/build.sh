#!/usr/bin/env bash
# macOS build: Softphone.app (PyInstaller, hardened runtime, entitlements) in a .dmg (hdiutil).
# On an Apple Silicon Mac (macOS 14+) in a venv with `pip install -e '.[dev]'` done, from anywhere:
#   bash packaging/macos/build.sh
# Signing and notarization run only when their secrets are set:
#   SOFTPHONE_CODESIGN_IDENTITY  "Developer ID Application: Your Company (TEAMID)" (in the keychain)
#   SOFTPHONE_NOTARY_PROFILE     a `xcrun notarytool store-credentials` profile name
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-python}

VERSION=$("$PY" -c 'import tomllib;print(tomllib.load(open("pyproject.toml","rb"))["project"]["version"])')
echo "softphone $VERSION"

# 1. the widget assets shipped must match ui/ (as on Linux)
"$PY" -m softphone.widget.assets --check

# 2. the icon from the SVG (Qt renders the PNGs, iconutil packs them)
rm -rf build/icons/softphone.iconset
QT_QPA_PLATFORM=offscreen "$PY" packaging/render_icons.py iconset build/icons/softphone.iconset
iconutil -c icns -o build/icons/softphone.icns build/icons/softphone.iconset

# 3. the app (PyInstaller signs every Mach-O inside out when SOFTPHONE_CODESIGN_IDENTITY is set)
"$PY" -m PyInstaller --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller \
    packaging/macos/softphone.spec
APP=dist/Softphone.app
if [ -n "${SOFTPHONE_CODESIGN_IDENTITY:-}" ]; then
  codesign --force --options runtime --timestamp --entitlements packaging/macos/entitlements.plist \
           --sign "$SOFTPHONE_CODESIGN_IDENTITY" "$APP"
  codesign --verify --deep --strict --verbose=2 "$APP"
else
  # ad-hoc signature with the hardened runtime, so the entitlements are at least checked by the build
  codesign --force --deep --options runtime --entitlements packaging/macos/entitlements.plist --sign - "$APP"
fi
"$APP/Contents/MacOS/softphone" --version
"$APP/Contents/MacOS/softphone" --bundle-selftest
/usr/libexec/PlistBuddy -c "Print :CFBundleURLTypes:0:CFBundleURLSchemes" "$APP/Contents/Info.plist"

# 4. the disk image
DMG="dist/Softphone-$VERSION.dmg"
rm -f "$DMG"
STAGE=$(mktemp -d)
cp -R "$APP" "$STAGE/"
ln -s /Applications "$STAGE/Applications"
hdiutil create -volname Softphone -srcfolder "$STAGE" -ov -format UDZO "$DMG"
rm -rf "$STAGE"
if [ -n "${SOFTPHONE_CODESIGN_IDENTITY:-}" ]; then
  codesign --timestamp --sign "$SOFTPHONE_CODESIGN_IDENTITY" "$DMG"
fi
if [ -n "${SOFTPHONE_NOTARY_PROFILE:-}" ]; then
  xcrun notarytool submit "$DMG" --keychain-profile "$SOFTPHONE_NOTARY_PROFILE" --wait
  xcrun stapler staple "$DMG"
fi
echo "built $DMG"
