"""Runs the ledger queries of benchmark 3 in a process of its own (so its memory can be
sampled): ``python -m bench.ledger_probe URL --runs N --queries Q ...``; prints one JSON
object. Everything goes through the bridge's real ``LedgerQueries`` API."""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from typing import Any

from bench import ledger_data as data
from bridge.ids import RCUserID, RCUsername, UserID
from bridge.privacy.categories import Origin
from bridge.privacy.queries import LedgerQueries
from bridge.privacy.subjects import Subject
from bridge.storage.database import Database


def subject(n: int, servers: int) -> Subject:
    if n % 2:
        return Subject(
            n, Origin.ROCKETCHAT, None, RCUserID(f"{n:016d}U"), RCUsername(f"user{n}"), None
        )
    home = data.server_name(n % (servers - 1) + 1)
    return Subject(n, Origin.MATRIX, UserID(f"@user{n}:{home}"), None, None, None)


async def one_run(
    queries: LedgerQueries, args: argparse.Namespace, rng: random.Random
) -> dict[str, Any]:
    recipients, to_server = [], []
    for _ in range(args.queries):
        who = subject(rng.randrange(2, args.subjects + 1), args.servers)
        began = time.perf_counter()
        report = await queries.recipients_of_subject(who)
        recipients.append((time.perf_counter() - began) * 1000)
        assert report.subject.id == who.id
    for _ in range(args.queries):
        server = data.server_name(rng.randrange(args.servers))
        began = time.perf_counter()
        page = await queries.disclosed_to(server, limit=args.page)
        to_server.append((time.perf_counter() - began) * 1000)
        assert page.items is not None
    heavy = subject(data.HEAVY_SUBJECT, args.servers)
    began = time.perf_counter()
    await queries.recipients_of_subject(heavy)
    heavy_recipients = (time.perf_counter() - began) * 1000
    began = time.perf_counter()
    items, cursor, pages = 0, None, 0
    while True:
        plan = await queries.erasure_plan(heavy, after=cursor, limit=1000)
        items += len(plan.items)
        pages += 1
        cursor = plan.next
        if cursor is None:
            break
    plan_s = time.perf_counter() - began
    return {
        "recipients_ms": recipients,
        "server_ms": to_server,
        "heavy_recipients_ms": heavy_recipients,
        "plan_s": plan_s,
        "plan_items": items,
        "plan_pages": pages,
    }


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--subjects", type=int, required=True)
    p.add_argument("--servers", type=int, required=True)
    p.add_argument("--page", type=int, default=100)
    p.add_argument("--seed", type=int, default=3)
    args = p.parse_args()
    db = Database(args.url)
    queries = LedgerQueries(db)
    rng = random.Random(args.seed)
    try:
        await db.ping()
        print("ready", flush=True)
        # The parent waits for "go" so it can read the baseline memory first.
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        runs = [await one_run(queries, args, rng) for _ in range(args.runs)]
    finally:
        await db.close()
    print(json.dumps({"runs": runs}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
