"""The outbox worker's tables: each action kind's executor and hooks, from every package.

The composition root adds each package's tables here instead of merging dicts, which
would let a second executor for a kind silently replace the first: a kind given twice is
refused when the bridge starts. A package hands over typed registrations (what
:func:`~bridge.pipeline.actions.executor`, :func:`~bridge.pipeline.actions.on_done` and
:func:`~bridge.pipeline.actions.on_dead` return); the outbox worker runs them on stored rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from bridge.pipeline.actions import Dies, Executes, Finishes

V = TypeVar("V")


class DuplicateKindError(ValueError):
    """Two packages registered the same action kind."""


class ActionTable:
    def __init__(self) -> None:
        self.executors: dict[str, Executes[Any, Any]] = {}
        self.on_done: dict[str, Finishes[Any, Any]] = {}
        self.on_dead: dict[str, Dies] = {}

    def add(
        self,
        executors: Mapping[str, Executes[Any, Any]] | None = None,
        on_done: Mapping[str, Finishes[Any, Any]] | None = None,
        on_dead: Mapping[str, Dies] | None = None,
    ) -> ActionTable:
        # All checked before any is added: a refused table leaves this one as it was.
        _check("executor", self.executors, executors or {})
        _check("done hook", self.on_done, on_done or {})
        _check("dead-letter hook", self.on_dead, on_dead or {})
        self.executors.update(executors or {})
        self.on_done.update(on_done or {})
        self.on_dead.update(on_dead or {})
        return self


def _check(what: str, into: dict[str, V], new: Mapping[str, V]) -> None:
    twice = sorted(set(into) & set(new))
    if twice:
        raise DuplicateKindError(f"action kind {twice[0]!r} has a second {what}")
