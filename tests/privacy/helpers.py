"""Shared helpers for the ledger tests: settings, people, and one-line recording."""

from __future__ import annotations

from bridge.ids import EventID, RCMessageID, RCUserID, RCUsername, RoomID, ServerName, UserID
from bridge.privacy.categories import Category, Origin
from bridge.privacy.ledger import BridgedItem, DisclosureLedger, LedgerSettings
from bridge.privacy.subjects import MatrixPerson, Person, RCPerson
from bridge.storage.database import Database

SETTINGS = LedgerSettings(
    local_server=ServerName("hs1.test"),
    rocketchat="rocketchat:chat.test",
    hash_key=b"k" * 32,
)
ROOM = RoomID("!room:hs1.test")
OTHER_ROOM = RoomID("!other:hs1.test")
ALICE = RCPerson(RCUserID("rcAlice"), RCUsername("alice"))  # a Rocket.Chat user
BOB = MatrixPerson(UserID("@bob:hs2.test"))  # a Matrix user on a remote server
GHOST_ALICE = UserID("@rc_alice:hs1.test")
BOT = UserID("@bridge:hs1.test")


def rc(user_id: str, username: str | None = None) -> RCPerson:
    return RCPerson(RCUserID(user_id), None if username is None else RCUsername(username))


def mx(user_id: str) -> MatrixPerson:
    return MatrixPerson(UserID(user_id))


async def member(
    db: Database, ledger: DisclosureLedger, user: str, membership: str, at: int, room: str = ROOM
) -> None:
    async with db.unit_of_work() as uow:
        await ledger.observe_membership(uow, RoomID(room), UserID(user), membership, at)


async def visibility(
    db: Database, ledger: DisclosureLedger, value: str, at: int, room: str = ROOM
) -> None:
    async with db.unit_of_work() as uow:
        await ledger.observe_visibility(uow, RoomID(room), value, at)


async def message(
    db: Database,
    ledger: DisclosureLedger,
    subject: Person,
    at: int,
    *,
    room: str = ROOM,
    origin: Origin = Origin.ROCKETCHAT,
    categories: Category = Category.MESSAGE_TEXT,
    mentions: tuple[Person, ...] = (),
    content: str = "hello",
) -> int:
    async with db.unit_of_work() as uow:
        return await ledger.record(
            uow,
            BridgedItem(
                subject=subject,
                origin=origin,
                room_id=RoomID(room),
                sent_ms=at,
                categories=categories,
                event_id=EventID(f"$ev{at}"),
                rc_message_id=RCMessageID(f"msg{at}"),
                content=content,
                mentions=mentions,
            ),
        )
