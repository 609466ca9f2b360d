"""The conformance suite is explicit: it runs from a corpus that is named, never by accident.

A plain clone has no corpus: its `make test` must pass and say in one line what it did not
run and how to run it. CI names one: a missing corpus is a failure, not a skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# One conformance test (it reads lemmy/objects/group.json) and one ordinary test beside it.
SELECTION = [
    "tests/test_web_groups.py",
    "-k",
    "structural_key_lemmy or meets_mastodon_requirements",
]


def run_pytest(*args: str, corpus_env: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CONFORMANCE_CORPUS"}
    if corpus_env is not None:
        env["CONFORMANCE_CORPUS"] = corpus_env
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SELECTION, *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_without_a_corpus_the_rest_runs_and_one_line_says_what_did_not() -> None:
    result = run_pytest()
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if "conformance" in line]
    assert lines == [
        "conformance suite not run (1 test): no corpus of real payloads given; run it with "
        "`make test CONFORMANCE_CORPUS=DIR` (CI uses ../shared/fixtures/real)"
    ], result.stdout
    assert "1 passed," in result.stdout, result.stdout


def test_a_corpus_that_is_not_there_is_a_usage_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    for args, env in (((f"--conformance-corpus={missing}",), None), ((), str(missing))):
        result = run_pytest(*args, corpus_env=env)
        assert result.returncode == 4, result.stdout + result.stderr
        assert f"conformance corpus '{missing}' is not a directory" in result.stderr


def test_with_a_corpus_the_conformance_tests_read_it(tmp_path: Path) -> None:
    # An empty corpus: the conformance test runs, and fails naming the payload it needs.
    result = run_pytest(f"--conformance-corpus={tmp_path}")
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"the conformance corpus {tmp_path} has no lemmy/objects/group.json" in result.stdout
    assert "1 failed, 1 passed" in result.stdout, result.stdout
    assert "conformance suite not run" not in result.stdout


def test_ci_refuses_to_run_without_the_corpus(tmp_path: Path) -> None:
    clone = tmp_path / "fedgroup"
    (clone / ".ci").mkdir(parents=True)
    shutil.copy(REPO_ROOT / ".ci" / "run", clone / ".ci" / "run")
    result = subprocess.run(
        ["bash", str(clone / ".ci" / "run")],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"CI needs the conformance corpus at ../shared/fixtures/real (from {clone}); it is missing"
    )


def test_with_test_workers_the_line_still_says_what_did_not_run() -> None:
    # `make test` runs the suite on pytest-xdist workers; the controller collects nothing,
    # so it cannot count, but it must still say what was left out and how to run it.
    result = run_pytest("-n", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if "conformance" in line]
    assert lines == [
        "conformance suite not run: no corpus of real payloads given; run it with "
        "`make test CONFORMANCE_CORPUS=DIR` (CI uses ../shared/fixtures/real)"
    ], result.stdout
