"""The Matrix event content the relay sends, as it sits in a ``matrix.send`` payload.

Only the keys the relay writes are fields (Matrix specification, ``m.room.message``,
"Event replacements", "Threading", "Reactions", "User and room mentions"), each stored
under its Matrix key and left out when unset, so the stored JSON is the content as the
spec has it and the executor sends it as stored. mautrix's content classes were not used:
they rewrite an edit when they read it (the ``m.new_content`` becomes the content).
"""

from __future__ import annotations

import attrs

from bridge.pipeline.actions import converter, json_keys


@attrs.frozen
class InReplyTo:
    event_id: str


@attrs.frozen
class Relation:
    """``m.relates_to``: a thread, a replacement, an annotation, or a plain reply."""

    rel_type: str | None = None
    event_id: str | None = None
    key: str | None = None  # an annotation's emoji
    is_falling_back: bool | None = None  # a thread message, shown as a reply without threads
    in_reply_to: InReplyTo | None = None


@attrs.frozen
class Mentions:
    """``m.mentions`` (intentional mentions): only the people named, never the room."""

    user_ids: tuple[str, ...]


@attrs.frozen
class FileInfo:
    mimetype: str
    size: int


@attrs.frozen
class Content:
    """An ``m.room.message`` (text, edit or file) or ``m.reaction`` content."""

    msgtype: str | None = None
    body: str | None = None
    format: str | None = None
    formatted_body: str | None = None
    mentions: Mentions | None = None
    relates_to: Relation | None = None
    new_content: Content | None = None  # an edit's replacement
    url: str | None = None  # a file's mxc://, once copied
    info: FileInfo | None = None
    rc_file_url: str | None = None  # a Rocket.Chat file to copy: the executor drops it
    rc_file_type: str | None = None  # older payloads: the attachment's kind, dropped too

    def json(self) -> dict[str, object]:
        """The content as it goes to the homeserver."""
        out: dict[str, object] = converter.unstructure(self)
        return out


json_keys(InReplyTo)
json_keys(Relation, in_reply_to="m.in_reply_to")
json_keys(Mentions)
json_keys(FileInfo)
json_keys(Content, mentions="m.mentions", relates_to="m.relates_to", new_content="m.new_content")
