"""Pure core: no I/O, no threads, no clocks, no adapter libraries. Everything here is table-driven and
tested directly; adapters feed it events and carry out what it asks through the ports in ``ports``."""
