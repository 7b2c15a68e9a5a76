"""``bridge outbox dead|retry|drop``: the dead letters, for operators.

An outbox action that spent its retry budget (or was refused for good) is a dead letter:
out of its queue's way, waiting for a decision. ``retry`` queues it again at the end of
its queue with a fresh budget; ``drop`` gives it up for good and keeps no payload. Both
are written to the audit log as the CLI user (``cli:<login name>``).

Exit codes: 0 done; 1 no such dead letter, or it cannot be retried (the message says
why); 2 a bad config or argument; 3 the database schema is outdated.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import attrs

from bridge.cli.commands_audit import _table, cli_actor
from bridge.cli.commands_core import EXIT_CONFIG, run_on_database
from bridge.storage.common import now_ms
from bridge.workers.dead_letters import DeadLetterError, DeadLetters, LetterView, letter_view

EXIT_NOT_FOUND = 1
HEADER = ("id", "kind", "queue", "attempts", "age", "died", "cause", "last error")
T = TypeVar("T")


def register(sub: Any) -> None:
    outbox = sub.add_parser("outbox", help="dead letters: outbound actions given up")
    osub = outbox.add_subparsers(dest="outbox_command", required=True, metavar="WHAT")
    dead = osub.add_parser("dead", help="list the dead letters")
    dead.add_argument("--format", choices=("table", "json"), default="table")
    dead.add_argument("--limit", type=int, default=500, help="at most this many (newest first)")
    dead.set_defaults(func=cmd_dead)
    retry = osub.add_parser("retry", help="queue a dead letter again, at the end of its queue")
    retry.set_defaults(func=cmd_retry)
    drop = osub.add_parser("drop", help="give a dead letter up for good")
    drop.set_defaults(func=cmd_drop)
    for p in (retry, drop):
        p.add_argument("id", type=int, help="the dead letter's id (from `bridge outbox dead`)")
    for p in (dead, retry, drop):
        p.add_argument("-c", "--config", default="config.yaml", type=Path)


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


def _run(
    args: argparse.Namespace, work: Callable[[DeadLetters], Awaitable[T]]
) -> tuple[int, T | None]:
    """(0, the result of ``work``), or (an exit code, None) after printing one line."""
    return run_on_database(
        args.config, lambda db: work(DeadLetters(db)), refusals=(DeadLetterError,)
    )


def _age(seconds: int) -> str:
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86_400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86_400}d"


def cmd_dead(args: argparse.Namespace) -> int:
    if args.limit < 1:
        _err("--limit must be at least 1")
        return EXIT_CONFIG

    async def work(letters: DeadLetters) -> list[LetterView]:
        now = now_ms()
        return [letter_view(x, now) for x in await letters.list(args.limit)]

    code, result = _run(args, work)
    if result is None:
        return code
    if args.format == "json":
        shown = [attrs.asdict(x) for x in result]
        json.dump({"dead_letters": shown}, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    rows = [
        [
            x.id,
            x.kind,
            x.queue,
            x.attempts,
            _age(x.age_seconds),
            x.died or "unknown",
            x.cause,
            (x.last_error or "")[:80],
        ]
        for x in result
    ]
    _table(HEADER, rows, sys.stdout)
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    async def work(letters: DeadLetters) -> int:
        return await letters.retry(args.id, cli_actor(), "cli")

    code, result = _run(args, work)
    if result is None:
        return code
    sys.stdout.write(
        f"outbox action {args.id} queued again as {result}, at the end of its queue; "
        "the running bridge picks it up\n"
    )
    return 0


def cmd_drop(args: argparse.Namespace) -> int:
    async def work(letters: DeadLetters) -> str:
        return (await letters.drop(args.id, cli_actor(), "cli")).kind

    code, result = _run(args, work)
    if result is None:
        return code
    sys.stdout.write(f"outbox action {args.id} ({result}) dropped; its payload is gone\n")
    return 0
