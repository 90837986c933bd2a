"""The server runtime: sessions, routing, delivery, transports (the analogue of Prosody's core/)."""
