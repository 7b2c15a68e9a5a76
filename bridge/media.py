"""Reading a fetched file: to its end, within the size limit, with the type of the bytes.

Both directions copy files (Rocket.Chat uploads to the Matrix media repository, Matrix
media to Rocket.Chat), so both read bodies here. A body is complete only when the stream
ended cleanly and, when the server announced a ``Content-Length``, exactly that many bytes
arrived; the limit is counted on the bytes as they arrive, so a server that sends no
``Content-Length`` (chunked transfer) cannot slip a large file past it.
"""

from __future__ import annotations

import mimetypes
import re

import aiohttp
import attrs

# Big enough to keep the loop cheap, small enough that the limit is never overshot by much.
_CHUNK = 64 * 1024
_TOKEN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$")
_GENERIC = {"application/octet-stream", "binary/octet-stream", "application/unknown"}

# Leading bytes of common formats (their specifications' "magic numbers").
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
    (b"OggS", "audio/ogg"),
    (b"\x1a\x45\xdf\xa3", "video/webm"),
)


class FileRefused(Exception):
    """A file the bridge will not pass on. ``reason`` is shown to the people in the room,
    so it names no file and no person ("it is larger than the limit of ...")."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class FileTooLarge(FileRefused):
    def __init__(self, limit: int) -> None:
        super().__init__(f"it is larger than the limit of {limit} bytes ({limit / 1e6:.1f} MB)")
        self.limit = limit


# A download cut short is often a dropped connection: it is tried this many more times
# (the outbox's backoff in between) before the file is refused.
CUT_SHORT_RETRIES = 2


def may_retry(refusal: FileRefused, attempts: int) -> bool:
    """Whether ``refusal`` of an action that already failed ``attempts`` times is worth
    another try rather than a notice."""
    return isinstance(refusal, FileCutShort) and attempts < CUT_SHORT_RETRIES


class FileCutShort(FileRefused):
    def __init__(self) -> None:
        super().__init__("its download was cut short, so it would arrive incomplete")


@attrs.frozen
class FetchedFile:
    data: bytes = attrs.field(repr=False)
    mimetype: str

    @property
    def size(self) -> int:
        return len(self.data)


async def read_body(resp: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    """The whole body of ``resp``; :class:`FileTooLarge` as soon as it passes ``max_bytes``,
    :class:`FileCutShort` when it ends before its announced length."""
    announced = resp.content_length
    if announced is not None and announced > max_bytes:
        raise FileTooLarge(max_bytes)
    chunks: list[bytes] = []
    total = 0
    try:
        async for chunk in resp.content.iter_chunked(_CHUNK):
            total += len(chunk)
            if total > max_bytes:
                raise FileTooLarge(max_bytes)
            chunks.append(chunk)
    except aiohttp.ClientPayloadError as e:  # the connection closed mid-body
        raise FileCutShort() from e
    # With a Content-Encoding, aiohttp hands over decoded bytes and the header counts the
    # encoded ones; the decoder itself reports a truncated stream (ClientPayloadError).
    encoded = resp.headers.get(aiohttp.hdrs.CONTENT_ENCODING, "identity").lower() != "identity"
    if announced is not None and not encoded and total != announced:
        raise FileCutShort()
    return b"".join(chunks)


def declared_type(header: str | None) -> str | None:
    """The media type of a ``Content-Type`` header, or None if absent, generic or malformed."""
    if not header:
        return None
    value = header.split(";", 1)[0].strip().lower()
    if not _TOKEN.match(value) or value in _GENERIC:
        return None
    return value


def sniffed_type(data: bytes) -> str | None:
    for signature, mimetype in _SIGNATURES:
        if data.startswith(signature):
            return mimetype
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def file_mimetype(header: str | None, data: bytes, filename: str | None = None) -> str:
    """What the file is: the serving route's ``Content-Type``, else its leading bytes, else
    its name's extension, else ``application/octet-stream``."""
    by_name = mimetypes.guess_type(filename)[0] if filename else None
    return declared_type(header) or sniffed_type(data) or by_name or "application/octet-stream"
