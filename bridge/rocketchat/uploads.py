"""A Matrix file posted to Rocket.Chat exactly once, across crashes and lost answers.

Rocket.Chat's upload is two steps (apps/meteor/app/api/server/v1/rooms.ts):
``rooms.media`` stores the file, invisible and discarded after 24 hours unless confirmed;
``rooms.mediaConfirm`` posts it as a message, a new one on every call, with no
client-chosen ``_id`` accepted. So the outbox action notes the uploaded file's id
durably between the steps, and before confirming again after a crash or a lost answer
it looks in the room for a message carrying that file:

* crash or lost answer during or after ``rooms.media``, before the note: the next run
  uploads again; the first upload is never confirmed, so it never shows;
* after the note, before or during the confirmation: the next run finds no message with
  the file and confirms it;
* after the confirmation: the next run finds the message and posts nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import attrs

from bridge.faults import crash_point
from bridge.ids import RCMessageID, RCRoomID
from bridge.pipeline.contracts import RetryLater
from bridge.pipeline.progress import Progress
from bridge.rctypes.models import RCMessage
from bridge.rocketchat.errors import RCAPIError, RCConnectionError, RCServerError
from bridge.rocketchat.rest import RCRestClient
from bridge.storage.common import now_ms

log = logging.getLogger(__name__)

# The search for an earlier confirmation starts this long before the upload was noted:
# the message's time is the server's clock, the note's the bridge's.
CLOCK_SKEW = timedelta(minutes=15)
# After a lost answer to a confirmation, how long to wait before looking for its message:
# longer than the client's request timeout, which a server still at work may outlast.
CONFIRM_SETTLE = 60.0

FileSource = Callable[[], Awaitable[tuple[bytes, str, str]]]


@attrs.frozen
class UploadNoted:
    """What a run notes once the file is uploaded, before it is posted."""

    rc_file_id: str
    uploaded_ms: int


async def post_file_once(
    client: RCRestClient,
    notes: Progress[UploadNoted],
    action_id: int,
    room: RCRoomID,
    source: FileSource,
    *,
    thread_id: RCMessageID | None = None,
) -> tuple[RCMessage, bool]:
    """Post the file ``source`` gives (data, filename, content type) once in ``room``.

    Returns the message and whether it had already been posted by an earlier run.
    """
    noted = await notes.read(action_id)
    if noted is not None:
        file_id = noted.rc_file_id
        since = datetime.fromtimestamp(noted.uploaded_ms / 1000, UTC) - CLOCK_SKEW
        posted = await client.find_file_message(room, file_id, since=since)
        if posted is not None:
            log.info("Uploaded file %s was already posted as %s", file_id, posted.id)
            return posted, True
        try:
            return await _confirm(client, room, file_id, thread_id), False
        except RCAPIError as e:
            # The upload expired (24 h) or was removed: start over with a new one.
            if e.error_type != "invalid-file":
                raise
            log.info("Uploaded file %s is gone; uploading it again", file_id)
    data, filename, content_type = await source()
    upload = await client.media_upload(room, data, filename, content_type)
    crash_point("rc.upload.after_media")
    await notes.note(action_id, UploadNoted(upload.file_id, now_ms()))
    crash_point("rc.upload.after_note")
    return await _confirm(client, room, upload.file_id, thread_id), False


async def _confirm(
    client: RCRestClient, room: RCRoomID, file_id: str, thread_id: RCMessageID | None
) -> RCMessage:
    try:
        message = await client.media_confirm(room, file_id, thread_id=thread_id)
    except (RCConnectionError, RCServerError) as e:
        # The server may still be posting it: look for the message only after a while,
        # so a slow confirmation is found instead of posted a second time.
        raise RetryLater(
            f"the answer to a file's confirmation was lost: {e}", retry_after=CONFIRM_SETTLE
        ) from e
    crash_point("rc.upload.after_confirm")
    return message
