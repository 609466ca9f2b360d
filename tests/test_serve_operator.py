"""`fedgroup serve` tells the truth about each step: a real process, a timeout on every wait,
the exit status and the one line it prints.

"serving" is logged only once the socket is bound and the database open; every start-up
failure names what failed (the address, or the database with its password masked) instead
of hanging or blaming the wrong thing; the shutdown is logged.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from fedgroup import __version__

ROOT = Path(__file__).resolve().parent.parent
SERVE = [sys.executable, "-m", "fedgroup", "serve"]
TIMEOUT = 30.0
SERVING = re.compile(r"INFO fedgroup serving (\S+) on (\S+) \(database (\S+)\)$")


def clean_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEDGROUP_")}
    return {**env, "PYTHONUNBUFFERED": "1", **settings}


def refused_start(env: dict[str, str], *flags: str, cwd: Path = ROOT) -> tuple[int, str]:
    """Run a start-up that must fail: (exit status, its one line of stderr)."""
    result = subprocess.run(
        [*SERVE, *flags],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "serving" not in result.stderr
    return result.returncode, lines[0]


def get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
        return response.status, response.read()


class Serving:
    """A started server and the lines it has logged so far."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []

    def wait_for_line(self, pattern: re.Pattern[str], timeout: float = TIMEOUT) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        assert self.process.stderr is not None
        os.set_blocking(self.process.stderr.fileno(), False)
        while time.monotonic() < deadline:
            line = self.process.stderr.readline()
            if line:
                self.lines.append(line.rstrip("\n"))
                match = pattern.search(self.lines[-1])
                if match:
                    return match
                continue
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        seen = "\n".join(self.lines)
        raise AssertionError(f"no line matching {pattern.pattern!r}; got:\n{seen}")


@pytest.fixture
def start(tmp_path: Path):
    processes: list[subprocess.Popen[str]] = []

    def run(env: dict[str, str], *flags: str) -> Serving:
        process = subprocess.Popen(
            [*SERVE, *flags],
            env=env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        processes.append(process)
        return Serving(process)

    yield run
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


# -- the truth about serving ----------------------------------------------------------------


def test_serving_is_logged_once_it_is_true_with_the_real_port_and_the_stop(start, tmp_path):
    url = f"sqlite://{tmp_path}/fedgroup.sqlite3"
    server = start(clean_env(FEDGROUP_DATABASE_URL=url), "--port", "0")
    base_url, listening, database = server.wait_for_line(SERVING).groups()
    port = int(base_url.rsplit(":", 1)[1])
    assert port != 0
    assert base_url == listening == f"http://127.0.0.1:{port}"
    assert database == url
    status, body = get(f"{base_url}/healthz")  # no retry: it is true when logged
    assert status == 200 and b'"database": "ok"' in body
    subprocess.run(
        [sys.executable, str(ROOT / "admin_cli.py"), "group", "create", "jazz"],
        env=clean_env(FEDGROUP_DATABASE_URL=url),
        check=True,
        capture_output=True,
        timeout=TIMEOUT,
    )
    resource = f"acct:jazz@127.0.0.1:{port}"
    status, body = get(f"{base_url}/.well-known/webfinger?resource={resource}")
    assert status == 200 and f"{base_url}/groups/jazz".encode() in body

    server.process.send_signal(signal.SIGTERM)
    server.wait_for_line(re.compile(r"INFO fedgroup stopping on SIGTERM"))
    server.wait_for_line(re.compile(r"INFO fedgroup stopped$"))
    assert server.process.wait(timeout=TIMEOUT) == 0


def test_ctrl_c_stops_the_server_cleanly(start, tmp_path):
    url = f"sqlite://{tmp_path}/fedgroup.sqlite3"
    server = start(clean_env(FEDGROUP_DATABASE_URL=url), "--port", "0")
    server.wait_for_line(SERVING)
    server.process.send_signal(signal.SIGINT)
    server.wait_for_line(re.compile(r"INFO fedgroup stopping on SIGINT"))
    assert server.process.wait(timeout=TIMEOUT) == 0


def test_an_explicit_base_url_stays_with_port_0(start, tmp_path):
    url = f"sqlite://{tmp_path}/fedgroup.sqlite3"
    env = clean_env(FEDGROUP_DATABASE_URL=url, FEDGROUP_BASE_URL="https://groups.example")
    server = start(env, "--port", "0")
    base_url, listening, _ = server.wait_for_line(SERVING).groups()
    assert base_url == "https://groups.example"
    assert re.fullmatch(r"http://127\.0\.0\.1:[1-9]\d*", listening)


# -- failures name what failed -------------------------------------------------------------


def test_address_in_use(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = clean_env(FEDGROUP_DATABASE_URL=f"sqlite://{tmp_path}/db.sqlite3")
        code, line = refused_start(env, "--port", str(port))
    assert code == 1
    assert line == f"fedgroup: cannot listen on 127.0.0.1:{port}: Address already in use"


def test_database_in_an_unwritable_directory(unwritable_directory):
    url = f"sqlite://{unwritable_directory}/fedgroup.sqlite3"
    code, line = refused_start(clean_env(FEDGROUP_DATABASE_URL=url), "--port", "0")
    assert code == 69
    assert line.startswith(f"fedgroup: cannot open database {url}: "), line
    assert "not permitted" in line or "denied" in line, line


def test_database_path_under_a_regular_file(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    url = f"sqlite://{tmp_path}/notes.txt/fedgroup.sqlite3"
    code, line = refused_start(clean_env(FEDGROUP_DATABASE_URL=url), "--port", "0")
    assert code == 69
    assert line == f"fedgroup: cannot open database {url}: {tmp_path}/notes.txt is not a directory"


def test_postgresql_down_is_named_with_the_password_masked():
    env = clean_env(FEDGROUP_DATABASE_URL="postgres://fg:hunter2@127.0.0.1:1/fg")
    code, line = refused_start(env, "--port", "0")
    assert code == 69
    assert line.startswith("fedgroup: cannot open database postgres://fg:***@127.0.0.1:1/fg: ")
    assert "Connect call failed" in line, line
    assert "hunter2" not in line


def test_sqlite_url_without_a_file_is_a_setting_error():
    code, line = refused_start(clean_env(FEDGROUP_DATABASE_URL="sqlite://"))
    assert code == 78
    assert line == (
        "fedgroup: configuration error: FEDGROUP_DATABASE_URL: no file in 'sqlite://'; "
        "expected sqlite://PATH, e.g. sqlite://./data/fedgroup.sqlite3"
    )


def test_unknown_variable_is_refused(tmp_path):
    code, line = refused_start(clean_env(FEDGROUP_PROT="9000"), cwd=tmp_path)
    assert code == 78
    assert line == (
        "fedgroup: configuration error: unknown environment variable 'FEDGROUP_PROT'; "
        "did you mean FEDGROUP_PORT?"
    )
    assert not list(tmp_path.iterdir()), "a refused start creates nothing"


def test_version():
    result = subprocess.run(
        [sys.executable, "-m", "fedgroup", "--version"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0
    assert result.stdout == f"fedgroup {__version__}\n"


def test_sigterm_while_the_database_does_not_answer_stops_at_once():
    """A PostgreSQL address that accepts connections and never answers (a hung server, a
    firewall) holds start-up for a minute; SIGTERM must not wait for that."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # the kernel completes handshakes; nobody ever answers
        port = silent.getsockname()[1]
        env = clean_env(FEDGROUP_DATABASE_URL=f"postgres://fg:hunter2@127.0.0.1:{port}/fg")
        process = subprocess.Popen(
            [*SERVE, "--port", "0"],
            env=env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            silent.settimeout(TIMEOUT)
            connection, _ = silent.accept()  # fedgroup is waiting for the database now
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=TIMEOUT)
            connection.close()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert process.stderr is not None
        log = process.stderr.read()
    assert code == 0, log
    assert "serving" not in log
    last = log.strip().splitlines()[-1]
    assert last.endswith("INFO fedgroup stopped on SIGTERM during start-up"), log

