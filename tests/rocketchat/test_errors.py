"""Error mapping, rate limiting, retries and fault injection."""

from __future__ import annotations

import asyncio
import time

import pytest

from bridge.ids import RCMessageID
from bridge.rocketchat.errors import (
    RCAPIError,
    RCAuthError,
    RCBadRequestError,
    RCConnectionError,
    RCForbiddenError,
    RCNotFoundError,
    RCRateLimitError,
    RCServerError,
    error_from_response,
)
from bridge.rocketchat.rest import RCRestClient
from bridge.rocketchat.transport import RetryPolicy
from bridge.sandbox.rocketchat.app import Exchange, SimulatorServer
from tests.fixtures.rocketchat import sim_control


def statuses(exchanges: list[Exchange], path: str) -> list[int]:
    return [e.status for e in exchanges if e.path == f"/api/v1/{path}"]


async def test_rate_limiter_429_is_waited_out(
    rc_sim: SimulatorServer, rc_user: RCRestClient, rc_exchanges: list[Exchange]
) -> None:
    await sim_control(
        rc_sim,
        "settings",
        {
            "API_Enable_Rate_Limiter_Limit_Calls_Default": 2,
            "API_Enable_Rate_Limiter_Limit_Time_Default": 1000,
        },
    )
    for _ in range(3):
        assert (await rc_user.me()).username == "carol"
    assert statuses(rc_exchanges, "me") == [200, 200, 429, 200]
    limited = next(e for e in rc_exchanges if e.status == 429)
    assert b"[error-too-many-requests]" in limited.response_body


async def test_bot_bypasses_rate_limit(
    rc_sim: SimulatorServer, rc_bot: RCRestClient, rc_exchanges: list[Exchange]
) -> None:
    await sim_control(rc_sim, "settings", {"API_Enable_Rate_Limiter_Limit_Calls_Default": 1})
    for _ in range(4):
        await rc_bot.me()
    assert statuses(rc_exchanges, "me") == [200] * 4  # api-bypass-rate-limit: bot role


async def test_rate_limit_error_exposes_reset_when_not_waiting(
    rc_sim: SimulatorServer, rc_user: RCRestClient
) -> None:
    rc_user.transport.retry = RetryPolicy(wait_on_rate_limit=False)
    await sim_control(rc_sim, "faults", {"status": 429, "count": 1, "reset_ms": 1500})
    before_ms = time.time() * 1000
    with pytest.raises(RCRateLimitError) as err:
        await rc_user.me()
    assert err.value.error_type == "error-too-many-requests"
    assert err.value.reset_at_ms is not None and err.value.reset_at_ms > before_ms
    assert 0 < err.value.retry_after <= 1.5


async def test_injected_429_with_reset_is_waited_out(
    rc_sim: SimulatorServer, rc_bot: RCRestClient, rc_exchanges: list[Exchange]
) -> None:
    await sim_control(rc_sim, "faults", {"status": 429, "count": 1, "reset_ms": 800})
    assert (await rc_bot.me()).username == "bridge.bot"
    assert statuses(rc_exchanges, "me") == [429, 200]


async def test_5xx_is_retried(
    rc_sim: SimulatorServer, rc_bot: RCRestClient, rc_exchanges: list[Exchange]
) -> None:
    await sim_control(rc_sim, "faults", {"status": 500, "count": 2})
    await rc_bot.me()
    assert statuses(rc_exchanges, "me") == [500, 500, 200]


async def test_5xx_beyond_attempts_is_server_error(
    rc_sim: SimulatorServer, rc_bot: RCRestClient
) -> None:
    await sim_control(rc_sim, "faults", {"status": 503, "count": 10})
    with pytest.raises(RCServerError) as err:
        await rc_bot.me()
    assert err.value.status == 503


async def test_outage_is_bridged_by_connection_retries(rc_sim: SimulatorServer) -> None:
    policy = RetryPolicy(attempts=30, base_delay=0.05, max_delay=0.1, timeout=5)
    async with RCRestClient.with_token(
        rc_sim.url, rc_sim.bot.id, rc_sim.config.bot_token, retry=policy
    ) as client:
        await sim_control(rc_sim, "faults", {"down_seconds": 0.6})
        await client.me()  # may race the outage start: call again once it is certainly down
        await asyncio.sleep(0.2)
        assert (await client.me()).username == "bridge.bot"
    await rc_sim.wait_until_up()


async def test_outage_beyond_attempts_is_connection_error(rc_sim: SimulatorServer) -> None:
    policy = RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.01, timeout=5)
    async with RCRestClient.with_token(
        rc_sim.url, rc_sim.bot.id, rc_sim.config.bot_token, retry=policy
    ) as client:
        await sim_control(rc_sim, "faults", {"down_seconds": 1.0})
        await asyncio.sleep(0.2)
        with pytest.raises(RCConnectionError):
            await client.me()
    await rc_sim.wait_until_up()


async def test_latency_beyond_timeout_is_connection_error(rc_sim: SimulatorServer) -> None:
    policy = RetryPolicy(attempts=1, timeout=0.2)
    async with RCRestClient.with_token(
        rc_sim.url, rc_sim.bot.id, rc_sim.config.bot_token, retry=policy
    ) as client:
        await sim_control(rc_sim, "faults", {"latency_ms": 600})
        with pytest.raises(RCConnectionError):
            await client.me()
        await sim_control(rc_sim, "faults", {"latency_ms": 0})


async def test_error_shapes_map_to_typed_errors(
    rc_bot: RCRestClient,
    rc_user: RCRestClient,
    rc_exchanges: list[Exchange],
    rc_invalid_requests: list[Exchange],
) -> None:
    # 403: route-level permission (create-user), compat mode.
    with pytest.raises(RCForbiddenError) as forbidden:
        await rc_user.users_create("x", "X", "x@example.org", "pw")
    assert forbidden.value.error_type == "error-unauthorized"
    # 400 Meteor error: errorType present.
    room = await rc_bot.room_create("channels", "errors")
    other = await rc_bot.post_message(room.id, "bot's message")
    with pytest.raises(RCBadRequestError) as not_allowed:
        await rc_user.delete_message(room.id, other.id)
    assert not_allowed.value.error == "Not allowed [error-action-not-allowed]"
    assert not_allowed.value.error_type == "error-action-not-allowed"
    # 400 plain failure: no errorType.
    with pytest.raises(RCBadRequestError) as plain:
        await rc_bot.update_message(room.id, RCMessageID("missing"), "x")
    assert plain.value.error == 'No message found with the id of "missing".'
    assert plain.value.error_type is None
    # 400 ajv validation: invalid-params (request invalid on purpose).
    before = len(rc_exchanges)
    with pytest.raises(RCBadRequestError) as invalid:
        await rc_bot.transport.call("POST", "chat.update", json_body={"roomId": room.id})
    rc_invalid_requests.extend(rc_exchanges[before:])
    assert invalid.value.error_type == "invalid-params"
    # 404 unknown route.
    with pytest.raises(RCNotFoundError):
        await rc_bot.transport.call("GET", "no.such.endpoint")
    rc_exchanges[:] = [e for e in rc_exchanges if e.path != "/api/v1/no.such.endpoint"]


def test_error_from_response_shapes() -> None:
    assert isinstance(error_from_response(401, {"status": "error", "message": "m"}), RCAuthError)
    bracket = error_from_response(400, {"success": False, "error": "[invalid-channel]"})
    assert bracket.error_type == "invalid-channel"
    limited = error_from_response(429, {"success": False, "error": "slow"}, reset_at_ms=5)
    assert isinstance(limited, RCRateLimitError) and limited.reset_at_ms == 5
    assert type(error_from_response(418, {"error": "teapot"})) is RCAPIError
    assert isinstance(error_from_response(502, {}), RCServerError)
