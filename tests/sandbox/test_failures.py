"""Failures the sandbox must report: an untrusted CA, and a server that cannot start."""

from __future__ import annotations

import pytest
from mautrix.errors import MatrixRequestError
from mautrix.types import RoomCreatePreset

from bridge.sandbox.errors import HomeserverStartError
from bridge.sandbox.homeservers import HomeserverCluster
from bridge.sandbox.matrix_users import matrix_client
from bridge.sandbox.synapse_process import is_pid_alive

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def test_a_homeserver_trusting_another_ca_cannot_federate(
    homeservers: HomeserverCluster,
) -> None:
    # A one-server cluster has its own throwaway CA, so it distrusts the session's servers.
    room_owner = await homeservers.register_user(0)
    async with matrix_client(room_owner) as owner:
        room_id = await owner.create_room(preset=RoomCreatePreset.PUBLIC)  # anyone may join
    outsider_cluster = HomeserverCluster(1)
    await outsider_cluster.start()
    try:
        outsider = await outsider_cluster.register_user(0)
        async with matrix_client(outsider) as client:
            with pytest.raises(MatrixRequestError):
                await client.join_room(room_id, servers=[owner.domain], max_retries=0)
        log_text = outsider_cluster.homeserver(0).log_path.read_text()
    finally:
        await outsider_cluster.stop()

    assert "CERTIFICATE_VERIFY_FAILED" in log_text or "certificate verify failed" in log_text
    assert outsider_cluster.running_pids() == []


async def test_a_homeserver_that_cannot_start_is_reported_with_its_log_tail() -> None:
    broken = HomeserverCluster(1, extra_config={"database": {"name": "no_such_engine"}})

    with pytest.raises(HomeserverStartError) as caught:
        await broken.start()

    assert "exited with code 1" in str(caught.value)
    assert "Unsupported database type 'no_such_engine'" in str(caught.value)
    assert caught.value.server_name == broken.server_names[0]
    assert broken.started_pids and not any(is_pid_alive(p) for p in broken.started_pids)
    assert not broken.root.exists()


async def test_a_homeserver_not_ready_in_time_is_stopped_and_reported() -> None:
    slow = HomeserverCluster(1, ready_timeout=0.2)

    with pytest.raises(HomeserverStartError) as caught:
        await slow.start()

    assert "was not ready within" in str(caught.value)
    assert "last log lines" in str(caught.value)
    assert slow.started_pids and slow.running_pids() == []
