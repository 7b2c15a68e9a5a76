"""No secret in plain text: the shadows' Rocket.Chat session tokens are stored sealed."""

from __future__ import annotations

from sqlalchemy import text, update

from bridge.storage.bridging import Shadow
from bridge.storage.bridging_rows import ShadowRow
from bridge.storage.database import Database

KEY = "storage-encryption-key-for-tests-0123456789"
TOKEN = "rc-session-token-6af1c2"  # noqa: S105


def _shadow(token: str | None) -> Shadow:
    return Shadow("@alice:hs1.test", "rcAlice", "alice.hs1", "Alice", token)


async def _stored(db: Database) -> str | None:
    async with db.engine.connect() as conn:
        value = await conn.scalar(text("SELECT auth_token FROM shadow"))
    return None if value is None else str(value)


async def test_a_shadow_token_is_sealed_at_rest_and_opens_with_the_key(db_url: str) -> None:
    db = Database(db_url, encryption_key=KEY)
    await db.upgrade()
    try:
        async with db.unit_of_work() as uow:
            await uow.bridging.save_shadow(_shadow(TOKEN))
        stored = await _stored(db)
        assert stored is not None and TOKEN not in stored
        async with db.unit_of_work() as uow:
            shadow = await uow.bridging.shadow("@alice:hs1.test")
        assert shadow is not None and shadow.auth_token == TOKEN
    finally:
        await db.close()


async def test_plain_tokens_of_an_older_version_are_sealed(db_url: str) -> None:
    db = Database(db_url, encryption_key=KEY)
    await db.upgrade()
    try:
        async with db.unit_of_work() as uow:
            await uow.bridging.save_shadow(_shadow(None))
        async with db.sessions.begin() as session:  # as an older version wrote it
            await session.execute(update(ShadowRow).values(auth_token=TOKEN))
        async with db.unit_of_work() as uow:
            assert await uow.bridging.seal_plain_tokens() == 1
        stored = await _stored(db)
        assert stored is not None and TOKEN not in stored
        async with db.unit_of_work() as uow:
            assert await uow.bridging.seal_plain_tokens() == 0
            shadow = await uow.bridging.shadow("@alice:hs1.test")
        assert shadow is not None and shadow.auth_token == TOKEN
    finally:
        await db.close()


async def test_a_token_sealed_under_another_key_reads_as_no_session(db_url: str) -> None:
    db = Database(db_url, encryption_key=KEY)
    await db.upgrade()
    async with db.unit_of_work() as uow:
        await uow.bridging.save_shadow(_shadow(TOKEN))
    await db.close()
    other = Database(db_url, encryption_key="another-storage-key-for-tests-9876543210")
    try:
        async with other.unit_of_work() as uow:
            shadow = await uow.bridging.shadow("@alice:hs1.test")
        # Empty: Rocket.Chat refuses it, and the executor logs the shadow in again.
        assert shadow is not None and shadow.auth_token == ""
    finally:
        await other.close()
