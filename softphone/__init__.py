"""Desktop SIP softphone for HubSpot: pjsua2 engine, HubSpot Calling Extensions widget, desktop window."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("softphone")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
