"""``bridge receiver -c receiver.yaml``: the reference erasure receiver (bridge/receiver)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import aiohttp

from bridge.config.load import ConfigError
from bridge.config.model import LoggingConfig
from bridge.logs import setup_logging
from bridge.receiver.config import load_receiver_config
from bridge.receiver.run import Receiver

EXIT_CONFIG = 2


def register(sub: Any) -> None:
    receiver = sub.add_parser(
        "receiver",
        help="answer erasure requests from partners with this homeserver's admin API",
        description="Run beside your homeserver: apply erasure requests sent by the "
        "configured peers (docs/erasure-protocol.md) and answer with what was done.",
    )
    receiver.add_argument("-c", "--config", default="receiver.yaml", type=Path)
    receiver.set_defaults(func=cmd_receiver)


def cmd_receiver(args: argparse.Namespace) -> int:
    try:
        config = load_receiver_config(args.config)
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)  # noqa: T201 - the CLI's own output
        return EXIT_CONFIG
    setup_logging(LoggingConfig())

    async def go() -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=90)) as session:
            await Receiver(config, session).run()

    try:
        asyncio.run(go())
    except KeyboardInterrupt:
        return 0
    return 0
