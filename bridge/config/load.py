"""Load ``config.yaml`` once into a frozen :class:`~bridge.config.model.Config`.

Every mistake becomes a :class:`ConfigError` naming the dotted key, so the CLI can print
one clear line and exit 2 instead of a traceback.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from bridge.config.model import PLACEHOLDER_TOKEN, SECRET_KEYS, Config
from bridge.config.signing_key import CheckpointError, load_signing_key

T = TypeVar("T")

_EXAMPLE_DOMAIN = re.compile(r"(^|[./@:])example\.(com|org|net)($|[/:])")


class ConfigError(Exception):
    """A config mistake, with the dotted key it concerns."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key
        self.message = message


def load_config(
    path: Path | str,
    *,
    environ: Mapping[str, str] | None = None,
    allow_example_values: bool = False,
) -> Config:
    """Read, validate and freeze the config at ``path``.

    ``allow_example_values`` is for ``generate-registration``, which runs on a config whose
    tokens are still placeholders (it is what fills them in).
    """
    raw = read_yaml(Path(path))
    env = os.environ if environ is None else environ
    config = _convert(Config, raw, "", env)
    if not allow_example_values:
        refuse_example_values(config)
    _check_semantics(config)
    # generate-registration is what fills the key in, so only a config to run needs it.
    _check_storage(config, require_key=not allow_example_values)
    return config


def read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("", f"config file {path} does not exist") from None
    except OSError as e:
        raise ConfigError("", f"cannot read config file {path}: {e.strerror}") from None
    try:
        data = YAML(typ="safe").load(text)
    except YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or "invalid YAML"
        raise ConfigError("", f"{path} is not valid YAML{where}: {problem}") from None
    if not isinstance(data, dict):
        raise ConfigError("", f"{path} must contain a mapping of sections, not {_kind(data)}")
    return data


def refuse_example_values(config: Config) -> None:
    """Refuse values copied unchanged from ``config.example.yaml``."""
    for key, value in _walk(config, ""):
        if not isinstance(value, str):
            continue
        if value == "CHANGE ME":
            raise ConfigError(key, "still has the example value; set your own")
        if value == PLACEHOLDER_TOKEN:
            raise ConfigError(
                key, "still has the example placeholder; run `bridge generate-registration` first"
            )
        if _EXAMPLE_DOMAIN.search(value):
            raise ConfigError(key, f"still has the example value {value!r}; set your own")


def _check_semantics(config: Config) -> None:
    appservice = config.appservice
    if "{username}" not in appservice.ghost_localpart_template:
        raise ConfigError("appservice.ghost_localpart_template", "must contain {username}")
    if "{room}" not in appservice.alias_localpart_template:
        raise ConfigError("appservice.alias_localpart_template", "must contain {room}")
    if not 0 < appservice.port < 65536:
        raise ConfigError("appservice.port", f"must be between 1 and 65535, got {appservice.port}")
    for key, url in (
        ("homeserver.address", config.homeserver.address),
        ("appservice.address", appservice.address),
        ("rocketchat.url", config.rocketchat.url),
    ):
        if not url.startswith(("http://", "https://")):
            raise ConfigError(key, f"must be an http:// or https:// URL, got {url!r}")
    if not config.database.url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        raise ConfigError(
            "database.url", "must start with sqlite+aiosqlite:// or postgresql+asyncpg://"
        )
    if not 16 <= len(config.privacy.hash_key.encode()) <= 64:
        raise ConfigError("privacy.hash_key", "must be 16 to 64 bytes long")
    _check_limits(config)
    _check_rocketchat(config)
    _check_web(config)
    _check_metrics(config)
    _check_audit(config)


def _check_limits(config: Config) -> None:
    for key, number in (
        ("privacy.ledger_retention_days", config.privacy.ledger_retention_days),
        ("privacy.pseudonym_retention_days", config.privacy.pseudonym_retention_days),
        ("privacy.retention_poll_seconds", config.privacy.retention_poll_seconds),
        ("privacy.command_rate_per_minute", config.privacy.command_rate_per_minute),
        ("bridge.max_media_bytes", config.bridge.max_media_bytes),
        ("bridge.max_body_chars", config.bridge.max_body_chars),
        ("appservice.max_transaction_bytes", config.appservice.max_transaction_bytes),
        ("outbox.max_attempts", config.outbox.max_attempts),
        ("outbox.max_age_hours", config.outbox.max_age_hours),
    ):
        if number < 1:
            raise ConfigError(key, f"must be at least 1, got {number}")


def _check_rocketchat(config: Config) -> None:
    rc = config.rocketchat
    if rc.intake == "webhook" and (rc.webhook_token is None or len(rc.webhook_token) < 24):
        raise ConfigError(
            "rocketchat.webhook_token",
            "is required when rocketchat.intake is webhook (at least 24 random characters)",
        )
    if not 1 <= rc.webhook_catchup_seconds <= 3600:
        raise ConfigError("rocketchat.webhook_catchup_seconds", "must be between 1 and 3600")
    if not 1 <= rc.people_check_seconds <= 86400:
        raise ConfigError("rocketchat.people_check_seconds", "must be between 1 and 86400")
    if (rc.user_id is None) != (rc.auth_token is None):
        raise ConfigError("rocketchat.auth_token", "user_id and auth_token must be given together")
    if (rc.username is None) != (rc.password is None):
        raise ConfigError("rocketchat.password", "username and password must be given together")
    if rc.user_id is None and rc.username is None:
        raise ConfigError("rocketchat", "needs user_id and auth_token, or username and password")


# Paths the bridge's own routes use; the dashboard must not shadow them.
_RESERVED_PATHS = ("/_matrix", "/_bridge", "/metrics")


def _check_web(config: Config) -> None:
    web = config.web
    if not 1 <= web.session_minutes <= 10_080:
        raise ConfigError("web.session_minutes", "must be between 1 and 10080 (a week)")
    if not re.fullmatch(r"(/[A-Za-z0-9._~-]+)+", web.path):
        raise ConfigError(
            "web.path", f"must look like /admin (no trailing slash), got {web.path!r}"
        )
    if any(web.path == p or web.path.startswith(p + "/") for p in _RESERVED_PATHS):
        raise ConfigError("web.path", f"{web.path!r} is used by the bridge itself")
    for key, secret in (
        ("web.admin_token", web.admin_token),
        ("web.session_secret", web.session_secret),
    ):
        if secret is not None and len(secret) < 24:
            raise ConfigError(key, "must be at least 24 characters (generate a random one)")
    for server, url in web.openid_servers.items():
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"web.openid_servers.{server}", "must be an http:// or https:// URL")
    for i, proxy in enumerate(web.trusted_proxies):
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise ConfigError(
                f"web.trusted_proxies[{i}]", f"must be an IP address or network, got {proxy!r}"
            ) from None
    admins = config.privacy.admins if web.admins is None else web.admins
    if web.enabled and web.admin_token is None and not any(a.startswith("@") for a in admins):
        raise ConfigError(
            "web.admin_token",
            "the dashboard needs an admin_token, or Matrix admins (web.admins or privacy.admins)",
        )


def _check_audit(config: Config) -> None:
    audit = config.audit
    if (audit.signing_key is None) != (audit.checkpoint_file is None):
        missing = "signing_key" if audit.signing_key is None else "checkpoint_file"
        raise ConfigError(
            f"audit.{missing}", "is needed too: checkpoints need both a key and a file"
        )
    if audit.signing_key is not None:
        try:
            load_signing_key(audit.signing_key)
        except CheckpointError as e:
            raise ConfigError("audit.signing_key", str(e)) from None
    if audit.checkpoint_file is not None and not Path(audit.checkpoint_file).parent.is_dir():
        raise ConfigError("audit.checkpoint_file", "its folder does not exist")
    if not 1 <= audit.checkpoint_interval_minutes <= 1440:
        raise ConfigError(
            "audit.checkpoint_interval_minutes",
            f"must be between 1 and 1440 (a day), got {audit.checkpoint_interval_minutes}",
        )


def _check_storage(config: Config, *, require_key: bool) -> None:
    storage = config.storage
    # Secure by default: without a key the bridge would have to store its shadow users'
    # Rocket.Chat session tokens in plain text, so it does not start at all.
    if storage.encryption_key is None and require_key:
        raise ConfigError(
            "storage.encryption_key",
            "is missing; run `bridge generate-registration`, or set it (or "
            "encryption_key_path / BRIDGE_STORAGE_ENCRYPTION_KEY) to 32+ random characters",
        )
    if storage.encryption_key is not None and len(storage.encryption_key) < 32:
        raise ConfigError(
            "storage.encryption_key", "must be at least 32 characters (generate a random one)"
        )
    if storage.done_retention_hours < 1:
        raise ConfigError(
            "storage.done_retention_hours",
            f"must be at least 1, got {storage.done_retention_hours}",
        )
    if not 1 <= storage.prune_interval_minutes <= 1440:
        raise ConfigError(
            "storage.prune_interval_minutes",
            f"must be between 1 and 1440 (a day), got {storage.prune_interval_minutes}",
        )


def _check_metrics(config: Config) -> None:
    metrics = config.metrics
    token = metrics.bearer_token
    if token is not None and len(token) < 24:
        raise ConfigError(
            "metrics.bearer_token", "must be at least 24 characters (generate a random one)"
        )
    if metrics.port is None:
        return
    if not 0 < metrics.port < 65536:
        raise ConfigError("metrics.port", f"must be between 1 and 65535, got {metrics.port}")
    if metrics.port == config.appservice.port and metrics.hostname == config.appservice.hostname:
        raise ConfigError("metrics.port", "must differ from appservice.port")
    if token is None and not _is_loopback(metrics.hostname):
        # The metrics name every recipient server and its volumes.
        raise ConfigError(
            "metrics.bearer_token", "is required when metrics.hostname is not a loopback address"
        )


def _is_loopback(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def _walk(value: object, prefix: str) -> typing.Iterator[tuple[str, object]]:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _walk(getattr(value, f.name), _join(prefix, f.name))
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, _join(prefix, str(k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, f"{prefix}[{i}]")
    else:
        yield prefix, value


def _convert(cls: type[T], data: Any, prefix: str, env: Mapping[str, str]) -> T:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(prefix, f"must be a mapping, not {_kind(data)}")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    data = dict(data)
    _resolve_secrets(data, fields, prefix, env)
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(_join(prefix, str(unknown[0])), "unknown key")
    values: dict[str, Any] = {}
    for name, f in fields.items():
        key = _join(prefix, name)
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(key, "is missing")
            continue
        values[name] = _convert_value(hints[name], data[name], key, env)
    return cls(**values)


def _resolve_secrets(
    data: dict[str, Any], fields: Mapping[str, object], prefix: str, env: Mapping[str, str]
) -> None:
    """Apply ``<key>_path`` files and ``BRIDGE_<SECTION>_<KEY>`` variables to secret keys."""
    for name in fields:
        if name not in SECRET_KEYS:
            continue
        key = _join(prefix, name)
        path_value = data.pop(f"{name}_path", None)
        if path_value is not None:
            if not isinstance(path_value, str):
                raise ConfigError(f"{key}_path", "must be a file path")
            try:
                data[name] = Path(path_value).read_text(encoding="utf-8").strip()
            except OSError as e:
                raise ConfigError(
                    f"{key}_path", f"cannot read {path_value}: {e.strerror}"
                ) from None
        env_name = "BRIDGE_" + key.replace(".", "_").upper()
        if env.get(env_name):
            data[name] = env[env_name]


def _convert_value(hint: Any, value: Any, key: str, env: Mapping[str, str]) -> Any:
    origin = get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        options = [a for a in get_args(hint) if a is not type(None)]
        if value is None:
            if len(options) == len(get_args(hint)):
                raise ConfigError(key, "must not be empty")
            return None
        return _convert_value(options[0], value, key, env)
    if origin is Literal:
        allowed = get_args(hint)
        if value not in allowed:
            choices = ", ".join(repr(a) for a in allowed)
            raise ConfigError(key, f"must be one of {choices}, got {value!r}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(key, f"must be a list, not {_kind(value)}")
        (item,) = get_args(hint)
        return [_convert_value(item, v, f"{key}[{i}]", env) for i, v in enumerate(value)]
    if origin is dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ConfigError(key, f"must be a mapping, not {_kind(value)}")
        _, item = get_args(hint)
        return {str(k): _convert_value(item, v, _join(key, str(k)), env) for k, v in value.items()}
    if dataclasses.is_dataclass(hint):
        return _convert(hint, value, key, env)  # type: ignore[arg-type]
    return _scalar(hint, value, key)


def _scalar(hint: Any, value: Any, key: str) -> Any:
    # bool is an int subclass in Python, and YAML reads "yes" as a str: check exactly.
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(key, f"must be true or false, not {_kind(value)}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(key, f"must be an integer, not {_kind(value)}")
    if hint is str:
        if value is None:
            raise ConfigError(key, "must not be empty")
        if isinstance(value, str):
            if not value.strip():
                raise ConfigError(key, "must not be empty")
            return value
        raise ConfigError(key, f"must be a string, not {_kind(value)}")
    raise TypeError(f"unsupported config type {hint!r} at {key}")  # a bug in model.py


def _kind(value: object) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name
