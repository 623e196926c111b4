"""duis: an offline, deterministic stand-in for the GB smart-metering DCC."""

__version__ = "0.1.0"
