"""The HubSpot calling widget bridge: an aiohttp HTTPS/WSS server on loopback (``service``), the per-call
routing of SDK messages between widget sessions and the engine (``hub``), the local CA (``certs``), the
request checks (``security``, threat model in ``service``) and the packaged web assets (``assets``)."""
