"""Which links point at a file of the configured Rocket.Chat server, and where its
avatars are: pure rules on URLs, no I/O (the fetching and why it is so strict are in
``bridge.rocketchat.files``). The core uses them to tell a file from a link, the
Matrix connector to name the avatar it asks the Rocket.Chat fetcher for."""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

from yarl import URL

FILE_ROUTES = ("file-upload", "ufs", "avatar")
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
