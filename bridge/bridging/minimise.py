"""What a room holding a partner under policy ``minimise`` receives from Rocket.Chat people.

Matrix sends one event to every server of a room, so the minimised form is the room's
form for everyone in it (docs/partners.md). It is chosen when an action is *executed*,
from the servers in the room at that moment (the ledger's member table), not when it
was queued: a partner that joined while a message waited in the room's queue must not
get the plain form.

In such a room a Rocket.Chat person speaks through their *persona* for the room's set of
``minimise`` servers (bridge.privacy.personas) instead of their own ghost:

- messages, files (as links), reactions and joins are sent by the persona;
- a mention of a Rocket.Chat person becomes a pill to *their* persona, with the persona's
  name as its text, so neither their username nor their name crosses in it. The text a
  person wrote is theirs and crosses as written;
- an edit must come from the sender of what it edits (Matrix spec, "Event replacements").
  A message the person's own ghost sent before the room was minimised is therefore not
  replaced: the persona sends the new text as a reply to it ("* new text");
- redactions come from whoever sent the event (``BridgedMessage.persona``), or the bot.

Nothing already in the room is rewritten: what the ghost sent before a ``minimise``
partner came stays in the room's history and state as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import attrs

from bridge.bridging.action_values import MatrixMessage, Render, SentAs, StoredPersona
from bridge.bridging.formatting import MentionLookup, MentionTarget, rc_to_matrix
from bridge.bridging.identities import Identities
from bridge.bridging.matrix_content import Content, InReplyTo, Mentions, Relation
from bridge.pipeline.contracts import PermanentFailure
from bridge.privacy.partner_gate import room_minimised
from bridge.privacy.personas import person_pseudonym, persona_name
from bridge.storage.common import now_ms
from bridge.storage.database import UnitOfWork
from bridge.storage.personas import Persona


def message_content(text: str, lookup: MentionLookup) -> Content:
    """The ``m.room.message`` content of Rocket.Chat ``text``."""
    converted = rc_to_matrix(text, lookup)
    html = converted.formatted_body
    return Content(
        msgtype="m.text",
        body=converted.body,
        format=None if html is None else "org.matrix.custom.html",
        formatted_body=html,
        # Intentional mentions (MSC3952, spec v1.7): only the people named, never @room.
        mentions=Mentions(tuple(converted.mentioned_user_ids)),
    )


def render_source(
    text: str, targets: dict[str, MentionTarget], people: dict[str, str]
) -> Render | None:
    """What to keep in the payload to render ``text`` again with personas; ``people``
    maps the usernames that are Rocket.Chat people to their user ids. None when the
    text names no Rocket.Chat person (nothing would change)."""
    if not people:
        return None
    return Render(
        text, {name: (t.user_id, t.display_name, people.get(name)) for name, t in targets.items()}
    )


@dataclass(frozen=True)
class Outgoing:
    """How one send goes out: as whom, with what content."""

    sender: str
    content: Content
    persona: Persona | None = None  # the sender, when it is a persona
    ghost: str | None = None  # the person's own ghost, which a persona stands in for
    mentioned: tuple[Persona, ...] = ()  # personas the content points at


class Minimiser:
    def __init__(self, ids: Identities, key: bytes) -> None:
        self._ids = ids
        self._key = key

    async def servers(self, uow: UnitOfWork, room_id: str) -> list[str]:
        """The ``minimise`` servers now in the room; empty when it is not minimised."""
        return await room_minimised(uow, room_id, self._ids.domain)

    async def persona(self, uow: UnitOfWork, rc_user_id: str, servers: Sequence[str]) -> Persona:
        """The person's persona for these ``minimise`` servers (as stored, once it is)."""
        pseudonym = await person_pseudonym(uow, rc_user_id)
        name = persona_name(self._key, pseudonym, servers)
        user_id = self._ids.persona_user_id(name.tag)
        return await uow.personas.get(user_id) or Persona(user_id, rc_user_id, name.display_name)

    async def outgoing(
        self, uow: UnitOfWork, payload: MatrixMessage, minimised: Sequence[str]
    ) -> Outgoing:
        """The form of a send (``matrix.send``/``matrix.upload``) in a room whose
        ``minimise`` servers are now ``minimised`` (``partner_gate.room_terms``)."""
        sender, content = payload.sender, payload.content
        if not self._ids.is_ghost(sender):
            return Outgoing(sender, content)  # the bot
        servers = list(minimised)
        persona = await uow.personas.get(sender) if self._ids.is_persona(sender) else None
        if not servers and persona is None:
            return Outgoing(sender, content)
        ghost = await uow.bridging.ghost_by_matrix(sender)
        if ghost is None:
            # Whose ghost it is is no longer known: it cannot be shown as a persona, and
            # its own name must not reach the room.
            raise PermanentFailure("the sender's persona cannot be known; not sent")
        mentioned: dict[str, Persona] = {}
        source = payload.render
        if servers and source is not None:
            for _, _, person in source.targets.values():
                if person is not None and person not in mentioned:
                    mentioned[person] = await self.persona(uow, person, servers)
            content = _rendered(content, source, _lookup(source, mentioned))
        if persona is None:
            persona = await self.persona(uow, ghost.rc_user_id, servers)
            if _replaces(content):
                content = _as_reply(content)
        # else: an edit or reaction of what a persona sent comes from that persona,
        # whatever the room's partners are now (a replacement needs the same sender).
        return Outgoing(
            persona.matrix_user_id,
            content,
            persona=persona,
            ghost=ghost.matrix_user_id,
            mentioned=tuple(mentioned.values()),
        )

    async def joining(self, uow: UnitOfWork, user_id: str, room_id: str) -> Persona | None:
        """The persona that joins for ghost ``user_id``, if the room is minimised now."""
        servers = await self.servers(uow, room_id)
        ghost = await uow.bridging.ghost_by_matrix(user_id) if servers else None
        if ghost is None:
            return None
        return await self.persona(uow, ghost.rc_user_id, servers)

    async def leaving(self, uow: UnitOfWork, user_id: str) -> list[str]:
        """Everyone who stands for ghost ``user_id``'s person: a person who leaves a
        Rocket.Chat room leaves its portal under every name they had there."""
        ghost = await uow.bridging.ghost_by_matrix(user_id)
        if ghost is None:
            return [user_id]
        personas = await uow.personas.of_person(ghost.rc_user_id)
        # Only personas that were ever named can be in a room (merely mentioned ones
        # were never registered, and a leave would register them).
        return [ghost.matrix_user_id] + [p.matrix_user_id for p in personas if p.named_ms]


def _lookup(source: Render, personas: dict[str, Persona]) -> Callable[[str], MentionTarget | None]:
    """Mentions as the payload's targets, each Rocket.Chat person's as their persona."""
    targets = source.targets

    def lookup(username: str) -> MentionTarget | None:
        if username not in targets:
            return None
        user_id, name, person = targets[username]
        if person is None:
            return MentionTarget(user_id, name)  # a Matrix user: their own name
        return MentionTarget(personas[person].matrix_user_id, personas[person].display_name)

    return lookup


def _rendered(
    content: Content, source: Render, lookup: Callable[[str], MentionTarget | None]
) -> Content:
    new = message_content(source.text, lookup)
    if content.new_content is not None:
        return attrs.evolve(content, body=f"* {new.body}", new_content=new)
    # The text's own fields rendered again; the rest (a thread, a reply) kept.
    return attrs.evolve(
        content,
        msgtype=new.msgtype,
        body=new.body,
        format=new.format,
        formatted_body=new.formatted_body,
        mentions=new.mentions,
    )


def _replaces(content: Content) -> bool:
    return content.relates_to is not None and content.relates_to.rel_type == "m.replace"


def _as_reply(content: Content) -> Content:
    """An edit of the ghost's message, sent by the persona: the new text as a reply."""
    new = content.new_content or Content()
    html = new.formatted_body
    assert content.relates_to is not None  # a replacement (_replaces)
    return attrs.evolve(
        new,
        body=f"* {new.body or ''}",
        formatted_body=None if html is None else f"* {html}",
        relates_to=Relation(in_reply_to=InReplyTo(content.relates_to.event_id or "")),
    )


def sent_as(out: Outgoing) -> SentAs:
    """The part of a send's result that says who sent it, for its on_done record."""
    if out.persona is None:
        return SentAs()
    named = out.persona.named_ms or now_ms()
    return SentAs(_stored(out.persona, named), tuple(_stored(p, p.named_ms) for p in out.mentioned))


def _stored(persona: Persona, named_ms: int | None) -> StoredPersona:
    return StoredPersona(persona.matrix_user_id, persona.rc_user_id, persona.display_name, named_ms)


def persona_of(data: StoredPersona) -> Persona:
    return Persona(data.matrix_user_id, data.rc_user_id, data.display_name, data.named_ms)
