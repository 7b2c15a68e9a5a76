"""Derived names: ghosts never collide, stay within the spec's length, ids are stable."""

from __future__ import annotations

from pathlib import Path

from bridge.bridging.identities import Identities
from bridge.config import load_config
from tests.fixtures.bridge_config import write_config


def _ids(tmp_path: Path) -> Identities:
    return Identities(load_config(write_config(tmp_path / "c.yaml"), environ={}))


def test_a_clashing_username_gets_a_suffix_from_the_user_id(tmp_path: Path) -> None:
    ids = _ids(tmp_path)
    plain = ids.ghost_user_id("Alice")
    assert plain == ids.ghost_user_id("alice"), "Rocket.Chat names differing in case clash"
    first, second = ids.ghost_user_id("alice", "uid1"), ids.ghost_user_id("alice", "uid2")
    assert len({plain, first, second}) == 3
    assert all(ids.is_ghost(u) for u in (plain, first, second))


def test_ghost_ids_stay_within_255_bytes(tmp_path: Path) -> None:
    ids = _ids(tmp_path)
    long_a, long_b = ids.ghost_user_id("a" * 300), ids.ghost_user_id("a" * 299 + "b")
    assert len(long_a.encode()) <= 255 and long_a != long_b
    assert ids.is_ghost(long_a)


def test_derived_ids_are_stable(tmp_path: Path) -> None:
    ids = _ids(tmp_path)
    assert ids.rc_message_id("$event") == ids.rc_message_id("$event")
    assert ids.rc_message_id("$event") != ids.rc_message_id("$event", part=1)
    assert len(ids.rc_message_id("$event")) == 17
    assert ids.matrix_txn_id("k") == ids.matrix_txn_id("k") != ids.matrix_txn_id("k2")
