"""The composition root: builds every part from the config and runs them together."""

from __future__ import annotations

import asyncio
import io
import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from aiohttp import ClientSession, ClientTimeout, web
from mautrix.appservice import AppServiceAPI
from mautrix.errors import MatrixConnectionError, MatrixError
from mautrix.types import UserID

from bridge.bridging.action_values import ResolvedUser, ResolveUser, ScrubGhost
from bridge.bridging.batch_reads import matrix_senders, rocketchat_senders
from bridge.bridging.dead_notices import dead_hooks as relay_dead_hooks
from bridge.bridging.dispatch import Dispatcher, Route
from bridge.bridging.identities import Identities
from bridge.bridging.ledger_observer import LedgerObserver
from bridge.bridging.matrix_to_rc import MatrixToRocketChat
from bridge.bridging.rc_people import RocketChatPeople
from bridge.bridging.rc_to_matrix import RocketChatToMatrix
from bridge.bridging.records import Records
from bridge.bridging.redactions import RedactionCheck
from bridge.commands.bridge_admin import LINK_AUDIT, Link, LinkResult
from bridge.commands.incident_notify import IncidentNotices
from bridge.commands.parser import is_command
from bridge.commands.wiring import Commands
from bridge.config import Config
from bridge.ids import ServerName
from bridge.matrix.appservice import build_api
from bridge.matrix.erasure_executors import MatrixErasureExecutors, SynapseAdmin
from bridge.matrix.event_validation import read_event
from bridge.matrix.executors import MatrixExecutors
from bridge.matrix.handlers import MatrixEventHandler
from bridge.matrix.intake import AppServiceIntake
from bridge.matrix.media import MatrixMediaFetcher
from bridge.matrix.partner_enforce import PartnerEnforcement, enforced
from bridge.matrix.people_executors import GhostScrub
from bridge.media import FetchedFile
from bridge.pipeline import backoff, keys, kinds
from bridge.pipeline.actions import Executors, Run, executor, on_done
from bridge.pipeline.contracts import RetryLater
from bridge.pipeline.registry import ActionTable
from bridge.privacy import erasure_delivery, erasure_kinds
from bridge.privacy import erasure_inputs_matrix as matrix_inputs
from bridge.privacy.audit import AuditLog
from bridge.privacy.checkpoints import checkpoint_publisher
from bridge.privacy.deadlines import Jurisdiction
from bridge.privacy.erasure import ErasureEngine, erasure_settings
from bridge.privacy.erasure_acks import ErasureAckHandler
from bridge.privacy.erasure_hooks import ErasureRecords, observed, sequenced
from bridge.privacy.erasure_hooks import dead_hooks as erasure_dead_hooks
from bridge.privacy.erasure_inputs import Completer, completed
from bridge.privacy.erasure_inputs_rc import COMPLETERS as RC_COMPLETERS
from bridge.privacy.ledger import DisclosureLedger, LedgerSettings, rocketchat_recipient
from bridge.privacy.mail import MAIL_SEND, MailSend, MailSender, MailSent, mailed
from bridge.privacy.notices import SupportLookup
from bridge.privacy.partner_gate import PARTNER_ENFORCE, Enforced, EnforceDeny
from bridge.privacy.partners import contacts_of
from bridge.privacy.rc_deletions import ACCOUNT_DELETED, RocketChatDeletions
from bridge.privacy.room_recipients import RoomTeller
from bridge.privacy.server_versions import ServerVersions
from bridge.rocketchat import inbox_events
from bridge.rocketchat.erasure_executors import RocketChatErasureExecutors
from bridge.rocketchat.errors import RCBadRequestError, RCError, RCNotFoundError
from bridge.rocketchat.executors import RocketChatExecutors
from bridge.rocketchat.files import outbox_fetcher
from bridge.rocketchat.intake import SOURCE as RC_SOURCE
from bridge.rocketchat.service import LinkRefusedError, RocketChatSide
from bridge.rocketchat.webhook import OutgoingWebhookIntake
from bridge.storage.database import Database, UnitOfWork
from bridge.storage.leader import LeaderLocks
from bridge.web.dashboard import mount_dashboard
from bridge.web.health import HealthRoutes, MetricsRoutes
from bridge.web.throttle import FailedLogins, LoginThrottle, parse_networks
from bridge.workers.housekeeping import housekeeping
from bridge.workers.inbox import InboxWorker
from bridge.workers.leader import Leadership
from bridge.workers.outbox import HOUR_MS, OutboxWorker, RetryBudget
from bridge.workers.retention import SET_RETENTION, RetentionWorker, retention_executor

log = logging.getLogger(__name__)

STOP_GRACE_S = 20.0


def task_stack(task: asyncio.Task[Any]) -> str:
    """Where a task waits, innermost frame last."""
    out = io.StringIO()
    task.print_stack(file=out)
    return out.getvalue()


class BridgeApp:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.db = Database.from_config(config)
        self.ids = Identities(config)
        self.ledger = DisclosureLedger(
            LedgerSettings(
                local_server=ServerName(config.homeserver.domain),
                rocketchat=rocketchat_recipient(config.rocketchat.url),
                hash_key=config.privacy.hash_key.encode(),
            )
        )
        # Signed checkpoints of the audit chain's head, outside the database.
        self.checkpoints = checkpoint_publisher(config, self.db)
        # The erasure engine: its API for the CLI, commands and tests.
        self.erasure = ErasureEngine(
            self.db,
            erasure_settings(config),
            after_finish=None if self.checkpoints is None else self.checkpoints.publish_quietly,
        )
        self.erasure_support = SupportLookup(config.privacy.contacts, register=contacts_of(self.db))
        # Deletes what is kept past its retention (docs/security.md), hourly by default.
        self.housekeeping = housekeeping(config, self.db, self.erasure, self.ledger)
        # Jobs one process runs at a time among those sharing the database (PostgreSQL).
        self.locks = LeaderLocks(config.database.url)
        self.leadership = Leadership(self.locks)
        self._tasks: list[asyncio.Task[None]] = []
        # How long stop() waits for its cancelled parts, and those that outlived it.
        self.stop_grace_s = STOP_GRACE_S
        self.stuck_at_stop: list[str] = []
        self._runner: web.AppRunner | None = None
        self._metrics_runner: web.AppRunner | None = None
        self._session: ClientSession | None = None
        self._rc_executors: RocketChatExecutors | None = None
        self.rocketchat: RocketChatSide | None = None
        self.webhook: OutgoingWebhookIntake | None = None
        self.homeserver_reachable = False

    async def start(self) -> None:
        """Start serving; raises SchemaOutdatedError before touching anything else."""
        await self.db.require_current_schema()
        await self._start_storage_upkeep()
        self._session = ClientSession(timeout=ClientTimeout(total=60))
        api = build_api(self.config, self._session)
        self.rocketchat = RocketChatSide(
            self.config, self.db, self._wake_inbox, self._rocketchat_back, self.leadership.lead
        )
        alias_mode = self.config.bridge.matrix_users_on_rocketchat == "alias"
        commands = Commands(
            self.config, self.db, self.ids, self.erasure, api.bot_intent, self.rocketchat
        )
        rc_to_matrix = RocketChatToMatrix(
            self.ids,
            self.rocketchat.bot_user_ids,
            self.config.bridge.max_body_chars,
            is_command=is_command,
            gate=commands.gate,
            file_links=self.rocketchat.file_links,
        )
        dispatcher = Dispatcher(
            {
                # Each source's reader is its connector's (bridge.bridging.dispatch).
                "matrix": Route(
                    read_event,
                    [
                        MatrixEventHandler(self.config),
                        LedgerObserver(
                            self.ledger,
                            RoomTeller(
                                self.ids.domain, self.config.privacy.unknown_servers
                            ).server_joined,
                        ),
                        ErasureAckHandler(self.erasure),
                        *commands.matrix_handlers,
                        MatrixToRocketChat(
                            self.ids,
                            is_command,
                            self.config.bridge.max_body_chars,
                            alias_mode=alias_mode,
                            gate=commands.gate,
                        ),
                    ],
                    prefetch=matrix_senders,
                ),
                RC_SOURCE: Route(
                    inbox_events.read,
                    [
                        rc_to_matrix,
                        RocketChatPeople(
                            self.ledger, erasure_settings(self.config).pseudonym_retention_ms
                        ),
                        commands.rocketchat_handler,
                    ],
                    prefetch=rocketchat_senders,
                ),
            },
        )
        self.inbox_worker = InboxWorker(self.db, dispatcher, prefetch=dispatcher.prefetch)

        rocketchat = self.rocketchat

        media = MatrixMediaFetcher(api.bot_intent().api)
        limit = self.config.bridge.max_media_bytes

        async def fetch_media(mxc: str) -> FetchedFile:
            """Matrix media for Rocket.Chat (FileRefused: too large, cut short, invalid)."""
            return await media.fetch(mxc, limit)

        fetch_rc_file = outbox_fetcher(rocketchat.files, limit)

        async def display_name(user_id: str) -> str | None:
            try:
                name = await api.bot_intent().get_displayname(UserID(user_id))
            except MatrixError:
                return None
            return name if isinstance(name, str) else None

        self._rc_executors = RocketChatExecutors(
            self.rocketchat.admin,
            self.db,
            self.ids,
            fetch_media,
            display_name,
            self.config.bridge.max_media_bytes,
            alias_mode=alias_mode,
            echoes=self.rocketchat.echoes,
        )
        self.outbox_worker = self._outbox_worker(
            self._action_table(api, commands, fetch_rc_file, rc_to_matrix)
        )
        self.erasure.wake_outbox = self.outbox_worker.wake
        commands.progress.wake_outbox = self.outbox_worker.wake
        self.webhook = self._webhook_intake()
        app = build_http_app(self.config, self.db, self._wake_inbox, self.erasure, self.webhook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, self.config.appservice.hostname, self.config.appservice.port
        )
        await site.start()
        log.info(
            "Appservice listening on %s:%d",
            self.config.appservice.hostname,
            self.config.appservice.port,
        )
        await self._serve_metrics()
        self._spawn(self.inbox_worker.run(), "inbox worker")
        self._spawn(self.outbox_worker.run(), "outbox worker")
        self._start_erasure_loops()
        self._spawn(commands.progress.run(), "privacy progress")
        self._spawn(self._introduce(api), "homeserver handshake")
        self._spawn(self.rocketchat.run(), "rocket.chat side")

    def _webhook_intake(self) -> OutgoingWebhookIntake | None:
        """``rocketchat.intake: webhook``: the endpoint Rocket.Chat's outgoing webhook calls."""
        rc = self.config.rocketchat
        if rc.intake != "webhook" or self.rocketchat is None:
            return None
        assert rc.webhook_token is not None  # the config loader requires it
        failed = FailedLogins(
            AuditLog(self.db), parse_networks(self.config.web.trusted_proxies), LoginThrottle()
        )

        async def refused(request: web.Request, presented: str) -> bool:
            verdict = await failed.record(request, "webhook:anonymous", "webhook", presented)
            return verdict.throttled

        return OutgoingWebhookIntake(
            rc.webhook_token,
            self.rocketchat.admin.get_message,
            self.rocketchat.intake,
            on_refused=refused,
            follows=self.rocketchat.follows,
            echoes=self.rocketchat.echoes,
        )

    async def _serve_metrics(self) -> None:
        metrics = self.config.metrics
        if metrics.port is None:
            return
        self._metrics_runner = web.AppRunner(build_metrics_app(self.config, self.db))
        await self._metrics_runner.setup()
        await web.TCPSite(self._metrics_runner, metrics.hostname, metrics.port).start()
        log.info("Metrics listening on %s:%d", metrics.hostname, metrics.port)

    def _action_table(
        self,
        api: AppServiceAPI,
        commands: Commands,
        fetch_rc_file: Callable[[str], Awaitable[FetchedFile]],
        rc_to_matrix: RocketChatToMatrix,
    ) -> ActionTable:
        """Every action kind's executor and hooks; a kind given twice stops the start."""
        assert self._rc_executors is not None
        table = ActionTable()
        table.add(MatrixExecutors(api, self.db, self.ids, self.config, fetch_rc_file).table())
        table.add(self._rc_executors.table())
        table.add(
            {kinds.BRIDGE_LINK: executor(Link, self._link_action)},
            {kinds.BRIDGE_LINK: on_done(Link, LinkResult, self._linked)},
        )
        table.add(self._policy_executors(api))
        table.add(self._people_executors(api, fetch_rc_file))
        table.add(
            on_done=Records(self.ledger).table()
            | {
                kinds.RC_RESOLVE_USER: on_done(
                    ResolveUser, ResolvedUser, rc_to_matrix.user_resolved
                ),
                PARTNER_ENFORCE: on_done(EnforceDeny, Enforced, enforced),
                MAIL_SEND: on_done(MailSend, MailSent, mailed),
            }
        )
        erasure = sequenced(self.db, self._erasure_executors(api))
        table.add(observed(self.db, erasure), ErasureRecords().table())
        table.add(commands.executors(), commands.on_done())
        table.add(RedactionCheck(api.bot_intent).executors(), RedactionCheck.on_done())
        table.add(IncidentNotices(commands.sides).executors(), IncidentNotices.on_done())
        table.add(on_dead=relay_dead_hooks())
        table.add(on_dead=erasure_dead_hooks())
        return table

    def _outbox_worker(self, table: ActionTable) -> OutboxWorker:
        """The outbox worker, with each action's retry budget and what its death does."""
        outbox = self.config.outbox
        budget = RetryBudget(outbox.max_attempts, outbox.max_age_hours * HOUR_MS)
        return OutboxWorker(
            self.db,
            table.executors,
            on_done=table.on_done,
            on_dead=table.on_dead,
            budget=budget,
            prefetch=Records.prefetch,
        )

    async def _start_storage_upkeep(self) -> None:
        """Seal session tokens an older version stored in plain text, before any is used,
        and start the periodic pruning."""
        async with self.db.unit_of_work() as uow:
            if sealed := await uow.bridging.seal_plain_tokens():
                log.info("Sealed %d session token(s) stored in plain text", sealed)
            # A storage key that does not open the pseudonym keys would fail every action
            # that names a person: refuse to start instead (docs/operations.md).
            await uow.person_keys.check_opens()
        lead = self.leadership.lead
        self._spawn(lead(keys.PRUNING_JOB, self.housekeeping.run), "pruning")
        if (checkpoints := self.checkpoints) is not None:
            interval = self.config.audit.checkpoint_interval_minutes * 60.0
            self._spawn(
                lead(keys.CHECKPOINTS_JOB, lambda: checkpoints.run(interval)), "audit checkpoints"
            )

    async def link(self, rc_room_id: str, matrix_room_id: str | None = None) -> int:
        """Bridge a Rocket.Chat room (creating its Matrix room unless one is given)."""
        assert self.rocketchat is not None
        portal_id, _ = await self.rocketchat.link(rc_room_id, matrix_room_id)
        self.outbox_worker.wake()
        return portal_id

    async def _link_action(self, run: Run[Link]) -> LinkResult:
        """``!bridge link``, run by the outbox: Rocket.Chat must be reachable for it."""
        assert self.rocketchat is not None
        p = run.payload
        invitees = () if p.matrix_room_id else (p.requester,)
        try:
            portal_id, room = await self.rocketchat.link(p.rc_room, p.matrix_room_id, invitees)
        except (LinkRefusedError, RCNotFoundError, RCBadRequestError) as e:
            return LinkResult(error=str(e) if isinstance(e, LinkRefusedError) else "no such room")
        except RCError as e:
            raise RetryLater(f"Rocket.Chat: {e}") from e
        return LinkResult(portal_id=portal_id, rc_room_id=room.id, name=room.name)

    async def _linked(self, uow: UnitOfWork, run: Run[Link], result: LinkResult) -> None:
        p = run.payload
        outcome = "linked" if result.error is None else f"refused: {result.error}"
        details = {"rc_room": p.rc_room[:255], "matrix_room": p.matrix_room_id}
        await AuditLog.append(uow, LINK_AUDIT, p.requester, None, {**details, "outcome": outcome})
        if result.error is not None:
            text = f"Cannot link {p.rc_room}: {result.error}."
        elif p.matrix_room_id:
            text = f"Linked {result.name} to this room."
        else:
            text = (
                f"Linked {result.name}: the bridge is creating its Matrix room and will invite you."
            )
        await uow.enqueue(
            kinds.notice("matrix", keys.link_reply_key(p.command_event), p.reply_room, text)
        )

    async def _rocketchat_back(self) -> None:
        moved = await self.db.outbox.retry_now(keys.RC_QUEUE)
        moved += await self.db.outbox.retry_now(keys.RC_ERASURE_QUEUE)
        if moved:
            log.info("Rocket.Chat is back: retrying %d queued action(s) now", moved)
            self.outbox_worker.wake()

    def _people_executors(
        self, api: AppServiceAPI, fetch_rc_file: Callable[[str], Awaitable[FetchedFile]]
    ) -> Executors:
        """Accounts deleted in Rocket.Chat (bridge.bridging.rc_people)."""
        jurisdiction = Jurisdiction(self.config.privacy.jurisdiction)
        return {
            kinds.PROFILE_SCRUB: MatrixExecutors._guard(  # noqa: SLF001
                executor(ScrubGhost, GhostScrub(api, fetch_rc_file))
            ),
            ACCOUNT_DELETED: RocketChatDeletions(self.erasure, self.db, jurisdiction).executor(),
        }

    def _policy_executors(self, api: AppServiceAPI) -> Executors:
        """Room policy in Matrix's own terms (partner denies, retention), and mail to
        partners' e-mail contacts."""
        enforcement = PartnerEnforcement(api, self.db, self.ids.domain)
        return {
            PARTNER_ENFORCE: MatrixExecutors._guard(executor(EnforceDeny, enforcement.enforce)),
            MAIL_SEND: executor(MailSend, MailSender(self.config.mail).send),
            SET_RETENTION: MatrixExecutors._guard(retention_executor(api)),
        }

    def _start_erasure_loops(self) -> None:
        """The erasure engine, and the retention worker that opens expiries for it."""
        rocketchat = self.rocketchat
        assert rocketchat is not None
        self._spawn(self.erasure.run(), "erasure engine")
        # Each portal's retention mirrored into m.room.retention, and its items expired.
        self.retention = RetentionWorker(
            self.db,
            self.erasure,
            # Until the first login, there is no one to ask.
            lambda: rocketchat.admin if rocketchat.ready.is_set() else None,
            interval_seconds=float(self.config.privacy.retention_poll_seconds),
            wake_outbox=self.outbox_worker.wake,
            versions=ServerVersions(self.db, lambda: self.erasure_support.ssl_context),
        )
        self._spawn(self.leadership.lead(keys.RETENTION_JOB, self.retention.run), "retention")

    def _erasure_executors(self, api: AppServiceAPI) -> Executors:
        assert self.rocketchat is not None and self._session is not None
        token = self.config.homeserver.admin_token
        admin = (
            SynapseAdmin(self.config.homeserver.address, token, self._session) if token else None
        )
        matrix = MatrixErasureExecutors(
            api, self.db, self.ids, self.config, self.erasure_support, admin
        )
        rocketchat = RocketChatErasureExecutors(self.rocketchat.admin, self.db)
        # Each erasure kind's completer for rows an older version queued.
        completers: dict[str, Completer[Any]] = {
            **matrix_inputs.COMPLETERS,
            **RC_COMPLETERS,
            erasure_kinds.DELIVERY: erasure_delivery.COMPLETER,
        }
        return completed(self.db, matrix.table() | rocketchat.table(), completers)

    def _wake_inbox(self) -> None:
        self.inbox_worker.wake()

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(_report_crash)
        self._tasks.append(task)

    async def _introduce(self, api: AppServiceAPI) -> None:
        """Register the bot and ping the homeserver, retrying until it answers."""
        intent = api.bot_intent()
        tries = 0
        while True:
            tries += 1
            delay = backoff.STARTUP.delay(tries)
            try:
                await intent.ensure_registered()
                duration = await intent.appservice_ping(
                    self.config.appservice.id, txn_id=uuid.uuid4().hex
                )
            except (MatrixConnectionError, OSError) as e:
                log.error(
                    "Cannot reach the homeserver at %s (%s). Retrying in %.0fs",
                    self.config.homeserver.address,
                    e,
                    delay,
                )
            except MatrixError as e:
                log.error(
                    "The homeserver could not reach the bridge at %s (%s); check "
                    "appservice.address and the registration file. Retrying in %.0fs",
                    self.config.appservice.address,
                    e,
                    delay,
                )
            else:
                self.homeserver_reachable = True
                log.info("Homeserver reaches the bridge: ping answered in %d ms", duration)
                return
            await asyncio.sleep(delay)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # Bounded: a part that does not end when cancelled must not keep the bridge
            # from stopping (SIGTERM, a restart) nor its port bound; it is named, with
            # where it waits, so the fault can be found.
            _, stuck = await asyncio.wait(self._tasks, timeout=self.stop_grace_s)
            for task in stuck:
                log.error(
                    "Stopping: %s did not end within %.0f s of being cancelled; it waits in:\n%s",
                    task.get_name(),
                    self.stop_grace_s,
                    task_stack(task),
                )
            self.stuck_at_stop = [t.get_name() for t in stuck]
        for runner in (self._runner, self._metrics_runner):
            if runner is not None:
                await runner.cleanup()
        if self.rocketchat is not None:
            await self.rocketchat.close()
        if self._rc_executors is not None:
            await self._rc_executors.close()
        if self._session is not None:
            await self._session.close()
        await self.locks.close()
        await self.db.close()
        log.info("Bridge stopped")


def build_http_app(
    config: Config,
    db: Database,
    on_stored: Callable[[], None],
    erasure: ErasureEngine | None = None,
    webhook: OutgoingWebhookIntake | None = None,
) -> web.Application:
    """The bridge's one HTTP server: appservice API, health, metrics, the dashboard and,
    with ``rocketchat.intake: webhook``, the outgoing-webhook intake."""
    app = web.Application(client_max_size=config.appservice.max_transaction_bytes)
    failed = FailedLogins(AuditLog(db), parse_networks(config.web.trusted_proxies), LoginThrottle())

    async def refused(request: web.Request, presented: str) -> bool:
        verdict = await failed.record(request, "appservice:anonymous", "hs_token", presented)
        return verdict.throttled

    AppServiceIntake(
        config.appservice.hs_token,
        db.inbox,
        on_stored,
        config.appservice.max_transaction_bytes,
        on_refused=refused,
    ).add_routes(app)
    HealthRoutes(db).add_routes(app)
    if webhook is not None:
        webhook.add_routes(app)
    if config.metrics.bearer_token is not None:
        _metrics_routes(config, db).add_routes(app)
    mount_dashboard(app, config, db, erasure)
    return app


def build_metrics_app(config: Config, db: Database) -> web.Application:
    """The ``metrics.port`` listener: ``/metrics`` only, with the token when one is set."""
    app = web.Application(client_max_size=1024)
    _metrics_routes(config, db).add_routes(app)
    return app


def _metrics_routes(config: Config, db: Database) -> MetricsRoutes:
    proxies = parse_networks(config.web.trusted_proxies)
    failed = FailedLogins(AuditLog(db), proxies, LoginThrottle())
    return MetricsRoutes(db, config.metrics.bearer_token, failed)


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("Background task %r stopped", task.get_name(), exc_info=task.exception())
