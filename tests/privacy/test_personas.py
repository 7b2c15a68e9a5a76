"""Personas: who a Rocket.Chat person appears as in a room under policy ``minimise``.
Derived, never random: stable for one person and one set of partners, different for
another set or another person, and holding nothing of the person's name or username."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bridge.bridging.identities import Identities
from bridge.config import load_config
from bridge.config.registration import build_registration
from bridge.privacy.personas import person_pseudonym, persona_name
from bridge.privacy.pseudonyms import existing_in
from bridge.storage.database import Database
from tests.fixtures.bridge_config import write_config

KEY = b"k" * 32
HS2, HS3 = "hs2.example", "hs3.example:8448"
ALICE, BOB = "pseudonym:" + "a1" * 16, "pseudonym:" + "b2" * 16


def _ids(tmp_path: Path) -> Identities:
    return Identities(load_config(write_config(tmp_path / "c.yaml"), environ={}))


def test_a_persona_is_stable_for_one_person_and_one_set_of_partners() -> None:
    first = persona_name(KEY, ALICE, [HS3, HS2])
    assert first == persona_name(KEY, ALICE, [HS2, HS3, HS2]), "order and repeats do not count"
    assert re.fullmatch(r"[0-9a-f]{20}", first.tag)
    assert re.fullmatch(r"Participant [0-9a-f]{6}", first.display_name)
    assert first.display_name.removeprefix("Participant ") == first.tag[:6]


def test_another_set_of_partners_or_another_person_gets_another_persona() -> None:
    only_hs2 = persona_name(KEY, ALICE, [HS2])
    both = persona_name(KEY, ALICE, [HS2, HS3])
    assert only_hs2.tag != both.tag and only_hs2.display_name != both.display_name
    assert persona_name(KEY, BOB, [HS2]).tag != only_hs2.tag
    # Without the deployment's key nobody computes it from the pseudonym.
    assert persona_name(b"other-key" * 4, ALICE, [HS2]).tag != only_hs2.tag


async def test_a_persona_derives_from_the_pseudonym_the_audit_chain_names_the_person_by(
    db: Database,
) -> None:
    """One function links a persona to a person, through the pseudonym: whatever makes
    that pseudonym unlinkable makes the persona unlinkable too."""
    async with db.unit_of_work() as uow:
        pseudonym = await person_pseudonym(uow, "rcUserAlice")
    assert pseudonym == await existing_in(db, "rcUserAlice")
    assert persona_name(KEY, pseudonym, [HS2]) != persona_name(KEY, "rcUserAlice", [HS2])


def test_a_room_without_minimise_servers_has_no_persona() -> None:
    with pytest.raises(ValueError, match="at least one"):
        persona_name(KEY, ALICE, [])


def test_a_persona_id_holds_neither_username_nor_name(tmp_path: Path) -> None:
    ids = _ids(tmp_path)
    username, name = "alice.smith", "Alice Smith"
    ghost = ids.ghost_user_id(username)
    persona = persona_name(KEY, ALICE, [HS2])
    user_id = ids.persona_user_id(persona.tag)
    for shown in (user_id, persona.display_name):
        assert "alice" not in shown.lower() and "smith" not in shown.lower()
        assert name not in shown
    assert ids.is_persona(user_id) and not ids.is_persona(ghost)
    # In the appservice's namespace (the homeserver lets the bridge register it), and the
    # bridge's own user: its events are never relayed back.
    assert ids.is_ghost(user_id) and ids.is_bridge_user(user_id)
    config = load_config(write_config(tmp_path / "c.yaml"), environ={})
    (namespace,) = build_registration(config, "as", "hs")["namespaces"]["users"]
    assert re.fullmatch(namespace["regex"], user_id)


def test_no_username_maps_to_a_persona_id_by_accident(tmp_path: Path) -> None:
    """Escapes are "=" and hex, so only a username holding "=p" itself (which
    Rocket.Chat's default username rule refuses) would; the relay then gives that
    ghost the clash suffix (bridge.bridging.rc_to_matrix)."""
    ids = _ids(tmp_path)
    tag = "0123456789abcdef0123"
    for username in (f"?{tag}", f"p{tag}", f"P{tag}", f"=p{tag}0", f"=p{tag[:-1]}"):
        assert not ids.is_persona(ids.ghost_user_id(username)), username
    assert ids.is_persona(ids.ghost_user_id(f"=P{tag}"))
    assert not ids.is_persona(ids.ghost_user_id(f"=p{tag}", "rcid"))
