"""The pubsub engine (XEP-0060, XEP-0163): pure rules, no ORM and no XML wire code.

`config`: the node configuration fields (§16.4 pubsub#node_config) and their rules;
`access`: the affiliation capability table (§4.1) and the access models (§4.5);
`node`: a node's state as the protocol face loads it, and who gets its notifications.
"""
