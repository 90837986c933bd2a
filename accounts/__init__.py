"""XMPP accounts: SCRAM credentials, in-band registration (XEP-0077), last logout (XEP-0012)."""
