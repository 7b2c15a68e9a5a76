"""The operator's core commands: run, generate-registration, db upgrade."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from bridge.app import BridgeApp
from bridge.config import Config, ConfigError, load_config
from bridge.config.registration import generate_registration
from bridge.logs import setup_logging
from bridge.privacy.audit import AuditError
from bridge.storage.database import Database
from bridge.storage.pseudonym_keys import PseudonymKeyError
from bridge.storage.schema import SchemaOutdatedError

log = logging.getLogger(__name__)

EXIT_NOT_FOUND = 1
EXIT_CONFIG = 2
EXIT_SCHEMA = 3

T = TypeVar("T")


def register(sub: Any) -> None:
    run = sub.add_parser("run", help="run the bridge")
    run.add_argument("-c", "--config", default="config.yaml", type=Path)
    run.set_defaults(func=cmd_run)

    reg = sub.add_parser(
        "generate-registration", help="write the homeserver registration and store its tokens"
    )
    reg.add_argument("-c", "--config", default="config.yaml", type=Path)
    reg.add_argument("-r", "--registration", default="registration.yaml", type=Path)
    reg.set_defaults(func=cmd_generate_registration)

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="DB_COMMAND")
    upgrade = db_sub.add_parser("upgrade", help="apply the database migrations")
    upgrade.add_argument("-c", "--config", default="config.yaml", type=Path)
    upgrade.set_defaults(func=cmd_db_upgrade)


def load_or_exit(path: Path, *, allow_example_values: bool = False) -> Config | None:
    """Load the config, or print one clear line and return None (the caller exits 2)."""
    try:
        return load_config(path, allow_example_values=allow_example_values)
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)  # noqa: T201 - the CLI's own output
        return None


def run_on_database(
    config_path: Path,
    work: Callable[[Database], Awaitable[T]],
    *,
    refusals: tuple[type[Exception], ...] = (),
    refusal_exit: int = EXIT_NOT_FOUND,
    refusal_prefix: str = "",
) -> tuple[int, T | None]:
    """(0, what ``work`` returned), or (an exit code, None) after one line on stderr.

    The one way a CLI command opens the configured database, refuses an outdated schema,
    runs and closes it; ``refusals`` are the command's own "no such thing" or "bad
    input" errors, answered with ``refusal_exit``."""

    async def with_config(db: Database, _config: Config) -> T:
        return await work(db)

    return run_with_config(
        config_path,
        with_config,
        refusals=refusals,
        refusal_exit=refusal_exit,
        refusal_prefix=refusal_prefix,
    )


def run_with_config(
    config_path: Path,
    work: Callable[[Database, Config], Awaitable[T]],
    *,
    refusals: tuple[type[Exception], ...] = (),
    refusal_exit: int = EXIT_NOT_FOUND,
    refusal_prefix: str = "",
) -> tuple[int, T | None]:
    """:func:`run_on_database` for work that also reads the config (the erasure
    engine's settings, the retention promises, the contacts)."""
    config = load_or_exit(config_path, allow_example_values=True)
    if config is None:
        return EXIT_CONFIG, None

    async def go() -> T:
        db = Database.from_config(config)
        try:
            await db.require_current_schema()
            return await work(db, config)
        finally:
            await db.close()

    try:
        return 0, asyncio.run(go())
    except SchemaOutdatedError as e:
        print(f"database error: {e}", file=sys.stderr)  # noqa: T201 - the CLI's own output
        return EXIT_SCHEMA, None
    except PseudonymKeyError as e:  # no storage key in a tool's config, or a changed one
        print(f"config error: {e}", file=sys.stderr)  # noqa: T201 - the CLI's own output
        return EXIT_CONFIG, None
    except AuditError as e:
        # The audit log could not name a person for the same reason.
        if not isinstance(e.__cause__, PseudonymKeyError):
            raise
        print(f"config error: {e}", file=sys.stderr)  # noqa: T201 - the CLI's own output
        return EXIT_CONFIG, None
    except refusals as e:
        text = str(e.args[0]) if len(e.args) == 1 else str(e)
        print(refusal_prefix + text, file=sys.stderr)  # noqa: T201 - the CLI's own output
        return refusal_exit, None


def cmd_generate_registration(args: argparse.Namespace) -> int:
    config = load_or_exit(args.config, allow_example_values=True)
    if config is None:
        return EXIT_CONFIG
    try:
        generate_registration(args.config, config, args.registration)
    except OSError as e:
        print(f"cannot write {e.filename}: {e.strerror}", file=sys.stderr)  # noqa: T201
        return 1
    print(f"Wrote {args.registration}; new tokens stored in {args.config}.")  # noqa: T201
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    config = load_or_exit(args.config, allow_example_values=True)
    if config is None:
        return EXIT_CONFIG
    setup_logging(config.logging)

    async def upgrade() -> None:
        db = Database.from_config(config)
        try:
            await db.upgrade()
        finally:
            await db.close()

    asyncio.run(upgrade())
    print("Database is up to date.")  # noqa: T201
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    config = load_or_exit(args.config)
    if config is None:
        return EXIT_CONFIG
    setup_logging(config.logging)
    try:
        asyncio.run(_run(config))
    except SchemaOutdatedError as e:
        print(f"database error: {e}", file=sys.stderr)  # noqa: T201
        return EXIT_SCHEMA
    except PseudonymKeyError as e:
        print(f"config error: {e}", file=sys.stderr)  # noqa: T201
        return EXIT_CONFIG
    return 0


async def _run(config: Config) -> None:
    app = BridgeApp(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await app.start()
    except BaseException:
        await app.stop()
        raise
    log.info("Bridge running as %s", config.bot_mxid)
    await stop.wait()
    log.info("Shutting down")
    await app.stop()
