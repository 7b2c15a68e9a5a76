"""What the bridge says to people: the notice, the pointer to the DM, state words and the
delete summary (each verb's help and usage are in its spec, bridge/commands/verbs.py)."""

from __future__ import annotations

import datetime as dt

from bridge.config.model import PrivacyMode

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
