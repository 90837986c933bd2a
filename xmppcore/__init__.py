"""The XMPP protocol, sans-I/O: bytes in, events out. Imports neither Django nor asyncio."""
