"""What the bridge says to people: help, usage, the notice, and the delete summary."""

from __future__ import annotations

import datetime as dt

from bridge.config.model import PrivacyMode

HELP = """Your privacy commands (send them here, in this direct message with the bridge):
!privacy notice                 the organisation's privacy notice
!privacy status                 what the bridge holds about you, who received it, your requests
!privacy export                 all of it as a JSON file (schema: export.schema.json)
!privacy delete [--room <room>] [--before <YYYY-MM-DD>]
                                what erasure would cover; answers with a confirmation code
!privacy delete confirm <code>  start the erasure (within 10 minutes)
!privacy cancel <request id>    stop a request before it runs
!privacy optout / optin         stop / resume bridging your messages to other servers
!privacy purge <user> [--room <room>]
                                moderators: erase a person's bridged messages in a room you run
!privacy recipients             (in a bridged room) which servers and organisations receive it
!privacy help                   this text"""

ADMIN_HELP = """Privacy admin commands (here or in another room with the bot, not a bridged room):
!privacy requests               open erasure requests
!privacy approve <request id>   let a waiting request run
!privacy deny <request id> <reason>
!privacy erase <subject> --note "<how the person was verified>"
                                erase on someone's behalf (Matrix id, Rocket.Chat id or username)
!privacy cancel <request id>    withdraw any request before it runs"""

USAGE: dict[str, str] = {
    "help": "!privacy help",
    "notice": "!privacy notice",
    "status": "!privacy status",
    "export": "!privacy export",
    "delete": "!privacy delete [--room <room>] [--before <YYYY-MM-DD>]  |  "
    "!privacy delete confirm <code>",
    "optout": "!privacy optout",
    "optin": "!privacy optin",
    "cancel": "!privacy cancel <request id>",
    "purge": "!privacy purge <user> [--room <room>]",
    "requests": "!privacy requests",
    "approve": "!privacy approve <request id>",
    "deny": "!privacy deny <request id> <reason>",
    "erase": '!privacy erase <subject> --note "<verification note>"',
}

ANSWERED_IN_DM = (
    "Answered in a direct message with the bridge bot: nothing about the request is said "
    "in a shared room."
)
POINTER = (
    "Privacy commands are answered in a direct message with the bridge bot, so nothing "
    "about you is said in a shared room. Open a DM with me and type !privacy help there."
)

NOT_POSSIBLE = """What erasure does: redacts every Matrix copy, deletes every Rocket.Chat copy, \
tells the admins of every server that received your data, and reports each outcome to you.
What it cannot do: make another server forget (a redaction is a request; Synapse keeps \
redacted content for 7 days by default), reach copies already on people's devices, or hide \
that a message existed. Messages by other people that mention you stay theirs."""


def help_text(is_admin: bool) -> str:
    return f"{HELP}\n\n{ADMIN_HELP}" if is_admin else HELP


def usage(verb: str, problem: str) -> str:
    line = USAGE.get(verb)
    if line is None:
        return f"{problem}.\n\n{HELP}"
    return f"{problem}. Usage: {line}\nType !privacy help for every command."


def notice_text(text: str | None, url: str | None) -> str:
    parts = [p for p in (text, f"Full privacy notice: {url}" if url else None) if p]
    if not parts:
        return "The organisation has not configured a privacy notice yet; ask its privacy officer."
    return "\n".join(parts)


def first_notice(text: str | None, url: str | None) -> str:
    return (
        "Before your first message is bridged to other servers, please read how your data "
        "is handled:\n"
        f"{notice_text(text, url)}\n"
        "Type !privacy help here for your rights: status, export, delete, opt out."
    )


def day(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d")


def started(request_id: str, mode: PrivacyMode) -> str:
    if mode == "admin-approval":
        return (
            f"Erasure request {request_id} is recorded. Here, a privacy officer approves "
            "each request first; you will be told in this chat whether it was approved or "
            f"denied. You can still withdraw it: !privacy cancel {request_id}"
        )
    return (
        f"Erasure request {request_id} has started. Progress and the final report will "
        "arrive in this chat."
    )


STATE_WORDS = {
    "received": "received",
    "verified": "waiting for a privacy officer's approval",
    "approved": "approved; planning",
    "planned": "planned; starting",
    "executing": "running",
    "done": "done",
    "partially_done": "finished, but not every step succeeded",
    "denied": "denied",
    "cancelled": "cancelled",
}

NO_RECIPIENTS_KNOWN = ""
OPT_OUT_OFFER = (
    "If you do not want your messages copied to these servers, reply !privacy optout "
    "here now: nothing more of yours will be bridged (!privacy optin undoes it)."
)
