"""The container image, as far as it can be checked without a container engine.

No container engine runs where this project is tested, so the image is never built here.
These tests read the Dockerfile and run what it states (ENTRYPOINT + CMD, USER, WORKDIR,
HEALTHCHECK) in a fresh virtualenv holding a ``pip install`` of this checkout, as an
unprivileged user, on an empty data folder, against a real Synapse and the Rocket.Chat
simulator (docs/operations.md, "Container").
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import aiohttp
import pytest
import pytest_asyncio
from ruamel.yaml import YAML

from bridge.sandbox.appservice import AppserviceRegistration
from bridge.sandbox.homeservers import HomeserverCluster
from bridge.sandbox.rocketchat.app import SimConfig, SimulatorServer
from tests.fixtures.bridge_config import write_config
from tests.fixtures.bridge_process import free_port

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
USER = "bridge-entrypoint-test"
IMAGE_PORT = 29330  # EXPOSE and the health check's port; the test's bridge listens elsewhere


@dataclass(frozen=True)
class Image:
    entrypoint: list[str]
    cmd: list[str]
    user: str
    workdir: str
    healthcheck: list[str]
    expose: list[int]
    copies: dict[str, str]  # destination -> source


def parse_dockerfile(text: str) -> Image:
    """The final stage's instructions (exec-form JSON arrays only, as the image uses)."""
    joined = re.sub(r"\\\n", " ", text)
    fields: dict[str, str] = {}
    copies: dict[str, str] = {}
    workdir = "/"
    expose: list[int] = []
    for raw in joined.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "COPY":
            *sources, dest = rest.split()
            for source in sources:
                copies[dest] = source
        elif keyword == "WORKDIR":
            workdir = rest.strip()
        elif keyword == "EXPOSE":
            expose += [int(p.split("/")[0]) for p in rest.split()]
        else:
            fields[keyword] = rest.strip()
    check = fields.get("HEALTHCHECK", "")
    _, _, check_cmd = check.partition(" CMD ")
    return Image(
        entrypoint=json.loads(fields["ENTRYPOINT"]),
        cmd=json.loads(fields["CMD"]),
        user=fields.get("USER", "root"),
        workdir=workdir,
        healthcheck=json.loads(check_cmd) if check_cmd else [],
        expose=expose,
        copies=copies,
    )


IMAGE = parse_dockerfile(DOCKERFILE.read_text())


def _example_port() -> int:
    return int(YAML().load((ROOT / "config.example.yaml").read_text())["appservice"]["port"])


def test_the_image_runs_as_non_root_and_checks_readiness() -> None:
    assert IMAGE.user not in ("root", "0") and not IMAGE.user.startswith("0:")
    assert IMAGE.workdir == "/data"
    assert any("/_bridge/health/ready" in part for part in IMAGE.healthcheck)
    assert not any("/_bridge/health/live" in part for part in IMAGE.healthcheck)
    assert IMAGE.expose == [_example_port()] == [IMAGE_PORT]
    assert any(f":{IMAGE_PORT}/" in part for part in IMAGE.healthcheck)


def test_the_default_command_runs_through_the_entrypoint_script() -> None:
    (entry,) = IMAGE.entrypoint
    assert IMAGE.cmd == ["run"]
    installed = [dest for dest in IMAGE.copies if Path(dest).name == entry]
    assert installed == [f"/usr/local/bin/{entry}"], IMAGE.copies
    assert IMAGE.copies[installed[0]] == "scripts/docker-entrypoint.sh"


def _entrypoint_script() -> Path:
    (entry,) = IMAGE.entrypoint
    return ROOT / IMAGE.copies[f"/usr/local/bin/{entry}"]


def test_without_a_config_the_entrypoint_says_so_and_stops(tmp_path: Path) -> None:
    for argv in (IMAGE.cmd, ["generate-registration"]):
        result = subprocess.run(
            ["sh", str(_entrypoint_script()), *argv],
            check=False,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env={"PATH": "/usr/bin:/bin"},
            timeout=30,
        )
        assert result.returncode == 2, result
        assert "config.yaml" in result.stderr and "generate-registration" in result.stderr
        assert list(tmp_path.iterdir()) == []


# -- the real run -----------------------------------------------------------------------


@dataclass(frozen=True)
class Unprivileged:
    uid: int
    gid: int


@pytest.fixture(scope="module")
def unprivileged() -> Unprivileged:
    if os.geteuid() != 0:
        pytest.skip("switching to an unprivileged user needs root (CI runs as root)")
    try:
        entry = pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER],
            check=True,
        )
        entry = pwd.getpwnam(USER)
    assert entry.pw_uid != 0
    return Unprivileged(entry.pw_uid, entry.pw_gid)


def _base_python(user: Unprivileged) -> str:
    """An interpreter the unprivileged user can run (a pyenv under /root is not one)."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [os.path.realpath(getattr(sys, "_base_executable", sys.executable))]
    candidates += [p for p in (shutil.which(version, path="/usr/local/bin:/usr/bin"),) if p]
    for candidate in candidates:
        try:
            probe = subprocess.run(
                [candidate, "-c", "pass"],
                check=False,
                capture_output=True,
                timeout=30,
                user=user.uid,
                group=user.gid,
                extra_groups=[],
            )
        except PermissionError:
            continue
        if probe.returncode == 0:
            return candidate
    raise AssertionError(f"no {version} the unprivileged user can run among {candidates}")


def _site_packages() -> str:
    return next(p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir())


@pytest.fixture(scope="module")
def image_root(unprivileged: Unprivileged) -> Iterator[Path]:
    """A fresh virtualenv with this checkout pip-installed, and the entrypoint on its PATH.

    Dependencies come from the test environment's site-packages (a .pth line), so only
    the bridge itself is installed: what the image's ``pip install .`` puts in place.
    """
    root = Path(tempfile.mkdtemp(prefix="bridge-image-"))
    root.chmod(0o755)
    try:
        venv = root / "venv"
        subprocess.run([_base_python(unprivileged), "-m", "venv", str(venv)], check=True)
        site = next((venv / "lib").glob("python3*/site-packages"))
        (site / "test-deps.pth").write_text(_site_packages() + "\n")
        build = root / "src"
        shutil.copytree(
            ROOT,
            build,
            ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", "*.egg-info", "build"),
        )
        subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", str(build)],
            check=True,
            timeout=240,
        )
        shutil.rmtree(build)
        (entry,) = IMAGE.entrypoint
        shutil.copy(_entrypoint_script(), venv / "bin" / entry)
        (venv / "bin" / entry).chmod(0o755)
        yield venv / "bin"
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _volume(user: Unprivileged) -> Path:
    data = Path(tempfile.mkdtemp(prefix="bridge-data-"))
    os.chown(data, user.uid, user.gid)
    return data


def _run_as(
    user: Unprivileged, bin_dir: Path, data: Path, argv: list[str]
) -> subprocess.CompletedProcess[str]:
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(data)}
    return subprocess.run(
        argv,
        check=False,
        cwd=data,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        user=user.uid,
        group=user.gid,
        extra_groups=[],
    )


def _place_config(data: Path, user: Unprivileged, text: str) -> None:
    config = data / "config.yaml"
    config.write_text(text)
    os.chown(config, user.uid, user.gid)
    config.chmod(0o600)


def test_generate_registration_on_a_volume_holding_only_a_config(
    unprivileged: Unprivileged, image_root: Path
) -> None:
    data = _volume(unprivileged)
    try:
        example = (ROOT / "config.example.yaml").read_text()
        _place_config(data, unprivileged, example)
        (entry,) = IMAGE.entrypoint
        result = _run_as(unprivileged, image_root, data, [entry, "generate-registration"])
        assert result.returncode == 0, result.stdout + result.stderr
        registration = YAML().load((data / "registration.yaml").read_text())
        config = YAML().load((data / "config.yaml").read_text())
        assert registration["as_token"] == config["appservice"]["as_token"]
        assert "generated" not in config["storage"]["encryption_key"]
        assert (data / "registration.yaml").stat().st_uid == unprivileged.uid
    finally:
        shutil.rmtree(data, ignore_errors=True)


@pytest_asyncio.fixture(loop_scope="session")
async def simulator() -> AsyncIterator[SimulatorServer]:
    sim = SimulatorServer(SimConfig(ping_interval=0.5, rate_limit=False))
    await sim.start()
    sim.state.add_user("bridgebot", "bridgebot-password", ["admin", "bot"])
    try:
        yield sim
    finally:
        await sim.stop()


def _run_config(
    tmp: Path, homeservers: HomeserverCluster, reg: AppserviceRegistration, rc_url: str, port: int
) -> str:
    """The session's appservice identity, its own port, and the image's default database
    (a relative SQLite path, so it lands in the working directory: the volume)."""
    hs0 = homeservers.homeserver(0)
    path = write_config(
        tmp / "config.yaml",
        homeserver={"address": hs0.client_url, "domain": hs0.server_name},
        appservice={
            "address": f"http://127.0.0.1:{port}",
            "port": port,
            "id": reg.id,
            "bot_username": reg.sender_localpart,
            "as_token": reg.as_token,
            "hs_token": reg.hs_token,
            "ghost_localpart_template": reg.user_prefix + "{username}",
            "alias_localpart_template": reg.user_prefix + "room_{room}",
        },
        rocketchat={"url": rc_url, "username": "bridgebot", "password": "bridgebot-password"},
        database={"url": "sqlite+aiosqlite:///bridge.db"},
    )
    return path.read_text()


async def _wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    async with aiohttp.ClientSession() as session:
        while loop.time() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"exited {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                async with session.get(f"{url}/_bridge/health/ready") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError(f"not ready after 60 s:\n{log.read_text()[-3000:]}")


@pytest.mark.integration
@pytest.mark.asyncio(loop_scope="session")
async def test_the_default_command_upgrades_and_runs_on_an_empty_volume(
    unprivileged: Unprivileged,
    image_root: Path,
    homeservers: HomeserverCluster,
    sandbox_appservice: AppserviceRegistration,
    simulator: SimulatorServer,
    tmp_path: Path,
) -> None:
    port = free_port()
    assert urlparse(sandbox_appservice.url).port != port  # the session's bridge keeps its own
    data = _volume(unprivileged)
    log = tmp_path / "image.log"
    try:
        config = _run_config(tmp_path, homeservers, sandbox_appservice, simulator.url, port)
        _place_config(data, unprivileged, config)
        env = {"PATH": f"{image_root}:/usr/bin:/bin", "HOME": str(data)}
        with log.open("wb") as out:
            proc = subprocess.Popen(  # noqa: ASYNC220 - a long-lived child, stopped below
                IMAGE.entrypoint + IMAGE.cmd,
                cwd=data,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                user=unprivileged.uid,
                group=unprivileged.gid,
                extra_groups=[],
            )
        try:
            await _wait_ready(proc, f"http://127.0.0.1:{port}", log)
            # The image's own health check, pointed at this bridge's port.
            check = [part.replace(f":{IMAGE_PORT}/", f":{port}/") for part in IMAGE.healthcheck]
            result = await asyncio.to_thread(_run_as, unprivileged, image_root, data, check)
            assert result.returncode == 0, result.stderr
            database = data / "bridge.db"
            assert database.is_file() and database.stat().st_uid == unprivileged.uid
            assert "Database is up to date." in log.read_text()
            # `exec bridge run`: the entrypoint's process became the bridge, so a stop
            # signal from the container engine reaches it and it exits cleanly.
            proc.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(proc.wait, 30)
            assert code == 0, log.read_text()[-3000:]
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    finally:
        shutil.rmtree(data, ignore_errors=True)


def test_the_compose_example_says_it_is_unverified_and_uses_postgres() -> None:
    text = (ROOT / "docker-compose.example.yml").read_text()
    assert "NOT VERIFIED" in text
    services = YAML().load(text)["services"]
    assert services["bridge"]["build"] == "."
    assert services["postgres"]["image"].startswith("postgres:")
    assert "postgresql+asyncpg://" in text
