"""The bridge's configuration as frozen, typed values.

Field order and names mirror ``config.example.yaml``. A field without a default is a
required key; the loader refuses unknown keys, so a typo is reported, not ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

HistoryVisibility = Literal["shared", "invited", "joined", "world_readable"]
PrivacyMode = Literal["self-service", "admin-approval"]
UnknownServers = Literal["allow", "hold", "deny"]
RocketChatIntake = Literal["realtime", "webhook"]
LogFormat = Literal["text", "json"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


@dataclass(frozen=True)
class HomeserverConfig:
    address: str
    domain: str
    verify_ssl: bool = True
    admin_token: str | None = None


@dataclass(frozen=True)
class AppServiceConfig:
    address: str
    hostname: str
    port: int
    id: str
    bot_username: str
    as_token: str
    hs_token: str
    bot_displayname: str = "Rocket.Chat privacy bridge"
    ghost_localpart_template: str = "rc_{username}"
    alias_localpart_template: str = "rc_{room}"
    max_transaction_bytes: int = 10 * 1024 * 1024


@dataclass(frozen=True)
class DatabaseConfig:
    url: str


@dataclass(frozen=True)
class RocketChatConfig:
    url: str
    user_id: str | None = None
    auth_token: str | None = None
    username: str | None = None
    password: str | None = None
    intake: RocketChatIntake = "realtime"
    # intake "webhook": the token Rocket.Chat's outgoing webhook sends (a secret), and how
    # often every followed room is caught up on (deletions have no webhook event).
    webhook_token: str | None = None
    webhook_catchup_seconds: int = 30
    # How often the bridge asks Rocket.Chat whether the people it has ghosts for still
    # exist (50 per round): finds account deletions the realtime stream did not deliver.
    people_check_seconds: int = 300


MatrixUsersOnRocketChat = Literal["shadow", "alias"]


@dataclass(frozen=True)
class BridgeConfig:
    history_visibility: HistoryVisibility = "shared"
    rooms: dict[str, str | None] = field(default_factory=dict)
    # How Matrix users appear on Rocket.Chat: their own shadow accounts, or the bridge's
    # account posting with alias/avatar (needs the message-impersonate permission).
    matrix_users_on_rocketchat: MatrixUsersOnRocketChat = "shadow"
    # Largest file copied between the sides, in bytes; larger ones are refused.
    max_media_bytes: int = 50 * 1024 * 1024
    # Longest message text relayed, in characters; longer ones are refused with a notice.
    max_body_chars: int = 5_000
    # Matrix users (admins) allowed to run !bridge link / unlink.
    admins: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PrivacyConfig:
    # Keys the disclosure ledger's content hashes and pseudonyms; required, generated.
    hash_key: str
    mode: PrivacyMode = "self-service"
    # The law whose deadlines apply to requests the bridge opens itself: an account
    # deleted in Rocket.Chat with its messages (docs/erasure.md).
    jurisdiction: Literal["gdpr", "ccpa"] = "gdpr"
    admins: list[str] = field(default_factory=list)
    notice_text: str | None = None
    notice_url: str | None = None
    ledger_retention_days: int = 730
    # Days after a person's erasure finished until their pseudonym keys are destroyed
    # (crypto-shredding, docs/retention.md); until then an officer given their id still
    # finds their pseudonymous records.
    pseudonym_retention_days: int = 90
    # How often portals' retention policies are read from Rocket.Chat, mirrored into
    # m.room.retention, and their expired items redacted (docs/retention.md).
    retention_poll_seconds: int = 60
    # Admin contacts of remote homeservers for erasure notices, when a server publishes
    # none at /.well-known/matrix/support (MSC1929): server name -> Matrix user ids.
    contacts: dict[str, list[str]] = field(default_factory=dict)
    # Servers whose admins run an erasure receiver (docs/erasure-protocol.md): a request
    # stays open until theirs answers "applied" or "refused", or its deadline passes.
    # The partner register's receiver mark counts as well (docs/partners.md).
    receivers: list[str] = field(default_factory=list)
    # The supervisory authority people may complain to (GDPR Art. 77), named in their
    # access export: e.g. "Der Bundesbeauftragte für den Datenschutz, https://…".
    supervisory_authority: str | None = None
    # What the relay does for a room holding a server not in the partner register
    # (docs/partners.md): relay ("allow"), wait for an admin's decision ("hold"), or treat
    # it like a partner under "deny".
    unknown_servers: UnknownServers = "allow"
    # !privacy commands a person may send per minute; more are refused.
    command_rate_per_minute: int = 10
    # Matrix power level at or above which a user moderates a room (!privacy purge there).
    moderator_power_level: int = 50


@dataclass(frozen=True)
class WebConfig:
    """The admin dashboard and its JSON API (docs/audit.md), served on the appservice port."""

    enabled: bool = False
    path: str = "/admin"
    # Log in with this token (a secret: admin_token_path / BRIDGE_WEB_ADMIN_TOKEN).
    admin_token: str | None = None
    # Matrix users who may log in with a Matrix OpenID token; null: privacy.admins.
    admins: list[str] | None = None
    # Homeserver name -> base URL for verifying OpenID tokens (federation
    # /openid/userinfo); a server not listed is asked at https://<name>.
    openid_servers: dict[str, str] = field(default_factory=dict)
    # Signs session cookies; null: a random key per start (everyone logs in again).
    session_secret: str | None = None
    cookie_secure: bool = True
    session_minutes: int = 480
    # Addresses (or CIDR networks) of reverse proxies whose X-Forwarded-For is believed
    # when throttling logins; empty: the peer address is the client.
    trusted_proxies: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class MetricsConfig:
    """Prometheus ``/metrics``: it names every recipient server, so it is never open."""

    # With a token, the appservice port serves /metrics to "Authorization: Bearer <token>";
    # without one it does not serve /metrics at all (404).
    bearer_token: str | None = None
    # A listener of its own that serves only /metrics (the token is required there too
    # when set); null port: none. A non-loopback hostname needs the token.
    hostname: str = "127.0.0.1"
    port: int | None = None


@dataclass(frozen=True)
class OutboxConfig:
    """The retry budget of every outbound action (docs/outbox.md)."""

    # Failures (errors of the action itself) before it becomes a dead letter.
    max_attempts: int = 12
    # Hours it may keep failing, counted from its first failure, rate limits and outages
    # of the other side included, before it becomes a dead letter.
    max_age_hours: int = 24


@dataclass(frozen=True)
class StorageConfig:
    """What the bridge keeps in its database, and the key of the secrets it stores there."""

    # Encrypts the secrets the bridge must store (its shadow users' Rocket.Chat session
    # tokens); required, generated by generate-registration. A secret:
    # encryption_key_path / BRIDGE_STORAGE_ENCRYPTION_KEY.
    encryption_key: str | None = None
    # Hours a processed inbox event or outbox action keeps its id, key and status (its
    # body is dropped at once) before the row is deleted.
    done_retention_hours: int = 48
    # Minutes between two rounds of pruning (done rows, request log, ledger).
    prune_interval_minutes: int = 60


@dataclass(frozen=True)
class AuditConfig:
    """Signed checkpoints of the audit chain's head, outside the database (docs/audit.md)."""

    # Ed25519 key that signs the checkpoints: 64 hex digits (its seed) or a PEM private
    # key. A secret: signing_key_path / BRIDGE_AUDIT_SIGNING_KEY. Null: no checkpoints.
    signing_key: str | None = None
    # File the checkpoints are appended to, one line each. Put it where whoever runs the
    # database cannot rewrite it: another volume, append-only (chattr +a), shipped off.
    checkpoint_file: str | None = None
    # Minutes between two checkpoints (one is also written when an erasure finishes).
    checkpoint_interval_minutes: int = 60


MailSecurity = Literal["starttls", "tls", "none"]


@dataclass(frozen=True)
class MailConfig:
    """The SMTP server erasure notices and incident requests to e-mail contacts go
    through (docs/partners.md). Without a host, e-mail contacts cannot be reached."""

    host: str | None = None
    port: int = 587
    # "starttls" (upgrade, refuse a server without it), "tls" (implicit TLS, port 465),
    # "none" (plain; only for a mail server on loopback).
    security: MailSecurity = "starttls"
    sender: str | None = None
    username: str | None = None
    # A secret: password_path / BRIDGE_MAIL_PASSWORD.
    password: str | None = None


@dataclass(frozen=True)
class LoggingConfig:
    level: LogLevel = "INFO"
    format: LogFormat = "text"
    # Log each relayed Rocket.Chat message's stage times at DEBUG (bridge.pipeline.stages),
    # whatever ``level`` is; they hold ids and times, never bodies.
    trace: bool = False


@dataclass(frozen=True)
class Config:
    homeserver: HomeserverConfig
    appservice: AppServiceConfig
    database: DatabaseConfig
    rocketchat: RocketChatConfig
    privacy: PrivacyConfig
    bridge: BridgeConfig = field(default_factory=BridgeConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    web: WebConfig = field(default_factory=WebConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    outbox: OutboxConfig = field(default_factory=OutboxConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    mail: MailConfig = field(default_factory=MailConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)

    @property
    def bot_mxid(self) -> str:
        return f"@{self.appservice.bot_username}:{self.homeserver.domain}"


# Keys whose values are secrets: they may come from the environment or a *_path file, and
# are never printed in error messages.
SECRET_KEYS = frozenset(
    {
        "as_token",
        "hs_token",
        "admin_token",
        "auth_token",
        "password",
        "hash_key",
        "session_secret",
        "bearer_token",
        "encryption_key",
        "webhook_token",
        "signing_key",
    }
)

# The token placeholder generate-registration replaces; refused by ``run``.
PLACEHOLDER_TOKEN = "This value is generated when generating the registration"  # noqa: S105
