"""Typed outbox actions: one frozen attrs class per action kind.

An action's payload is stored as JSON in its outbox row; everything above the storage
boundary sees a typed value instead. :data:`converter` (cattrs) turns the value into the
stored form when the action is queued (:func:`new_action`) and back when it runs
(:func:`executor`, :func:`on_done`), so a kind's schema is written once, in its class,
instead of being spread over the code that queues it, the executor and the hook.

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

from bridge.pipeline.contracts import Executor, OnDone, PermanentFailure
from bridge.storage.database import UnitOfWork
from bridge.storage.outbox import Action, NewAction

T = TypeVar("T")
P_co = TypeVar("P_co", covariant=True)  # a run of a subclass's action is a run of its base's
R = TypeVar("R")
C = TypeVar("C", bound=type)

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


def new_action(
    value: object, *, key: str, queue: str, not_before_ms: int | None = None
) -> NewAction:
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
    except (cattrs.BaseValidationError, TypeError, ValueError, KeyError) as e:
        raise PermanentFailure(f"malformed {action.kind} payload: {e}") from None
    return Run(
        action.id, action.key, action.kind, action.queue, action.attempts, value, action.created_ms
    )


def executor(cls: type[T], run: Callable[[Run[T]], Awaitable[R]]) -> Executor:
    """The worker's executor for ``run``: the payload typed in, the result stored out."""

    async def execute(action: Action) -> dict[str, Any] | None:
        result = await run(typed(action, cls))
        return None if result is None else converter.unstructure(result)

    return execute


def on_done(
    cls: type[T], result_cls: type[R], hook: Callable[[UnitOfWork, Run[T], R], Awaitable[None]]
) -> OnDone:
    """The worker's done hook for ``hook``, given the typed payload and result."""

    async def done(uow: UnitOfWork, action: Action, result: dict[str, Any] | None) -> None:
        try:
            value = converter.structure(result or {}, result_cls)
        except (cattrs.BaseValidationError, TypeError, ValueError, KeyError) as e:
            raise PermanentFailure(f"malformed {action.kind} result: {e}") from None
        await hook(uow, typed(action, cls), value)

    return done
