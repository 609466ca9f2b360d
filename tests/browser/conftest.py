"""One headless Chromium for the whole browser suite, and a site with groups and posts.

Chromium is Debian's (/usr/bin/chromium, or CHROMIUM_BINARY), never a browser Playwright
downloads. The suite shares one event loop (session scope) so the browser starts once; each
test gets a fresh browser context (no cookies or storage carried over).
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from tests.conftest import chromium_path
from tests.fakes import FakeInstance
from tests.fakes.members import join, post_to_group, start_remote
from tests.fakes.npm import npm_ci
from tests.fakes.server import FedgroupServer

REPO = Path(__file__).resolve().parents[2]
AXE_DIR = Path(__file__).resolve().parent / "axe"
AXE_SCRIPT = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", REPO / "artifacts")) / "browser"
SUBSCRIBE = "/authorize_interaction?uri={uri}"
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 900}
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless, with a fresh profile (Playwright makes a new one)."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=LAUNCH_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core from the npm registry (tests/browser/axe/package-lock.json), installed once."""
    npm_ci(AXE_DIR, expect=AXE_SCRIPT)
    return AXE_SCRIPT.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where screenshots and accessibility reports go (gitignored; README "Tests")."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@dataclass
class Site:
    """Our server with groups and posts, the members' servers, and a visitor's server."""

    server: FedgroupServer
    visitor: FakeInstance  # a Mastodon-like server publishing a subscribe template
    lemmy: FakeInstance
    posts: dict[str, int] = field(default_factory=dict)  # name -> post id on our pages

    def url(self, path: str) -> str:
        return self.server.url(path)


async def _follow_page(request: web.Request) -> web.Response:
    uri = request.query.get("uri", "")
    body = (
        "<!doctype html><html lang=en><title>Follow</title>"
        f"<h1>Follow {json.dumps(uri)[1:-1]}?</h1></html>"
    )
    return web.Response(text=body, content_type="text/html")


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    """Groups as a newcomer meets them: a lively public one, a members-only one."""
    tmp = tmp_path_factory.mktemp("site")
    async with FedgroupServer(tmp) as server:
        await server.create_group(
            "jazz",
            display_name="Jazz piano",
            summary="Stride, bebop and everything between. Bring your questions and recordings.",
            rules="Be kind.\nNo ads.\nCredit the players you post.",
        )
        await server.create_group(
            "circle",
            display_name="Grief circle",
            summary="A quiet place for people who lost someone.",
            rules="What is said here stays here.",
            members_only=True,
            approval=True,
        )
        await server.create_group("knitting", summary="Yarn, patterns and finished pieces.")
        alice = await start_remote("mastodon", "alice")
        bob = await start_remote("lemmy", "bob")
        visitor = FakeInstance(software="mastodon", subscribe_path=SUBSCRIBE)
        await visitor.start()
        visitor.add_actor("vic")
        visitor.route("/authorize_interaction", _follow_page)
        try:
            for group in ("jazz", "circle"):
                await join(server, alice, "alice", group)
            await join(server, bob, "bob", "jazz")
            site = Site(server, visitor, bob)
            top = await post_to_group(
                server,
                bob,
                "bob",
                "jazz",
                "<p>Which recording made you want to play stride? Mine was "
                "<em>Carolina Shout</em>.</p>",
                kind="Page",
                title="The record that started it",
            )
            reply = await post_to_group(
                server,
                alice,
                "alice",
                "jazz",
                "<p>Art Tatum, <strong>Tiger Rag</strong> (1933). I still cannot believe it.</p>",
                in_reply_to=top.ap_id,
                attachment=[
                    {
                        "type": "Document",
                        "mediaType": "image/jpeg",
                        "url": "https://media.example/tatum.jpg",
                        "name": "Art Tatum at the piano, 1940s",
                    }
                ],
            )
            await post_to_group(
                server,
                bob,
                "bob",
                "jazz",
                "<p>Same here, and Fats Waller right after.</p>",
                in_reply_to=reply.ap_id,
            )
            await post_to_group(
                server,
                alice,
                "alice",
                "jazz",
                "<p>Spoilers for tonight's session list</p>",
                summary="Session list",
                sensitive=True,
            )
            secret = await post_to_group(
                server, alice, "alice", "circle", "<p>It has been a hard week.</p>"
            )
            site.posts = {"top": top.id, "reply": reply.id, "secret": secret.id}
            yield site
        finally:
            for remote in (alice, bob, visitor):
                await remote.close()


@pytest_asyncio.fixture(loop_scope="session")
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    """A fresh browser context (cookies, storage) for one test, phone-sized by default."""
    made = await browser.new_context(viewport=PHONE)
    try:
        yield made
    finally:
        await made.close()


@dataclass
class Watched:
    """A page with what its console said: CSP violations and errors must not happen."""

    page: Page
    messages: list[str]

    def problems(self) -> list[str]:
        return [m for m in self.messages if m.startswith(("error", "warning"))]


async def open_page(context: BrowserContext, url: str) -> tuple[Watched, Any]:
    page = await context.new_page()
    messages: list[str] = []
    page.on("console", lambda m: messages.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: messages.append(f"error: {e}"))
    response = await page.goto(url)
    return Watched(page, messages), response
