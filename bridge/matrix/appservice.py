"""The bridge's Matrix client side: mautrix's appservice API with an explicit state store."""

from __future__ import annotations

import logging

from aiohttp import ClientSession
from mautrix.appservice import AppServiceAPI
from mautrix.appservice.state_store import ASStateStore
from mautrix.client.state_store import MemoryStateStore
from mautrix.types import UserID

from bridge.config import Config


class StateStore(MemoryStateStore, ASStateStore):
    """mautrix's ASStateStore is abstract; pair it with the memory store.

    Both ``__init__``s must run (docs/synapse-notes.md), and passing a store explicitly
    stops mautrix from writing ``mx-state.json`` into the working directory.
    """

    def __init__(self) -> None:
        MemoryStateStore.__init__(self)
        ASStateStore.__init__(self)


def build_api(config: Config, session: ClientSession) -> AppServiceAPI:
    return AppServiceAPI(
        base_url=config.homeserver.address,
        bot_mxid=UserID(config.bot_mxid),
        token=config.appservice.as_token,
        log=logging.getLogger("bridge.matrix.api"),  # type: ignore[arg-type]
        state_store=StateStore(),
        client_session=session,
    )
