"""``!bridge partner allow|minimise|deny <server>``: an admin's decision about a server,
typed in a room with the bridge bot that is not bridged (docs/partners.md). It is how a
room held under ``privacy.unknown_servers: hold`` is released (or the server denied).

A server not yet in the register needs ``--organisation`` and ``--basis`` (the lawful
basis), as ``bridge partner set`` does; everything is checked before anything is written.
"""

from __future__ import annotations

from bridge.commands.context import CommandContext
from bridge.commands.parser import ParsedCommand
from bridge.privacy.partner_values import POLICIES, PartnerError
from bridge.privacy.partners import PartnerChanges, set_partner
from bridge.storage.database import UnitOfWork


def partner_problem(cmd: ParsedCommand) -> str | None:
    """Why the command cannot be run as typed, or None (its options are checked by the
    verb's spec, bridge/commands/bridge_admin.py)."""
    if len(cmd.args) != 2 or cmd.args[0] not in POLICIES:
        return "give a policy (allow, minimise or deny) and one server"
    return None


async def decide_partner(uow: UnitOfWork, ctx: CommandContext, cmd: ParsedCommand) -> str:
    """Apply the decision; the answer for the admin (a refusal changes nothing)."""
    policy, server = cmd.args
    changes = PartnerChanges(
        organisation=cmd.options.get("organisation"),
        lawful_basis=cmd.options.get("basis"),
        policy=policy,
    )
    try:
        partner, changed = await set_partner(uow, server, changes, ctx.sender)
    except PartnerError as e:
        return f"Refused, nothing changed: {e}"
    if not changed:
        return f"{server} was already under policy {partner.policy}; nothing changed."
    after = {
        "allow": "rooms holding it are relayed into again",
        "minimise": "rooms holding it are relayed into again",
        "deny": "it is removed from every bridged room (server ACL) and gets nothing more",
    }[partner.policy]
    return (
        f"{server} ({partner.organisation}) is now under policy {partner.policy} "
        f"(register version {partner.version}): {after}."
    )
