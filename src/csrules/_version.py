"""The csrules version (read by hatchling and by the trace's engine_version)."""

__version__ = "0.1.0"
