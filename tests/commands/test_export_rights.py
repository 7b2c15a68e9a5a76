"""The access export says what Art. 15(1)(2) asks besides the data: purposes, retention
per category, rights with their commands, the supervisory authority, the source of each
item, and each recipient's organisation and third-country safeguard from the register."""

from __future__ import annotations

import jsonschema

from bridge.commands.export import Identity, Retention, build, schema
from bridge.privacy.categories import Origin
from bridge.privacy.ledger import DisclosureLedger
from bridge.privacy.partners import PartnerChanges, PartnerRegister
from bridge.storage.database import Database
from tests.privacy.helpers import ALICE, BOB, SETTINGS, member, message


async def test_the_export_gains_purposes_rights_sources_and_recipient_terms(db: Database) -> None:
    ledger = DisclosureLedger(SETTINGS)
    await member(db, ledger, "@carol:hs2.test", "join", 1_000)
    await member(db, ledger, "@dave:hs3.test", "join", 1_000)
    await message(db, ledger, ALICE, 2_000)
    await message(db, ledger, BOB, 3_000, mentions=(ALICE,), origin=Origin.MATRIX)
    await PartnerRegister(db).set(
        "hs2.test",
        PartnerChanges(organisation="Agency Two", lawful_basis="public_task", retention_days=30,
                       jurisdiction="CH", third_country=True, safeguard="adequacy decision"),
        "cli:test",
    )  # fmt: skip
    identity = Identity(rc_user_id="rcAlice", rc_username="alice")
    document = await build(db, identity, Retention(12, 30, "Data Protection Authority X"))
    jsonschema.validate(document, schema())
    assert document["format_version"] == 2
    recipients = {r["server"]: r for r in document["recipients"]}
    two, three = recipients["hs2.test"], recipients["hs3.test"]
    assert (two["organisation"], two["third_country"], two["safeguard"]) == (
        "Agency Two", True, "adequacy decision"
    )  # fmt: skip
    assert two["retention_days"] == 30 and three["organisation"] is None
    sources = sorted(d["source"] for d in document["disclosures"])
    assert sources == [
        "a message by another person on Matrix that mentions you",
        "you, on Rocket.Chat",
    ]
    commands = {r["command"] for r in document["rights"]}
    assert {"!privacy export", "!privacy delete", "!privacy optout"} <= commands
    assert document["supervisory_authority"]["name"] == "Data Protection Authority X"
    assert "Art. 77" in document["supervisory_authority"]["right"]
    assert "30 days" in document["retention_by_category"]["message_text"]
    assert document["purposes"]
