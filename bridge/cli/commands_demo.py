"""``bridge demo``: the whole system on this machine, in one command.

Runs until Ctrl-C or SIGTERM and then stops every process it started. It supervises the
bridge: when the bridge dies, the demo says so and starts it again, and the bridge resumes
from its database; only a dying homeserver or simulator ends the demo. ``--tour`` walks
through the story step by step (``bridge.sandbox.demo_tour``). Exit codes: 0 after a clean
stop, 1 if start-up failed or a homeserver or the simulator died, 130 if stopped during
start-up.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import signal
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from bridge.pipeline.waits import wait_set
from bridge.sandbox.demo import Demo, DemoOptions
from bridge.sandbox.demo_process import DemoStartError
from bridge.sandbox.demo_state import summary
from bridge.sandbox.demo_tour import Tour, TourError
from bridge.sandbox.processes import read_log_tail

log = logging.getLogger(__name__)

EXIT_FAILED = 1
EXIT_INTERRUPTED = 130
_WATCH_INTERVAL_S = 1.0
# A bridge that dies again this soon after a restart waits longer before the next one
# (2, 4, … 30 s), so a bridge that cannot start does not spin.
_CRASH_LOOP_S = 30.0
_MAX_BACKOFF_S = 30.0


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
    demo.add_argument(
        "--retention-minutes",
        type=_minutes,
        metavar="MINUTES",
        help="give #general-bridge a retention policy of its own (Rocket.Chat's "
        "rooms.saveRoomSettings): its messages are redacted on every homeserver this "
        "long after they were sent (default: no policy)",
    )
    demo.add_argument(
        "--tour",
        action="store_true",
        help="walk through the story in the terminal, pausing at each step (Enter)",
    )
    demo.add_argument(
        "--yes", action="store_true", help="with --tour: do not pause, run every step"
    )
    demo.set_defaults(func=cmd_demo)


def _server_count(value: str) -> int:
    count = int(value)
    if count < 1:
        raise argparse.ArgumentTypeError("at least one homeserver is needed")
    return count


def _minutes(value: str) -> float:
    try:
        minutes = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of minutes: {value!r}") from None
    if not 0 < minutes < math.inf:
        raise argparse.ArgumentTypeError("must be more than 0 minutes")
    return minutes


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
        retention_minutes=args.retention_minutes,
    )
    return asyncio.run(_demo(options, tour=args.tour, pause=not args.yes))


async def _demo(options: DemoOptions, *, tour: bool = False, pause: bool = True) -> int:
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
    touring = asyncio.create_task(_tour(demo, pause)) if tour else None
    code = await _watch(demo, stop)
    if touring is not None and not touring.done():
        touring.cancel()
        await asyncio.gather(touring, return_exceptions=True)
    _say("Stopping the demo...")
    await demo.stop()
    _say("Demo stopped." if code == 0 else "Demo stopped after a failure.")
    return code


async def _watch(demo: Demo, stop: asyncio.Event) -> int:
    """Wait for a stop signal, restarting the bridge whenever it dies; end early, failing,
    if a homeserver or the simulator dies."""
    restarts = 0
    last_restart = float("-inf")
    while True:
        if await _stopped(stop, _WATCH_INTERVAL_S):
            return 0
        if dead := demo.exited():
            for name, path in dead:
                _say(f"{name} stopped unexpectedly. Last lines of {path}:")
                _say(read_log_tail(path, 20))
            return EXIT_FAILED
        if not demo.bridge_died():
            continue
        _say(
            f"The bridge (pid {demo.bridge.pid}) stopped unexpectedly "
            f"(exit code {demo.bridge.returncode}). Last lines of {demo.bridge.log_path}:"
        )
        _say(read_log_tail(demo.bridge.log_path, 10))
        restarts = restarts + 1 if time.monotonic() - last_restart < _CRASH_LOOP_S else 0
        delay = min(_MAX_BACKOFF_S, 2.0**restarts) if restarts else 0.0
        _say(f"Restarting the bridge{f' in {delay:.0f} s' if delay else ''}...")
        if await _stopped(stop, delay):
            return 0
        last_restart = time.monotonic()
        try:
            pid = await demo.restart_bridge()
        except DemoStartError as e:
            _say(f"The bridge did not come back: {e}")
            continue
        _say(f"The bridge is running again (pid {pid}); it resumes from its database.")


async def _stopped(stop: asyncio.Event, seconds: float) -> bool:
    return await wait_set(stop, seconds)


async def _tour(demo: Demo, pause: bool) -> None:
    async def wait_for_enter() -> None:
        if pause:
            _say("(Enter to continue)")
            await asyncio.to_thread(sys.stdin.readline)

    try:
        await Tour(demo.state(), _say, wait_for_enter).run()
    except (TourError, aiohttp.ClientError, TimeoutError, OSError) as e:
        _say(f"The tour stopped: {e}. The demo keeps running until Ctrl-C.")


def _say(text: str) -> None:
    print(text, flush=True)  # noqa: T201 - the demo talks to the developer at the terminal
