"""Sinks: cheap per-record `add_*` that only build records, and all I/O in `flush()`."""
