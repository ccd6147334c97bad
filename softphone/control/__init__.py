"""Local control API: how ``softphone ctl``, ``tel:`` links and the desktop window drive the engine."""
