"""What the relay's outbox actions carry, and what their runs return to the done hooks.

The relay queues these in ``bridging`` and the connectors run them, so the classes live
here, below both (docs/architecture.md). Field names are the keys the stored JSON has
always had: rows queued by an older version read as these classes unchanged.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import attrs

from bridge.bridging.matrix_content import Content
from bridge.pipeline import kinds
from bridge.pipeline.actions import action, omit_defaults, omit_when_default

# -- portals -----------------------------------------------------------------------------


@action(kinds.CREATE_PORTAL)
@attrs.frozen
class CreatePortal:
    """Create a Rocket.Chat room's Matrix room (its alias claimed first, so a retry finds it)."""

    portal_id: int
    rc_room_id: str
    alias_localpart: str
    history_visibility: str
    name: str | None = None
    topic: str | None = None
    invitees: tuple[str, ...] = ()  # older rows have none


@attrs.frozen
class PortalCreated:
    room_id: str
    creator: str  # the bot: the room's only member at first
    created_ms: int


@action(kinds.MATRIX_SEED)
@attrs.frozen
class SeedLedger:
    """An existing Matrix room linked as a portal: the ledger learns who is in it."""

    portal_id: int
    room_id: str
    rc_room_id: str


@attrs.frozen
class MemberState:
    user_id: str
    membership: str
    ts: int  # when it became so (origin_server_ts), 0 when the server gave none


@attrs.frozen
class RoomSeed:
    """Members (left ones too: they hold copies) and history visibility of a room."""

    room_id: str
    members: tuple[MemberState, ...] = ()
    visibility: str | None = None
    visibility_ts: int = 0
    encrypted: bool = False


@action(kinds.RC_RESOLVE_USER)
@attrs.frozen
class ResolveUser:
    """A Rocket.Chat membership message names its user only by username: look them up,
    then move their ghost."""

    portal_id: int
    username: str
    membership: str  # "join" or "leave"
    message_id: str


@attrs.frozen
class ResolvedUser:
    rc_user_id: str
    username: str
    name: str | None = None


# -- people ------------------------------------------------------------------------------


@action(kinds.MATRIX_PROFILE)
@omit_when_default("portal_id")
@attrs.frozen
class GhostProfile:
    """Set a ghost's name and avatar from its Rocket.Chat person."""

    user_id: str  # the ghost
    rc_user_id: str
    display_name: str
    rc_username: str | None = None  # the avatar is fetched by it; older rows may lack it
    avatar_url: str | None = None  # what the ghost has now: the avatar is set only if changed
    avatar_hash: str | None = None
    portal_id: int | None = None  # queued ahead of a message in this portal's queue


@attrs.frozen
class ProfileSet:
    rooms: tuple[str, ...] = ()  # every room the ghost is in: the profile shows in each
    avatar_url: str | None = None
    avatar_hash: str | None = None
    avatar_changed: bool = False


@action(kinds.RC_SHADOW)
@attrs.frozen
class EnsureShadow:
    """Create a Matrix user's Rocket.Chat account (a shadow)."""

    user_id: str
    portal_id: int | None = None  # the room it is made for: its name is disclosed there


@action(kinds.PROFILE_SCRUB)
@attrs.frozen
class ScrubGhost:
    """A deleted Rocket.Chat account's ghost shows what Rocket.Chat now shows, then leaves
    every room (bridge.bridging.rc_people)."""

    user_id: str  # the ghost
    display_name: str
    avatar_of: str | None  # the username whose avatar it takes (rocket.cat), or none
    personas: tuple[str, ...] = ()  # the person's personas: they leave every room too


@attrs.frozen
class GhostScrubbed:
    rooms_left: int
    avatar: bool


@attrs.frozen
class ShadowReady:
    matrix_user_id: str
    rc_user_id: str
    rc_username: str
    display_name: str
    auth_token: str


@attrs.frozen
class ShadowMembership:
    """A Matrix user's shadow joins or leaves a Rocket.Chat room."""

    user_id: str  # the Matrix user
    rc_room_id: str
    rc_room_type: str  # "c" (channel) or "p" (private group)


@action(kinds.RC_JOIN)
@attrs.frozen
class ShadowJoin(ShadowMembership):
    pass


@action(kinds.RC_KICK)
@attrs.frozen
class ShadowKick(ShadowMembership):
    pass


# -- relayed to Matrix -------------------------------------------------------------------


@omit_defaults
@attrs.frozen
class Subject:
    """Whom carried data is about: a Matrix user, or a Rocket.Chat person."""

    matrix_user_id: str | None = None
    rc_user_id: str | None = None
    rc_username: str | None = None


@omit_when_default("rc_message_id", "mentions")
@attrs.frozen
class Disclosure:
    """What the ledger records once the send is done (bridging.records)."""

    subject: Subject
    origin: str  # a privacy.categories.Origin name
    categories: int  # privacy.categories.Category flags
    content: str | None = None
    rc_message_id: str | None = None  # a Rocket.Chat message's id, when it is one
    mentions: tuple[Subject, ...] | None = None  # reactions name nobody


@attrs.frozen
class MessageRecord:
    """The id mapping a Rocket.Chat message's part gets once it is on Matrix."""

    rc_message_id: str
    part: int  # 0: the text, 1…: its files
    origin: str
    sender: str  # the Rocket.Chat user id
    sent_ms: int
    rc_thread_id: str | None = None


@attrs.frozen
class ReactionRecord:
    rc_message_id: str
    emoji: str  # the Rocket.Chat shortcode
    sender: str  # the Rocket.Chat username
    origin: str


@attrs.frozen
class Render:
    """A message's text and mentions, to render again with personas (bridging.minimise)."""

    text: str
    targets: dict[str, tuple[str, str, str | None]]  # username: (user id, name, person)


@attrs.frozen
class MatrixMessage:
    portal_id: int
    sender: str  # the ghost, persona or bot that sends it
    event_type: str
    content: Content  # the Matrix event's content, as the spec has it
    record: MessageRecord | None = None
    disclosure: Disclosure | None = None
    reaction: ReactionRecord | None = None
    render: Render | None = None


@action(kinds.MATRIX_SEND)
@omit_when_default("reaction", "render")
@attrs.frozen
class MatrixSend(MatrixMessage):
    pass


@action(kinds.MATRIX_UPLOAD)
@omit_when_default("reaction", "render")
@attrs.frozen
class MatrixUpload(MatrixMessage):
    """A Rocket.Chat file: ``content`` holds its ``rc_file_url`` until it is copied."""


@action(kinds.MATRIX_REDACT)
@omit_when_default("rc_message_id", "reaction")
@attrs.frozen
class MatrixRedact:
    portal_id: int
    sender: str
    event_id: str
    reason: str | None = None
    rc_message_id: str | None = None  # a message's copy: marked deleted once redacted
    reaction: bool = False  # a reaction's copy: forgotten once redacted


@action(kinds.MATRIX_MEMBERSHIP)
@attrs.frozen
class GhostMembership:
    portal_id: int
    user_id: str  # the ghost
    membership: str  # "join" or "leave"


@attrs.frozen
class StoredPersona:
    matrix_user_id: str
    rc_user_id: str
    display_name: str
    named_ms: int | None = None


@omit_defaults
@attrs.frozen
class SentAs:
    """Who sent it, when a persona did (bridging.minimise)."""

    persona: StoredPersona | None = None
    mentioned_personas: tuple[StoredPersona, ...] | None = None


@omit_when_default("persona", "mentioned_personas", "minimised", "refused")
@attrs.frozen
class MatrixSent:
    event_id: str
    room_id: str
    ghost_joined: bool = False
    persona: StoredPersona | None = None
    mentioned_personas: tuple[StoredPersona, ...] | None = None
    minimised: bool = False  # a file sent as its name and a link
    refused: str | None = None  # a file refused, and why: a notice went in its place


@attrs.frozen
class Redacted:
    redaction_id: str


# -- relayed to Rocket.Chat --------------------------------------------------------------


@attrs.frozen
class NoResult:
    """What a run that returns nothing gives its done hook."""


@attrs.frozen
class PostRecord:
    """The Matrix event a Rocket.Chat post comes from: its id mapping once posted."""

    matrix_event_id: str
    sent_ms: int
    rc_thread_id: str | None


@attrs.frozen
class EventRef:
    """The Matrix event an edit or reaction comes from (its disclosure names it)."""

    matrix_event_id: str


@attrs.frozen
class RCPost:
    """A Matrix message posted to Rocket.Chat by its sender's shadow, under an id derived
    from its event (a repeat finds the first post)."""

    portal_id: int
    rc_room_id: str
    rc_message_id: str
    sender: str  # the Matrix user
    thread_id: str | None
    record: PostRecord
    disclosure: Disclosure | None = attrs.field(default=None, kw_only=True)


@action(kinds.RC_SEND)
@attrs.frozen
class RCSend(RCPost):
    text: str  # Rocket.Chat markdown


@action(kinds.RC_UPLOAD)
@attrs.frozen
class RCUpload(RCPost):
    """A Matrix file: fetched from the homeserver only when no earlier run posted it."""

    filename: str
    mxc: str | None = None
    mimetype: str | None = None  # the sender's claim
    size: int | None = None  # the sender's claim: a larger one is refused unfetched


@omit_when_default("refused")
@attrs.frozen
class RCSent:
    rc_message_id: str
    existing: bool = False  # posted by an earlier run
    refused: str | None = None  # a file refused, and why: a notice went in its place


@action(kinds.RC_UPDATE)
@attrs.frozen
class RCUpdate:
    """A Matrix edit: the Rocket.Chat copy's text replaced."""

    portal_id: int
    rc_room_id: str
    rc_message_id: str
    sender: str
    text: str
    record: EventRef
    disclosure: Disclosure | None = None


@action(kinds.RC_DELETE)
@attrs.frozen
class RCDelete:
    """A Matrix redaction: the Rocket.Chat copy deleted."""

    rc_room_id: str
    rc_message_id: str
    as_shadow: bool  # the author deletes their own; a moderator's redaction uses the bot
    sender: str


@action(kinds.RC_REACT)
@attrs.frozen
class RCReact:
    """A Matrix reaction added (or, redacted, taken away) on Rocket.Chat."""

    portal_id: int
    rc_message_id: str
    emoji: str  # the Rocket.Chat shortcode
    sender: str
    should_react: bool
    matrix_event_id: str  # the reaction's event (the redacted one, for a removal)
    record: EventRef
    disclosure: Disclosure | None = None  # a removal discloses nothing


# -- what payloads of several kinds share (read from a batch or a dead letter) ----------


@runtime_checkable
class NamesPortal(Protocol):
    """A payload of an action in a portal (its hook looks the portal up)."""

    @property
    def portal_id(self) -> int | None: ...


@runtime_checkable
class CarriesDisclosure(Protocol):
    """A payload whose done hook records a disclosure in the ledger."""

    @property
    def disclosure(self) -> Disclosure | None: ...
