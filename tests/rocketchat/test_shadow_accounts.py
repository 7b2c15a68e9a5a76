"""Shadow accounts: names nobody outside the bridge can compute, and squatted names skipped.

A Rocket.Chat user who registers the name the bridge would give a Matrix user's shadow
must neither block the room nor have their account taken over as the shadow.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bridge.bridging.identities import SHADOW_PREFIX, Identities
from bridge.config import load_config
from bridge.pipeline import kinds
from bridge.pipeline.contracts import PermanentFailure
from bridge.rocketchat.errors import RCAPIError
from bridge.rocketchat.executors import SHADOW_NAME_ATTEMPTS, RocketChatExecutors
from bridge.rocketchat.rest import RCRestClient
from bridge.sandbox.rocketchat.app import SimulatorServer
from bridge.storage.database import Database
from bridge.storage.outbox import Action
from tests.fixtures.bridge_config import write_config
from tests.fixtures.rocketchat import FAST_RETRY

ALICE = "@alice:hs2.test"
# Rocket.Chat's default UTF8_User_Names_Validation.
RC_USERNAME = re.compile(r"^[0-9a-zA-Z_.-]+$")


def _ids(tmp_path: Path, as_token: str = "as-token-for-tests") -> Identities:  # noqa: S107
    path = write_config(tmp_path / f"{as_token}.yaml", appservice={"as_token": as_token})
    return Identities(load_config(path, environ={}))


async def _no_media(mxc: str) -> tuple[bytes, str]:
    raise AssertionError("not used")


async def _name(user_id: str) -> str | None:
    return "Alice Example"


def _executors(admin: RCRestClient, db: Database, ids: Identities) -> RocketChatExecutors:
    return RocketChatExecutors(admin, db, ids, _no_media, _name, 1000)


def _shadow_action(user_id: str = ALICE) -> Action:
    return Action(1, f"shadow:{user_id}", "rc.ensure_shadow", "rc:x", {"user_id": user_id}, 0)


async def _squat(admin: RCRestClient, username: str) -> str:
    user = await admin.users_create(username, "Squatter", f"{username}@evil.example", "squat-pw")
    return str(user.id)


def test_shadow_names_are_keyed_readable_and_valid(tmp_path: Path) -> None:
    ids, other = _ids(tmp_path), _ids(tmp_path, "another-bridges-secret")
    first = ids.shadow_username(ALICE)
    assert first == ids.shadow_username(ALICE), "stable for one bridge"
    # Not computable from the Matrix id alone: another secret, another name.
    assert first != other.shadow_username(ALICE)
    assert first not in ("alice.hs2.test", "alice.hs2.test".replace(".", "_"))
    assert first.startswith(f"{SHADOW_PREFIX}alice.hs2.test."), "admins recognise it"
    candidates = [ids.shadow_username(ALICE, n) for n in range(SHADOW_NAME_ATTEMPTS)]
    assert len(set(candidates)) == SHADOW_NAME_ATTEMPTS
    odd = ids.shadow_username("@Ünï cøde/x:127.0.0.1:8448")
    assert all(RC_USERNAME.match(n) for n in [*candidates, odd])
    assert len(ids.shadow_username("@" + "a" * 250 + ":hs2.test")) <= 60


async def test_a_squatted_name_is_skipped_and_the_squatter_left_alone(
    rc_admin: RCRestClient, rc_sim: SimulatorServer, db: Database, tmp_path: Path
) -> None:
    ids = _ids(tmp_path)
    squatted = ids.shadow_username(ALICE)
    squatter_id = await _squat(rc_admin, squatted)
    # The name that was predictable before is taken too.
    legacy_id = await _squat(rc_admin, "alice.hs2.test")

    result = await _executors(rc_admin, db, ids).table()[kinds.RC_SHADOW](_shadow_action())

    assert result is not None
    assert result["rc_username"] == ids.shadow_username(ALICE, 1)
    assert result["rc_user_id"] not in (squatter_id, legacy_id)
    async with RCRestClient.with_token(
        rc_sim.url, result["rc_user_id"], result["auth_token"], retry=FAST_RETRY
    ) as shadow:
        assert (await shadow.me()).username == result["rc_username"]
    # The squatters' accounts are untouched and still theirs alone.
    for user_id, username in ((squatter_id, squatted), (legacy_id, "alice.hs2.test")):
        squatter = rc_sim.state.users[user_id]
        assert (squatter.username, squatter.name) == (username, "Squatter")
        assert squatter.email == f"{username}@evil.example"
        assert squatter.password == "squat-pw"  # noqa: S105
        assert squatter.tokens == []


async def test_an_account_created_before_a_crash_is_reclaimed_not_duplicated(
    rc_admin: RCRestClient, rc_sim: SimulatorServer, db: Database, tmp_path: Path
) -> None:
    executors = _executors(rc_admin, db, _ids(tmp_path))
    first = await executors.table()[kinds.RC_SHADOW](_shadow_action())
    users_before = set(rc_sim.state.users)
    # The outbox runs the action again when the process died before marking it done.
    again = await executors.table()[kinds.RC_SHADOW](_shadow_action())
    assert first is not None and again is not None
    assert (again["rc_user_id"], again["rc_username"]) == (
        first["rc_user_id"],
        first["rc_username"],
    )
    assert set(rc_sim.state.users) == users_before


async def test_when_every_candidate_is_taken_the_failure_is_permanent_and_clear(
    rc_admin: RCRestClient, rc_sim: SimulatorServer, db: Database, tmp_path: Path
) -> None:
    ids = _ids(tmp_path)
    for n in range(SHADOW_NAME_ATTEMPTS):
        await _squat(rc_admin, ids.shadow_username(ALICE, n))
    users_before = set(rc_sim.state.users)
    with pytest.raises(PermanentFailure, match="shadow usernames is taken"):
        await _executors(rc_admin, db, ids).table()["rc.ensure_shadow"](_shadow_action())
    assert set(rc_sim.state.users) == users_before


async def test_users_create_answers_a_taken_name_like_rocket_chat(rc_admin: RCRestClient) -> None:
    await rc_admin.users_create("Dana", "Dana", "dana@example.org", "pw")
    # Rocket.Chat compares usernames and e-mail addresses without case.
    for username, email in (("dana", "d2@example.org"), ("dana2", "DANA@example.org")):
        with pytest.raises(RCAPIError) as caught:
            await rc_admin.users_create(username, "D", email, "pw")
        taken = username if username == "dana" else email
        assert caught.value.status == 400
        assert caught.value.error_type == "error-field-unavailable"
        assert caught.value.error == f"{taken} is already in use :( [error-field-unavailable]"
        assert caught.value.details == {"method": "insertOrUpdateUser", "field": taken}
