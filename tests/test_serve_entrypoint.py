"""`fedgroup serve` as an operator starts it: a child process configured only by FEDGROUP_*.

These tests go through the same entry point and settings loading as `make run`, so a broken
console script, a setting read differently at start-up, or a shutdown that hangs on SIGTERM
(as systemd sends it) fails here and not in production.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.fakes.process import free_port, wait_until_answering

REPO_ROOT = Path(__file__).resolve().parents[1]
ADMIN_CLI = REPO_ROOT / "admin_cli.py"
CONSOLE_SCRIPT = Path(sys.executable).parent / "fedgroup"
AS_JSON = "application/activity+json"
SHUTDOWN_WITHIN = 8.0


def _clean_env(**settings: str) -> dict[str, str]:
    """The test runner's environment without any FEDGROUP_* it might carry, plus ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEDGROUP_")}
    env.update(settings)
    return env


ENTRY_POINTS = {
    "python -m fedgroup": [sys.executable, "-m", "fedgroup"],
    "console script": [str(CONSOLE_SCRIPT)],
}


@pytest.fixture(params=list(ENTRY_POINTS))
def command(request: pytest.FixtureRequest) -> list[str]:
    if request.param == "console script" and not CONSOLE_SCRIPT.exists():
        pytest.fail(f"{CONSOLE_SCRIPT} missing: is the package installed in this venv?")
    return ENTRY_POINTS[request.param]


@pytest.fixture
async def server(
    tmp_path: Path, command: list[str]
) -> AsyncIterator[tuple[asyncio.subprocess.Process, dict[str, str], Path]]:
    """A running `fedgroup serve` in an empty working directory; always reaped."""
    port = free_port()
    env = _clean_env(
        FEDGROUP_PORT=str(port),
        FEDGROUP_DATABASE_URL=f"sqlite://{tmp_path}/x.sqlite3",
    )
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            *command, "serve", cwd=workdir, env=env,
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        await wait_until_answering(process, f"http://127.0.0.1:{port}/healthz")
        yield process, env, log_path
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_serve_answers_webfinger_and_actor_then_stops_on_sigterm(
    server: tuple[asyncio.subprocess.Process, dict[str, str], Path],
) -> None:
    process, env, log_path = server
    port = env["FEDGROUP_PORT"]
    created = await asyncio.create_subprocess_exec(
        sys.executable, str(ADMIN_CLI), "group", "create", "jazzpiano",
        "--display-name", "Jazz piano", cwd=log_path.parent, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(created.communicate(), 60)
    assert created.returncode == 0, (out, err)

    origin = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as session:
        resource = f"acct:jazzpiano@127.0.0.1:{port}"
        async with session.get(
            f"{origin}/.well-known/webfinger", params={"resource": resource}
        ) as resp:
            assert resp.status == 200
            jrd = await resp.json(content_type=None)
        href = next(link["href"] for link in jrd["links"] if link["rel"] == "self")
        assert href == f"{origin}/groups/jazzpiano"
        async with session.get(href, headers={"Accept": AS_JSON}) as resp:
            assert resp.status == 200
            assert resp.content_type == AS_JSON
            actor = await resp.json(content_type=None)
    assert actor["id"] == href
    assert actor["type"] == "Group"
    assert actor["name"] == "Jazz piano"
    assert actor["inbox"] == f"{href}/inbox"

    process.send_signal(signal.SIGTERM)
    code = await asyncio.wait_for(process.wait(), SHUTDOWN_WITHIN)
    log = log_path.read_text(errors="replace")
    assert code == 0, log
    assert "Traceback" not in log, log
    assert not os.listdir(log_path.parent / "cwd"), "nothing written to the working directory"


def test_bad_setting_fails_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(CONSOLE_SCRIPT), "serve"],
        cwd=tmp_path,
        env=_clean_env(FEDGROUP_PORT="abc"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "FEDGROUP_PORT" in lines[0]
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.iterdir()), "a refused start must not create files"


def test_bad_flag_fails_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fedgroup", "serve", "--base-url", "https://g.example/path"],
        cwd=tmp_path,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--base-url" in lines[0], result.stderr
