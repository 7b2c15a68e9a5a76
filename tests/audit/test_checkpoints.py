"""Signed checkpoints of the chain head, outside the database: a chain rewritten in the
database (every hash recomputed, so it verifies in itself) is caught by
``bridge audit verify --against``, naming the checkpoint it contradicts."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from bridge.cli.main import main
from bridge.config import load_config
from bridge.config.load import ConfigError
from bridge.pipeline import keys
from bridge.privacy import audit
from bridge.privacy.audit import GENESIS, AuditLog, canonical, chain_hash
from bridge.privacy.checkpoints import CheckpointPublisher, read_file, sign
from bridge.storage.database import Database
from tests.erasure.test_engine_unit import OFFICER, _engine, _seed
from tests.fixtures.bridge_config import write_config
from tests.fixtures.databases import TEST_PSEUDONYM_KEY

KEY_HEX = "11" * 32


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path]:
    """A config with checkpoints on, a chain of 3 entries and one checkpoint of it."""
    checkpoints = tmp_path / "elsewhere" / "checkpoints.log"
    checkpoints.parent.mkdir()
    config = write_config(
        tmp_path / "config.yaml",
        audit={"signing_key": KEY_HEX, "checkpoint_file": str(checkpoints)},
    )
    assert main(["db", "upgrade", "-c", str(config)]) == 0

    async def populate() -> None:
        db = Database(
            f"sqlite+aiosqlite:///{tmp_path / 'bridge.db'}", pseudonym_key=TEST_PSEUDONYM_KEY
        )
        try:
            for i in range(3):
                await AuditLog(db).record(audit.SUBJECT_LOOKUP, "web:token", 1, {"i": i})
            key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(KEY_HEX))
            assert await CheckpointPublisher(db, key, checkpoints).publish() is not None
        finally:
            await db.close()

    asyncio.run(populate())
    return config, checkpoints


def rewrite_whole_chain(db_file: Path) -> None:
    """What an insider with write access to the database does: change entry 2 and
    recompute every hash after it, and the head, so the chain is consistent again."""
    with sqlite3.connect(db_file) as conn:
        conn.execute("""UPDATE audit_entry SET details = '{"i":99}' WHERE seq = 2""")
        rows = list(
            conn.execute(
                "SELECT seq, at_ms, kind, actor, subject_ref, details FROM audit_entry ORDER BY seq"
            )
        )
        prev = GENESIS
        for seq, at_ms, kind, actor, subject_ref, details in rows:
            digest = chain_hash(
                prev, canonical(seq, at_ms, kind, actor, subject_ref, json.loads(details))
            )
            conn.execute(
                "UPDATE audit_entry SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, digest, seq)
            )
            prev = digest
        conn.execute("UPDATE audit_head SET seq = ?, hash = ?", (len(rows), prev))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_an_untouched_chain_agrees_with_its_checkpoint(
    setup: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config, checkpoints = setup
    ((_, checkpoint),) = read_file(checkpoints)
    assert checkpoint.seq == 3
    code, out, _ = run(capsys, "audit", "verify", "-c", str(config), "--against", str(checkpoints))
    assert code == 0
    assert "agrees with 1 checkpoint(s)" in out


def test_a_rewritten_chain_passes_plain_verify_but_not_against_checkpoints(
    setup: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config, checkpoints = setup
    rewrite_whole_chain(config.parent / "bridge.db")
    code, out, _ = run(capsys, "audit", "verify", "-c", str(config))
    assert code == 0, "the rewritten chain is consistent in itself"
    code, out, err = run(
        capsys, "audit", "verify", "-c", str(config), "--against", str(checkpoints)
    )
    assert code == 1
    assert "checkpoint at line 1 (entry 3," in err
    assert "the chain was rewritten" in err
    assert out == ""


def test_a_forged_checkpoint_does_not_verify(
    setup: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config, checkpoints = setup
    rewrite_whole_chain(config.parent / "bridge.db")
    with sqlite3.connect(config.parent / "bridge.db") as conn:
        (head,) = conn.execute("SELECT hash FROM audit_head").fetchone()
    # The insider also writes a checkpoint of the new head, with a key of their own.
    forged = sign(Ed25519PrivateKey.generate(), 3, head, 1_700_000_000_000)
    checkpoints.write_text(forged.line())
    code, _, err = run(capsys, "audit", "verify", "-c", str(config), "--against", str(checkpoints))
    assert code == 1
    assert "checkpoint at line 1 (entry 3, 2023-11-14 22:13:20 UTC): its signature" in err


def test_against_without_a_key_or_readable_file_is_a_usage_error(
    setup: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, checkpoints = setup
    checkpoints.write_text("not json\n")
    code, _, err = run(capsys, "audit", "verify", "-c", str(config), "--against", str(checkpoints))
    assert code == 2
    assert "line 1" in err
    plain = write_config(tmp_path / "plain.yaml")
    code, _, err = run(capsys, "audit", "verify", "-c", str(plain), "--against", str(checkpoints))
    assert code == 2
    assert "audit.signing_key" in err


@pytest.mark.parametrize(
    ("audit_section", "key"),
    [
        ({"signing_key": KEY_HEX}, "audit.checkpoint_file"),
        ({"checkpoint_file": "/tmp/x.log"}, "audit.signing_key"),  # noqa: S108
        ({"signing_key": "abc", "checkpoint_file": "/tmp/x.log"}, "audit.signing_key"),  # noqa: S108
        (
            {"signing_key": KEY_HEX, "checkpoint_file": "/nonexistent/dir/x.log"},
            "audit.checkpoint_file",
        ),
    ],
)
def test_checkpoint_config_that_cannot_work_names_the_key(
    tmp_path: Path, audit_section: dict[str, object], key: str
) -> None:
    path = write_config(tmp_path / "config.yaml", audit=audit_section)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.key == key


async def test_a_finished_erasure_publishes_a_checkpoint_of_its_last_entry(
    db: Database, tmp_path: Path
) -> None:
    await _seed(db)
    file = tmp_path / "checkpoints.log"
    publisher = CheckpointPublisher(db, Ed25519PrivateKey.generate(), file)
    engine = _engine(db, admin_token=False)
    engine._after_finish = publisher.publish_quietly  # noqa: SLF001 - as the app wires it
    rid = await engine.request("rcAlice", OFFICER, verified=True)
    for _ in range(3):
        await engine.step()
    assert not file.exists(), "nothing published while the erasure runs"
    async with db.engine.begin() as conn:  # every action ran
        await conn.execute(
            text("UPDATE outbox SET status = 'done' WHERE key LIKE :p"),
            {"p": keys.erasure_key_prefix(rid) + "%"},
        )
    await engine.step()
    assert (await engine.status(rid)).state.finished
    ((_, checkpoint),) = read_file(file)
    async with db.unit_of_work() as uow:
        assert (checkpoint.seq, checkpoint.hash) == await uow.audit.head()
        (last,) = await uow.audit.entries_after(checkpoint.seq - 1, 1)
    assert last.kind == audit.REQUEST_FINISHED
