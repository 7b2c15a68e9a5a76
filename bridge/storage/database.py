"""The database facade handed to the rest of the bridge."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.config.model import Config
from bridge.storage import inbox as inbox_repo
from bridge.storage import outbox as outbox_repo
from bridge.storage.audit import AuditStore
from bridge.storage.bridging import BridgingStore
from bridge.storage.cache import RefCache, UnitCache
from bridge.storage.commands import CommandStore
from bridge.storage.dead_letters import DeadLetterStore
from bridge.storage.engine import create_engine, session_factory
from bridge.storage.erasure import ErasureStore
from bridge.storage.forget import ForgetStore
from bridge.storage.inbox import Inbox, StoredEvent
from bridge.storage.incidents import IncidentStore
from bridge.storage.ledger import LedgerStore
from bridge.storage.ledger_reads import LedgerReader
from bridge.storage.models import OutboxAction
from bridge.storage.outbox import NewAction, Outbox
from bridge.storage.partners import PartnerStore
from bridge.storage.personas import PersonaStore
from bridge.storage.policy import RoomPolicyStore
from bridge.storage.pseudonym_keys import PersonKeys
from bridge.storage.retention import prune_processed
from bridge.storage.schema import require_current, upgrade
from bridge.storage.sealed import SecretBox
from bridge.storage.software import ServerSoftwareStore
from bridge.storage.sqlite_driver import begin_if_idle
from bridge.storage.write_buffer import InsertBuffer


class UnitOfWork:
    """One database transaction in which a handler records all of its effects.

    Work done here commits together or not at all: an inbox event is marked processed in
    the same transaction as the outbox actions it caused, so a crash repeats nothing.
    """

    def __init__(
        self,
        session: AsyncSession,
        pseudonym_key: bytes | None = None,
        secrets: SecretBox | None = None,
        refs: RefCache | None = None,
    ) -> None:
        self._session = session
        # privacy.hash_key: finds each person's pseudonym key (bridge.privacy.pseudonyms).
        self.pseudonym_key = pseudonym_key
        # What this transaction has read, and the process's immutable ids (storage.cache).
        self.cache = UnitCache()
        self._refs = refs or RefCache()
        # Each person's own pseudonym key, sealed with storage.encryption_key.
        self.person_keys = PersonKeys(session, pseudonym_key, secrets, self.cache)
        self.enqueued = False
        self.committed: list[Callable[[], None]] = []
        # New rows written together, before anything else runs (storage.write_buffer).
        self.inserts = InsertBuffer(session)
        self.bridging = BridgingStore(session, secrets, self.cache, self.inserts)

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A part of this unit of work that may fail alone (one event of an inbox batch):
        if it raises, what it wrote is undone (a SAVEPOINT rolled back), along with the
        rows it held back, the callbacks it registered and everything read meanwhile,
        and the rest of the unit of work stands."""
        if self._session.get_bind().dialect.name == "sqlite":
            await self._session.run_sync(begin_if_idle)
        held, callbacks = self.inserts.begin(), len(self.committed)
        try:
            async with self._session.begin_nested():
                yield
        except BaseException:
            self.inserts.end(held, rolled_back=True)
            del self.committed[callbacks:]
            self.cache.clear()
            raise
        self.inserts.end(held, rolled_back=False)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once this unit of work has committed (never if it rolls back)."""
        self.committed.append(callback)

    async def enqueue(self, action: NewAction) -> None:
        """Add ``action`` to the outbox with this unit of work (a key already there is
        ignored). Written together with the unit's other new rows (storage.write_buffer)."""
        self.inserts.add(OutboxAction.__table__, outbox_repo.new_row(action))
        self.enqueued = True

    async def enqueue_new(self, action: NewAction) -> bool:
        """:meth:`enqueue` at once, for a caller that needs to know: False when the key
        was there already."""
        added = await outbox_repo.enqueue(self._session, action)
        self.enqueued = self.enqueued or added
        return added

    async def claim_inbox_event(self, passed: Collection[int] = ()) -> StoredEvent | None:
        """The next inbox event to handle in this transaction (storage.inbox.claim_next)."""
        return await inbox_repo.Inbox.claim_next(self._session, passed)

    async def claim_inbox_batch(
        self, limit: int, passed: Collection[int] = ()
    ) -> list[StoredEvent]:
        """Inbox events to handle in this transaction (storage.inbox.claim_batch)."""
        return await inbox_repo.Inbox.claim_batch(self._session, limit, passed)

    async def finish_inbox_events(self, event_ids: Collection[int], status: str) -> None:
        await inbox_repo.Inbox.finish_many(self._session, event_ids, status)

    async def count_inbox_failure(self, event_id: int, error: str, *, give_up: bool) -> None:
        await inbox_repo.Inbox.count_failure(self._session, event_id, error, give_up=give_up)

    async def finish_inbox_event(
        self, event_id: int, status: str, error: str | None = None
    ) -> None:
        await inbox_repo.Inbox.finish(self._session, event_id, status, error)

    async def outbox_done(self, action_id: int) -> bool:
        """False when the action was no longer pending (storage.outbox.mark_done)."""
        return await outbox_repo.mark_done(self._session, action_id)

    async def outbox_done_many(self, action_ids: Collection[int]) -> set[int]:
        """Those of ``action_ids`` that were still pending, now done (storage.outbox)."""
        return await outbox_repo.mark_done_many(self._session, action_ids)

    async def outbox_dead(
        self, action_id: int, error: str, cause: str, *, uses_attempt: bool, now: int
    ) -> bool:
        return await outbox_repo.mark_dead(
            self._session, action_id, error, cause, uses_attempt=uses_attempt, now=now
        )

    async def prune_processed(self, cutoff_ms: int) -> int:
        """Delete inbox events and outbox actions processed before ``cutoff_ms``."""
        return await prune_processed(self._session, cutoff_ms)

    @property
    def ledger(self) -> LedgerStore:
        """Disclosure-ledger writes in this transaction (recorded with the send they prove)."""
        return LedgerStore(self._session, self.cache, self._refs, self.after_commit, self.inserts)

    @property
    def dead_letters(self) -> DeadLetterStore:
        """Outbox actions given up: list, retry, drop (``bridge outbox``, the dashboard)."""
        return DeadLetterStore(self._session)

    @property
    def audit(self) -> AuditStore:
        """The tamper-evident audit log, appended with the action it records (docs/audit.md)."""
        return AuditStore(self._session)

    @property
    def commands(self) -> CommandStore:
        """The !privacy commands' DM rooms, codes, opt-outs and notices (docs/commands.md)."""
        return CommandStore(self._session, self.cache)

    @property
    def forget(self) -> ForgetStore:
        """Replacing an erased person's ids by their pseudonym in every other table."""
        return ForgetStore(self._session, self.cache)

    @property
    def partners(self) -> PartnerStore:
        """The partner register: who the bridge shares with, on what terms."""
        return PartnerStore(self._session)

    @property
    def incidents(self) -> IncidentStore:
        """Incident responses and the outbox actions each queued."""
        return IncidentStore(self._session)

    @property
    def personas(self) -> PersonaStore:
        """The ghosts that stand for Rocket.Chat people in rooms under policy minimise."""
        return PersonaStore(self._session)

    @property
    def room_policies(self) -> RoomPolicyStore:
        """Each portal's retention policy as last read from Rocket.Chat."""
        return RoomPolicyStore(self._session)

    @property
    def servers(self) -> ServerSoftwareStore:
        """What software each remote homeserver runs (expected purge dates)."""
        return ServerSoftwareStore(self._session)

    @property
    def erasure(self) -> ErasureStore:
        """Erasure requests, their items and per-recipient outcomes, in this transaction."""
        return ErasureStore(self._session)


class Database:
    def __init__(
        self,
        url: str,
        *,
        pseudonym_key: bytes | None = None,
        encryption_key: str | None = None,
    ) -> None:
        """``pseudonym_key`` (``privacy.hash_key``) finds each person's pseudonym key and
        ``encryption_key`` (``storage.encryption_key``) seals those keys and the shadows'
        stored session tokens: naming a person (the audit log, the ``!privacy`` tables)
        needs both, and is refused without them. Tools that never name a person or read a
        token may leave them out."""
        self.url = url
        self.pseudonym_key = pseudonym_key
        self._secrets = None if encryption_key is None else SecretBox(encryption_key)
        self.engine = create_engine(url)
        self.sessions = session_factory(self.engine)
        self.inbox = Inbox(self.sessions)
        self.outbox = Outbox(self.sessions)
        self.ledger = LedgerReader(self.sessions)
        self.refs = RefCache()
        self._enqueue_listeners: list[Callable[[], None]] = []

    @classmethod
    def from_config(cls, config: Config) -> Database:
        return cls(
            config.database.url,
            pseudonym_key=config.privacy.hash_key.encode(),
            encryption_key=config.storage.encryption_key,
        )

    def person_keys(self, session: AsyncSession) -> PersonKeys:
        """The pseudonym keys, read in a session that is not a unit of work."""
        return PersonKeys(session, self.pseudonym_key, self._secrets)

    def on_enqueue(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after each unit of work that enqueued an action commits."""
        self._enqueue_listeners.append(listener)

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[UnitOfWork]:
        async with self.sessions.begin() as session:
            uow = UnitOfWork(session, self.pseudonym_key, self._secrets, self.refs)
            yield uow
            await uow.inserts.flush()
        for callback in uow.committed:
            callback()
        if uow.enqueued:
            # The outbox would otherwise find the action only at its next idle poll
            # (up to a second later): a second of added latency per bridged message.
            for listener in self._enqueue_listeners:
                listener()

    async def upgrade(self) -> None:
        await upgrade(self.engine)

    async def require_current_schema(self) -> None:
        await require_current(self.engine)

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def truncate_journal(self) -> None:
        """Fold SQLite's write-ahead log into the database file and empty it.

        The WAL keeps the page images of every committed write, bodies of finished rows
        included, until later writes happen to overwrite them: on a quiet bridge, for as
        long as it runs. With ``secure_delete`` on, the folded pages hold no freed
        content. A reader in the middle of a transaction can keep it from truncating;
        the next round tries again. Nothing to do on PostgreSQL.
        """
        if self.engine.dialect.name != "sqlite":
            return
        async with self.engine.connect() as conn:
            await conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))

    async def close(self) -> None:
        await self.engine.dispose()
