"""Fetching Rocket.Chat files: only from its file routes, with its credentials, never elsewhere.

A message's attachment links (``title_link``, ``image_url``, ...) are written by whoever
posted the message, so they are untrusted input. The bridge's ``X-User-Id`` /
``X-Auth-Token`` belong to an account that may read admin-only API routes; they go only
to the configured Rocket.Chat origin (scheme, host and port, compared after parsing) and
only to the routes that serve files:

* ``/file-upload/<id>/<name>`` — uploads (Rocket.Chat apps/meteor/app/file-upload/server/
  lib/requests.ts; it authenticates by the ``rc_uid``/``rc_token`` cookies or the
  ``X-User-Id``/``X-Auth-Token`` headers, FileUpload.ts ``requestCanAccessFiles``);
* ``/ufs/<store>/<id>/<name>`` — the older spelling of the same stores;
* ``/avatar/<username>`` and ``/avatar/room/<rid>`` — avatars.

Anything else (``/api/...``, another host, a path that climbs out with ``..`` or hides
it in percent-encoding, backslashes, userinfo) is not fetched. Redirects are not
followed automatically: one that stays on the origin and on a file route is followed,
at most a few times; one that leaves (e.g. to object storage when Rocket.Chat's
``FileUpload_ProxyUploads`` is off) refuses the file.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from urllib.parse import quote, unquote

import aiohttp
from yarl import URL

from bridge.media import FetchedFile, FileRefused, file_mimetype, read_body
from bridge.pipeline.contracts import AWAY_STATUSES, RetryLater, Unavailable
from bridge.rocketchat.errors import RCConnectionError, RCError, RCServerError
from bridge.rocketchat.transport import RCTransport

log = logging.getLogger(__name__)

FILE_ROUTES = ("file-upload", "ufs", "avatar")
MAX_REDIRECTS = 3
_REDIRECTS = {301, 302, 303, 307, 308}
# Percent-encoded '.', '/' and '\': no file route needs them, and a server that decodes
# them before routing would let a path climb out of the file routes.
_ENCODED_TRICKS = re.compile(r"%(2e|2f|5c|00)", re.IGNORECASE)
_DEFAULT_PORTS = {"http": 80, "https": 443}


class FileLinks:
    """Decides which links point at a file of the configured Rocket.Chat server."""

    def __init__(self, base_url: str) -> None:
        base = URL(base_url.rstrip("/"))
        if not base.is_absolute() or base.scheme not in _DEFAULT_PORTS:
            raise ValueError("rocketchat.url must be an absolute http(s) URL")
        self._base = base
        self._prefix = base.raw_path.rstrip("/")  # a server under a sub-path

    def resolve(self, link: str) -> URL | None:
        """The absolute URL of ``link`` if it is a file route on our origin, else None."""
        if not link or len(link) > 2048 or "\\" in link or _ENCODED_TRICKS.search(link):
            return None
        if any(ord(c) < 0x21 or ord(c) == 0x7F for c in link):
            return None
        if link.startswith("/") and not link.startswith("//"):
            raw_path = self._prefix + _path_part(link)
            absolute = str(self._base.origin()) + self._prefix + link
        elif link.lower().startswith(("http://", "https://")):
            raw_path = _path_part(link.split("://", 1)[1], absolute=True)
            absolute = link
        else:
            return None  # scheme-relative, userinfo tricks, other schemes, bare words
        try:
            candidate = URL(absolute)
        except ValueError:
            return None
        if not self._same_origin(candidate) or not self._file_route(raw_path):
            return None
        return candidate.with_fragment(None)

    def is_file(self, link: str | None) -> bool:
        return link is not None and self.resolve(link) is not None

    def upload_id(self, link: str) -> str | None:
        """The upload's id in a link to ``/file-upload/<id>/...`` or
        ``/ufs/<store>/<id>/...`` on our origin; None for avatars and everything else."""
        url = self.resolve(link)
        if url is None:
            return None
        segments = url.raw_path[len(self._prefix) + 1 :].split("/")
        if segments[0] == "file-upload" and len(segments) >= 2:
            return unquote(segments[1])
        if segments[0] == "ufs" and len(segments) >= 3:
            return unquote(segments[2])
        return None

    def _same_origin(self, url: URL) -> bool:
        if url.user is not None or url.password is not None or url.host is None:
            return False
        if url.scheme != self._base.scheme or url.host != self._base.host:
            return False
        return _port(url) == _port(self._base)

    def _file_route(self, raw_path: str) -> bool:
        if not raw_path.startswith(self._prefix + "/"):
            return False
        segments = raw_path[len(self._prefix) + 1 :].split("/")
        if any(s in ("", ".", "..") for s in segments[:-1]) or segments[-1] in (".", ".."):
            return False
        return len(segments) >= 2 and segments[0] in FILE_ROUTES


def _path_part(link: str, *, absolute: bool = False) -> str:
    """The path of ``link`` exactly as written (yarl would normalise ``..`` away)."""
    rest = link.split("#", 1)[0].split("?", 1)[0]
    if absolute:
        slash = rest.find("/")
        return "/" if slash < 0 else rest[slash:]
    return rest


def _port(url: URL) -> int | None:
    return url.explicit_port or _DEFAULT_PORTS.get(url.scheme or "")


def avatar_path(username: str) -> str:
    return f"/avatar/{quote(username, safe='')}"


def room_avatar_path(room_id: str) -> str:
    return f"/avatar/room/{quote(room_id, safe='')}"


class FileFetcher:
    """Downloads Rocket.Chat files with the bridge's credentials, under the rules above."""

    def __init__(self, links: FileLinks, transport: RCTransport) -> None:
        self._links = links
        self._transport = transport

    async def fetch(self, link: str, max_bytes: int) -> FetchedFile:
        """The whole file; :class:`FileRefused` for links and files the bridge won't copy,
        :class:`RCError` for a failure worth retrying."""
        url = self._links.resolve(link)
        if url is None:
            raise FileRefused("it is not a file stored on the Rocket.Chat server")
        for _ in range(MAX_REDIRECTS + 1):
            try:
                async with self._transport.session.get(
                    url, headers=self._transport.auth_headers(), allow_redirects=False
                ) as resp:
                    if resp.status in _REDIRECTS:
                        url = self._redirect(resp.headers.get(aiohttp.hdrs.LOCATION))
                        continue
                    _check_status(resp.status)
                    data = await read_body(resp, max_bytes)
                    name = unquote(url.raw_path.rsplit("/", 1)[-1])
                    mimetype = file_mimetype(
                        resp.headers.get(aiohttp.hdrs.CONTENT_TYPE), data, name
                    )
                    return FetchedFile(data, mimetype)
            except (aiohttp.ClientError, TimeoutError) as e:
                raise RCConnectionError(f"file download: {type(e).__name__}") from e
        raise FileRefused("Rocket.Chat redirected its download too many times")

    def _redirect(self, location: str | None) -> URL:
        target = None if location is None else self._links.resolve(location)
        if target is None:
            # Following would send the credentials elsewhere, or fetch a non-file route.
            log.warning("A Rocket.Chat file download redirected off its file routes; refused")
            raise FileRefused("Rocket.Chat serves it from another address")
        return target


def _check_status(status: int) -> None:
    if status == 200:
        return
    if status >= 500 or status == 429:
        raise RCServerError(status, f"file download answered {status}", None, None)
    if status in (401, 403):
        raise FileRefused("Rocket.Chat did not let the bridge read it")
    if status in (404, 410):
        raise FileRefused("it is no longer on Rocket.Chat")
    raise RCError(f"file download answered {status}")


def outbox_fetcher(files: FileFetcher, max_bytes: int) -> Callable[[str], Awaitable[FetchedFile]]:
    """``files.fetch`` in the outbox's words: FileRefused stays (the executor posts the
    notice), Rocket.Chat away or busy is :class:`Unavailable` (only the age budget runs,
    as for every other call to it), anything else :class:`RetryLater`."""

    async def fetch(link: str) -> FetchedFile:
        try:
            return await files.fetch(link, max_bytes)
        except RCConnectionError as e:
            raise Unavailable(f"Rocket.Chat file download failed: {e}") from e
        except RCServerError as e:
            away = e.status in AWAY_STATUSES or e.status == 429
            raise (Unavailable if away else RetryLater)(f"file download: {e}") from e
        except RCError as e:
            raise RetryLater(f"Rocket.Chat file download failed: {e}") from e

    return fetch
