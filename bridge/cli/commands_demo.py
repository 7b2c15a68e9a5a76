"""``bridge demo``: the whole system on this machine, in one command.

Runs until Ctrl-C or SIGTERM and then stops every process it started. Exit codes: 0 after
a clean stop, 1 if start-up failed or a demo process died while running, 130 if stopped
during start-up.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from pathlib import Path
from typing import Any

from bridge.sandbox.demo import Demo, DemoOptions
from bridge.sandbox.demo_state import summary
from bridge.sandbox.processes import read_log_tail

log = logging.getLogger(__name__)

EXIT_FAILED = 1
EXIT_INTERRUPTED = 130
_WATCH_INTERVAL_S = 1.0


def register(sub: Any) -> None:
    demo = sub.add_parser(
        "demo",
        help="start a local demo: homeservers, simulated Rocket.Chat, the bridge, a bridged room",
        description="Start N Synapse homeservers federating over loopback TLS, a simulated "
        "Rocket.Chat and the bridge, with users and a bridged room; run until Ctrl-C.",
    )
    demo.add_argument(
        "--servers", type=_server_count, default=3, help="homeservers to start (default 3)"
    )
    demo.add_argument(
        "--state-file",
        type=Path,
        help="where to write endpoints and credentials as JSON "
        "(default: state.json in the demo's temporary directory)",
    )
    demo.add_argument(
        "--keep", action="store_true", help="keep the temporary data (and state file) after stop"
    )
    demo.set_defaults(func=cmd_demo)


def _server_count(value: str) -> int:
    count = int(value)
    if count < 1:
        raise argparse.ArgumentTypeError("at least one homeserver is needed")
    return count


def cmd_demo(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s"
    )
    # The migrations' step-by-step INFO lines are noise in the demo's terminal.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    options = DemoOptions(
        servers=args.servers,
        state_file=args.state_file.resolve() if args.state_file else None,
        keep=args.keep,
    )
    return asyncio.run(_demo(options))


async def _demo(options: DemoOptions) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    demo = Demo(options)
    _say(f"Starting the demo in {demo.root} (about 30 s)...")
    starting = asyncio.create_task(demo.start())
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if not starting.done():
        _say("Interrupted during start-up; stopping what was started...")
        starting.cancel()  # Demo.start stops everything it started before re-raising
        await asyncio.gather(starting, return_exceptions=True)
        await demo.stop()  # idempotent; covers a cancel before start() ever ran
        return EXIT_INTERRUPTED
    stopping.cancel()
    if (error := starting.exception()) is not None:
        _say(f"The demo failed to start: {error}")
        return EXIT_FAILED
    _say(summary(demo.state(), demo.state_file))
    code = await _watch(demo, stop)
    _say("Stopping the demo...")
    await demo.stop()
    _say("Demo stopped." if code == 0 else "Demo stopped after a failure.")
    return code


async def _watch(demo: Demo, stop: asyncio.Event) -> int:
    """Wait for a stop signal; end early, failing, if one of the demo's processes dies."""
    while True:
        try:
            await asyncio.wait_for(stop.wait(), _WATCH_INTERVAL_S)
        except TimeoutError:
            if dead := demo.exited():
                for name, path in dead:
                    _say(f"{name} stopped unexpectedly. Last lines of {path}:")
                    _say(read_log_tail(path, 20))
                return EXIT_FAILED
        else:
            return 0


def _say(text: str) -> None:
    print(text, flush=True)  # noqa: T201 - the demo talks to the developer at the terminal
