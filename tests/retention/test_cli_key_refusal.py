"""The privacy and incident commands open the database the way every CLI command does
(bridge.cli.commands_core): a storage key that does not open the people's pseudonym keys
is one "config error" line and exit 2, never a traceback."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from bridge.cli.main import main
from bridge.config import load_config
from bridge.privacy import pseudonyms
from bridge.privacy.erasure import erasure_settings
from bridge.privacy.ledger import DisclosureLedger
from bridge.storage.database import Database
from tests.fixtures.bridge_config import write_config
from tests.privacy.helpers import ALICE, member, message

REFUSED = (
    "config error: a pseudonym key does not open with storage.encryption_key (was it changed?)"
)


@pytest.mark.parametrize(
    "argv",
    [
        ["privacy", "erase", "rcAlice", "--requester", "rcAlice"],
        ["privacy", "export", "rcAlice", "--actor", "rcAlice"],
    ],
)
def test_a_storage_key_that_does_not_open_the_keys_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    path = write_config(tmp_path / "config.yaml")
    config = load_config(path)
    assert main(["db", "upgrade", "-c", str(path)]) == 0

    async def alice_relayed_under_another_storage_key() -> None:
        other = dataclasses.replace(
            config.storage, encryption_key="another-storage-key-0123456789abcdef"
        )
        db = Database.from_config(dataclasses.replace(config, storage=other))
        ledger = DisclosureLedger(erasure_settings(config).ledger)
        try:
            await member(db, ledger, "@bob:hs2.test", "join", 1)
            await message(db, ledger, ALICE, 2)
            async with db.unit_of_work() as uow:
                await pseudonyms.of(uow, ALICE.user_id)  # her key, sealed with that key
        finally:
            await db.close()

    asyncio.run(alice_relayed_under_another_storage_key())
    capsys.readouterr()
    code = main([*argv, "-c", str(path)])
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert (code, err.splitlines()[-1]) == (2, REFUSED)
