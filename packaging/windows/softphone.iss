; Inno Setup 6 script: the per-user installer for the one-folder build in dist\softphone\.
; Built by packaging\windows\build.ps1 (which generates build\registry.iss and passes the version):
;   iscc /DAppVersion=0.1.0 /DRepo=C:\path\to\repo packaging\windows\softphone.iss
; Per user (no admin prompt): the program goes to %LOCALAPPDATA%\Programs\Softphone, the link handlers to HKCU.
; User data (%LOCALAPPDATA%\softphone) is never touched by install, upgrade or uninstall.

#ifndef AppVersion
  #define AppVersion "0.0.0"
#endif
#ifndef Repo
  #define Repo "..\.."
#endif

[Setup]
; never change AppId after the first release: upgrades find the old install by it
AppId={{6E0B5B0C-6A63-4B8E-9F5A-50F7A2B3C1D4}
AppName=Softphone
AppVersion={#AppVersion}
AppPublisher=Softphone
DefaultDirName={autopf}\Softphone
DefaultGroupName=Softphone
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir={#Repo}\dist
OutputBaseFilename=SoftphoneSetup-{#AppVersion}
Compression=lzma2
SolidCompression=yes
WizardStyle=modern
UninstallDisplayIcon={app}\SoftphoneApp.exe
CloseApplications=yes
ChangesAssociations=yes

[Files]
Source: "{#Repo}\dist\softphone\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\Softphone"; Filename: "{app}\SoftphoneApp.exe"
Name: "{userstartup}\Softphone"; Filename: "{app}\SoftphoneApp.exe"; Tasks: autostart

[Tasks]
Name: autostart; Description: "Start Softphone when I sign in"; Flags: unchecked

; tel:, sip:, sips:, callto: handlers: the same keys `softphone install-desktop` writes (generated from the seam)
#include Repo + "\build\registry.iss"

[Run]
Filename: "{app}\SoftphoneApp.exe"; Description: "Start Softphone"; Flags: nowait postinstall skipifsilent
