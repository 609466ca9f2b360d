"""The pages in a real browser (Debian's Chromium): they render under their own strict CSP,
the join form reaches the visitor's server, members-only groups show nothing, the copy
button is an extra, and axe-core finds no serious accessibility problem.

Screenshots and axe reports are written to artifacts/browser/ (see README "Tests").
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import web
from playwright.async_api import Browser, BrowserContext

from .conftest import DESKTOP, PHONE, Site, open_page

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _pages(site: Site) -> dict[str, str]:
    return {
        "front": site.url("/"),
        "search": site.url("/?q=stride"),
        "group": site.url("/groups/jazz"),
        "post": site.url(f"/groups/jazz/posts/{site.posts['reply']}"),
        "members-only": site.url("/groups/circle"),
        "not-found": site.url("/groups/nope"),
    }


@pytest.mark.parametrize(("size", "viewport"), [("phone", PHONE), ("desktop", DESKTOP)])
async def test_pages_render_cleanly_and_are_kept_as_screenshots(
    site: Site, browser: Browser, artifacts: Path, size: str, viewport: dict[str, int]
) -> None:
    context = await browser.new_context(viewport=viewport)
    try:
        for name, url in _pages(site).items():
            watched, response = await open_page(context, url)
            assert response is not None
            assert response.status == (404 if name == "not-found" else 200), name
            page = watched.page
            assert await page.locator("h1").count() == 1, name
            assert await page.locator("main").count() == 1
            # The stylesheet loaded and applied under the CSP (the skip link is off-screen).
            skip_top = await page.locator(".skip-link").evaluate(
                "e => e.getBoundingClientRect().top"
            )
            assert skip_top < 0, f"{name}: stylesheet not applied"
            if size == "phone":
                width = await page.evaluate("document.documentElement.scrollWidth")
                assert width <= viewport["width"], f"{name} scrolls sideways on a phone"
            problems = watched.problems()
            if name == "not-found":  # the page itself is the 404 the console reports
                problems = [p for p in problems if "status of 404" not in p]
            assert problems == [], f"{name}: {problems}"
            await page.screenshot(path=artifacts / f"{name}-{size}.png", full_page=True)
            await page.close()
    finally:
        await context.close()


async def test_group_page_reads_as_a_newcomer_needs(site: Site, context: BrowserContext) -> None:
    watched, _ = await open_page(context, site.url("/groups/jazz"))
    page = watched.page
    headings = await page.locator("h1, h2").all_inner_texts()
    assert headings[:4] == ["Jazz piano", "Rules", "Join from your server", "Recent conversations"]
    main = await page.locator("main").inner_text()
    assert "Credit the players you post." in main and "2 members" in main
    assert "The record that started it" in main and "Read the conversation (2 replies)" in main
    # A content warning hides the post until asked, without JavaScript.
    warning = page.locator("details.warning")
    assert await warning.locator(".content").is_hidden()
    await warning.locator("summary").click()
    assert await warning.locator(".content").is_visible()
    await page.get_by_role("link", name="Read the conversation (2 replies)").click()
    await page.wait_for_url(f"**/groups/jazz/posts/{site.posts['top']}")
    thread = await page.locator("main").inner_text()
    assert "Tiger Rag" in thread and "Fats Waller" in thread
    assert "Image: Art Tatum at the piano, 1940s" in thread
    assert await page.locator("img").count() == 0, "no remote media is loaded"


@pytest.mark.parametrize("javascript", [True, False])
async def test_join_form_takes_the_visitor_to_their_servers_follow_page(
    site: Site, browser: Browser, javascript: bool
) -> None:
    context = await browser.new_context(viewport=PHONE, java_script_enabled=javascript)
    try:
        watched, _ = await open_page(context, site.url("/groups/jazz"))
        page = watched.page
        await page.get_by_role("link", name="Join this group").click()
        field = page.get_by_label("Your fediverse account, or just your server")
        await field.fill(site.visitor.handle("vic"))
        await field.press("Enter")  # keyboard only
        await page.wait_for_url(f"{site.visitor.base_url}/authorize_interaction?**")
        query = parse_qs(urlsplit(page.url).query)
        assert query == {"uri": [f"jazz@{site.server.settings.domain}"]}
        assert await page.locator("h1").inner_text() == (
            f"Follow jazz@{site.server.settings.domain}?"
        )
        csp = [m for m in watched.messages if "Content Security Policy" in m]
        assert csp == [], "the CSP must let the form's redirect through"
    finally:
        await context.close()


async def test_join_from_lemmy_opens_its_search(site: Site, context: BrowserContext) -> None:
    site.lemmy.route(
        "/search",
        lambda request: _html_page(f"Search {request.query.get('q', '')}"),
    )
    watched, _ = await open_page(context, site.url("/groups/jazz"))
    page = watched.page
    await page.get_by_label("Your fediverse account, or just your server").fill(site.lemmy.domain)
    await page.get_by_role("button", name="Go to my server").click()
    await page.wait_for_url(f"{site.lemmy.base_url}/search?**")
    assert parse_qs(urlsplit(page.url).query) == {"q": [f"!jazz@{site.server.settings.domain}"]}


async def _html_page(title: str) -> web.Response:
    body = f"<!doctype html><title>{html.escape(title)}</title><h1>{html.escape(title)}</h1>"
    return web.Response(text=body, content_type="text/html")


async def test_a_bad_handle_is_explained_next_to_the_field(
    site: Site, context: BrowserContext
) -> None:
    watched, _ = await open_page(context, site.url("/groups/jazz"))
    page = watched.page
    field = page.get_by_label("Your fediverse account, or just your server")
    await field.fill("someone at home")
    await page.get_by_role("button", name="Go to my server").click()
    await page.wait_for_url("**/groups/jazz/join")
    field = page.get_by_label("Your fediverse account, or just your server")
    assert await field.get_attribute("aria-invalid") == "true"
    assert await field.input_value() == "someone at home"
    description = await field.evaluate(
        "e => e.getAttribute('aria-describedby').split(' ')"
        ".map(id => document.getElementById(id).textContent.trim()).join(' ')"
    )
    assert "does not look like an account or a server" in description
    assert "Be kind." in await page.locator("main").inner_text()


async def test_members_only_group_shows_no_content(site: Site, context: BrowserContext) -> None:
    watched, _ = await open_page(context, site.url("/groups/circle"))
    page = watched.page
    main = await page.locator("main").inner_text()
    assert "Grief circle" in main and "What is said here stays here." in main
    assert "Ask to join from your server" in main
    assert "hard week" not in await page.content()
    assert await page.locator("article").count() == 0
    assert await page.locator("link[type='application/atom+xml']").count() == 0
    for path in (f"/groups/circle/posts/{site.posts['secret']}", "/groups/circle/feed.atom"):
        other, response = await open_page(context, site.url(path))
        assert response is not None and response.status == 404, path
        assert "hard week" not in await other.page.content()


async def test_copy_button_is_an_extra_that_copies_the_handle(site: Site, browser: Browser) -> None:
    handle = f"@jazz@{site.server.settings.domain}"
    plain = await browser.new_context(java_script_enabled=False)
    try:
        watched, _ = await open_page(plain, site.url("/groups/jazz"))
        assert await watched.page.locator("#group-handle").inner_text() == handle
        assert await watched.page.get_by_role("button", name="Copy the handle").count() == 0
    finally:
        await plain.close()
    context = await browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    try:
        watched, _ = await open_page(context, site.url("/groups/jazz"))
        page = watched.page
        button = page.get_by_role("button", name="Copy the handle")
        await button.focus()
        await page.keyboard.press("Enter")
        await page.get_by_role("status").filter(has_text="Copied").wait_for()
        assert await page.evaluate("navigator.clipboard.readText()") == handle
        assert watched.problems() == []
    finally:
        await context.close()


async def test_skip_link_is_the_first_stop_for_keyboard_users(
    site: Site, context: BrowserContext
) -> None:
    watched, _ = await open_page(context, site.url("/groups/jazz"))
    page = watched.page
    await page.keyboard.press("Tab")
    focused = page.locator(":focus")
    assert await focused.inner_text() == "Skip to content"
    assert await focused.evaluate("e => e.getBoundingClientRect().top") >= 0, "visible on focus"
    await page.keyboard.press("Enter")
    assert await page.evaluate("document.activeElement.id") == "main"


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_axe_finds_no_serious_accessibility_problem(
    site: Site, browser: Browser, axe_source: str, artifacts: Path, scheme: str
) -> None:
    pages = _pages(site)
    context = await browser.new_context(viewport=PHONE, color_scheme=scheme)
    serious: dict[str, list[str]] = {}
    report: dict[str, object] = {}
    try:
        join_error, _ = await open_page(context, site.url("/groups/jazz"))
        await join_error.page.get_by_label("Your fediverse account, or just your server").fill("?")
        await join_error.page.get_by_role("button", name="Go to my server").click()
        await join_error.page.wait_for_url("**/join")
        targets = {name: None for name in pages} | {"join-problem": join_error}
        for name, ready in targets.items():
            watched = ready or (await open_page(context, pages[name]))[0]
            # Evaluated through the DevTools protocol: the page's CSP (no inline scripts)
            # stays in force for the page itself.
            await watched.page.evaluate(axe_source)
            result = await watched.page.evaluate("axe.run(document, {resultTypes: ['violations']})")
            assert len(result["passes"]) > 10, f"{name}: axe checked almost nothing"
            violations = result["violations"]
            report[name] = [
                {"id": v["id"], "impact": v["impact"], "nodes": len(v["nodes"])} for v in violations
            ]
            serious[name] = [
                f"{v['id']} ({v['impact']}): {v['help']} at {v['nodes'][0]['target']}"
                for v in violations
                if v["impact"] in ("serious", "critical")
            ]
    finally:
        await context.close()
    (artifacts / f"axe-{scheme}.json").write_text(json.dumps(report, indent=2))
    assert {name: found for name, found in serious.items() if found} == {}


async def test_the_axe_pass_sees_a_real_problem(
    site: Site, context: BrowserContext, axe_source: str
) -> None:
    """The harness itself: a page with known faults must show them as serious."""
    page = await context.new_page()
    await page.set_content(
        '<html><body><img src="x.png"><input type="text">'
        '<p style="color:#777;background:#888">faint</p></body></html>'
    )
    await page.evaluate(axe_source)
    result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    found = {v["id"] for v in result["violations"] if v["impact"] in ("serious", "critical")}
    assert {"image-alt", "label", "color-contrast"} <= found
