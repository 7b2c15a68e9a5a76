"""homeserver.yaml for sandbox Synapses, written directly.

``--generate-config`` costs ~3.3 s per server (docs/synapse-notes.md), so the sandbox
writes the complete config itself. The file is JSON, which YAML parsers read as YAML.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Synapse's DEFAULT_IP_RANGE_BLOCKLIST minus 127.0.0.0/8 and ::1/128. The federation
# client checks IP-literal server names against this list without consulting
# ip_range_whitelist, so loopback must be taken out of the blocklist itself (docs/synapse-notes.md,
# Loopback federation in tests).
LOOPBACK_FRIENDLY_BLOCKLIST: tuple[str, ...] = (
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "192.0.0.0/24",
    "169.254.0.0/16",
    "192.88.99.0/24",
    "198.18.0.0/15",
    "192.0.2.0/24",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "fe80::/10",
    "fc00::/7",
    "2001:db8::/32",
    "ff00::/8",
    "fec0::/10",
)

_UNLIMITED: dict[str, int] = {"per_second": 1000, "burst_count": 1000}

# Test-speed federation retries. With the defaults a restarted server is only retried
# after up to ~84 s of long retries and then a 10-minute backoff (docs/synapse-notes.md, Retry
# timing); these keep it
# to seconds, and reset_connection wakes it at once.
FAST_FEDERATION_RETRIES: dict[str, Any] = {
    "max_long_retry_delay": "1s",
    "max_long_retries": 2,
    "max_short_retry_delay": "1s",
    "destination_min_retry_interval": "1s",
    "destination_retry_multiplier": 1.2,
    "destination_max_retry_interval": "5s",
}

DEFAULT_REDACTION_RETENTION = "7d"


@dataclass(frozen=True)
class HomeserverLayout:
    """Where one sandbox homeserver keeps its files and which ports it listens on."""

    directory: Path
    tls_port: int
    client_port: int
    # The loopback address in the server name. Each homeserver gets its own, because a
    # room's m.room.server_acl compares server names without their port (Matrix spec,
    # m.room.server_acl): with one shared address no ACL could tell them apart.
    host: str = "127.0.0.1"

    @property
    def server_name(self) -> str:
        # IP literal with port: *.localhost does not resolve here (docs/synapse-notes.md, Loopback
        # federation in tests).
        return f"{self.host}:{self.tls_port}"

    @property
    def client_url(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    @property
    def tls_url(self) -> str:
        return f"https://{self.host}:{self.tls_port}"

    @property
    def config_path(self) -> Path:
        return self.directory / "homeserver.yaml"

    @property
    def log_path(self) -> Path:
        return self.directory / "homeserver.log"

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def tls_cert_path(self) -> Path:
        return self.directory / "tls.crt"

    @property
    def tls_key_path(self) -> Path:
        return self.directory / "tls.key"

    @property
    def signing_key_path(self) -> Path:
        return self.directory / "signing.key"


def _listener(
    port: int, *, tls: bool, names: list[str], hosts: Sequence[str] = ("127.0.0.1",)
) -> dict[str, Any]:
    return {
        "port": port,
        "bind_addresses": list(dict.fromkeys(hosts)),
        "type": "http",
        "tls": tls,
        "x_forwarded": False,
        "resources": [{"names": names, "compress": False}],
    }


def _rate_limits() -> dict[str, Any]:
    # Generous limits: tests register, log in, join and send in bursts.
    return {
        "rc_message": _UNLIMITED,
        "rc_registration": _UNLIMITED,
        "rc_login": {"address": _UNLIMITED, "account": _UNLIMITED, "failed_attempts": _UNLIMITED},
        "rc_joins": {"local": _UNLIMITED, "remote": _UNLIMITED},
        "rc_joins_per_room": _UNLIMITED,
        "rc_invites": {"per_room": _UNLIMITED, "per_user": _UNLIMITED, "per_issuer": _UNLIMITED},
        "rc_admin_redaction": _UNLIMITED,
        "rc_federation": {
            "window_size": 1000,
            "sleep_limit": 1000,
            "sleep_delay": 0,
            "reject_limit": 10000,
            "concurrent": 100,
        },
    }


def build_homeserver_config(
    layout: HomeserverLayout,
    *,
    ca_cert_path: Path,
    registration_shared_secret: str,
    redaction_retention_period: str = DEFAULT_REDACTION_RETENTION,
    appservice_registrations: Sequence[Path] = (),
    extra_config: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Return the homeserver.yaml content for one sandbox server.

    No ``log_config``: Synapse then logs to stderr with a StreamHandler, which the sandbox
    redirects to ``homeserver.log``. The generated log config would buffer INFO lines for
    up to 5 s (docs/synapse-notes.md, Loopback federation in tests), and stderr also catches config
    errors printed before logging starts.
    """
    config: dict[str, Any] = {
        "server_name": layout.server_name,
        "pid_file": str(layout.directory / "homeserver.pid"),
        "report_stats": False,
        "listeners": [
            # Synapse always dials https for federation, so the server-name port is TLS.
            # Also on 127.0.0.1, where clients of the sandbox dial it.
            _listener(
                layout.tls_port,
                tls=True,
                names=["client", "federation"],
                hosts=("127.0.0.1", layout.host),
            ),
            # Plain client listener (serves /_synapse/admin too) for tests and the bridge.
            _listener(layout.client_port, tls=False, names=["client"]),
        ],
        "database": {
            "name": "sqlite3",
            "args": {"database": str(layout.data_dir / "homeserver.db")},
        },
        "media_store_path": str(layout.data_dir / "media_store"),
        "signing_key_path": str(layout.signing_key_path),
        "tls_certificate_path": str(layout.tls_cert_path),
        "tls_private_key_path": str(layout.tls_key_path),
        # Replaces the system trust store for federation; verification stays on.
        "federation_custom_ca_list": [str(ca_cert_path)],
        "federation_verify_certificates": True,
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "ip_range_blacklist": list(LOOPBACK_FRIENDLY_BLOCKLIST),
        "registration_shared_secret": registration_shared_secret,
        "macaroon_secret_key": secrets.token_hex(32),
        "form_secret": secrets.token_hex(32),
        "enable_registration": False,
        "presence": {"enabled": False},
        # Default 12 costs ~0.35 s per register/login (docs/synapse-notes.md, Loopback
        # federation in tests).
        "bcrypt_rounds": 4,
        "federation": dict(FAST_FEDERATION_RETRIES),
        # Remote servers keep redacted content this long before censoring it (docs/synapse-notes.md,
        # Redaction retention).
        "redaction_retention_period": redaction_retention_period,
        "app_service_config_files": [str(p) for p in appservice_registrations],
        **_rate_limits(),
    }
    config.update(extra_config or {})
    return config


def write_homeserver_config(layout: HomeserverLayout, config: Mapping[str, Any]) -> Path:
    """Write ``config`` as ``homeserver.yaml`` (JSON is valid YAML) and return its path."""
    layout.config_path.write_text(json.dumps(config, indent=2) + "\n")
    layout.config_path.chmod(0o600)
    return layout.config_path
