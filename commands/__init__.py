"""Operator commands: one typed registry behind ad-hoc commands, Jabber-RPC, SOAP, REST and `xmppctl`."""
