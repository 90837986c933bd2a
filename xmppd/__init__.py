"""The server runtime: sessions, routing, delivery, transports (the analogue of Prosody's core/)."""

__version__ = "0.1.0"
