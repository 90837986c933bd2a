"""Who may run what: server administrators (`XMPP_ADMINS`) everything; domain administrators
(`XMPP_DOMAIN_ADMINS`) the "domain_admin" and "user" commands on their domains; every user the
"user" commands on their own account (its password, roster, sessions, data, runs).

`check_permission` decides one call with its validated arguments; `may_list` decides what a
face shows an actor before any argument is known (XEP-0050 disco, `system.listMethods`, the
WSDL), so a face never advertises what its caller cannot run.
"""

from __future__ import annotations

from typing import Any, Iterable

from commands.registry import SCOPE_ARGS, Actor, Command, CommandError
from commands.settings import admin_jids, domain_admins
from commands.validation import parse_jid
from xmppcore.jid import JID


def _scope_domains(args: dict[str, Any]) -> list[str]:
    out = []
    for name in SCOPE_ARGS:
        value = args.get(name)
        if isinstance(value, JID):
            out.append(value.domain)
        elif isinstance(value, str) and value:
            out.append(value if name == "domain" else parse_jid(value).domain)
    return out


def _scope_jids(args: dict[str, Any]) -> list[JID]:
    return [args[n].bare for n in ("jid", "user") if isinstance(args.get(n), JID)]


def check_permission(cmd: Command, actor: Actor, args: dict[str, Any]) -> None:
    """Raise CommandError("forbidden") unless `actor` may run `cmd` with validated `args`."""
    if actor.read_only and not cmd.read_only:
        raise CommandError("forbidden", f"{cmd.name} changes state; this credential is read-only")
    if actor.is_server_admin:
        return
    check_rank(cmd, actor, _scope_jids(args))
    domains = _scope_domains(args)
    if cmd.permission == "server_admin":
        raise CommandError("forbidden", f"{cmd.name} is for server administrators")
    if cmd.permission == "domain_admin":
        if domains and all(d in actor.admin_domains for d in domains):
            return
        if not domains:
            raise CommandError("forbidden", f"{cmd.name} needs a domain you administer "
                                            "(or server administrator rights)")
        raise CommandError("forbidden", f"you do not administer {', '.join(sorted(set(domains)))}")
    # "user": on one's own account, or as an admin of that account's domain. Without a scope
    # argument the command acts on the actor itself (its function checks ownership).
    if not domains:
        return
    if all(d in actor.admin_domains for d in domains):
        return
    own = _scope_jids(args)
    if actor.jid is not None and own and all(j == actor.jid.bare for j in own):
        return
    raise CommandError("forbidden", f"{cmd.name} may only be run on your own account")


def outranks(target: JID, actor: Actor) -> bool:
    """Whether the account `target` holds rights `actor` lacks: a server administrator over
    anyone else, a domain administrator over someone administering none or fewer of its domains."""
    if actor.jid is not None and target == actor.jid.bare:
        return False
    rights = actor_for_jid(target)
    if rights.is_server_admin:
        return not actor.is_server_admin
    return not rights.admin_domains <= actor.admin_domains


def check_rank(cmd: Command, actor: Actor, targets: Iterable[JID]) -> None:
    """No actor acts on an account with more rights than its own, through any face: else a
    domain administrator could reset a server administrator's password and take the server."""
    above = sorted(str(t) for t in targets if outranks(t, actor))
    if above:
        raise CommandError("forbidden", f"{cmd.name}: {', '.join(above)} has more rights than you")


def may_list(cmd: Command, actor: Actor) -> bool:
    """Whether `cmd` is shown to `actor` (the call itself is checked by `check_permission`):
    server admins see everything, domain admins all but server-admin commands, a user the
    commands on their own account (a scope argument naming it, or none: it acts on the user)."""
    if actor.is_server_admin:
        return True
    if cmd.permission == "server_admin":
        return False
    if actor.admin_domains:
        return True
    if actor.read_only and not cmd.read_only:
        return False
    return cmd.permission == "user" and actor.jid is not None


def on_own_account(cmd: Command, actor: Actor, raw: dict[str, Any]) -> dict[str, Any]:
    """A user's call of a "user" command that leaves its account argument out acts on the
    user's own account (administrators must say which account they mean)."""
    if cmd.permission != "user" or actor.jid is None or actor.is_server_admin or actor.admin_domains:
        return raw
    out = dict(raw)
    for arg in cmd.args:
        if arg.name in ("jid", "user") and arg.type == "jid" and out.get(arg.name) in (None, ""):
            out[arg.name] = str(actor.jid.bare)
    return out


def may_use(actor: Actor, hosted: Iterable[str]) -> bool:
    """Whether an XMPP entity may use the registry's XMPP faces (Jabber-RPC, SOAP):
    administrators (of the server or of a domain), and the users of the domains hosted
    here, on their own accounts (XEP-0009 §5, XEP-0072 §6: others get <forbidden/>)."""
    if actor.is_server_admin or actor.admin_domains:
        return True
    return actor.jid is not None and actor.jid.local is not None and actor.jid.domain in hosted


def actor_for_jid(jid: JID, source: str = "adhoc") -> Actor:
    """The Actor for an XMPP entity: server admin when its bare JID is in `XMPP_ADMINS`,
    domain admin of the domains `XMPP_DOMAIN_ADMINS` lists it for (read at each call, so a
    `reload` takes effect)."""
    bare = jid.bare
    domains = frozenset(d for d, jids in domain_admins().items() if bare in jids)
    return Actor(jid=bare, is_server_admin=bare in admin_jids(), admin_domains=domains, source=source)
