# Windows build: PyInstaller one-folder app (dist\softphone\) + Inno Setup installer (dist\SoftphoneSetup-VER.exe).
# Run from the repository root in a venv with `pip install -e .[dev]` done:
#   powershell -ExecutionPolicy Bypass -File packaging\windows\build.ps1 [-NoInstaller]
# Signing (optional): set SOFTPHONE_SIGN_CERT_PFX (path) and SOFTPHONE_SIGN_CERT_PASSWORD, or sign later (README).
param([switch]$NoInstaller)
$ErrorActionPreference = "Stop"
Set-Location (Join-Path $PSScriptRoot "..\..")
$py = "python"

$version = & $py -c "import tomllib;print(tomllib.load(open('pyproject.toml','rb'))['project']['version'])"
Write-Host "softphone $version"

# 1. the widget assets shipped must match ui/ (as on Linux)
& $py -m softphone.widget.assets --check
if ($LASTEXITCODE -ne 0) { throw "widget assets are stale: run python -m softphone.widget.assets --sync" }

# 2. icon from the SVG (Qt renders it; no extra tool)
$env:QT_QPA_PLATFORM = "offscreen"
& $py packaging\render_icons.py ico build\icons\softphone.ico
if ($LASTEXITCODE -ne 0) { throw "icon rendering failed" }

# 3. the app
& $py -m PyInstaller --noconfirm --log-level WARN --distpath dist --workpath build\pyinstaller packaging\windows\softphone.spec
if ($LASTEXITCODE -ne 0) { throw "PyInstaller failed" }
& dist\softphone\softphone.exe --version
if ($LASTEXITCODE -ne 0) { throw "the frozen softphone.exe does not start" }
& dist\softphone\softphone.exe --bundle-selftest
if ($LASTEXITCODE -ne 0) { throw "bundle self-test failed" }

function Sign-File($path) {
  if (-not $env:SOFTPHONE_SIGN_CERT_PFX) { return }
  $ts = if ($env:SOFTPHONE_TIMESTAMP_URL) { $env:SOFTPHONE_TIMESTAMP_URL } else { "http://timestamp.digicert.com" }
  & signtool sign /fd SHA256 /tr $ts /td SHA256 /f $env:SOFTPHONE_SIGN_CERT_PFX /p $env:SOFTPHONE_SIGN_CERT_PASSWORD $path
  if ($LASTEXITCODE -ne 0) { throw "signing $path failed" }
}
# sign our executables before the installer packs them (signing changes the files)
Sign-File dist\softphone\softphone.exe
Sign-File dist\softphone\SoftphoneApp.exe

if ($NoInstaller) { exit 0 }

# 4. the installer (Inno Setup 6: choco install innosetup)
& $py packaging\windows\registry_iss.py build\registry.iss
$iscc = (Get-Command iscc.exe -ErrorAction SilentlyContinue).Source
if (-not $iscc) { $iscc = "${env:ProgramFiles(x86)}\Inno Setup 6\ISCC.exe" }
& $iscc "/DAppVersion=$version" "/DRepo=$((Get-Location).Path)" packaging\windows\softphone.iss
if ($LASTEXITCODE -ne 0) { throw "Inno Setup failed" }
Sign-File "dist\SoftphoneSetup-$version.exe"
Write-Host "built dist\SoftphoneSetup-$version.exe"
