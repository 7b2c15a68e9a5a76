"""The commands' parts, built once for the composition root (bridge/app.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from mautrix.client import ClientAPI
from mautrix.types import Event

from bridge.bridging.identities import Identities
from bridge.commands.bridge_admin import BridgeCommands
from bridge.commands.dm import CommandHandler, CommandRouter, MatrixDMTracker
from bridge.commands.jobs import PrivacyJobs
from bridge.commands.matrix_entry import MatrixCommands
from bridge.commands.optout import RelayGate
from bridge.commands.privacy_base import CommandSettings
from bridge.commands.privacy_commands import PrivacyCommands
from bridge.commands.progress import ProgressReporter
from bridge.commands.rc_entry import RocketChatCommands
from bridge.commands.retention_view import RetentionView
from bridge.commands.sides import Sides
from bridge.config import Config
from bridge.pipeline.actions import DoneHooks, Executors
from bridge.pipeline.contracts import EventHandler
from bridge.pipeline.progress import Progress
from bridge.privacy.erasure import ErasureEngine
from bridge.rocketchat.service import RocketChatSide
from bridge.rocketchat.uploads import UploadNoted
from bridge.storage.database import Database

log = logging.getLogger(__name__)


class Commands:
    """``!bridge`` and ``!privacy`` on both sides, the relays' privacy gate, and the
    progress reporter."""

    def __init__(
        self,
        config: Config,
        db: Database,
        ids: Identities,
        engine: ErasureEngine,
        bot: Callable[[], ClientAPI],
        rocketchat: RocketChatSide,
    ) -> None:
        settings = CommandSettings.of(config)
        self._rocketchat = rocketchat
        self._follows: set[asyncio.Task[None]] = set()
        notes = Progress(db.outbox, UploadNoted)
        self.sides = Sides(config, ids, bot, lambda: rocketchat.admin, notes)
        self.gate = RelayGate(
            self.sides,
            config.privacy.notice_text,
            config.privacy.notice_url,
            self._new_dm,
            local_server=config.homeserver.domain,
        )
        handlers: dict[str, CommandHandler] = {
            "bridge": BridgeCommands(config),
            "privacy": PrivacyCommands(settings),
        }
        self.router = CommandRouter(handlers, settings.rate_per_minute, self.sides, self._new_dm)
        # ``!bridge retention`` reads the policy once Rocket.Chat is logged in.
        view = RetentionView(db, lambda: rocketchat.admin if rocketchat.ready.is_set() else None)
        self.jobs = PrivacyJobs(db, engine, self.sides, settings, view)
        self.progress = ProgressReporter(db, engine, lambda: None)
        self.matrix_handlers: list[EventHandler[Event]] = [
            MatrixDMTracker(config.bot_mxid),
            MatrixCommands(ids, self.router),
        ]
        self.rocketchat_handler = RocketChatCommands(rocketchat.bot_user_ids, self.router)

    def executors(self) -> Executors:
        return self.router.executors() | self.jobs.executors() | self.gate.executors()

    def on_done(self) -> DoneHooks:
        return self.router.on_done() | self.jobs.on_done() | self.gate.on_done()

    def _new_dm(self, side: str, room_id: str) -> None:
        """A Rocket.Chat DM just became known: follow it. A task of its own, since the
        listener writes the room's cursor in its own transaction."""
        if side != "rocketchat":
            return
        task = asyncio.get_running_loop().create_task(self._follow(room_id))
        self._follows.add(task)
        task.add_done_callback(self._follows.discard)

    async def _follow(self, room_id: str) -> None:
        try:
            await self._rocketchat.follow(room_id)
        except Exception:  # a boundary: the DM is followed after the next restart anyway
            log.exception("Could not follow a Rocket.Chat DM room")
