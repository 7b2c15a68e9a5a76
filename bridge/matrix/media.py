"""Downloading Matrix media (``mxc://``) for Rocket.Chat: complete, within the limit.

The ``mxc://`` URI comes from the sender's event, so it is checked before it becomes part
of a request made with the appservice token: a server name and a media id of the shapes
the spec allows ("Matrix URI scheme"/"Content repository": media ids are
``[A-Za-z0-9_-]+``), nothing that could climb to another client-server API path. The
authenticated download endpoint (spec v1.11, ``GET /_matrix/client/v1/media/download``)
is used without redirects: the token is for our homeserver alone.
"""

from __future__ import annotations

import logging
import re

import aiohttp
from mautrix.api import HTTPAPI

from bridge.media import FetchedFile, FileRefused, file_mimetype, read_body
from bridge.pipeline.contracts import AWAY_STATUSES, RetryLater, Unavailable

log = logging.getLogger(__name__)

_MXC = re.compile(
    r"^mxc://(?P<server>[A-Za-z0-9.\-]+(?::[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](?::[0-9]{1,5})?)"
    r"/(?P<media>[A-Za-z0-9_\-]{1,255})$"
)


def parse_mxc(mxc: object) -> tuple[str, str]:
    """(server name, media id) of a well-formed ``mxc://`` URI; FileRefused otherwise."""
    match = _MXC.match(mxc) if isinstance(mxc, str) else None
    if match is None:
        raise FileRefused("its mxc:// address is not valid")
    return match["server"], match["media"]


class MatrixMediaFetcher:
    def __init__(self, api: HTTPAPI) -> None:
        self._api = api

    async def fetch(self, mxc: object, max_bytes: int) -> FetchedFile:
        server, media_id = parse_mxc(mxc)
        api = self._api
        url = api.base_url / "_matrix/client/v1/media/download" / server / media_id
        params = {"user_id": api.as_user_id} if api.as_user_id else {}
        headers = {"Authorization": f"Bearer {api.token}"}
        try:
            async with api.session.get(
                url, params=params, headers=headers, allow_redirects=False
            ) as resp:
                if resp.status == 200:
                    data = await read_body(resp, max_bytes)
                    header = resp.headers.get(aiohttp.hdrs.CONTENT_TYPE)
                    return FetchedFile(data, file_mimetype(header, data))
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as e:
            raise Unavailable(f"media download: {type(e).__name__}") from e
        if status == 429 or status in AWAY_STATUSES:
            raise Unavailable(f"media download answered {status}")
        if status >= 500:
            raise RetryLater(f"media download answered {status}")
        # Missing, quarantined, withheld, or a redirect we do not follow with the token:
        # asking again will not change the answer.
        raise FileRefused("the homeserver did not serve it")
