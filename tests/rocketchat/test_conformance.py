"""The OpenAPI validation itself: it finds the files, catches bad data, and every exception
to the spec has a source. (Every test using ``rc_sim`` is validated at teardown.)"""

from __future__ import annotations

import json
import re

import pytest

from bridge.sandbox.rocketchat.app import Exchange, build_app
from bridge.sandbox.rocketchat.state import SimState
from tests.rocketchat.conformance import (
    MISSING,
    SPEC_EXCEPTIONS,
    SPEC_PATH_ALIASES,
    UNDOCUMENTED_PATHS,
    Conformance,
)


def _exchange(body: dict[str, object], status: int = 200) -> Exchange:
    return Exchange(
        method="POST",
        path="/api/v1/chat.react",
        query={},
        headers={"X-User-Id": "u", "X-Auth-Token": "t", "Content-Type": "application/json"},
        body=json.dumps({"messageId": "m", "emoji": "smile"}).encode(),
        content_type="application/json",
        status=status,
        response_body=json.dumps(body).encode(),
        response_content_type="application/json",
    )


def test_validator_accepts_good_and_rejects_bad(rc_conformance: Conformance | None) -> None:
    if rc_conformance is None:
        pytest.skip(MISSING)
    assert rc_conformance.problems(_exchange({"success": True})) == []
    bad = rc_conformance.problems(_exchange({"success": "yes"}))
    assert bad and "[response]" in bad[0]


def test_every_exception_names_its_source() -> None:
    for exception in SPEC_EXCEPTIONS:
        assert exception.reason and exception.source
    assert all(why for _, why in SPEC_PATH_ALIASES.values())
    assert all(why for why in UNDOCUMENTED_PATHS.values())


def test_every_simulated_rest_route_is_in_the_openapi_files(
    rc_conformance: Conformance | None,
) -> None:
    """Each /api route the simulator serves is checked against the files (the spec knows it)
    or is listed as undocumented with its reason."""
    if rc_conformance is None:
        pytest.skip(MISSING)
    app = build_app(SimState())
    paths = {
        re.sub(r"\{[^}]+\}", "x", info.get("path") or info.get("formatter", ""))
        for resource in app.router.resources()
        if (info := resource.get_info())
    }
    unknown = [
        p
        for p in sorted(paths)
        if p.startswith("/api/")
        and rc_conformance.spec_for(Conformance.spec_path(p)) is None
        and not any(re.match(u, p) for u in UNDOCUMENTED_PATHS)
    ]
    assert unknown == []
