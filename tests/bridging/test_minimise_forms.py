"""The form a send takes in a room holding a partner under ``minimise``, decided from the
servers in the room when it goes out: the sender's persona, mentions pointing at the
mentioned person's persona under the persona's name, and an edit of the ghost's earlier
message turned into a reply. A room without such a partner gets the plain form."""

from __future__ import annotations

import html
from pathlib import Path

import attrs

from bridge.bridging.action_values import MatrixSend
from bridge.bridging.formatting import MentionTarget
from bridge.bridging.identities import Identities
from bridge.bridging.matrix_content import Content, Relation
from bridge.bridging.minimise import Minimiser, message_content, render_source
from bridge.bridging.rc_to_matrix import RocketChatToMatrix
from bridge.config import load_config
from bridge.ids import RCUserID, RCUsername
from bridge.privacy.ledger import DisclosureLedger
from bridge.privacy.partners import PartnerChanges, PartnerRegister
from bridge.rctypes.models import RCUserRef
from bridge.storage.database import Database
from tests.fixtures.bridge_config import write_config
from tests.privacy.helpers import ROOM, SETTINGS, member

KEY = b"k" * 32
HS2 = "hs2.test"
MINIMISE = PartnerChanges(organisation="Agency Two", lawful_basis="public_task", policy="minimise")


async def _setup(db: Database, tmp_path: Path) -> tuple[Identities, Minimiser]:
    ids = Identities(load_config(write_config(tmp_path / "c.yaml"), environ={}))
    await member(db, DisclosureLedger(SETTINGS), "@bob:hs2.test", "join", 1)
    async with db.unit_of_work() as uow:
        for rc_id, username in (("rcAlice", "alice.smith"), ("rcDave", "dave.jones")):
            await uow.bridging.upsert_ghost(rc_id, username, ids.ghost_user_id(username))
            await uow.bridging.set_ghost_profile(rc_id, username.title(), None)
    return ids, Minimiser(ids, KEY)


def _payload(ids: Identities, text: str) -> MatrixSend:
    """A message of alice mentioning dave and a Matrix user, as the relay queues it."""
    targets = {
        "dave.jones": MentionTarget(ids.ghost_user_id("dave.jones"), "Dave Jones"),
        "mx.carol": MentionTarget("@carol:hs2.test", "Carol"),
    }
    content = message_content(text, targets.get)
    return MatrixSend(
        1,
        ids.ghost_user_id("alice.smith"),
        "m.room.message",
        attrs.evolve(content, relates_to=Relation("m.thread", "$root")),
        render=render_source(text, targets, {"dave.jones": "rcDave"}),
    )


async def test_a_minimised_room_gets_personas_and_persona_mentions(
    db: Database, tmp_path: Path
) -> None:
    ids, minimiser = await _setup(db, tmp_path)
    await PartnerRegister(db).set(HS2, MINIMISE, "cli:test")
    payload = _payload(ids, "ask @dave.jones and @mx.carol, *today*")
    async with db.unit_of_work() as uow:
        out = await minimiser.outgoing(uow, payload, await minimiser.servers(uow, ROOM))
    async with db.unit_of_work() as uow:
        alice = await minimiser.persona(uow, "rcAlice", [HS2])
        dave = await minimiser.persona(uow, "rcDave", [HS2])
    assert out.sender == alice.matrix_user_id and out.persona == alice
    assert out.ghost == ids.ghost_user_id("alice.smith")
    assert out.mentioned == (dave,)
    content = out.content.json()
    shown = content["body"] + content["formatted_body"] + str(content["m.mentions"])
    for real in ("dave", "Dave", ids.ghost_user_id("dave.jones")):
        assert real not in shown
    assert content["body"] == f"ask {dave.display_name} and Carol, *today*"
    pill = f'<a href="https://matrix.to/#/{html.escape(dave.matrix_user_id)}">'
    assert pill + f"{dave.display_name}</a>" in content["formatted_body"]
    assert "<strong>today</strong>" in content["formatted_body"]
    assert content["m.mentions"] == {"user_ids": [dave.matrix_user_id, "@carol:hs2.test"]}
    assert content["m.relates_to"] == {"rel_type": "m.thread", "event_id": "$root"}


async def test_a_room_without_a_minimise_partner_gets_the_plain_form(
    db: Database, tmp_path: Path
) -> None:
    ids, minimiser = await _setup(db, tmp_path)
    await PartnerRegister(db).set(HS2, MINIMISE, "cli:test")
    await PartnerRegister(db).set(HS2, PartnerChanges(policy="allow"), "cli:test")
    payload = _payload(ids, "ask @dave.jones")
    async with db.unit_of_work() as uow:
        out = await minimiser.outgoing(uow, payload, await minimiser.servers(uow, ROOM))
    assert out.sender == payload.sender and out.content == payload.content
    assert out.persona is None and out.ghost is None


async def test_an_edit_of_the_ghosts_earlier_message_becomes_the_personas_reply(
    db: Database, tmp_path: Path
) -> None:
    """A replacement must come from the original's sender (spec, "Event replacements"),
    and the ghost must not come back: the persona answers the original instead."""
    ids, minimiser = await _setup(db, tmp_path)
    await PartnerRegister(db).set(HS2, MINIMISE, "cli:test")
    new = message_content("fixed: @dave.jones", lambda _: None)
    content = Content(
        msgtype="m.text",
        body=f"* {new.body}",
        new_content=new,
        relates_to=Relation("m.replace", "$original"),
    )
    payload = MatrixSend(1, ids.ghost_user_id("alice.smith"), "m.room.message", content)
    async with db.unit_of_work() as uow:
        out = await minimiser.outgoing(uow, payload, await minimiser.servers(uow, ROOM))
        alice = await minimiser.persona(uow, "rcAlice", [HS2])
    assert out.sender == alice.matrix_user_id
    sent = out.content.json()
    assert sent["m.relates_to"] == {"m.in_reply_to": {"event_id": "$original"}}
    assert sent["body"] == "* fixed: @dave.jones" and "m.new_content" not in sent


async def test_an_edit_of_a_personas_message_stays_with_that_persona(
    db: Database, tmp_path: Path
) -> None:
    ids, minimiser = await _setup(db, tmp_path)
    async with db.unit_of_work() as uow:
        persona = await minimiser.persona(uow, "rcAlice", [HS2, "hs3.test"])  # partners then
        await uow.personas.save(persona)
    await PartnerRegister(db).set(HS2, MINIMISE, "cli:test")
    content = Content(relates_to=Relation("m.replace", "$e"), new_content=Content())
    async with db.unit_of_work() as uow:
        payload = MatrixSend(1, persona.matrix_user_id, "m.room.message", content)
        out = await minimiser.outgoing(uow, payload, await minimiser.servers(uow, ROOM))
    assert out.sender == persona.matrix_user_id and out.content == content


async def test_a_username_shaped_like_a_persona_gets_the_clash_suffix(
    db: Database, tmp_path: Path
) -> None:
    ids = Identities(load_config(write_config(tmp_path / "c.yaml"), environ={}))
    relay = RocketChatToMatrix(ids, set(), 5000)
    username = "=p0123456789abcdef0123"  # possible where Rocket.Chat's username rule allows "="
    assert ids.is_persona(ids.ghost_user_id(username))
    async with db.unit_of_work() as uow:
        portal = await uow.bridging.add_portal("rcRoom", "c", "!r:hs1.test", None)
        who = RCUserRef(RCUserID("rcOdd"), RCUsername(username))
        await relay.membership(uow, portal, who, "join", "k1")
        ghost = await uow.bridging.ghost("rcOdd")
    assert ghost is not None and not ids.is_persona(ghost.matrix_user_id)
