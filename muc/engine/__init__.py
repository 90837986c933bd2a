"""The pure engine of XEP-0045 rooms: no ORM, no XML, no I/O (DESIGN.md "muc/room.py").

`roles` holds the permission tables of XEP-0045 §5, `config` the room configuration and its
rules, `history` the discussion history and its selection (§7.2.15), `room` a room with its
occupants, affiliations and the decisions of joining, speaking and moderating.
"""
