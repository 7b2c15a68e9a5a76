"""The export tells the person what the bridge keeps, and for how long, truthfully."""

from __future__ import annotations

import jsonschema

from bridge.commands.export import Identity, Retention, build, schema
from bridge.privacy.erasure import LOG_RETENTION_MS
from bridge.storage.database import Database


async def test_the_export_says_what_is_kept_and_for_how_long(db: Database) -> None:
    document = await build(db, Identity(matrix_user_id="@dave:hs1.test"), Retention(12, 30))
    jsonschema.validate(document, schema())
    storage = document["storage"]
    assert storage["delivered_item_ids_hours"] == 12
    assert storage["disclosure_records_days"] == 30
    assert storage["erasure_requests_days"] == LOG_RETENTION_MS // 86_400_000
    # Not "never stored": bodies are held while in flight, then deleted.
    assert "only while" in storage["message_content"]
    assert "deleted" in storage["message_content"]
    assert "stores none" not in schema()["description"]
