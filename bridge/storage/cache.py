"""What the stores remember between statements, and the rule that keeps it correct.

Several bridge processes may share one PostgreSQL database, and the CLI and the dashboard
write to it too, so nothing another writer may change is remembered past the transaction
that read it. Two lifetimes, one rule each:

- :class:`UnitCache` lives as long as one unit of work (one transaction). Portals, ghosts,
  shadows, opt-outs, ledger subjects and people's pseudonym keys read in it are
  remembered until it ends. Every
  store method that writes one of those kinds drops that kind (``ForgetStore``, which
  renames and deletes across all of them, drops everything), and a savepoint that rolls
  back drops everything, since what was read after its writes may be gone with them. So
  a unit of work reads what the database would answer it, except for a change another
  process commits meanwhile on PostgreSQL (READ COMMITTED), which it could equally have
  run before. An inbox batch is one unit of work: its events share what they read.
- :class:`RefCache` lives as long as the process and holds only what never changes once
  committed: the ledger's row id of a server name and of a room id (those rows are never
  deleted and those columns never updated), and whether the room's Rocket.Chat recipient
  is set (set once, never cleared). A value is remembered only after the transaction that
  read or wrote it committed, so a rolled-back insert's id is never served.

Anything else (a portal's ``active`` flag, a shadow's session token, an opt-out) is read
from the database in every unit of work.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar, cast

T = TypeVar("T")

PORTAL = "portal"
GHOST = "ghost"
SHADOW = "shadow"
OPT_OUT = "opt-out"
NOTICE = "notice"
SUBJECT = "subject"
PSEUDONYM_KEY = "pseudonym-key"


class UnitCache:
    def __init__(self) -> None:
        self._values: dict[str, dict[Hashable, Any]] = {}

    async def read(self, kind: str, key: Hashable, load: Callable[[], Awaitable[T]]) -> T:
        """``load()``'s answer for ``key``, read once per unit of work (None included)."""
        values = self._values.setdefault(kind, {})
        if key in values:
            return cast(T, values[key])
        value = await load()
        values[key] = value
        return value

    def has(self, kind: str, key: Hashable) -> bool:
        return key in self._values.get(kind, {})

    def put(self, kind: str, key: Hashable, value: Any) -> None:
        """Remember what a store read for ``key`` another way (several at once)."""
        self._values.setdefault(kind, {})[key] = value

    def drop(self, *kinds: str) -> None:
        """A store wrote these kinds: what was read of them may be out of date."""
        for kind in kinds:
            self._values.pop(kind, None)

    def clear(self) -> None:
        self._values.clear()


class RefCache:
    """Ledger row ids that never change once committed (see the module's docstring)."""

    def __init__(self) -> None:
        self.servers: dict[str, int] = {}
        # room id → (row id, whether its Rocket.Chat recipient is set)
        self.rooms: dict[str, tuple[int, bool]] = {}
