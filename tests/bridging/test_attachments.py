"""What a Rocket.Chat message's attachments become: files to copy, links to show, bounded."""

from __future__ import annotations

from typing import Any

from bridge.bridging.attachments import MAX_TITLE_CHARS, attachment_parts, with_links
from bridge.bridging.matrix_content import Content
from bridge.rctypes.links import FileLinks
from bridge.rctypes.models import RCMessage

LINKS = FileLinks("https://chat.example.org")


def _message(attachments: list[dict[str, Any]], files: tuple[str, ...] = ()) -> RCMessage:
    return RCMessage.parse(
        {
            "_id": "m1",
            "rid": "r1",
            "msg": "hi",
            "u": {"_id": "u1", "username": "carol"},
            "attachments": attachments,
            "files": [{"_id": f, "name": "x"} for f in files],
        }
    )


def test_an_own_upload_is_a_file_and_its_kind_comes_later_from_the_bytes() -> None:
    link = "/file-upload/f1/photo.jpg"
    files, lines = attachment_parts(
        _message([{"title": "photo.jpg", "title_link": link, "image_url": link}], ("f1",)),
        LINKS,
    )
    assert files == [Content(msgtype="m.image", body="photo.jpg", rc_file_url=link)]
    assert lines == []


def test_another_messages_upload_is_neither_fetched_nor_shown() -> None:
    files, lines = attachment_parts(
        _message([{"title": "theirs", "title_link": "/file-upload/f2/secret.pdf"}], ("f1",)),
        LINKS,
    )
    assert files == [] and lines == []


def test_web_links_are_shown_with_bounded_titles_and_never_push_past_the_limit() -> None:
    attachments = [
        {"title": "t" * 100_000, "title_link": f"https://example.org/{i}"} for i in range(20)
    ]
    files, lines = attachment_parts(_message(attachments), LINKS)
    assert files == []
    assert len(lines) == 10
    assert all(len(line) <= MAX_TITLE_CHARS + 2 + len("https://example.org/19") for line in lines)
    text = with_links("hi", lines, 1000)
    assert len(text) <= 1000 and text.startswith("hi\n")
    assert with_links("", ["a: https://x.org"], 5) == ""


def test_audio_and_video_links_name_their_kind() -> None:
    audio, video = "/file-upload/f1/talk.ogg", "https://elsewhere.example/clip.mp4"
    files, lines = attachment_parts(
        _message(
            [
                {"title": "talk.ogg", "title_link": audio, "audio_url": audio},
                {"title": "clip", "video_url": video},
            ],
            ("f1",),
        ),
        LINKS,
    )
    assert files == [Content(msgtype="m.audio", body="talk.ogg", rc_file_url=audio)]
    assert lines == [f"clip: {video}"]


def test_a_thread_parents_reply_count_is_a_typed_field() -> None:
    parent = RCMessage.parse({"_id": "m1", "rid": "r1", "tcount": 2})
    assert parent.thread_count == 2
    assert RCMessage.parse({"_id": "m2", "rid": "r1", "tcount": "2"}).thread_count == 0
