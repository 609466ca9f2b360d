"""`policy …` as an admin runs it (the real entry point in a subprocess, each with a timeout):
rules set, listed and cleared; bad input refused in one line, changing nothing; shared block
lists in and out in Mastodon's CSV, bad lines reported by number and the others kept.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

from tests.test_cli_groups import ROOT, run_subprocess

HEADER = "#domain,#severity,#reject_media,#reject_reports,#public_comment,#obfuscate"


def ok(env: dict[str, str], *argv: str) -> str:
    result = run_subprocess(env, *argv)
    assert result.returncode == 0, result.stderr
    return result.stdout


def refused(env: dict[str, str], *argv: str, code: int = 1) -> str:
    """The one line a refused command prints on stderr."""
    result = run_subprocess(env, *argv)
    assert result.returncode == code, result
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def rules(env: dict[str, str]) -> list[tuple]:
    listed = json.loads(ok(env, "policy", "list", "--json"))
    return [
        (r["domain"], r["group"], r["severity"], r["reject_media"], r["reject_reports"])
        for r in listed["rules"]
    ]


def test_set_list_and_clear(fedgroup_env):
    ok(fedgroup_env, "group", "create", "jazz")
    out = ok(
        fedgroup_env,
        "policy", "set", "https://BAD.example./", "--severity", "suspend",
        "--comment", "spam farm", "--note", "ticket 12",
    )  # fmt: skip
    assert out == "bad.example and its subdomains: suspend on this server\n"
    out = ok(fedgroup_env, "policy", "set", "*.loud.example", "--severity", "limit")
    assert out == "loud.example and its subdomains: silence on this server\n"
    shown = json.loads(
        ok(
            fedgroup_env,
            "policy", "set", "pics.example", "--severity", "noop", "--reject-media",
            "--reject-reports", "--group", "jazz", "--json",
        )  # fmt: skip
    )
    assert shown["group"] == "jazz" and shown["severity"] == "noop"
    assert (shown["reject_media"], shown["reject_reports"]) == (True, True)

    listed = json.loads(ok(fedgroup_env, "policy", "list", "--json"))
    assert listed["allowlist_mode"] is False and listed["allowed"] == []
    bad = listed["rules"][0]
    assert (bad["public_comment"], bad["private_note"]) == ("spam farm", "ticket 12")
    assert rules(fedgroup_env) == [
        ("bad.example", None, "suspend", False, False),
        ("loud.example", None, "silence", False, False),
        ("pics.example", "jazz", "noop", True, True),
    ]
    table = ok(fedgroup_env, "policy", "list").splitlines()
    assert table[0].split() == [
        "DOMAIN", "WHERE", "SEVERITY", "NO", "MEDIA", "NO", "REPORTS", "COMMENT", "NOTE",
    ]  # fmt: skip
    assert table[1].split()[:3] == ["bad.example", "(server)", "suspend"]
    assert table[-1] == "allow list (allowlist_mode off): empty"

    out = ok(fedgroup_env, "policy", "clear", "BAD.example")
    assert out == "cleared the policy for BAD.example on this server\n"
    line = refused(fedgroup_env, "policy", "clear", "bad.example")
    assert line == "error: no policy for bad.example on this server"
    line = refused(fedgroup_env, "policy", "clear", "pics.example")  # it is jazz's
    assert line == "error: no policy for pics.example on this server"
    ok(fedgroup_env, "policy", "clear", "pics.example", "--group", "jazz")
    assert rules(fedgroup_env) == [("loud.example", None, "silence", False, False)]

    log = json.loads(ok(fedgroup_env, "modlog", "--json"))
    assert [(e["group"], e["action"], e["target"], e["reason"]) for e in log][::-1] == [
        (None, "set_policy", "bad.example", "suspend; spam farm"),
        (None, "set_policy", "loud.example", "silence"),
        ("jazz", "set_policy", "pics.example", "noop, reject media, reject reports"),
        (None, "clear_policy", "bad.example", ""),
        ("jazz", "clear_policy", "pics.example", ""),
    ]


def test_bad_input_is_one_line_and_changes_nothing(fedgroup_env):
    line = refused(fedgroup_env, "policy", "set", "x.example", "--severity", "banana")
    assert line == "error: unknown severity 'banana'; expected noop, silence or suspend"
    line = refused(fedgroup_env, "policy", "set", "bad*.example", "--severity", "suspend")
    assert line.startswith("error: not a domain: 'bad*.example' (only a leading '*.'")
    assert "covers its subdomains anyway" in line
    line = refused(fedgroup_env, "policy", "set", "exa mple", "--severity", "suspend")
    assert line.startswith("error: not a domain: ")
    line = refused(fedgroup_env, "policy", "set", "com", "--severity", "suspend")
    assert "a whole top-level domain cannot be named" in line
    line = refused(fedgroup_env, "policy", "set", "x.example", "--severity", "suspend",
                   "--group", "nope")  # fmt: skip
    assert line == "error: no group named 'nope'"
    line = refused(fedgroup_env, "policy", "set", "x.example", code=2)
    assert line.startswith("error: the following arguments are required: --severity")

    error = json.loads(
        refused(fedgroup_env, "policy", "set", "x.example", "--severity", "loud", "--json")
    )
    assert error == {
        "error": "unknown severity 'loud'; expected noop, silence or suspend",
        "exit_status": 1,
    }
    error = json.loads(refused(fedgroup_env, "policy", "clear", "x.example", "--json"))
    assert error == {"error": "no policy for x.example on this server", "exit_status": 1}
    assert rules(fedgroup_env) == []
    assert json.loads(ok(fedgroup_env, "modlog", "--json")) == []


def test_allow_list_entries(fedgroup_env):
    out = ok(fedgroup_env, "policy", "allow", "https://Friends.example/", "--comment", "partner")
    assert out == (
        "allowed friends.example and its subdomains (allowlist_mode is off: no effect yet)\n"
    )
    line = refused(fedgroup_env, "policy", "allow", "friends.example")
    assert line == "error: friends.example is already on the allow list"
    env = {**fedgroup_env, "FEDGROUP_ALLOWLIST_MODE": "true"}
    listed = json.loads(ok(env, "policy", "list", "--json"))
    assert listed["allowlist_mode"] is True
    assert [(a["domain"], a["comment"]) for a in listed["allowed"]] == [
        ("friends.example", "partner")
    ]
    assert ok(env, "policy", "list").splitlines()[-1] == (
        "allow list (allowlist_mode on): friends.example"
    )
    ok(fedgroup_env, "policy", "disallow", "friends.example")
    line = refused(fedgroup_env, "policy", "disallow", "friends.example")
    assert line == "error: friends.example is not on the allow list"


def test_mastodon_csv_round_trip_keeps_good_lines_and_numbers_bad_ones(fedgroup_env, tmp_path):
    shared = tmp_path / "blocklist.csv"
    shared.write_text(
        f"{HEADER}\n"
        "bad.example,suspend,true,true,spam farm,false\n"
        '"loud.example",silence,false,false,"rude, often",false\n'
        "odd.example,banana,false,false,,false\n"
        "\n"
        "pics.example,noop,true,false,,false\n"
        "worse.example,suspend,maybe,false,,false\n"
        "*.wild.example,,,,,\n"
        "not a domain,suspend,false,false,,false\n"
        "extra.example,suspend,false,false,,false,true\n",
        encoding="utf-8",
    )
    line = refused(fedgroup_env, "policy", "import", str(shared))
    assert line == (
        f"error: {shared}: imported 4 of 8 lines on this server, 4 bad: "
        "line 4: unknown severity 'banana'; expected noop, silence or suspend | "
        "line 7: #reject_media must be true or false, not 'maybe' | "
        "line 9: not a domain: not a valid host name: 'not a domain' (Codepoint U+0020 at "
        "position 4 of 'not a domain' not allowed) | "
        "line 10: 7 fields, expected at most 6"
    )
    assert rules(fedgroup_env) == [
        ("bad.example", None, "suspend", True, True),
        ("loud.example", None, "silence", False, False),
        ("pics.example", None, "noop", True, False),
        ("wild.example", None, "suspend", False, False),  # Mastodon's default severity
    ]
    exported = ok(fedgroup_env, "policy", "export")
    assert exported == (
        f"{HEADER}\n"
        "bad.example,suspend,true,true,spam farm,false\n"
        'loud.example,silence,false,false,"rude, often",false\n'
        "pics.example,noop,true,false,,false\n"
        "wild.example,suspend,false,false,,false\n"
    )

    # What was exported loads cleanly into another server, and exports the same again.
    copy = tmp_path / "exported.csv"
    copy.write_text(exported, encoding="utf-8")
    other = {**fedgroup_env, "FEDGROUP_DATABASE_URL": f"sqlite://{tmp_path}/other.sqlite3"}
    assert ok(other, "policy", "import", str(copy)) == "imported 4 of 4 lines on this server\n"
    assert ok(other, "policy", "export") == exported
    assert json.loads(ok(other, "policy", "import", str(copy), "--json")) == {
        "imported": 4,
        "lines": 4,
    }

    error = json.loads(refused(fedgroup_env, "policy", "import", str(tmp_path / "x"), "--json"))
    assert error == {"error": f"{tmp_path / 'x'}: no such file", "exit_status": 1}


def _long_list(tmp_path: Path, lines: int) -> Path:
    path = tmp_path / "long.csv"
    body = "".join(f"spam{n}.example,suspend,false,false,,false\n" for n in range(lines))
    path.write_text(HEADER + "\n" + body, encoding="utf-8")
    return path


def test_a_long_import_shows_a_progress_bar_on_a_terminal_only(fedgroup_env, tmp_path):
    path = _long_list(tmp_path, 120)
    plain = run_subprocess(fedgroup_env, "policy", "import", str(path))
    assert (plain.returncode, plain.stdout) == (0, "imported 120 of 120 lines on this server\n")
    assert plain.stderr == ""

    leader, follower = pty.openpty()
    try:
        result = subprocess.run(
            [sys.executable, str(ROOT / "admin_cli.py"), "policy", "import", str(path)],
            env=fedgroup_env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=follower,
            text=True,
            timeout=60,
        )
        os.close(follower)
        follower = -1
        shown = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal is closed once everything was read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        if follower != -1:
            os.close(follower)
        os.close(leader)
    assert result.returncode == 0
    assert result.stdout == "imported 120 of 120 lines on this server\n"
    bar = shown.decode()
    assert "\rimporting [" in bar
    assert bar.rstrip().endswith("] 120/120 lines")
    assert "Traceback" not in bar
