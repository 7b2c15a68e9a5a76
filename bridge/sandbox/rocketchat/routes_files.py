"""rooms.upload (one step, older servers), rooms.media + rooms.mediaConfirm (spec flow)."""

from __future__ import annotations

import hashlib
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import quote

from aiohttp import web

from bridge.sandbox.rocketchat import ops
from bridge.sandbox.rocketchat.access import authed, can_access, json_body
from bridge.sandbox.rocketchat.appkeys import STATE_KEY
from bridge.sandbox.rocketchat.responses import failure, meteor_error, success
from bridge.sandbox.rocketchat.routes_chat import check_can_send
from bridge.sandbox.rocketchat.state import Doc, SimRoom, SimState, SimUser, random_id, render_rest


async def _multipart(request: web.Request) -> dict[str, tuple[bytes, str | None, str | None]]:
    """Parse multipart/form-data from the raw body (the conformance recorder reads it first)."""
    if not request.content_type.startswith("multipart/form-data"):
        raise failure("[invalid-file]", "invalid-file")
    raw = await request.read()
    header = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode()
    parsed = BytesParser(policy=HTTP).parsebytes(header + raw)
    fields: dict[str, tuple[bytes, str | None, str | None]] = {}
    for part in parsed.iter_parts() if isinstance(parsed, Message) else []:
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = (payload, part.get_filename(), part.get_content_type())
    return fields


def _room(state: SimState, user: SimUser, rid: str) -> SimRoom:
    room = state.rooms.get(rid)
    if room is None or not can_access(user, room):
        raise meteor_error("error-not-allowed", "Not allowed")
    return room


def _store(
    state: SimState, user: SimUser, room: SimRoom, *, data: bytes, name: str, ctype: str
) -> Doc:
    file_id = random_id(24)
    record = {
        "_id": file_id,
        "name": name,
        "type": ctype,
        "size": len(data),
        "rid": room.id,
        "userId": user.id,
        "data": data,
        "confirmed": False,
    }
    record |= state.file_serving.get(name, {})
    state.uploads[file_id] = record
    return record


def file_path(record: Doc) -> str:
    """``/file-upload/<id>/<name>`` with the name escaped as ``encodeURI`` does (Rocket.Chat
    apps/meteor/app/file-upload/server/lib/FileUpload.ts ``getPath``, used by
    parseFileIntoMessageAttachments)."""
    return f"/file-upload/{record['_id']}/{quote(record['name'], safe=_ENCODE_URI_SAFE)}"


_ENCODE_URI_SAFE = ";,/?:@&=+$-_.!~*'()#"
# A file of these types gets its media field too (parseFileIntoMessageAttachments).
_MEDIA_FIELDS = ("image", "audio", "video")


def _file_message_fields(record: Doc, text: str, tmid: Any) -> dict[str, Any]:
    url = file_path(record)
    info = {k: record[k] for k in ("_id", "name", "type", "size")}
    attachment: dict[str, Any] = {
        "title": record["name"],
        "title_link": url,
        "title_link_download": True,
        "type": "file",
        "description": text,
        "fileId": record["_id"],
    }
    major = str(record["type"]).split("/", 1)[0]
    if major in _MEDIA_FIELDS:
        attachment |= {
            f"{major}_url": url,
            f"{major}_type": record["type"],
            f"{major}_size": record["size"],
        }
    else:
        attachment["size"] = record["size"]
    fields: dict[str, Any] = {
        "msg": text,
        "file": info,
        "files": [info],
        "attachments": [attachment],
    }
    if tmid:
        fields["tmid"] = tmid
    return fields


async def rooms_upload(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    user = await authed(request)
    room = _room(state, user, request.match_info["rid"])
    form = await _multipart(request)
    if "file" not in form:
        raise failure("[invalid-field]", "invalid-field")
    data, name, ctype = form["file"]
    text = form.get("msg", (b"", None, None))[0].decode()
    tmid = form.get("tmid", (b"", None, None))[0].decode() or None
    fields = _file_message_fields(
        _store(
            state,
            user,
            room,
            data=data,
            name=name or "file",
            ctype=ctype or "application/octet-stream",
        ),
        text,
        tmid,
    )
    check_can_send(state, user, room, fields)
    doc = ops.create_message(state, user, room, fields)
    return success({"message": render_rest(doc)})


async def rooms_media(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    user = await authed(request)
    room = _room(state, user, request.match_info["rid"])
    form = await _multipart(request)
    if "file" not in form:
        raise failure("[invalid-field]", "invalid-field")
    data, name, ctype = form["file"]
    record = _store(
        state, user, room, data=data, name=name or "file", ctype=ctype or "application/octet-stream"
    )
    return success({"file": {"_id": record["_id"], "url": file_path(record)}})


# sendFileMessage checks msgData against exactly these keys (Meteor ``check`` with a plain
# object pattern refuses any other key, e.g. a client-chosen ``_id``):
# apps/meteor/app/file-upload/server/methods/sendFileMessage.ts.
_CONFIRM_KEYS = frozenset(
    {"avatar", "emoji", "alias", "groupable", "msg", "tmid", "customFields", "t", "content"}
)


async def rooms_media_confirm(request: web.Request) -> web.Response:
    """Posts the uploaded file as a new message on every call, as Rocket.Chat does: the
    route neither refuses nor deduplicates a second confirmation of one file
    (apps/meteor/app/api/server/v1/rooms.ts ``rooms.mediaConfirm/:rid/:fileId``)."""
    state = request.app[STATE_KEY]
    user = await authed(request)
    room = _room(state, user, request.match_info["rid"])
    record = state.uploads.get(request.match_info["fileId"])
    if record is None or record["rid"] != room.id or record["userId"] != user.id:
        raise failure("[invalid-file]", "invalid-file")
    body = await json_body(request) if request.body_exists else {}
    description = body.pop("description", None)
    unknown = sorted(set(body) - _CONFIRM_KEYS)
    if unknown:
        raise failure(f"Match error: Unknown key in field {unknown[0]}")
    fields = _file_message_fields(record, str(body.get("msg") or ""), body.get("tmid"))
    if isinstance(description, str):
        fields["attachments"][0]["description"] = description
    check_can_send(state, user, room, fields)
    record["confirmed"] = True  # Uploads.confirmTemporaryFile: it no longer expires
    doc = ops.create_message(state, user, room, fields)
    return success({"message": render_rest(doc)})


def _file_reader(request: web.Request) -> SimUser | None:
    """Who asks for a file: ``rc_uid``/``rc_token`` from the query or the cookies, else the
    ``X-User-Id``/``X-Auth-Token`` headers (FileUpload.ts ``requestCanAccessFiles``)."""
    state = request.app[STATE_KEY]
    uid = request.query.get("rc_uid") or request.cookies.get("rc_uid")
    token = request.query.get("rc_token") or request.cookies.get("rc_token")
    uid = uid or request.headers.get("X-User-Id")
    token = token or request.headers.get("X-Auth-Token")
    if not uid or not token:
        return None
    user = state.user_by_token(uid, token)
    return user if user is not None and user.active else None


async def download(request: web.Request) -> web.StreamResponse:
    """``GET /file-upload/<id>/<name>`` (requests.ts): 404 for an unknown id, an empty 403
    when the reader may not see it, else the bytes with their stored type and length.

    ``record["serve"]`` is a simulator-only knob for tests (set from
    ``state.file_serving`` by file name when the file is stored): ``"chunked"`` streams the
    file without ``Content-Length``; ``"cut_short"`` announces the full length and closes
    the connection halfway; ``"redirect"`` answers 302 to ``record["redirect_to"]``, as
    the server does for object storage with ``FileUpload_ProxyUploads`` off
    (FileUpload.ts ``redirectToFile``)."""
    state = request.app[STATE_KEY]
    record = state.uploads.get(request.match_info["file_id"])
    if record is None:
        return web.Response(status=404)
    user = _file_reader(request)
    room = state.rooms.get(record["rid"])
    if user is None or room is None or not can_access(user, room):
        return web.Response(status=403)
    record["downloads"] = record.get("downloads", 0) + 1  # for tests, not Rocket.Chat
    headers = {
        "Content-Security-Policy": "default-src 'none'",
        "Cache-Control": "max-age=31536000",
        "Content-Disposition": f'attachment; filename="{quote(record["name"], safe="")}"',
        "Content-Type": record["type"],
    }
    serve = record.get("serve")
    if serve == "redirect":
        return web.Response(status=302, headers={"Location": record["redirect_to"]})
    if serve in ("chunked", "cut_short"):
        return await _stream(request, record["data"], headers, cut_short=serve == "cut_short")
    return web.Response(body=record["data"], headers=headers)


async def _stream(
    request: web.Request, data: bytes, headers: dict[str, str], *, cut_short: bool
) -> web.StreamResponse:
    response = web.StreamResponse(headers=headers)
    if cut_short:
        response.content_length = len(data)
        data = data[: len(data) // 2]
    else:
        response.enable_chunked_encoding()
    await response.prepare(request)
    for start in range(0, len(data), 64 * 1024):
        await response.write(data[start : start + 64 * 1024])
    if cut_short and request.transport is not None:
        request.transport.close()  # the peer sees the body end before its length
        return response
    await response.write_eof()
    return response


async def avatar(request: web.Request) -> web.Response:
    """``GET /avatar/{username}``: the server answers every user (and unknown names) with
    an image — an uploaded one, or a generated initial. Here: bytes that change when the
    avatar is set, which is all the bridge can observe."""
    state = request.app[STATE_KEY]
    name = request.match_info["username"]
    user = state.user_by_name(name)
    source = (user.avatar_url if user and user.avatar_url else f"initial:{name}").encode()
    body = _PNG_SIGNATURE + hashlib.sha256(source).digest()
    etag = hashlib.sha256(source).hexdigest()[:16]
    return web.Response(body=body, content_type="image/png", headers={"ETag": etag})


async def room_avatar(request: web.Request) -> web.Response:
    """``GET /avatar/room/{rid}``: a room's avatar (generated from its id here)."""
    source = f"room:{request.match_info['rid']}".encode()
    return web.Response(
        body=_PNG_SIGNATURE + hashlib.sha256(source).digest(), content_type="image/png"
    )


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/v1/rooms.upload/{rid}", rooms_upload)
    r.add_post("/api/v1/rooms.media/{rid}", rooms_media)
    r.add_post("/api/v1/rooms.mediaConfirm/{rid}/{fileId}", rooms_media_confirm)
    r.add_get("/file-upload/{file_id}/{name}", download)
    r.add_get("/avatar/room/{rid}", room_avatar)
    r.add_get("/avatar/{username}", avatar)
