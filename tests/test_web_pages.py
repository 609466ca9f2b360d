"""Pages for people, read over a real socket: what a visitor sees, and what they never see.

Posts arrive the way members' servers send them (signed Creates through the inbox), so the
pages show what the pipeline really stored. Browser-level behaviour (the join redirect,
accessibility, screenshots) is in tests/browser/.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import aiohttp
import pytest

from fedgroup.service import moderation
from fedgroup.storage.models import Group, Moderator, ModlogEntry, StoredObject
from tests.fakes import FakeInstance
from tests.fakes.members import join, post_to_group, start_remote
from tests.fakes.server import FedgroupServer

ATOM = "{http://www.w3.org/2005/Atom}"


_INLINE = {"a", "span", "em", "strong", "b", "i", "u", "s", "code", "time", "sup", "sub"}


class _Text(HTMLParser):
    """The visible text of a page (no tags, no attribute values)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        if tag not in _INLINE:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1
        if tag not in _INLINE:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join("".join(parser.parts).split())


@dataclass
class Site:
    server: FedgroupServer
    alice: FakeInstance  # Mastodon, member of jazz and circle
    bob: FakeInstance  # Lemmy, member of jazz
    session: aiohttp.ClientSession

    async def get(
        self, path: str, **headers: str
    ) -> tuple[int, str, aiohttp.typedefs.LooseHeaders]:
        async with self.session.get(self.server.url(path), headers=headers) as response:
            return response.status, await response.text(), response.headers


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with FedgroupServer(tmp_path) as server:
        await server.create_group(
            "jazz",
            display_name="Jazz piano",
            summary="Stride, bebop and everything between.",
            rules="Be kind.\nNo ads.",
        )
        await server.create_group(
            "circle",
            display_name="Grief circle",
            summary="A quiet place.",
            rules="What is said here stays here.",
            members_only=True,
            approval=True,
        )
        await server.create_group("unlisted", summary="Stride too", discoverable=False)
        await server.create_group("knitting", summary="Yarn and patterns", approval=True)
        alice = await start_remote("mastodon", "alice")
        bob = await start_remote("lemmy", "bob")
        try:
            await join(server, alice, "alice", "jazz")
            await join(server, alice, "alice", "circle")
            await join(server, bob, "bob", "jazz")
            async with aiohttp.ClientSession() as session:
                yield Site(server, alice, bob, session)
        finally:
            await alice.close()
            await bob.close()


# -- the front page ------------------------------------------------------------------------


async def test_front_page_lists_public_discoverable_groups_only(site: Site) -> None:
    status, html, _ = await site.get("/")
    assert status == 200
    text = visible_text(html)
    assert "Jazz piano" in text and "2 members" in text
    assert "Knitting" in text
    assert "Grief circle" not in text and "circle" not in html
    assert "unlisted" not in html.lower()


@pytest.mark.parametrize(
    ("query", "found", "absent"),
    [
        ("jazz", "Jazz piano", "Knitting"),  # by name
        ("BEBOP", "Jazz piano", "Knitting"),  # by a word of its description, any case
        ("yarn patterns", "Knitting", "Jazz piano"),  # every word must match
        ("piano", "Jazz piano", "Knitting"),  # by its display name
    ],
)
async def test_front_page_search_by_name_and_topic(
    site: Site, query: str, found: str, absent: str
) -> None:
    status, html, _ = await site.get(f"/?q={query}")
    text = visible_text(html)
    assert status == 200
    assert found in text and absent not in text
    assert f'value="{query}"' in html  # the search box keeps what was typed


@pytest.mark.parametrize("query", ["%", "_", "grief", "circle", "stride too"])
async def test_search_never_reveals_unlisted_or_members_only_groups(site: Site, query: str) -> None:
    status, html, _ = await site.get(f"/?q={query}")
    text = visible_text(html)
    assert status == 200
    assert "Grief circle" not in text and "/groups/unlisted" not in html
    assert "/groups/circle" not in html


async def test_search_text_is_escaped(site: Site) -> None:
    status, html, _ = await site.get("/?q=<script>alert(1)</script>")
    assert status == 200
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


async def test_bad_page_number_is_a_clear_400(site: Site) -> None:
    status, _html, _ = await site.get("/?page=-3")
    assert status == 400


# -- a public group's page -----------------------------------------------------------------


async def test_group_page_shows_profile_rules_members_and_sanitized_posts(site: Site) -> None:
    await post_to_group(
        site.server,
        site.alice,
        "alice",
        "jazz",
        '<p>Who plays <a href="https://example.org/">stride</a>?</p>'
        '<script>alert("x")</script><img src="https://tracker.example/p.gif" onerror="x()">',
    )
    status, html, headers = await site.get("/groups/jazz")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    text = visible_text(html)
    assert "Jazz piano" in text and "Stride, bebop and everything between." in text
    assert "Be kind." in text and "No ads." in text
    assert "2 members" in text
    assert f"@jazz@{site.server.settings.domain}" in text
    assert "Who plays stride?" in text
    assert "<script>alert" not in html and "tracker.example" not in html and "onerror" not in html
    assert 'rel="nofollow noopener noreferrer"' in html
    assert "Alice" in text and f"@alice@{site.alice.domain}" in text
    assert 'type="application/atom+xml"' in html


async def test_group_page_shows_threads_with_public_reply_counts(site: Site) -> None:
    top = await post_to_group(
        site.server,
        site.bob,
        "bob",
        "jazz",
        "<p>Favourite voicings?</p>",
        kind="Page",
        title="Voicings thread",
    )
    await post_to_group(
        site.server, site.alice, "alice", "jazz", "<p>Shells</p>", in_reply_to=top.ap_id
    )
    await post_to_group(
        site.server,
        site.alice,
        "alice",
        "jazz",
        "<p>private aside</p>",
        in_reply_to=top.ap_id,
        public=False,
    )
    _, html, _ = await site.get("/groups/jazz")
    text = visible_text(html)
    assert "Voicings thread" in text
    assert "Read the conversation (1 reply)" in text
    assert "Shells" not in text  # answers are on the thread's own page
    assert "private aside" not in html


async def test_followers_only_post_never_appears_on_a_public_group(site: Site) -> None:
    row = await post_to_group(
        site.server, site.alice, "alice", "jazz", "<p>only my followers</p>", public=False
    )
    _, html, _ = await site.get("/groups/jazz")
    assert "only my followers" not in html
    status, html, _ = await site.get(f"/groups/jazz/posts/{row.id}")
    assert status == 404 and "only my followers" not in html
    _, feed, _ = await site.get("/groups/jazz/feed.atom")
    assert "only my followers" not in feed


async def test_older_conversations_are_paged(site: Site) -> None:
    for n in range(23):
        await post_to_group(site.server, site.alice, "alice", "jazz", f"<p>post number {n}</p>")
    _, html, _ = await site.get("/groups/jazz")
    assert "post number 22" in html and "post number 3" in html and "post number 2<" not in html
    older = html.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0]
    assert older.startswith("/groups/jazz?before=")
    _, page_two, _ = await site.get(older.replace("&amp;", "&"))
    assert "post number 2<" in page_two and "post number 0<" in page_two
    assert "post number 3<" not in page_two


# -- a members-only group --------------------------------------------------------------------


async def test_members_only_group_shows_profile_rules_and_how_to_ask_but_no_content(
    site: Site,
) -> None:
    row = await post_to_group(site.server, site.alice, "alice", "circle", "<p>my secret sorrow</p>")
    status, html, _ = await site.get("/groups/circle")
    assert status == 200
    text = visible_text(html)
    assert "Grief circle" in text and "A quiet place." in text
    assert "What is said here stays here." in text
    assert "Ask to join from your server" in text
    assert "members only" in text.lower()
    assert "secret sorrow" not in html
    assert "member" not in text.replace("members only", "").replace("Members-only", "").replace(
        "its members", ""
    ), "no member count or list"
    assert "atom" not in html.lower()
    assert "Alice" not in text and site.alice.domain not in html
    for path in (f"/groups/circle/posts/{row.id}", "/groups/circle/feed.atom"):
        status, html, _ = await site.get(path)
        assert status == 404 and "secret sorrow" not in html


async def test_a_post_is_only_shown_under_its_own_group(site: Site) -> None:
    secret = await post_to_group(site.server, site.alice, "alice", "circle", "<p>not for jazz</p>")
    status, html, _ = await site.get(f"/groups/jazz/posts/{secret.id}")
    assert status == 404 and "not for jazz" not in html


async def test_turning_a_group_members_only_hides_what_it_had_published(site: Site) -> None:
    row = await post_to_group(site.server, site.alice, "alice", "jazz", "<p>said in public</p>")
    await Group.filter(name="jazz").update(visibility="members_only")
    for path in ("/groups/jazz", f"/groups/jazz/posts/{row.id}", "/groups/jazz/feed.atom"):
        _, html, _ = await site.get(path)
        assert "said in public" not in html


# -- a post and its thread -------------------------------------------------------------------


async def test_post_page_shows_the_thread_above_and_below(site: Site) -> None:
    top = await post_to_group(
        site.server,
        site.bob,
        "bob",
        "jazz",
        "<p>Tell me about Art Tatum</p>",
        kind="Page",
        title="Art Tatum",
    )
    middle = await post_to_group(
        site.server,
        site.alice,
        "alice",
        "jazz",
        "<p>Listen to Tiger Rag</p>",
        in_reply_to=top.ap_id,
    )
    await post_to_group(
        site.server, site.bob, "bob", "jazz", "<p>The 1933 one?</p>", in_reply_to=middle.ap_id
    )
    await post_to_group(
        site.server,
        site.alice,
        "alice",
        "jazz",
        "<p>hidden answer</p>",
        in_reply_to=middle.ap_id,
        public=False,
    )
    status, html, _ = await site.get(f"/groups/jazz/posts/{middle.id}")
    assert status == 200
    text = visible_text(html)
    assert text.index("Tell me about Art Tatum") < text.index("Listen to Tiger Rag")
    assert text.index("Listen to Tiger Rag") < text.index("The 1933 one?")
    assert "1 reply" in text
    assert "hidden answer" not in html
    assert "Back to Jazz piano" in text
    status, html, _ = await site.get(f"/groups/jazz/posts/{top.id}")
    text = visible_text(html)
    assert "2 replies" in text and "The 1933 one?" in text
    assert html.count('class="replies"') == 2, "the answer to the answer is nested"


async def test_deleted_post_is_gone_but_its_answers_keep_their_place(site: Site) -> None:
    top = await post_to_group(site.server, site.alice, "alice", "jazz", "<p>Root</p>")
    middle = await post_to_group(
        site.server, site.alice, "alice", "jazz", "<p>to be deleted</p>", in_reply_to=top.ap_id
    )
    await post_to_group(
        site.server, site.bob, "bob", "jazz", "<p>still here</p>", in_reply_to=middle.ap_id
    )
    await StoredObject.filter(id=middle.id).update(deleted=True, content_html="")
    status, _html, _ = await site.get(f"/groups/jazz/posts/{middle.id}")
    assert status == 404
    _, html, _ = await site.get(f"/groups/jazz/posts/{top.id}")
    text = visible_text(html)
    assert "to be deleted" not in text and "Deleted post" in text and "still here" in text


async def test_group_page_shows_moderators_pins_and_the_log_it_chooses_to_publish(
    site: Site,
) -> None:
    settings = site.server.settings
    group = await Group.get(name="jazz")
    bob = site.bob.actor_url("bob")
    await Moderator.create(group=group, actor_url=bob)
    welcome = await post_to_group(site.server, site.alice, "alice", "jazz", "<p>Welcome all</p>")
    spam = await post_to_group(
        site.server, site.alice, "alice", "jazz", "<p>Buy pianos</p>", in_reply_to=welcome.ap_id
    )
    reply = await post_to_group(
        site.server, site.bob, "bob", "jazz", "<p>No ads here</p>", in_reply_to=spam.ap_id
    )
    await moderation.set_pinned(settings, group, welcome, True)
    await moderation.remove_post(settings, group, spam, reason="advertising", by=bob)
    await ModlogEntry.create(group=group, moderator=bob, action="report", target=spam.ap_id)

    _, html, _ = await site.get("/groups/jazz")
    text = visible_text(html)
    assert "Moderators Bob @bob@" in text
    pinned = text.split("Pinned", 1)[1].split("Recent conversations", 1)[0]
    assert "Welcome all" in pinned and "Buy pianos" not in pinned
    assert "Buy pianos" not in text and "Moderation log" not in text
    _, html, _ = await site.get(f"/groups/jazz/posts/{welcome.id}")
    text = visible_text(html)
    assert "Removed post A moderator removed this post." in text and "No ads here" in text
    assert "Buy pianos" not in text
    status, _, _ = await site.get(f"/groups/jazz/posts/{spam.id}")
    assert status == 404
    assert reply.group_id == group.id

    group.publish_modlog = True
    await group.save()
    _, html, _ = await site.get("/groups/jazz")
    log = visible_text(html).split("Moderation log", 1)[1]
    assert f"Removed the post {spam.ap_id} Reason: advertising" in log
    assert f"Pinned the post {welcome.ap_id}" in log
    assert "by " not in log and "Bob" not in log, "moderators stay unnamed unless chosen"
    assert "report" not in log.lower(), "reports are never published"
    group.modlog_names_moderators = True
    await group.save()
    _, html, _ = await site.get("/groups/jazz")
    log = visible_text(html).split("Moderation log", 1)[1]
    assert f"Removed the post {spam.ap_id} · by Bob" in log
    assert f"Pinned the post {welcome.ap_id} · by admin" in log

    circle = await Group.get(name="circle")
    await Moderator.create(group=circle, actor_url=bob)
    circle.publish_modlog = True
    await circle.save()
    _, html, _ = await site.get("/groups/circle")
    text = visible_text(html)
    assert "Moderators" not in text and "Moderation log" not in text and "Bob" not in text


@pytest.mark.parametrize(
    "path", ["/groups/jazz/posts/999999", "/groups/nope", "/groups/nope/posts/1"]
)
async def test_unknown_pages_are_a_friendly_404(site: Site, path: str) -> None:
    status, html, headers = await site.get(path)
    assert status == 404 and headers["Content-Type"].startswith("text/html")
    assert "Nothing here" in visible_text(html)


# -- the Atom feed ---------------------------------------------------------------------------


async def test_atom_feed_of_a_public_group(site: Site) -> None:
    await post_to_group(
        site.server,
        site.bob,
        "bob",
        "jazz",
        "<p>Body &amp; soul</p><script>x()</script>",
        kind="Page",
        title="Standards <3",
    )
    await post_to_group(site.server, site.alice, "alice", "jazz", "<p>A short note</p>")
    status, body, headers = await site.get("/groups/jazz/feed.atom")
    assert status == 200 and headers["Content-Type"].startswith("application/atom+xml")
    feed = ET.fromstring(body.encode())
    assert feed.tag == f"{ATOM}feed"
    assert feed.findtext(f"{ATOM}title") == "Jazz piano"
    entries = feed.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}title") for e in entries] == ["A short note", "Standards <3"]
    content = entries[1].findtext(f"{ATOM}content") or ""
    assert "Body &amp; soul" in content and "<script>" not in content
    link = entries[0].find(f"{ATOM}link").get("href")
    assert link.startswith(site.server.url("/groups/jazz/posts/"))
    status, _, _ = await site.get(link.removeprefix(site.server.base_url))
    assert status == 200


# -- headers -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/groups/jazz", "/groups/circle", "/groups/nope"])
async def test_pages_carry_a_strict_content_security_policy(site: Site, path: str) -> None:
    _, _, headers = await site.get(path)
    csp = {
        part.split()[0]: part.split()[1:] for part in headers["Content-Security-Policy"].split("; ")
    }
    assert csp["default-src"] == ["'none'"]
    assert csp["script-src"] == ["'self'"] and csp["style-src"] == ["'self'"]
    assert csp["img-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"] and csp["base-uri"] == ["'none'"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"


async def test_every_response_has_nosniff_and_a_csp(site: Site) -> None:
    for path, accept in (
        ("/groups/jazz", "application/activity+json"),
        ("/groups/jazz/feed.atom", "*/*"),
        ("/.well-known/nodeinfo", "*/*"),
        ("/static/style.css", "*/*"),
    ):
        _, _, headers = await site.get(path, Accept=accept)
        assert headers["X-Content-Type-Options"] == "nosniff", path
        assert "default-src 'none'" in headers["Content-Security-Policy"], path


async def test_inline_scripts_and_styles_are_never_needed(site: Site) -> None:
    """The CSP allows no inline code, so the pages must not contain any."""
    await post_to_group(site.server, site.alice, "alice", "jazz", "<p>hi</p>")
    for path in ("/", "/groups/jazz", "/groups/circle"):
        _, html, _ = await site.get(path)
        assert "<script>" not in html and "<style" not in html and " style=" not in html
        assert re.search(r"\son[a-z]+\s*=", html) is None
