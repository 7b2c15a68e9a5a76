"""What a Rocket.Chat message's attachments become on Matrix: files to copy, links to show.

An attachment's links are written by the poster (``chat.postMessage`` accepts any
``attachments``), so a link is fetched and copied only when it points at an upload on the
configured Rocket.Chat server (bridge.rocketchat.files decides which) AND that upload is
one of the message's own files (``file``/``files``, which only the server sets, when it
stores an upload: Rocket.Chat apps/meteor/app/file-upload/server/methods/
sendFileMessage.ts). Without the second check, anyone could make the bridge, a member
of many rooms, copy a file from a room they cannot read into one they can. Every other
web link is shown as a link in the message text; the bridge never fetches it. Links of
other shapes (relative paths, other schemes) are dropped.
"""

from __future__ import annotations

import logging

from bridge.bridging.matrix_content import Content
from bridge.rctypes.links import FileLinks
from bridge.rctypes.models import RCAttachment, RCMessage

log = logging.getLogger(__name__)

MAX_LINKS = 10
MAX_LINK_CHARS = 2048
# Titles are the poster's free text: bounded so a title cannot make an oversized event.
MAX_TITLE_CHARS = 200
MAX_FILE_NAME_CHARS = 255


def attachment_parts(
    message: RCMessage, file_links: FileLinks | None
) -> tuple[list[Content], list[str]]:
    """One Matrix content per file to copy (the executor fetches its bytes), and the text
    lines for the web links that are shown instead of fetched."""
    files: list[Content] = []
    lines: list[str] = []
    seen: set[str] = set()
    own = {f.id for f in message.files if f.id}
    for attachment in message.attachments:
        links = _links(attachment)
        file_link = next(
            (
                (link, kind)
                for link, kind in links
                if file_links is not None and file_links.upload_id(link) in own
            ),
            None,
        )
        if file_link is not None:
            files.append(_file_content(attachment, *file_link, links))
            seen.add(file_link[0])
        for link, _kind in links:
            if link in seen:
                continue
            seen.add(link)
            if not _is_web_link(link):
                log.debug("An attachment link of message %s is not a web link: dropped", message.id)
                continue
            if len(lines) < MAX_LINKS:
                title = (attachment.title or "")[:MAX_TITLE_CHARS]
                lines.append(f"{title}: {link}" if title else link)
    return files, lines


def _links(attachment: RCAttachment) -> list[tuple[str, str]]:
    """The attachment's link fields (core-typings MessageAttachmentDefault /
    FileAttachmentProps) that hold a usable link, each with the Matrix msgtype of a file
    there."""
    fields = (
        (attachment.title_link, "m.file"),
        (attachment.image_url, "m.image"),
        (attachment.audio_url, "m.audio"),
        (attachment.video_url, "m.video"),
    )
    return [(link, kind) for link, kind in fields if link and len(link) <= MAX_LINK_CHARS]


def _is_web_link(link: str) -> bool:
    return link.lower().startswith(("https://", "http://")) and not any(c.isspace() for c in link)


def _file_content(
    attachment: RCAttachment, link: str, kind: str, links: list[tuple[str, str]]
) -> Content:
    # An upload's title_link and image_url/audio_url/video_url name the same file; the
    # media field says what kind it is. The executor checks that against the bytes.
    kinds = {k for lnk, k in links if lnk == link and k != "m.file"}
    return Content(
        msgtype=kinds.pop() if len(kinds) == 1 else kind,
        body=(attachment.title or "")[:MAX_FILE_NAME_CHARS] or "file",
        rc_file_url=link,
    )


def with_links(text: str, lines: list[str], max_chars: int) -> str:
    """``text`` followed by the link lines that fit within ``max_chars`` (the text itself
    was checked against the limit already; links never push a message over it)."""
    for line in lines:
        longer = f"{text}\n{line}" if text else line
        if len(longer) > max_chars:
            break
        text = longer
    return text
