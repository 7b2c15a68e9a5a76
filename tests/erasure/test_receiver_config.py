"""``bridge receiver``: config that cannot work is one line naming the key, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.cli.main import main

GOOD = """
homeserver: {{address: "http://127.0.0.1:8008", domain: hs2.test, access_token: tok}}
peers: ["@bridgebot:hs1.test"]
redaction_retention_period: {retention}
audit_log: {folder}/audit.jsonl
state_file: {folder}/state.json
"""


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"retention": "soon"}, "redaction_retention_period"),
        ({"folder": "/nonexistent/dir"}, "audit_log"),
        ({"text": "peers: []\n"}, "peers"),
        ({"text": "peers: [bob]\n"}, "peers[0]"),
        (
            {"text": "homeserver: {address: ftp://x, domain: d, access_token: t}\n"},
            "homeserver.address",
        ),
        ({"text": "homeserver: {address: 'http://x', domain: d}\n"}, "homeserver.access_token"),
        ({"text": "surprise: 1\n"}, "surprise"),
    ],
)
def test_bad_receiver_config_exits_2_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: dict[str, str], key: str
) -> None:
    text = GOOD.format(
        retention=change.get("retention", "7d"), folder=change.get("folder", str(tmp_path))
    )
    if "text" in change:
        first = change["text"].split(":")[0]
        kept = [x for x in text.splitlines() if not x.startswith(first)]
        text = "\n".join(kept) + "\n" + change["text"]
    path = tmp_path / "receiver.yaml"
    path.write_text(text)
    assert main(["receiver", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"config error: {key}:"), err
    assert len(err.strip().splitlines()) == 1
