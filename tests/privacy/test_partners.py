"""The partner register: validated values, versions, the audit chain, and the version each
disclosure records."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bridge.config.model import UnknownServers
from bridge.matrix.partner_enforce import merged_acl
from bridge.privacy.audit import AuditLog
from bridge.privacy.ledger import DisclosureLedger
from bridge.privacy.partner_gate import acl_host, room_blocks
from bridge.privacy.partner_values import (
    Contact,
    PartnerError,
    check_email,
    check_matrix_id,
    check_server_name,
    parse_contact,
)
from bridge.privacy.partners import PARTNER_REMOVED, PARTNER_SET, PartnerChanges, PartnerRegister
from bridge.storage.database import Database
from bridge.storage.ledger_rows import Disclosure
from tests.privacy.helpers import ALICE, ROOM, SETTINGS, member, message

ACTOR = "cli:officer"
HS2 = PartnerChanges(
    organisation="Agency Two",
    lawful_basis="public_task",
    contacts=(Contact(matrix_id="@admin:hs2.test"), Contact(email="dpo@agency-two.example")),
    retention_days=90,
    jurisdiction="de",
    agreement_ref="DSA-2026-7",
    agreement_version="1.2",
)


@pytest.mark.parametrize(
    "name", ["hs2.test", "127.0.0.1:8448", "[::1]:8448", "matrix.example.org", "localhost"]
)
def test_good_server_names_pass(name: str) -> None:
    assert check_server_name(name) == name


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "1-255"),
        ("hs2.test:0", "port"),
        ("hs2.test:99999", "port"),
        ("hs2 .test", "letters, digits"),
        ("hs2.test/x", "letters, digits"),
        ("[::1", "unclosed"),
        ("[nothex]:1", "IPv6"),
        ("a..b", "empty label"),
        ("evil\n.test", "letters, digits"),
    ],
)
def test_bad_server_names_are_refused_with_the_reason(name: str, why: str) -> None:
    with pytest.raises(PartnerError, match=why):
        check_server_name(name)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("admin@hs2.test", "must look like @name:server"),
        ("@Admin:hs2.test", "name part"),
        ("@admin:hs2 test", "letters, digits"),
        ("@admin", "must look like @name:server"),
    ],
)
def test_bad_matrix_ids_are_refused(value: str, why: str) -> None:
    with pytest.raises(PartnerError, match=why):
        check_matrix_id(value)


@pytest.mark.parametrize(
    "value",
    [
        "dpo",
        "dpo@@x.org",
        "dpo@x..org",
        "d po@x.org",
        "dpo@x.org\r\nBcc: all@x.org",
        "dpo@-x.org",
        "@x.org",
        "a" * 65 + "@x.org",
    ],
)
def test_bad_email_addresses_are_refused(value: str) -> None:
    with pytest.raises(PartnerError, match="e-mail address"):
        check_email(value)


def test_contacts_parse_as_matrix_ids_or_addresses() -> None:
    assert parse_contact("@admin:hs2.test") == Contact(matrix_id="@admin:hs2.test")
    assert parse_contact("mailto:dpo@hs2.test") == Contact(email="dpo@hs2.test")
    assert parse_contact(" dpo@hs2.test ") == Contact(email="dpo@hs2.test")


async def test_set_creates_versions_and_audits_each_change(db: Database) -> None:
    register = PartnerRegister(db)
    assert await register.version() == 0
    created, changed = await register.set("hs2.test", HS2, ACTOR)
    assert changed and created.version == 1 and created.policy == "allow"
    assert created.jurisdiction == "DE" and created.retention_days == 90
    assert [str(c) for c in created.contacts] == [
        "@admin:hs2.test",
        "mailto:dpo@agency-two.example",
    ]

    denied, changed = await register.set("hs2.test", PartnerChanges(policy="deny"), ACTOR)
    assert changed and denied.version == 2 and denied.organisation == "Agency Two"
    same, changed = await register.set("hs2.test", PartnerChanges(policy="deny"), ACTOR)
    assert not changed and same.version == 2 and await register.version() == 2

    entries = await AuditLog(db).newest(limit=5)
    assert [e.kind for e in entries] == [PARTNER_SET, PARTNER_SET]
    assert entries[0].details["fields"] == ["policy"]
    assert entries[0].details["previous_policy"] == "allow"
    assert entries[0].details["register_version"] == 2
    assert entries[1].details["created"] is True
    assert entries[0].actor == ACTOR
    assert "@admin:hs2.test" not in repr([e.details for e in entries])  # no contact ids logged
    assert (await AuditLog(db).verify()).ok


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        (PartnerChanges(contacts=(Contact(email="dpo@x..org"),)), "e-mail address"),
        (PartnerChanges(jurisdiction="Germany"), "ISO 3166-1"),
        (PartnerChanges(third_country=True), "safeguard"),
        (PartnerChanges(retention_days=-1), "retention"),
        (PartnerChanges(organisation="  "), "organisation"),
        (PartnerChanges(agreement_ref="a\x00b"), "control characters"),
        (PartnerChanges(policy="maybe"), "policy"),
        (PartnerChanges(lawful_basis="because"), "lawful basis"),
    ],
)
async def test_a_bad_value_changes_nothing(db: Database, changes: PartnerChanges, why: str) -> None:
    register = PartnerRegister(db)
    before, _ = await register.set("hs2.test", HS2, ACTOR)
    with pytest.raises(PartnerError, match=why):
        await register.set("hs2.test", changes, ACTOR)
    assert await register.get("hs2.test") == before
    assert await register.version() == 1
    assert len(await AuditLog(db).newest(limit=5)) == 1


async def test_a_new_entry_needs_an_organisation_and_a_lawful_basis(db: Database) -> None:
    register = PartnerRegister(db)
    with pytest.raises(PartnerError, match="--organisation and --lawful-basis"):
        await register.set("hs3.test", PartnerChanges(policy="deny"), ACTOR)
    with pytest.raises(PartnerError, match="server name"):
        await register.set("bad name", HS2, ACTOR)
    assert await register.all() == [] and await register.version() == 0


async def test_third_country_with_safeguard_and_clearing_optional_fields(db: Database) -> None:
    register = PartnerRegister(db)
    await register.set("hs2.test", HS2, ACTOR)
    abroad, _ = await register.set(
        "hs2.test",
        PartnerChanges(third_country=True, safeguard="standard contractual clauses"),
        ACTOR,
    )
    assert abroad.third_country and abroad.safeguard == "standard contractual clauses"
    cleared, _ = await register.set(
        "hs2.test", PartnerChanges(agreement_ref="", jurisdiction="", contacts=()), ACTOR
    )
    assert cleared.agreement_ref is None and cleared.jurisdiction is None
    assert cleared.contacts == () and cleared.safeguard == "standard contractual clauses"


async def test_remove_bumps_the_version_and_is_audited(db: Database) -> None:
    register = PartnerRegister(db)
    await register.set("hs2.test", HS2, ACTOR)
    assert await register.remove("hs9.test", ACTOR) is None
    removed = await register.remove("hs2.test", ACTOR)
    assert removed is not None and removed.organisation == "Agency Two"
    assert await register.get("hs2.test") is None and await register.version() == 2
    entry = (await AuditLog(db).newest(limit=1))[0]
    assert entry.kind == PARTNER_REMOVED and entry.details["server"] == "hs2.test"
    assert (await AuditLog(db).verify()).ok


async def test_each_disclosure_records_the_register_version_in_force(db: Database) -> None:
    ledger = DisclosureLedger(SETTINGS)
    register = PartnerRegister(db)
    await member(db, ledger, "@carol:hs2.test", "join", 1_000)
    await message(db, ledger, ALICE, 2_000)
    await register.set("hs2.test", HS2, ACTOR)
    await message(db, ledger, ALICE, 3_000)
    await register.set("hs2.test", PartnerChanges(policy="minimise"), ACTOR)
    await message(db, ledger, ALICE, 4_000)
    async with db.sessions() as session:
        rows = (
            await session.execute(select(Disclosure.sent_ms, Disclosure.register_version))
        ).all()
    assert sorted((r[0], r[1]) for r in rows) == [(2_000, 0), (3_000, 1), (4_000, 2)]


async def test_the_relay_gate_names_denied_and_unregistered_servers_in_the_room(
    db: Database,
) -> None:
    ledger = DisclosureLedger(SETTINGS)
    await member(db, ledger, "@carol:hs2.test", "join", 1_000)
    await member(db, ledger, "@dave:hs3.test", "invite", 1_000)
    await member(db, ledger, "@ghost:hs1.test", "join", 1_000)
    register = PartnerRegister(db)
    await register.set("hs2.test", HS2, ACTOR)

    async def blocks(unknown: UnknownServers) -> list[tuple[str, str]]:
        async with db.unit_of_work() as uow:
            found = await room_blocks(uow, ROOM, "hs1.test", unknown)
        return [(b.server, b.reason) for b in found]

    assert await blocks("allow") == []
    assert await blocks("hold") == [("hs3.test", "hold")]
    assert await blocks("deny") == [("hs3.test", "unknown-deny")]
    await register.set("hs2.test", PartnerChanges(policy="deny"), ACTOR)
    assert await blocks("allow") == [("hs2.test", "deny")]
    await member(db, ledger, "@carol:hs2.test", "leave", 2_000)
    assert await blocks("allow") == []


def test_acl_entries_are_hosts_and_merge_into_the_rooms_acl() -> None:
    assert acl_host("127.0.0.3:8448") == "127.0.0.3" and acl_host("[::1]:8448") == "[::1]"
    assert acl_host("hs2.test") == "hs2.test"
    assert merged_acl({}, "127.0.0.3") == {
        "allow": ["*"],
        "allow_ip_literals": True,
        "deny": ["127.0.0.3"],
    }
    kept = {"allow": ["*.gov"], "allow_ip_literals": False, "deny": ["evil.example"]}
    merged = merged_acl(kept, "hs3.test")
    assert merged == {"allow": ["*.gov"], "allow_ip_literals": False,
                      "deny": ["evil.example", "hs3.test"]}  # fmt: skip
    assert merged_acl(merged, "hs3.test") is None
