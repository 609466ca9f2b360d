"""The admin CLI as an operator meets it in the first hour: real processes, each with a
timeout, asserting the exit status and the one line it prints.

A hang is the worst thing a CLI can do, so every run here is bounded and a run that does not
end in time fails the test with what the process printed so far.
"""

from __future__ import annotations

import ctypes
import json
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fedgroup import __version__
from tests.fakes import FakeInstance
from tests.fakes.process import AdminCli
from tests.fakes.sender import post_signed
from tests.fakes.server import FedgroupServer
from tests.fakes.verify import verify_signed_post
from tests.test_cli_deliveries import seed as seed_deliveries

ROOT = Path(__file__).resolve().parent.parent
ADMIN = [sys.executable, str(ROOT / "admin_cli.py")]
TIMEOUT = 30.0
# A hang is forever; this only has to outlast a loaded machine closing a database.
EXIT_AFTER_CTRL_C = 30.0


def run_admin(env: dict[str, str], *argv: str, timeout: float = TIMEOUT, cwd: Path = ROOT):
    result = subprocess.run(
        [*ADMIN, *argv],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def _read_until(fd: int, marker: bytes, deadline: float) -> bytes:
    seen = b""
    while marker not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"never saw {marker!r}; got {seen!r}")
        readable, _, _ = select.select([fd], [], [], left)
        if readable:
            chunk = os.read(fd, 4096)
            if not chunk:
                raise AssertionError(f"stream closed before {marker!r}; got {seen!r}")
            seen += chunk
    return seen


# -- Ctrl-C at the confirmation prompt ----------------------------------------------------


def _to_another_thread(pid: int) -> None:
    """SIGINT to one of the process's threads other than its main one (tgkill): the kernel
    may hand a process's Ctrl-C to any thread that does not block it, and under load it
    sometimes picked the database's idle thread."""
    others = sorted(int(tid) for tid in os.listdir(f"/proc/{pid}/task") if int(tid) != pid)
    assert others, "the CLI runs its database in a thread of its own"
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(_SYS_TGKILL, pid, others[0], signal.SIGINT) != 0:
        raise OSError(ctypes.get_errno(), "tgkill failed")


_SYS_TGKILL = 234  # x86_64; the test is skipped elsewhere


def _as_from_a_shell() -> None:
    """In the child, before it runs: Ctrl-C handled and not blocked, as an interactive shell
    starts a command. The test runner's process is no terminal: what it ignores or blocks
    (its workers are driven over pipes) must not be what the CLI is tested with."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _signal_state(pid: int) -> str:
    """The kernel's view of a process's signals, for a failure message."""
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return ", ".join(
        line
        for line in lines
        if line.startswith(("SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt"))
    )


def _send_to_process(pid: int) -> None:
    os.kill(pid, signal.SIGINT)  # what the terminal sends on Ctrl-C


@pytest.mark.parametrize(
    "ctrl_c",
    [
        pytest.param(_send_to_process, id="to-the-process"),
        pytest.param(
            _to_another_thread,
            id="to-another-thread",
            marks=pytest.mark.skipif(
                not sys.platform.startswith("linux") or os.uname().machine != "x86_64",
                reason="tgkill by syscall number is written for Linux x86_64",
            ),
        ),
    ],
)
def test_ctrl_c_at_the_delete_confirmation_exits_at_once(fedgroup_env, ctrl_c):
    assert run_admin(fedgroup_env, "group", "create", "jazz").returncode == 0
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [*ADMIN, "group", "delete", "jazz"],
        env={**fedgroup_env, "PYTHONFAULTHANDLER": "1"},  # SIGABRT dumps where it hangs
        cwd=ROOT,
        stdin=terminal,
        stdout=subprocess.PIPE,
        stderr=terminal,
        preexec_fn=_as_from_a_shell,
    )
    os.close(terminal)
    signals = ""
    try:
        prompt = b"Type the group's name to confirm: "
        shown = _read_until(controller, prompt, time.monotonic() + 30)
        ctrl_c(process.pid)
        try:
            code = process.wait(timeout=EXIT_AFTER_CTRL_C)
        except subprocess.TimeoutExpired:
            signals = _signal_state(process.pid)
            process.send_signal(signal.SIGABRT)
            process.wait(timeout=10)
            code = None
        rest = b""
        while select.select([controller], [], [], 0.5)[0]:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            rest += chunk
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(controller)
    text = (shown + rest).decode(errors="replace").replace("\r", "")
    assert code is not None, f"no exit within {EXIT_AFTER_CTRL_C} s of Ctrl-C ({signals}):\n{text}"
    assert code == 130, text
    assert text.rstrip("\n").splitlines()[-1] == "error: interrupted", text
    assert "Traceback" not in text
    listed = run_admin(fedgroup_env, "group", "list", "--json")
    assert '"name": "jazz"' in listed.stdout, "an interrupted delete deletes nothing"


# -- databases that cannot be opened: one line, exit 69, never a hang ----------------------


def test_database_in_an_unwritable_directory(fedgroup_env, unwritable_directory):
    url = f"sqlite://{unwritable_directory}/fedgroup.sqlite3"
    result = run_admin({**fedgroup_env, "FEDGROUP_DATABASE_URL": url}, "group", "list")
    assert result.returncode == 69
    line = one_line(result.stderr)
    assert line.startswith(f"error: cannot open database {url}: "), line
    assert "not permitted" in line or "denied" in line, line


def test_database_path_under_a_regular_file(fedgroup_env, tmp_path):
    (tmp_path / "notes.txt").write_text("not a directory")
    url = f"sqlite://{tmp_path}/notes.txt/fedgroup.sqlite3"
    result = run_admin({**fedgroup_env, "FEDGROUP_DATABASE_URL": url}, "group", "list")
    assert result.returncode == 69
    assert one_line(result.stderr) == (
        f"error: cannot open database {url}: {tmp_path}/notes.txt is not a directory"
    )


def test_a_mistyped_database_directory_is_not_created(fedgroup_env, tmp_path):
    url = f"sqlite://{tmp_path}/dta/fedgroup.sqlite3"
    result = run_admin({**fedgroup_env, "FEDGROUP_DATABASE_URL": url}, "group", "list")
    assert result.returncode == 69
    assert one_line(result.stderr) == (
        f"error: cannot open database {url}: directory {tmp_path}/dta does not exist "
        "(fedgroup creates the database file, not its directory)"
    )
    assert not (tmp_path / "dta").exists()


def test_the_default_data_directory_is_created(fedgroup_env, tmp_path):
    env = {k: v for k, v in fedgroup_env.items() if k != "FEDGROUP_DATABASE_URL"}
    result = run_admin(env, "group", "list", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / "fedgroup.sqlite3").is_file()


def test_a_file_that_is_not_a_database(fedgroup_env, tmp_path):
    (tmp_path / "notes.sqlite3").write_text("shopping list\n" * 100)
    url = f"sqlite://{tmp_path}/notes.sqlite3"
    result = run_admin({**fedgroup_env, "FEDGROUP_DATABASE_URL": url}, "group", "list")
    assert result.returncode == 69
    assert one_line(result.stderr) == (
        f"error: cannot open database {url}: {tmp_path}/notes.sqlite3: file is not a database"
    )


# -- settings ------------------------------------------------------------------------------


def test_sqlite_url_without_a_file(fedgroup_env):
    result = run_admin({**fedgroup_env, "FEDGROUP_DATABASE_URL": "sqlite://"}, "group", "list")
    assert result.returncode == 78
    assert one_line(result.stderr) == (
        "error: FEDGROUP_DATABASE_URL: no file in 'sqlite://'; expected sqlite://PATH, "
        "e.g. sqlite://./data/fedgroup.sqlite3"
    )


def test_unknown_fedgroup_variable_is_refused_with_a_suggestion(fedgroup_env):
    result = run_admin({**fedgroup_env, "FEDGROUP_PROT": "9000"}, "group", "list")
    assert result.returncode == 78
    assert one_line(result.stderr) == (
        "error: unknown environment variable 'FEDGROUP_PROT'; did you mean FEDGROUP_PORT?"
    )


# -- group names ---------------------------------------------------------------------------


def test_a_group_name_without_a_letter_or_digit_is_refused(fedgroup_env):
    result = run_admin(fedgroup_env, "group", "create", "_")
    assert result.returncode == 1
    assert one_line(result.stderr) == "error: group name '_' needs at least one letter or digit"
    assert run_admin(fedgroup_env, "group", "list", "--json").stdout.strip() == "[]"


# -- bans ----------------------------------------------------------------------------------


def test_domain_ban_takes_the_host_of_a_pasted_url_and_a_leading_wildcard(fedgroup_env):
    added = run_admin(fedgroup_env, "bans", "add", "--server", "--domain", "https://Bad.Example/")
    assert added.returncode == 0, added.stderr
    assert added.stdout == "banned bad.example and its subdomains from the server\n"
    again = run_admin(fedgroup_env, "bans", "add", "--server", "--domain", "*.bad.example")
    assert again.returncode == 1
    assert one_line(again.stderr) == "error: bad.example is already banned on this server"
    listed = run_admin(fedgroup_env, "bans", "list", "--server", "--json")
    assert '"domain": "bad.example"' in listed.stdout
    removed = run_admin(fedgroup_env, "bans", "remove", "--server", "https://bad.example")
    assert removed.returncode == 0, removed.stderr


@pytest.mark.parametrize("domain", ["bad.*", "*bad.example", "bad .example", "localhost"])
def test_what_is_not_a_domain_is_refused_in_one_line(fedgroup_env, domain):
    result = run_admin(fedgroup_env, "bans", "add", "--server", "--domain", domain)
    assert result.returncode == 1
    assert one_line(result.stderr).startswith("error: not a domain: "), result.stderr


async def test_ban_by_handle_of_someone_never_seen_then_their_follow_is_rejected(tmp_path):
    async with FedgroupServer(tmp_path) as server, FakeInstance() as remote:
        await server.create_group("jazz")
        remote.add_actor("troll")
        remote.verify = verify_signed_post
        env = {k: v for k, v in os.environ.items() if not k.startswith("FEDGROUP_")}
        env.update(
            FEDGROUP_DATABASE_URL=server.settings.database_url,
            FEDGROUP_BASE_URL=server.base_url,
            FEDGROUP_ALLOW_PRIVATE_NETWORK="1",
        )
        admin = AdminCli(env)
        result = await admin("bans", "add", "jazz", remote.handle("troll"))
        assert result.returncode == 0, result.stderr
        assert result.stdout == f"banned {remote.actor_url('troll')} from jazz\n"

        follow = {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": remote.url("/follows/1"),
            "type": "Follow",
            "actor": remote.actor_url("troll"),
            "object": server.group_url("jazz"),
        }
        await post_signed(remote, server.url("/inbox"), follow, actor="troll")
        rejected = await remote.wait_for(
            lambda post: (post.json or {}).get("type") == "Reject", timeout=10
        )
        assert rejected.json["object"]["id"] == follow["id"]

        unreachable = await admin("bans", "add", "jazz", "@troll@127.0.0.1:1", check=False)
        assert unreachable.returncode == 1
        line = one_line(unreachable.stderr)
        assert line.startswith("error: cannot find @troll@127.0.0.1:1 by WebFinger ("), line
        assert line.endswith("); ban their actor URL, or their server with --domain"), line


# -- deliveries list -----------------------------------------------------------------------


def test_deliveries_list_by_state_host_and_group(fedgroup_env, database_url):
    seed_deliveries(database_url)  # a.test: 2 retrying + 1 failed; b.test: 1 delivered

    def listed(*filters: str) -> list[dict]:
        result = run_admin(fedgroup_env, "deliveries", "list", "--json", *filters)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    stuck = listed()
    assert sorted(d["state"] for d in stuck) == ["failed", "retrying", "retrying"]
    assert {d["host"] for d in stuck} == {"a.test"}
    assert {d["group"] for d in stuck} == {"jazz"}
    assert [d["host"] for d in listed("--state", "delivered")] == ["b.test"]
    assert [d["inbox"] for d in listed("--host", "https://B.TEST/inbox", "--state", "all")] == [
        "https://b.test/inbox"
    ]
    failed = listed("--group", "jazz", "--state", "failed")
    assert [d["inbox"] for d in failed] == ["https://a.test/u/1/inbox"]
    assert len(listed("--state", "queued", "--state", "retrying")) == 2

    text = run_admin(fedgroup_env, "deliveries", "list", "--limit", "1")
    assert text.returncode == 0
    lines = text.stdout.splitlines()
    assert lines[0].split() == [
        "ID",
        "STATE",
        "HOST",
        "GROUP",
        "ACTIVITY",
        "ATTEMPTS",
        "NEXT",
        "ATTEMPT",
        "LAST",
        "ERROR",
    ]
    assert lines[-1] == "2 more; raise --limit to see them"

    unknown = run_admin(fedgroup_env, "deliveries", "list", "--group", "nope")
    assert unknown.returncode == 1
    assert one_line(unknown.stderr) == "error: no group named 'nope'"
    bad_state = run_admin(fedgroup_env, "deliveries", "list", "--state", "stuck")
    assert bad_state.returncode == 2
    assert "invalid choice: 'stuck'" in one_line(bad_state.stderr)


# -- one line, also for scripts ------------------------------------------------------------


def test_json_failures_are_one_json_object(fedgroup_env):
    unknown = run_admin(fedgroup_env, "--json", "group", "show", "nope")
    assert unknown.returncode == 1 and unknown.stdout == ""
    assert json.loads(one_line(unknown.stderr)) == {
        "error": "no group named 'nope'",
        "exit_status": 1,
    }
    typo = run_admin(fedgroup_env, "group", "craete", "x", "--json")
    assert typo.returncode == 2
    error = json.loads(one_line(typo.stderr))
    assert error["exit_status"] == 2 and "invalid choice: 'craete'" in error["error"]
    bad_setting = run_admin({**fedgroup_env, "FEDGROUP_PORT": "x"}, "group", "list", "--json")
    assert bad_setting.returncode == 78
    assert json.loads(one_line(bad_setting.stderr))["error"].startswith("FEDGROUP_PORT: ")


def test_a_usage_error_is_one_line_saying_where_the_help_is(fedgroup_env):
    result = run_admin(fedgroup_env, "group", "show")
    assert result.returncode == 2
    assert one_line(result.stderr) == (
        "error: the following arguments are required: name (see admin_cli.py group show --help)"
    )


def test_version(fedgroup_env):
    result = run_admin(fedgroup_env, "--version")
    assert result.returncode == 0 and result.stdout == f"fedgroup {__version__}\n"


# -- python admin_cli.py, as the README says -----------------------------------------------


def test_admin_cli_runs_with_a_python_that_lacks_the_dependencies(fedgroup_env, tmp_path):
    """`python3 admin_cli.py` with an interpreter without fedgroup's dependencies (-S: no
    site-packages at all) re-runs itself with the checkout's .venv."""
    bare = [sys.executable, "-S", "-c", "import tortoise"]
    assert subprocess.run(bare, capture_output=True, timeout=TIMEOUT).returncode != 0
    result = subprocess.run(
        [sys.executable, "-S", str(ROOT / "admin_cli.py"), "group", "list", "--json"],
        env=fedgroup_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_admin_cli_without_a_venv_says_how_to_make_one(fedgroup_env, tmp_path):
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    shutil.copy(ROOT / "admin_cli.py", checkout / "admin_cli.py")
    (checkout / "fedgroup").symlink_to(ROOT / "fedgroup")
    result = subprocess.run(
        [sys.executable, "-S", str(checkout / "admin_cli.py"), "group", "list"],
        env=fedgroup_env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 1
    line = one_line(result.stderr)
    assert line.startswith(f"error: fedgroup's dependencies are not installed for {sys.executable}")
    assert f"run `make run` or `make test` in {checkout} once" in line
