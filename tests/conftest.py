"""Fixtures shared across test files. Keep each one small and say what it gives."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from fedgroup.storage.db import close_database, open_database
from tests.fakes.fixtures import Corpus
from tests.fakes.template_db import fresh_database

# -- the conformance suite -------------------------------------------------------------------
#
# Tests that replay payloads captured from real software (Lemmy, Mastodon, Pleroma, Mbin,
# Friendica) read them from a corpus kept outside this repository. A test joins the suite by
# taking the `conformance_corpus` fixture (or by carrying `@pytest.mark.conformance`); without
# a corpus those tests are deselected and one line says so, so a plain clone's `make test`
# runs everything else; with one (CI: ../shared/fixtures/real), they must pass.

CORPUS_OPTION = "--conformance-corpus"
CORPUS_ENV = "CONFORMANCE_CORPUS"
HOW_TO_RUN_CONFORMANCE = (
    "run it with `make test CONFORMANCE_CORPUS=DIR` (CI uses ../shared/fixtures/real)"
)
_CORPUS = pytest.StashKey[Corpus | None]()
_NOT_RUN = pytest.StashKey[int]()

# -- the browser suite -----------------------------------------------------------------------
#
# tests/browser/ drives Debian's Chromium (packages chromium, chromium-driver) with
# Playwright. Where Chromium is missing, those tests are deselected and one line says so;
# with --require-browser (CI: `.ci/run` installs Chromium and passes REQUIRE_BROWSER=1) a
# missing Chromium stops the run instead.

BROWSER_OPTION = "--require-browser"
CHROMIUM_ENV = "CHROMIUM_BINARY"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
HOW_TO_RUN_BROWSER = (
    "install Debian's chromium (`apt-get install chromium chromium-driver`) and run "
    "`make test`, or run `.ci/run`, which installs it"
)
_BROWSER_NOT_RUN = pytest.StashKey[int]()


def chromium_path() -> str:
    """The Chromium binary the browser suite drives (never one Playwright downloads)."""
    return os.environ.get(CHROMIUM_ENV, DEFAULT_CHROMIUM)


def chromium_available() -> bool:
    return os.access(chromium_path(), os.X_OK)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        BROWSER_OPTION,
        action="store_true",
        default=os.environ.get("REQUIRE_BROWSER", "") not in ("", "0"),
        help="fail when Chromium is missing instead of not running the browser suite "
        "(env REQUIRE_BROWSER=1; CI sets it)",
    )
    parser.addoption(
        CORPUS_OPTION,
        metavar="DIR",
        default=None,
        help=(
            f"directory of real payloads for the conformance suite (env {CORPUS_ENV}); "
            "write it --conformance-corpus=DIR"
        ),
    )


def pytest_configure(config: pytest.Config) -> None:
    given = config.getoption(CORPUS_OPTION) or os.environ.get(CORPUS_ENV) or None
    if given is None:
        config.stash[_CORPUS] = None
        return
    root = Path(given).expanduser().resolve()
    if not root.is_dir():
        raise pytest.UsageError(f"conformance corpus {given!r} is not a directory ({root})")
    config.stash[_CORPUS] = Corpus(root)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "conformance_corpus" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.conformance)
        if "interop" in item.path.relative_to(config.rootpath).parts[:2]:
            item.add_marker(pytest.mark.interop)
        if "browser" in item.path.relative_to(config.rootpath).parts[:2]:
            item.add_marker(pytest.mark.browser)
    _leave_out_browser_suite_without_chromium(config, items)
    if config.stash[_CORPUS] is not None:
        return
    deselected = [item for item in items if item.get_closest_marker("conformance")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker("conformance")]
    config.stash[_NOT_RUN] = len(deselected)


def _leave_out_browser_suite_without_chromium(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    browser_items = [item for item in items if item.get_closest_marker("browser")]
    if not browser_items or chromium_available():
        return
    if config.getoption(BROWSER_OPTION):
        raise pytest.UsageError(
            f"the browser suite is required ({BROWSER_OPTION}) but Chromium is missing at "
            f"{chromium_path()}: {HOW_TO_RUN_BROWSER}"
        )
    config.hook.pytest_deselected(items=browser_items)
    items[:] = [item for item in items if not item.get_closest_marker("browser")]
    config.stash[_BROWSER_NOT_RUN] = len(browser_items)


def _counted(count: int | None) -> str:
    if count is None:  # pytest-xdist: the workers collect, so only they know how many
        return ""
    return f" ({count} {'test' if count == 1 else 'tests'})"


def _runs_workers(config: pytest.Config) -> bool:
    """True in pytest-xdist's controller, which collects nothing itself."""
    return bool(getattr(config.option, "numprocesses", None)) and not hasattr(
        config, "workerinput"
    )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    config = terminalreporter.config
    if config.getoption("markexpr", "") == "timing":
        return  # make test's second run, of the timing tests alone: the first one said it
    if _runs_workers(config):
        browser_not_run: int | None = None if not chromium_available() else 0
        not_run: int | None = None if config.stash[_CORPUS] is None else 0
    else:
        browser_not_run = config.stash.get(_BROWSER_NOT_RUN, 0)
        not_run = config.stash.get(_NOT_RUN, 0)
    if browser_not_run != 0:
        terminalreporter.write_line(
            f"browser suite not run{_counted(browser_not_run)}: no Chromium at "
            f"{chromium_path()}; " + HOW_TO_RUN_BROWSER
        )
    if not_run != 0:
        terminalreporter.write_line(
            f"conformance suite not run{_counted(not_run)}: "
            "no corpus of real payloads given; "
            + HOW_TO_RUN_CONFORMANCE
        )


@pytest.fixture(scope="session")
def conformance_corpus(pytestconfig: pytest.Config) -> Corpus:
    """The corpus of real payloads; taking this fixture puts a test in the conformance suite."""
    corpus = pytestconfig.stash[_CORPUS]
    if corpus is None:  # only reachable if a test dodged the deselection above
        pytest.fail("no conformance corpus: " + HOW_TO_RUN_CONFORMANCE)
    return corpus


# -- databases and settings ------------------------------------------------------------------


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """A SQLite URL for a new, empty, migrated database under the test's tmp_path (a copy of
    one migrated per test process: see tests/fakes/template_db.py)."""
    return f"sqlite://{fresh_database(tmp_path / 'db.sqlite3')}"


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[str]:
    """An open, migrated database at `database_url` for the test's event loop."""
    await open_database(database_url)
    try:
        yield database_url
    finally:
        await close_database()


@pytest.fixture
async def postgres_db() -> AsyncIterator[None]:
    """A fresh PostgreSQL database on this machine's server, open and migrated for the test,
    dropped after it."""
    import asyncpg
    from tortoise.backends.base.executor import EXECUTOR_CACHE

    name = f"fedgroup_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/test")
    await admin.execute(f'CREATE DATABASE "{name}"')
    # tortoise caches SQL per connection name and table, in the dialect first used: clear it
    # when switching between SQLite and PostgreSQL within one process.
    EXECUTOR_CACHE.clear()
    try:
        await open_database(f"postgres://postgres@127.0.0.1:5432/{name}")
        try:
            yield
        finally:
            await close_database()
            EXECUTOR_CACHE.clear()
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
def fedgroup_env(monkeypatch: pytest.MonkeyPatch, database_url: str) -> dict[str, str]:
    """os.environ without the developer's FEDGROUP_* settings, pointing at `database_url`.

    Applied to this process (for in-process `main([...])` calls) and returned as a dict to
    hand to subprocesses.
    """
    for name in list(os.environ):
        if name.startswith("FEDGROUP_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("FEDGROUP_DATABASE_URL", database_url)
    return dict(os.environ)


@pytest.fixture
def unwritable_directory(tmp_path: Path) -> Iterator[Path]:
    """An existing, empty directory in which nothing can be created, even by root.

    Permission bits do not stop root (as CI runs), so as root the directory is made
    immutable (`chattr +i`: creating a file fails with EPERM, as on a read-only mount);
    otherwise it is made read-only. Checked before use: a test that meant to meet an
    unwritable directory and met a writable one would prove nothing.
    """
    directory = tmp_path / "readonly"
    directory.mkdir()
    as_root = os.geteuid() == 0
    if as_root:
        subprocess.run(["chattr", "+i", str(directory)], check=True, timeout=10)
    else:
        directory.chmod(0o555)
    try:
        probe = directory / "probe"
        try:
            probe.touch()
        except OSError:
            pass
        else:
            pytest.fail(f"could not make {directory} unwritable (a file was created in it)")
        yield directory
    finally:
        if as_root:
            subprocess.run(["chattr", "-i", str(directory)], check=True, timeout=10)
        else:
            directory.chmod(0o755)
