"""The admin CLI's `group` commands: in-process for the bulk, a few real subprocesses.

What an operator sees is the contract: exit codes, one JSON document with --json, one line
on stderr when something is wrong, and never a traceback or a private key.
"""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from fedgroup.cli.main import main
from fedgroup.service import lifecycle
from fedgroup.storage.db import close_database, open_database, redact_database_url
from fedgroup.storage.models import (
    Delivery,
    DeliveryState,
    Group,
    Membership,
    MembershipState,
    RemoteActor,
)

ROOT = Path(__file__).resolve().parent.parent
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    """Run the CLI in this process: (exit code, stdout, stderr)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    assert "PRIVATE KEY" not in out + err
    return code, out, err


def cli_json(capsys, *argv: str):
    code, out, err = cli(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def assert_one_error_line(err: str, *fragments: str) -> None:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def run_subprocess(env: dict[str, str], *argv: str, stdin=subprocess.DEVNULL):
    """Run the real entry point the way an operator does."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "admin_cli.py"), *argv],
        env=env,
        cwd=ROOT,
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in result.stderr
    assert "PRIVATE KEY" not in result.stdout + result.stderr
    return result


def seed_members(database_url: str, group_name: str, accepted: int, pending: int) -> None:
    """Put remote members into a group, as the inbox would after Follows."""

    async def seed() -> None:
        await open_database(database_url)
        try:
            group = await Group.get(name=group_name)
            for i in range(accepted + pending):
                url = f"https://remote.example/users/{group_name}{i}"
                actor = await RemoteActor.create(url=url, host="remote.example", inbox=url)
                state = MembershipState.ACCEPTED if i < accepted else MembershipState.PENDING
                await Membership.create(group=group, actor=actor, state=state)
        finally:
            await close_database()

    asyncio.run(seed())


class FakeTerminal(io.StringIO):
    """stdin as a person at a terminal would give it."""

    def isatty(self) -> bool:
        return True


# --- happy paths ---------------------------------------------------------------------------


def test_create_then_show_and_list(fedgroup_env, capsys):
    created = cli_json(
        capsys,
        "group", "create", "jazz",
        "--display-name", "Jazz Piano",
        "--summary", "Chords and voicings",
        "--rules", "Be kind",
        "--approval-required", "--members-only", "--posting-restricted",
    )  # fmt: skip
    assert created["name"] == "jazz"
    assert created["handle"] == "@jazz@127.0.0.1:8080"
    assert created["actor_url"] == "http://127.0.0.1:8080/groups/jazz"
    assert created["display_name"] == "Jazz Piano"
    assert created["summary"] == "Chords and voicings"
    assert created["rules"] == "Be kind"
    assert created["approval_required"] is True
    assert created["members_only"] is True
    assert created["posting_restricted_to_mods"] is True
    assert created["publish_members"] is False
    assert created["members"] == {"accepted": 0, "pending": 0}

    shown = cli_json(capsys, "group", "show", "jazz")
    assert shown == created

    listed = cli_json(capsys, "group", "list")
    assert listed == [created]

    code, out, _ = cli(capsys, "group", "show", "jazz")
    assert code == 0
    assert "@jazz@127.0.0.1:8080" in out and "Jazz Piano" in out
    code, out, _ = cli(capsys, "group", "list")
    assert code == 0 and "jazz" in out and "members-only" in out


def test_show_counts_members(fedgroup_env, database_url, capsys):
    cli_json(capsys, "group", "create", "jazz")
    seed_members(database_url, "jazz", accepted=3, pending=2)
    assert cli_json(capsys, "group", "show", "jazz")["members"] == {"accepted": 3, "pending": 2}
    code, out, _ = cli(capsys, "group", "show", "jazz")
    assert "3 (2 pending)" in out


def test_list_when_empty(fedgroup_env, capsys):
    assert cli_json(capsys, "group", "list") == []
    code, out, _ = cli(capsys, "group", "list")
    assert code == 0 and "no groups yet" in out


def test_json_flag_before_the_noun(fedgroup_env, capsys):
    cli_json(capsys, "group", "create", "jazz")
    code, out, _ = cli(capsys, "--json", "group", "list")
    assert code == 0 and json.loads(out)[0]["name"] == "jazz"


def test_edit_changes_and_toggles_back(fedgroup_env, capsys, tmp_path):
    cli_json(capsys, "group", "create", "jazz")
    icon = tmp_path / "avatar.jpg"  # a PNG with the wrong extension is still a PNG
    icon.write_bytes(PNG)
    edited = cli_json(
        capsys,
        "group", "edit", "jazz",
        "--display-name", "Jazz",
        "--summary", "New",
        "--approval-required", "--members-only", "--posting-restricted",
        "--publish-members", "--no-discoverable",
        "--icon", str(icon), "--image", str(icon),
    )  # fmt: skip
    assert edited["display_name"] == "Jazz" and edited["summary"] == "New"
    assert edited["approval_required"] and edited["members_only"]
    assert edited["posting_restricted_to_mods"] and edited["publish_members"]
    assert edited["discoverable"] is False
    assert edited["icon"] == {"media_type": "image/png", "bytes": len(PNG)}
    assert edited["image"] == {"media_type": "image/png", "bytes": len(PNG)}

    back = cli_json(
        capsys,
        "group", "edit", "jazz",
        "--no-approval-required", "--public", "--no-posting-restricted",
        "--no-publish-members", "--discoverable", "--clear-icon",
    )  # fmt: skip
    assert not back["approval_required"] and not back["members_only"]
    assert not back["posting_restricted_to_mods"] and not back["publish_members"]
    assert back["discoverable"] is True
    assert back["icon"] is None and back["image"]["media_type"] == "image/png"
    assert back["display_name"] == "Jazz" and back["summary"] == "New"
    assert cli_json(capsys, "group", "show", "jazz") == back


def test_delete_with_yes(fedgroup_env, capsys):
    cli_json(capsys, "group", "create", "jazz")
    cli_json(capsys, "group", "create", "keep")
    result = cli_json(capsys, "group", "delete", "jazz", "--yes")
    assert result["deleted"] == "jazz"
    assert [g["name"] for g in cli_json(capsys, "group", "list")] == ["keep"]


def test_deleted_name_is_refused_then_reusable_with_allow_reuse(fedgroup_env, capsys, monkeypatch):
    cli_json(capsys, "group", "create", "jazz")
    seed_members(fedgroup_env["FEDGROUP_DATABASE_URL"], "jazz", accepted=2, pending=0)
    code, out, err = cli(capsys, "group", "delete", "jazz", "--yes")
    assert code == 0, err
    assert "its Delete goes to 2 inboxes of members' servers" in out
    assert "name stays reserved" in out

    code, _, err = cli(capsys, "group", "create", "jazz")
    assert code == 1
    assert_one_error_line(err, "deleted on", "--allow-reuse")
    code, _, err = cli(capsys, "group", "show", "jazz")
    assert code == 1
    assert_one_error_line(err, "no group named 'jazz' (it was deleted on")
    # Reuse waits for the Delete to go out, and for group_name_reuse_after.
    code, _, err = cli(capsys, "group", "create", "jazz", "--allow-reuse")
    assert_one_error_line(err, "still being delivered")
    settle_deliveries(fedgroup_env["FEDGROUP_DATABASE_URL"])
    code, _, err = cli(capsys, "group", "create", "jazz", "--allow-reuse")
    assert_one_error_line(err, "can be reused from")
    monkeypatch.setenv("FEDGROUP_GROUP_NAME_REUSE_AFTER", "0")
    created = cli_json(capsys, "group", "create", "jazz", "--allow-reuse")
    assert created["name"] == "jazz" and created["members"] == {"accepted": 0, "pending": 0}


def test_rotate_key(fedgroup_env, database_url, capsys):
    cli_json(capsys, "group", "create", "jazz")
    seed_members(database_url, "jazz", accepted=1, pending=1)
    before = read_group_keys(database_url, "jazz")
    result = cli_json(capsys, "group", "rotate-key", "jazz")
    assert result == {"name": "jazz", "rotated": True, "deliveries": 2}
    after = read_group_keys(database_url, "jazz")
    assert after[0] != before[0] and after[1] != before[1]
    code, _, err = cli(capsys, "group", "rotate-key", "nope")
    assert code == 1
    assert_one_error_line(err, "no group named 'nope'")


def read_group_keys(database_url: str, name: str) -> tuple[str, str]:
    async def read() -> tuple[str, str]:
        await open_database(database_url)
        try:
            group = await Group.get(name=name)
            return group.private_key_pem, group.public_key_pem
        finally:
            await close_database()

    return asyncio.run(read())


def settle_deliveries(database_url: str) -> None:
    """As the delivery worker would once every member's server has the Delete."""

    async def settle() -> None:
        await open_database(database_url)
        try:
            await Delivery.all().update(state=DeliveryState.DELIVERED)
            await lifecycle.finish_settled_deletions()
        finally:
            await close_database()

    asyncio.run(settle())


def test_delete_confirmed_by_typing_the_name_on_a_terminal(fedgroup_env, capsys, monkeypatch):
    cli_json(capsys, "group", "create", "jazz")
    monkeypatch.setattr(sys, "stdin", FakeTerminal("jazz\n"))
    code, out, err = cli(capsys, "group", "delete", "jazz")
    assert code == 0, err
    assert "Type the group's name" in err
    assert "deleted group jazz" in out
    assert cli_json(capsys, "group", "list") == []


def test_delete_not_confirmed_on_a_terminal_keeps_the_group(fedgroup_env, capsys, monkeypatch):
    cli_json(capsys, "group", "create", "jazz")
    monkeypatch.setattr(sys, "stdin", FakeTerminal("jaz\n"))
    code, out, err = cli(capsys, "group", "delete", "jazz")
    assert code == 1
    assert "Type the group's name" in err
    assert err.endswith("\nerror: not confirmed; nothing was changed\n") or err.endswith(
        ": error: not confirmed; nothing was changed\n"
    )
    assert out == ""
    assert cli_json(capsys, "group", "show", "jazz")["name"] == "jazz"


def test_ensure_demo_is_idempotent(fedgroup_env, capsys):
    first = cli_json(capsys, "group", "ensure-demo")
    assert first["created"] is True and first["group"]["name"] == "demo"
    assert first["group"]["handle"] == "@demo@127.0.0.1:8080"
    second = cli_json(capsys, "group", "ensure-demo")
    assert second == {"created": False, "group": None, "groups": 1}
    code, out, _ = cli(capsys, "group", "ensure-demo")
    assert code == 0 and "no demo group created" in out
    assert [g["name"] for g in cli_json(capsys, "group", "list")] == ["demo"]


def test_ensure_demo_leaves_existing_groups_alone(fedgroup_env, capsys):
    cli_json(capsys, "group", "create", "jazz")
    assert cli_json(capsys, "group", "ensure-demo")["created"] is False
    assert [g["name"] for g in cli_json(capsys, "group", "list")] == ["jazz"]


def test_database_url_flag_wins_over_the_environment(fedgroup_env, capsys, tmp_path):
    other = f"sqlite://{tmp_path}/other.sqlite3"
    cli_json(capsys, "--database-url", other, "group", "create", "elsewhere")
    assert cli_json(capsys, "group", "list") == []
    listed = cli_json(capsys, "group", "list", "--database-url", other)
    assert [g["name"] for g in listed] == ["elsewhere"]


def test_config_file_sets_the_public_origin(fedgroup_env, capsys, tmp_path):
    config = tmp_path / "fedgroup.toml"
    config.write_text('base_url = "https://groups.example"\n')
    created = cli_json(capsys, "--config", str(config), "group", "create", "jazz")
    assert created["handle"] == "@jazz@groups.example"
    assert created["actor_url"] == "https://groups.example/groups/jazz"


def test_help_for_every_command(fedgroup_env, capsys):
    for argv in (
        [],
        ["group"],
        ["group", "create"],
        ["group", "list"],
        ["group", "show"],
        ["group", "edit"],
        ["group", "delete"],
        ["group", "ensure-demo"],
    ):
        assert main([*argv, "--help"]) == 0
        out, _ = capsys.readouterr()
        assert out.startswith("usage:")


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize("verb", [["show"], ["edit", "--summary", "x"], ["delete", "--yes"]])
def test_unknown_group(fedgroup_env, capsys, verb):
    code, out, err = cli(capsys, "group", verb[0], "nope", *verb[1:])
    assert code == 1 and out == ""
    assert_one_error_line(err, "no group named 'nope'")


def test_duplicate_name(fedgroup_env, capsys):
    cli_json(capsys, "group", "create", "jazz")
    code, out, err = cli(capsys, "group", "create", "jazz")
    assert code == 1 and out == ""
    assert_one_error_line(err, "'jazz' exists already")


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("Jazz", "uppercase"),
        ("x" * 65, "limit is 64"),
        ("admin", "reserved"),
        ("inbox", "reserved"),
        ("jazz-piano", "lowercase letters"),
        ("_", "at least one letter or digit"),
        ("___", "at least one letter or digit"),
    ],
)
def test_invalid_names(fedgroup_env, capsys, name, fragment):
    code, out, err = cli(capsys, "group", "create", name)
    assert code == 1 and out == ""
    assert_one_error_line(err, fragment)
    assert cli_json(capsys, "group", "list") == []


def test_bad_icon_type_and_size(fedgroup_env, capsys, tmp_path, monkeypatch):
    cli_json(capsys, "group", "create", "jazz")
    svg = tmp_path / "icon.png"
    svg.write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    code, _, err = cli(capsys, "group", "edit", "jazz", "--icon", str(svg))
    assert code == 1
    assert_one_error_line(err, "not a PNG, JPEG, GIF or WebP image")

    monkeypatch.setenv("FEDGROUP_MAX_ICON_BYTES", "1024")
    big = tmp_path / "big.png"
    big.write_bytes(PNG + b"\x00" * 1024)
    code, _, err = cli(capsys, "group", "edit", "jazz", "--image", str(big))
    assert code == 1
    assert_one_error_line(err, "larger than the 1024-byte limit")

    code, _, err = cli(capsys, "group", "edit", "jazz", "--icon", str(tmp_path / "none.png"))
    assert code == 1
    assert_one_error_line(err, "no such file")
    assert cli_json(capsys, "group", "show", "jazz")["icon"] is None


def test_edit_without_changes_is_a_usage_error(fedgroup_env, capsys):
    cli_json(capsys, "group", "create", "jazz")
    code, _, err = cli(capsys, "group", "edit", "jazz")
    assert code == 2
    assert_one_error_line(err, "nothing to change")


def test_edit_with_bad_value(fedgroup_env, capsys):
    cli_json(capsys, "group", "create", "jazz")
    code, _, err = cli(capsys, "group", "edit", "jazz", "--display-name", " ")
    assert code == 1
    assert_one_error_line(err, "display name is empty")


def test_bad_setting_names_the_variable(fedgroup_env, capsys, monkeypatch):
    monkeypatch.setenv("FEDGROUP_PORT", "abc")
    code, out, err = cli(capsys, "group", "list")
    assert code == 78 and out == ""
    assert_one_error_line(err, "FEDGROUP_PORT")


def test_missing_config_file(fedgroup_env, capsys, tmp_path):
    code, _, err = cli(capsys, "--config", str(tmp_path / "nope.toml"), "group", "list")
    assert code == 78
    assert_one_error_line(err, "--config", "not found")


def test_database_that_cannot_be_opened(fedgroup_env, capsys, tmp_path):
    code, _, err = cli(capsys, "--database-url", f"sqlite://{tmp_path}", "group", "list")
    assert code == 69
    assert_one_error_line(err, "cannot open database", "directory")

    not_sqlite = tmp_path / "notes.txt"
    not_sqlite.write_text("this is not a database, just some text " * 100)
    code, _, err = cli(capsys, "--database-url", f"sqlite://{not_sqlite}", "group", "list")
    assert code == 69
    assert_one_error_line(err, "cannot open database")


def test_database_password_is_never_printed():
    assert redact_database_url("postgres://u:s3cret@db.example/fg") == (
        "postgres://u:***@db.example/fg"
    )
    assert redact_database_url("sqlite://./data/x.sqlite3") == "sqlite://./data/x.sqlite3"


def test_typo_in_verb_is_argparse_usage_error(fedgroup_env, capsys):
    assert main(["group", "craete", "x"]) == 2
    _, err = capsys.readouterr()
    assert "invalid choice: 'craete'" in err


# --- the real entry point ------------------------------------------------------------------


def test_subprocess_create_show_list(fedgroup_env):
    created = run_subprocess(fedgroup_env, "group", "create", "jazz", "--json")
    assert created.returncode == 0, created.stderr
    doc = json.loads(created.stdout)
    assert doc["handle"] == "@jazz@127.0.0.1:8080"
    shown = run_subprocess(fedgroup_env, "--json", "group", "show", "jazz")
    assert shown.returncode == 0 and json.loads(shown.stdout) == doc


def test_subprocess_delete_without_terminal_or_yes_refuses(fedgroup_env):
    assert run_subprocess(fedgroup_env, "group", "create", "jazz").returncode == 0
    refused = run_subprocess(fedgroup_env, "group", "delete", "jazz")
    assert refused.returncode == 1 and refused.stdout == ""
    assert_one_error_line(refused.stderr, "without confirmation", "--yes")
    listed = run_subprocess(fedgroup_env, "group", "list", "--json")
    assert [g["name"] for g in json.loads(listed.stdout)] == ["jazz"]


def test_subprocess_errors_are_one_line(fedgroup_env):
    unknown = run_subprocess(fedgroup_env, "group", "show", "nope")
    assert unknown.returncode == 1
    assert_one_error_line(unknown.stderr, "no group named 'nope'")

    bad_port = run_subprocess({**fedgroup_env, "FEDGROUP_PORT": "abc"}, "group", "list")
    assert bad_port.returncode == 78
    assert_one_error_line(bad_port.stderr, "FEDGROUP_PORT")

    no_server = run_subprocess(
        fedgroup_env, "--database-url", "postgres://fg:hunter2@127.0.0.1:1/fg", "group", "list"
    )
    assert no_server.returncode == 69
    assert_one_error_line(no_server.stderr, "cannot open database", "127.0.0.1:1")
    assert "hunter2" not in no_server.stderr


def test_module_entry_point(fedgroup_env):
    result = subprocess.run(
        [sys.executable, "-m", "fedgroup.cli", "group", "ensure-demo", "--json"],
        env=fedgroup_env,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["created"] is True
