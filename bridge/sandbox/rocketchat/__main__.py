"""``python -m bridge.sandbox.rocketchat --host 127.0.0.1 --port N [--snapshot FILE]``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from pathlib import Path

from bridge.sandbox.rocketchat.app import SimConfig, SimulatorServer


def parse_args(argv: list[str] | None = None) -> SimConfig:
    parser = argparse.ArgumentParser(description="Simulated Rocket.Chat server (tests and demo)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument(
        "--snapshot", type=Path, help="JSON state file, loaded at start, saved at stop"
    )
    parser.add_argument("--admin-user", default="admin")
    parser.add_argument("--admin-password", default="admin-pass")
    parser.add_argument("--bot-user", default="bridge.bot")
    parser.add_argument("--bot-password", default="bot-pass")
    parser.add_argument(
        "--bot-token",
        default="bot-personal-access-token",
        help="personal access token seeded for the bot user",
    )
    parser.add_argument("--ping-interval", type=float, default=15.0)
    parser.add_argument("--no-rate-limit", action="store_true")
    parser.add_argument(
        "--retention-interval",
        type=float,
        default=1800.0,
        help="seconds between runs of the retention-policy job (0: never)",
    )
    args = parser.parse_args(argv)
    return SimConfig(
        host=args.host,
        port=args.port,
        snapshot=args.snapshot,
        admin_username=args.admin_user,
        admin_password=args.admin_password,
        bot_username=args.bot_user,
        bot_password=args.bot_password,
        bot_token=args.bot_token,
        ping_interval=args.ping_interval,
        rate_limit=not args.no_rate_limit,
        retention_interval=args.retention_interval,
    )


async def serve(config: SimConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with SimulatorServer(config) as server:
        print(f"Rocket.Chat simulator on {server.url} (bot id {server.bot.id})", flush=True)  # noqa: T201
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    main()
