"""OpenAPI conformance of the connector's requests and the simulator's responses.

Every exchange recorded by the simulator is validated with openapi-core against the
official files (docs/rocketchat-notes.md). Where the real server is known to differ from the
spec we follow the server; :data:`SPEC_EXCEPTIONS` lists every such case, with its source.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from bridge.sandbox.rocketchat.app import Exchange

REPO_ROOT = Path(__file__).resolve().parents[2]
SPEC_HOST = "https://apiexplorer.support.rocket.chat"  # the files' servers[0].url


# The one place outside the repository the suite may read: Rocket.Chat's OpenAPI files,
# which are not ours to redistribute (docs/rocketchat-notes.md, "The OpenAPI files").
SIBLING_OPENAPI_DIR = REPO_ROOT.parent / "shared" / "rocketchat-openapi"
MISSING = (
    "Rocket.Chat's OpenAPI files not found: set BRIDGE_RC_OPENAPI_DIR, or put them in "
    f"{SIBLING_OPENAPI_DIR} (required when CI is set)"
)


def openapi_dir() -> Path | None:
    """``$BRIDGE_RC_OPENAPI_DIR`` or :data:`SIBLING_OPENAPI_DIR`, if it holds the files."""
    env = os.environ.get("BRIDGE_RC_OPENAPI_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(SIBLING_OPENAPI_DIR)
    return next((c for c in candidates if (c / "messaging.yaml").is_file()), None)


def require_openapi_dir() -> Path | None:
    """The files' folder; ``None`` on a plain clone, an error when ``CI`` is set.

    A clone on its own must pass its test command, so the conformance checks are
    skipped there; CI has the files, and must never go green by not validating.
    """
    directory = openapi_dir()
    if directory is None and os.environ.get("CI"):
        raise RuntimeError(MISSING)
    return directory


@dataclass(frozen=True)
class SpecException:
    """A known spec-vs-server difference: ``match`` is searched in the validation error."""

    endpoint: str  # regex on the request path
    part: str  # "request" or "response"
    match: str  # regex on "<ErrorClass>: <message>"
    reason: str
    source: str
    status: int | None = None


# The one list of deliberate deviations from the OpenAPI files.
SPEC_EXCEPTIONS: tuple[SpecException, ...] = (
    SpecException(
        r".*",
        "response",
        r"ResponseNotFound",
        status=429,
        reason="REST rate limiting is not documented in the spec; 429 envelope from ApiClass",
        source="docs/rocketchat-notes.md (ApiClass.ts enforceRateLimit)",
    ),
    SpecException(
        r".*",
        "response",
        r"ResponseNotFound",
        status=500,
        reason="5xx answers (fault injection) are not described per endpoint",
        source="docs/rocketchat-notes.md ('Other: 500 Internal server error')",
    ),
    SpecException(
        r".*",
        "response",
        r"ResponseNotFound",
        status=503,
        reason="5xx answers (fault injection) are not described per endpoint",
        source="docs/rocketchat-notes.md ('503 Service Unavailable')",
    ),
    SpecException(
        r".*",
        "response",
        r"ResponseNotFound",
        status=401,
        reason="the spec omits 401 on some endpoints, the server answers 401 on every "
        "authenticated route without valid credentials",
        source="docs/rocketchat-notes.md (401 not logged in, ApiClass.ts)",
    ),
    SpecException(
        r".*",
        "response",
        r"ResponseNotFound",
        status=400,
        reason="the spec omits 400 on some endpoints; every route can fail() with 400",
        source="docs/rocketchat-notes.md (failure envelope, ApiClass.ts failure())",
    ),
    SpecException(
        r".*",
        "response",
        r"ResponseNotFound",
        status=403,
        reason="route-level permissionsRequired answers 403 in compat mode",
        source="docs/rocketchat-notes.md (users.delete e2e test)",
    ),
    SpecException(
        r"/api/v1/(im|dm)\.create$",
        "request",
        r"is valid under each of",
        status=None,
        reason="spec defect: the body is a oneOf of two object schemas without 'required', "
        "so every valid body matches both alternatives",
        source="messaging.yaml /api/v1/dm.create requestBody (oneOf username | usernames)",
    ),
    SpecException(
        r"^/api/v1/settings/[^/]+$",
        "response",
        r"is not of type 'boolean'",
        status=200,
        reason="spec defect: GET settings/{_id} types 'value' as boolean from its one example; "
        "a setting's value has the setting's own type (string, int, boolean)",
        source="settings.yaml /api/v1/settings/{_id} get; "
        "apps/meteor/app/api/server/v1/settings.ts",
    ),
    SpecException(
        r"^/api/v1/settings/[^/]+$",
        "request",
        r"is not of type 'string'",
        status=None,
        reason="spec defect: POST settings/{_id} types 'value' as string; boolean and int "
        "settings take a boolean or a number",
        source="settings.yaml /api/v1/settings/{_id} post; "
        "apps/meteor/app/api/server/v1/settings.ts",
    ),
    SpecException(
        r"^/api/v1/rooms\.saveRoomSettings$",
        "request",
        r"is not of type 'string'",
        status=None,
        reason="spec defect: retentionMaxAge is typed as a string; the server takes "
        "Number(value), so clients send a number of days",
        source="rooms.yaml /api/v1/rooms.saveRoomSettings; Rocket.Chat "
        "apps/meteor/server/methods/saveRoomSettings.ts (saveRetentionMaxAgeById)",
    ),
    SpecException(
        r"/api/v1/login$",
        "response",
        r"ResponseNotFound",
        status=401,
        reason="the spec lists no error response for login; the server answers 401",
        source="docs/rocketchat-notes.md (POST /api/v1/login, failure)",
    ),
)

# Paths the server serves under a second name that the spec documents only once.
SPEC_PATH_ALIASES: dict[str, tuple[str, str]] = {
    r"^/api/v1/im\.": (
        "/api/v1/dm.",
        "im.* and dm.* are one route registered under both names; the spec documents dm.* "
        "(with operationId post-api-v1-im.create) — docs/rocketchat-notes.md",
    ),
}

# Routes the server has and the OpenAPI files do not describe at all (nothing to check).
UNDOCUMENTED_PATHS: dict[str, str] = {
    r"^/api/info$": "served by API.default outside /api/v1; the files describe only /api/v1 "
    "(Rocket.Chat apps/meteor/app/api/server/default/info.ts)",
    r"^/api/v1/rooms\.upload/[^/]+$": "the older one-step upload, superseded by rooms.media "
    "and rooms.mediaConfirm; the files no longer describe it (Rocket.Chat "
    "apps/meteor/app/api/server/v1/rooms.ts)",
}


def _index(directory: Path) -> dict[str, list[re.Pattern[str]]]:
    """Which file holds which path: a cheap scan instead of parsing every YAML file."""
    index: dict[str, list[re.Pattern[str]]] = {}
    line_re = re.compile(r"^  '?(/api/v1/[^':]+)'?:\s*$")
    for path in sorted(directory.glob("*.yaml")):
        patterns = []
        for line in path.read_text().splitlines():
            if m := line_re.match(line):
                template = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(m.group(1)))
                patterns.append(re.compile(f"^{template}$"))
        index[path.name] = patterns
    return index


class Conformance:
    """Loads each spec file once (rooms.yaml takes seconds) and validates exchanges."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.index = _index(directory)
        self.specs: dict[str, OpenAPI] = {}
        self.validated: set[tuple[str, str]] = set()

    def spec_for(self, path: str) -> OpenAPI | None:
        for name, patterns in self.index.items():
            if any(p.match(path) for p in patterns):
                if name not in self.specs:
                    self.specs[name] = OpenAPI.from_file_path(str(self.directory / name))
                return self.specs[name]
        return None

    @staticmethod
    def spec_path(path: str) -> str:
        for pattern, (replacement, _why) in SPEC_PATH_ALIASES.items():
            if re.match(pattern, path):
                return re.sub(pattern, replacement, path)
        return path

    def problems(self, exchange: Exchange, *, check_request: bool = True) -> list[str]:
        path = self.spec_path(exchange.path)
        spec = self.spec_for(path)
        if spec is None and any(re.match(p, path) for p in UNDOCUMENTED_PATHS):
            return []
        if spec is None:
            return [f"{exchange.method} {exchange.path}: not in any OpenAPI file"]
        request = MockRequest(
            SPEC_HOST,
            exchange.method,
            path,
            args=exchange.query,
            headers=exchange.headers,
            data=exchange.body or None,
            content_type=exchange.content_type or "application/json",
        )
        response = MockResponse(
            exchange.response_body, exchange.status, content_type=exchange.response_content_type
        )
        found = []
        for part, check in (("request", spec.validate_request), ("response", None)):
            if part == "request" and not check_request:
                continue
            try:
                if check is not None:
                    check(request)
                else:
                    spec.validate_response(request, response)
            except Exception as exc:  # openapi-core raises several unrelated bases
                text = f"{type(exc).__name__}: {exc}"
                detail = "; ".join(str(e) for e in getattr(exc, "schema_errors", ()) or ())
                if detail:
                    text += f" ({detail})"
                if not self._excepted(exchange, part, text):
                    found.append(
                        f"{exchange.method} {exchange.path} -> {exchange.status} [{part}] {text}"
                    )
        self.validated.add((exchange.method, path))
        return found

    @staticmethod
    def _excepted(exchange: Exchange, part: str, text: str) -> bool:
        return any(
            e.part == part
            and re.search(e.endpoint, exchange.path)
            and re.search(e.match, text)
            and (e.status is None or e.status == exchange.status)
            for e in SPEC_EXCEPTIONS
        )
