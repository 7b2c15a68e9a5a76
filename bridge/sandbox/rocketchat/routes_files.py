"""rooms.upload (one step, older servers), rooms.media + rooms.mediaConfirm (spec flow)."""

from __future__ import annotations

import hashlib
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from aiohttp import web

from bridge.sandbox.rocketchat import ops
from bridge.sandbox.rocketchat.access import authed, can_access, json_body
from bridge.sandbox.rocketchat.appkeys import STATE_KEY
from bridge.sandbox.rocketchat.responses import failure, meteor_error, not_found, success
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
    state.uploads[file_id] = record
    return record


def _file_message_fields(record: Doc, text: str, tmid: Any) -> dict[str, Any]:
    url = f"/file-upload/{record['_id']}/{record['name']}"
    info = {k: record[k] for k in ("_id", "name", "type", "size")}
    fields: dict[str, Any] = {
        "msg": text,
        "file": info,
        "files": [info],
        "attachments": [
            {
                "title": record["name"],
                "title_link": url,
                "title_link_download": True,
                "type": "file",
                "description": text,
            }
        ],
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
    return success(
        {"file": {"_id": record["_id"], "url": f"/file-upload/{record['_id']}/{record['name']}"}}
    )


async def rooms_media_confirm(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    user = await authed(request)
    room = _room(state, user, request.match_info["rid"])
    record = state.uploads.get(request.match_info["fileId"])
    if (
        record is None
        or record["rid"] != room.id
        or record["userId"] != user.id
        or record["confirmed"]
    ):
        raise failure("[invalid-file]", "invalid-file")
    body = await json_body(request) if request.body_exists else {}
    fields = _file_message_fields(record, str(body.get("msg") or ""), body.get("tmid"))
    check_can_send(state, user, room, fields)
    record["confirmed"] = True
    doc = ops.create_message(state, user, room, fields)
    return success({"message": render_rest(doc)})


async def download(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    await authed(request)
    record = state.uploads.get(request.match_info["file_id"])
    if record is None:
        raise not_found()
    return web.Response(body=record["data"], content_type=record["type"])


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
