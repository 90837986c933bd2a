"""Rosters, presence subscriptions and presence (RFC 6121 §2, §3, §4)."""
