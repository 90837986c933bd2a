"""XEP-0050: Ad-Hoc Commands, with XEP-0133: Service Administration, over the command
registry — and for any JID whose module provides commands.

  protocol.py        replies, the <command/> element, sessions, the Node interface
  machine.py         the session machine: disco of command nodes, execute/next/prev/complete/cancel
  registry_nodes.py  the registry's commands as nodes of each hosted domain
  xep0133.py         XEP-0133 forms and results;  fields.py: Args as XEP-0004/0122 fields
  runs.py            long (Celery) commands followed in a session; results as messages
  provider.py        the API a component uses to offer its own commands at a JID
  module.py          `load(server)`: the handlers on the server's and component hosts' buses

Hooks handled:
  iq-set/{host,bare}/http://jabber.org/protocol/commands:command
  disco/{items,info}/{host,bare}/node (the commands node and each command node)
  commands/run-finished (run dict): the result of a long command, as a message to its operator
  session/closed (session, ...): forget the finished resource's idle command sessions
  server/stopping: stop the progress poller;  host/added (host): serve a new component host
Hook fired: adhoc/provider (target JID) -> the provider of commands at that JID, or None
"""

from __future__ import annotations

from commands.adhoc.module import load

__all__ = ["load"]
