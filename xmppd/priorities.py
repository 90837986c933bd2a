"""Hook priorities, named in one place (DESIGN.md "Hosts and components").

Handlers of one event run highest priority first; the first to return something other
than None ends the run. The order of the stages of a stanza is therefore:

  OBSERVE   see every event and never stop it: statistics, cluster replication
  POLICY    decide whether the stanza goes on: privacy lists and blocking, outbound
            subscription processing (RFC 6121 §3), directed-presence tracking
  COPY      copy it elsewhere and let it go on: carbons (XEP-0280), the archive (XEP-0313)
  INTERCEPT answer on an entity's behalf before it is delivered: last activity of an
            offline resource (XEP-0012), XEP-0070 confirmations
  DEFAULT   ordinary handlers (IQ namespaces, disco contributions)
  DELIVER   the final step: local sessions, the offline store, or an error
"""

OBSERVE = 1000
POLICY = 100
COPY = 50
INTERCEPT = 10
DEFAULT = 0
DELIVER = -100

# session/closed: contacts must see a session go (unavailable broadcast) before other
# observers clean up after it.
SESSION_GONE_BROADCAST = COPY
