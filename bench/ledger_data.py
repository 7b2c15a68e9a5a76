"""Synthetic ledger contents for benchmark 3, generated in chunks of plain tuples.

Shape: ``servers`` homeservers (the first is the organisation's) plus its Rocket.Chat,
``rooms`` rooms each shared with 2–8 remote servers (a fifth of them with a leave and a
rejoin, so reach has several ranges), ``subjects`` people each active in a few rooms,
and ``disclosures`` items in time order. Subject 1 is the heavy one: ``heavy_items``
items across 50 rooms (the erasure-plan case). Ids have their real lengths (44-character
event ids, 17-character Rocket.Chat ids, 16-byte content hashes).
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from dataclasses import dataclass

T0_MS = 1_704_067_200_000  # 2024-01-01
SPAN_MS = 2 * 365 * 86_400_000  # two years of traffic
TEXT, EDIT, REACTION, MENTION = 1, 3, 64, 128
ROCKETCHAT, MATRIX = 1, 2
REMOTE, LOCAL, RC_KIND = 0, 1, 2


@dataclass(frozen=True)
class Shape:
    disclosures: int
    rooms: int
    servers: int
    subjects: int
    heavy_items: int
    chunk: int = 200_000


FULL = Shape(disclosures=10_000_000, rooms=1000, servers=50, subjects=100_000, heavy_items=100_000)
QUICK = Shape(disclosures=2_000, rooms=20, servers=5, subjects=100, heavy_items=200, chunk=1000)

HEAVY_SUBJECT = 1


def server_name(i: int) -> str:
    return f"hs{i}.bench.example"


RC_NAME = "rocketchat:chat.bench.example"


def servers(shape: Shape) -> list[tuple[int, str, int]]:
    rows = [(i + 1, server_name(i), LOCAL if i == 0 else REMOTE) for i in range(shape.servers)]
    rows.append((shape.servers + 1, RC_NAME, RC_KIND))
    return rows


def rooms(shape: Shape) -> list[tuple[int, str, str, int, int]]:
    rc = shape.servers + 1
    return [(r, f"!{r:042d}x", f"{r:016d}R", rc, T0_MS) for r in range(1, shape.rooms + 1)]


def reach(shape: Shape, rng: random.Random) -> list[tuple[int, int, int, int | None]]:
    """(room, server, from, to): the local server always, 2–8 remote servers per room."""
    out: list[tuple[int, int, int, int | None]] = []
    remotes = list(range(2, shape.servers + 1))
    for room in range(1, shape.rooms + 1):
        out.append((room, 1, 0, None))
        for server in sorted(rng.sample(remotes, min(len(remotes), rng.randint(2, 8)))):
            joined = T0_MS + rng.randrange(SPAN_MS // 4)
            if rng.random() < 0.2:
                left = joined + rng.randrange(SPAN_MS // 4)
                back = left + rng.randrange(SPAN_MS // 4)
                out.append((room, server, joined, left))
                out.append((room, server, back, None))
            else:
                out.append((room, server, 0 if rng.random() < 0.5 else joined, None))
    return out


def subjects(shape: Shape) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    for s in range(1, shape.subjects + 1):
        if s % 2:
            rows.append((s, ROCKETCHAT, None, f"{s:016d}U", f"user{s}", None, T0_MS, None))
        else:
            home = server_name(s % (shape.servers - 1) + 1)
            rows.append((s, MATRIX, f"@user{s}:{home}", None, None, None, T0_MS, None))
    return rows


def _subject_rooms(subject: int, shape: Shape, count: int) -> list[int]:
    rng = random.Random(subject)
    return [rng.randrange(1, shape.rooms + 1) for _ in range(count)]


def disclosures(shape: Shape, seed: int = 11) -> Iterator[list[tuple[object, ...]]]:
    """Chunks of (id, subject, room, origin, categories, sent, event_id, rc_id, hash)."""
    rng = random.Random(seed)
    heavy_rooms = _subject_rooms(HEAVY_SUBJECT, shape, 50)
    heavy_every = shape.disclosures / shape.heavy_items
    room_cache: dict[int, list[int]] = {}
    step = SPAN_MS / shape.disclosures
    next_heavy = heavy_every / 2
    chunk: list[tuple[object, ...]] = []
    hashes, at = b"", 0
    for n in range(1, shape.disclosures + 1):
        if n >= next_heavy:
            subject = HEAVY_SUBJECT
            room = heavy_rooms[n % len(heavy_rooms)]
            next_heavy += heavy_every
        else:
            subject = rng.randrange(2, shape.subjects + 1)
            mine = room_cache.get(subject)
            if mine is None:
                mine = room_cache[subject] = _subject_rooms(subject, shape, 4)
            room = mine[n % 4]
        origin = ROCKETCHAT if subject % 2 else MATRIX
        roll = rng.random()
        categories = (
            TEXT if roll < 0.9 else EDIT if roll < 0.95 else REACTION if roll < 0.98 else MENTION
        )
        if at >= len(hashes):
            hashes, at = os.urandom(16 * 4096), 0
        digest: bytes | None = hashes[at : at + 16]
        at += 16
        if categories == MENTION:
            digest = None
        chunk.append(
            (
                n,
                subject,
                room,
                origin,
                categories,
                T0_MS + int(n * step),
                f"${n:043d}",
                f"{n:017d}",
                digest,
            )
        )
        if len(chunk) >= shape.chunk:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
