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
from collections.abc import Awaitable, Callable
from urllib.parse import unquote

import aiohttp
from yarl import URL

from bridge.media import FetchedFile, FileRefused, file_mimetype, read_body
from bridge.pipeline.contracts import AWAY_STATUSES, RetryLater, Unavailable
from bridge.rctypes.links import FileLinks
from bridge.rocketchat.errors import RCConnectionError, RCError, RCServerError
from bridge.rocketchat.transport import RCTransport

log = logging.getLogger(__name__)

MAX_REDIRECTS = 3
_REDIRECTS = {301, 302, 303, 307, 308}


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
