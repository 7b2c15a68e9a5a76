"""What GDPR Art. 15(1)(2) asks an access export to say besides the data itself: the
purposes, how long each category is kept, the person's rights and the ``!privacy`` verb
that exercises each, the right to complain to the supervisory authority, where each item
came from, and for each recipient its organisation and any third-country safeguard (from
the partner register; docs/partners.md)."""

from __future__ import annotations

from typing import Any

from bridge.privacy.partners import PartnerRegister
from bridge.storage.database import Database

PURPOSES = (
    "Relaying messages, files, reactions and profile details between the organisation's "
    "Rocket.Chat and the Matrix rooms it shares with partner organisations, so that "
    "people on both sides can work together (the bridge's only purpose).",
    "Recording which server received which of your data, so that your rights to access "
    "and erasure can be honoured everywhere a copy went (GDPR Art. 5(2), 17(2), 19).",
)

# Each right, its article, and the command that exercises it (docs/commands.md).
RIGHTS = (
    ("information about the processing", "GDPR Art. 13/14", "!privacy notice"),
    ("access to your data and a copy of it", "GDPR Art. 15, 20", "!privacy export"),
    ("what is held and who received it", "GDPR Art. 15(1)(c)", "!privacy status"),
    ("erasure", "GDPR Art. 17", "!privacy delete"),
    ("objection: stop your messages being bridged", "GDPR Art. 21", "!privacy optout"),
    ("who receives a room", "GDPR Art. 13(1)(e)", "!privacy recipients"),
    ("rectification and restriction", "GDPR Art. 16, 18", None),
)


def retention_by_category(ledger_days: int) -> dict[str, str]:
    """How long each category is kept *by the bridge* (the recipients' own retention is
    in ``recipients[].retention_days``)."""
    transit = "kept only while it is relayed, then deleted from the bridge's database"
    record = f"the record that it was sent, and to whom, is kept for {ledger_days} days"
    categories = (
        "message_text", "edit", "media", "file_name", "display_name", "avatar", "reaction",
        "mention",
    )  # fmt: skip
    return {c: f"{transit}; {record}" for c in categories}


def rights(authority: str | None) -> dict[str, Any]:
    return {
        "rights": [{"right": r, "article": a, "command": c} for r, a, c in RIGHTS],  # fmt: skip
        "other_rights": (
            "For rectification or restriction, contact the organisation's privacy officer."
        ),
        "supervisory_authority": {
            "name": authority,
            "right": "You have the right to lodge a complaint with a supervisory authority "
            "(GDPR Art. 77).",
        },
    }


def source_of(origin: str, categories: list[str]) -> str:
    side = "Rocket.Chat" if origin == "rocketchat" else "Matrix"
    if "mention" in categories:
        return f"a message by another person on {side} that mentions you"
    return f"you, on {side}"


async def recipient_terms(db: Database) -> dict[str, dict[str, Any]]:
    """Each registered partner's organisation, transfer safeguard and retention promise."""
    return {
        p.server: {
            "organisation": p.organisation,
            "third_country": p.third_country,
            "safeguard": p.safeguard,
            "retention_days": p.retention_days,
        }
        for p in await PartnerRegister(db).all()
    }


NO_TERMS = {"organisation": None, "third_country": None, "safeguard": None, "retention_days": None}
