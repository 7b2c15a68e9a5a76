"""Typed outbox actions: one frozen attrs class per action kind.

An action's payload is stored as JSON in its outbox row; everything above the storage
boundary sees a typed value instead. :data:`converter` (cattrs) turns the value into the
stored form when the action is queued (:func:`new_action`) and back when it runs
(:func:`executor`, :func:`on_done`, :func:`on_dead`), so a kind's schema is written once,
in its class, instead of being spread over the code that queues it, the executor and the
hook. Those three return typed registrations (:class:`Executes`, :class:`Finishes`,
:class:`Dies`) that a package hands to the action table; only the outbox worker calls
them with a stored row. Code that looks at stored rows of several kinds at once (a batch
of finished actions, a dead letter) reads their payloads with :func:`payload_of`.

A payload class is declared with :func:`action`, which refuses a kind declared twice.
Keys a stored payload holds but its class does not know are ignored, so a row queued by
an older version still runs after an upgrade; a payload that does not fit its class is
refused for good (:class:`~bridge.pipeline.contracts.PermanentFailure`): retrying cannot
make it fit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.strategies import configure_union_passthrough

from bridge.pipeline.contracts import PermanentFailure, Result
from bridge.storage.database import UnitOfWork
from bridge.storage.outbox import Action, NewAction

# What new_action builds and UnitOfWork.enqueue writes. Code above the storage boundary
# holds it without looking inside (its payload is the stored JSON).
Queued = NewAction

T = TypeVar("T")
P_co = TypeVar("P_co", covariant=True)  # a run of a subclass's action is a run of its base's
R = TypeVar("R")
C = TypeVar("C", bound=type)

# What a stored payload or result that does not fit its class raises while structured.
MALFORMED = (cattrs.BaseValidationError, TypeError, ValueError, KeyError)

converter = cattrs.Converter()
# JSON's scalars pass through as they are where a field allows several (audit details).
configure_union_passthrough(str | int | float | bool | None, converter)
# Every payload class, by kind: one class per kind.
KINDS: dict[str, type] = {}
_KIND = "__action_kind__"


def action(kind: str) -> Callable[[C], C]:
    """Declare the decorated attrs class as the payload of ``kind``."""

    def declare(cls: C) -> C:
        if kind in KINDS:
            raise ValueError(f"action kind {kind!r} is declared twice")
        KINDS[kind] = cls
        setattr(cls, _KIND, kind)
        return cls

    return declare


def omit_defaults(cls: C) -> C:
    """Store ``cls`` without the fields that hold their default: a key the code before
    the class wrote only when it had a value stays absent when it has none."""
    fields: Any = cls  # any attrs class (make_dict_unstructure_fn refuses others)
    converter.register_unstructure_hook(
        cls, make_dict_unstructure_fn(fields, converter, _cattrs_omit_if_default=True)
    )
    return cls


def omit_when_default(*names: str) -> Callable[[C], C]:
    """Like :func:`omit_defaults`, for the fields ``names`` only: a key some producers
    wrote and others did not, while the class's other optional keys were always written."""

    def register(cls: C) -> C:
        fields: Any = cls
        omit: dict[str, Any] = {name: override(omit_if_default=True) for name in names}
        converter.register_unstructure_hook(
            cls, make_dict_unstructure_fn(fields, converter, **omit)
        )
        return cls

    return register


def json_keys(cls: type, **renames: str) -> None:
    """Store ``cls`` without the fields that hold their default, and with the fields
    ``renames`` names under other keys (Matrix's ``m.relates_to`` is no Python name).
    Called after the class is defined, so a class may hold itself (an edit's new content)."""
    fields: Any = cls
    names = [a.name for a in fields.__attrs_attrs__]
    out: dict[str, Any] = {n: override(omit_if_default=True, rename=renames.get(n)) for n in names}
    converter.register_unstructure_hook(cls, make_dict_unstructure_fn(fields, converter, **out))
    into: dict[str, Any] = {n: override(rename=key) for n, key in renames.items()}
    converter.register_structure_hook(cls, make_dict_structure_fn(fields, converter, **into))


def kind_of(value: object) -> str:
    kind = getattr(type(value), _KIND, None)
    if not isinstance(kind, str):
        raise TypeError(f"{type(value).__name__} is not a declared action payload")
    return kind


def new_action(value: object, *, key: str, queue: str, not_before_ms: int | None = None) -> Queued:
    """What :meth:`UnitOfWork.enqueue` writes for ``value``."""
    payload: dict[str, Any] = converter.unstructure(value)
    return NewAction(
        key=key, kind=kind_of(value), queue=queue, payload=payload, not_before_ms=not_before_ms
    )


@dataclass(frozen=True)
class Run(Generic[P_co]):
    """One run of an action, with its payload typed."""

    id: int
    key: str
    kind: str
    queue: str
    attempts: int
    payload: P_co
    created_ms: int = 0  # when it was queued (a late retry looks for an earlier send)


def typed(action: Action, cls: type[T]) -> Run[T]:
    try:
        value = converter.structure(action.payload, cls)
    except MALFORMED as e:
        raise PermanentFailure(f"malformed {action.kind} payload: {e}") from None
    return _run(action, value)


def _run(action: Action, value: T) -> Run[T]:
    return Run(
        action.id, action.key, action.kind, action.queue, action.attempts, value, action.created_ms
    )


def payload_of(action: Action) -> object | None:
    """The typed payload of a stored action of any declared kind, for code that reads
    rows of several kinds at once; None when its kind has no class or its payload does
    not fit it (a dead letter may have died of that)."""
    cls = KINDS.get(action.kind)
    if cls is None:
        return None
    try:
        value: object = converter.structure(action.payload, cls)
    except MALFORMED:
        return None
    return value


RunOf = Callable[[Run[T]], Awaitable[R]]


@dataclass(frozen=True)
class Executes(Generic[T, R]):
    """An executor as a package registers it: the run, given the typed payload.

    The outbox worker calls it with the stored row; the result is stored as JSON."""

    payload: type[T]
    run: RunOf[T, R]

    def wrapped(self, run: RunOf[T, R]) -> Executes[T, R]:
        """The same registration running ``run`` instead (a wrapper around :attr:`run`
        that maps failures, say)."""
        return Executes(self.payload, run)

    async def __call__(self, action: Action) -> Result:
        result = await self.run(typed(action, self.payload))
        return None if result is None else converter.unstructure(result)


def executor(cls: type[T], run: RunOf[T, R]) -> Executes[T, R]:
    """The registration of ``run`` as the executor of ``cls``'s kind."""
    return Executes(cls, run)


DoneHook = Callable[[UnitOfWork, Run[T], R], Awaitable[None]]


@dataclass(frozen=True)
class Finishes(Generic[T, R]):
    """A done hook as a package registers it: given the typed payload and result, in the
    transaction that marks the action done."""

    payload: type[T]
    result: type[R]
    hook: DoneHook[T, R]

    async def __call__(self, uow: UnitOfWork, action: Action, result: Result) -> None:
        try:
            value = converter.structure(result or {}, self.result)
        except MALFORMED as e:
            raise PermanentFailure(f"malformed {action.kind} result: {e}") from None
        await self.hook(uow, typed(action, self.payload), value)


def on_done(cls: type[T], result_cls: type[R], hook: DoneHook[T, R]) -> Finishes[T, R]:
    """The registration of ``hook`` as the done hook of ``cls``'s kind."""
    return Finishes(cls, result_cls, hook)


# A dead-letter hook's view of the action: its payload typed by :func:`payload_of`
# (None when it does not fit), since the hook must also tell of one that died of that.
DeadHook = Callable[[UnitOfWork, Run[object | None], str], Awaitable[None]]


@dataclass(frozen=True)
class Dies:
    """A dead-letter hook as a package registers it (:func:`on_dead`)."""

    hook: DeadHook

    async def __call__(self, uow: UnitOfWork, action: Action, error: str) -> None:
        await self.hook(uow, _run(action, payload_of(action)), error)


def on_dead(hook: DeadHook) -> Dies:
    """The registration of ``hook`` as a dead-letter hook, for any kind it is given to."""
    return Dies(hook)


# A package's registrations, by kind, as the action table takes them.
Executors = dict[str, Executes[Any, Any]]
DoneHooks = dict[str, Finishes[Any, Any]]
