"""HubSpot integration.

``sdk`` is pure (stdlib only): the Calling Extensions SDK message shapes, the mapping from
``CallSnapshot`` to ``outgoingCall`` / ``incomingCall`` / ``callAnswered`` / ``callEnded`` /
``callCompleted`` payloads, validation of what HubSpot sends (``onDialNumber``, engagement ids,
caller-ID matches) and the per-call ledger that makes every SDK message go out exactly once.
The widget server (``softphone.widget``) is its only I/O user.
"""
