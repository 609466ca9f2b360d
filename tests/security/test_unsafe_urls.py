"""Class 5: unsafe URLs in what the group writes.

Only http(s) URLs go into anything the group authors: the quote note it sends microblog
members of a members-only group, and the pages and feeds it serves (links to the original,
the author, attachments, the parent elsewhere, events). Every form of a script URL is
tried: plain, mixed case, with whitespace or control characters, entity-encoded, data: and
vbscript:, and a scheme with no host.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from html.parser import HTMLParser

import aiohttp
import pytest

from fedgroup.activitypub import builders
from fedgroup.activitypub.sanitize import sanitize_html
from fedgroup.activitypub.vocab import http_url
from tests.fakes import FakeInstance
from tests.fakes.members import join, post_to_group, start_remote

UNSAFE = [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "\tjavascript:alert(1)",
    "java\nscript:alert(1)",
    "javascript&#58;alert(1)",
    "&#106;avascript:alert(1)",
    "jav&#x61;script:alert(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "DATA:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "https:javascript:alert(1)",
    "//evil.example/x",
]


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v or "" for k, v in attrs if k in {"href", "src", "action", "formaction"}]


def unsafe_links(html: str) -> list[str]:
    """Every link target in `html` that is neither http(s) nor a path or fragment of ours."""
    parser = _Links()
    parser.feed(html)
    return [
        url
        for url in parser.urls
        if not http_url(url)
        and not (url.startswith("/") and not url.startswith("//"))
        and not url.startswith("#")
    ]


@pytest.mark.parametrize("url", UNSAFE)
def test_the_quote_note_links_only_http_urls(url):
    note = builders.members_only_note(
        "https://groups.example/n/1",
        "https://groups.example/groups/g",
        "https://groups.example/groups/g/followers",
        author_url=url,
        author_handle="@alice@a.example",
        original_url=url,
        content_html=sanitize_html(f'<a href="{url}">x</a><img src="{url}">'),
        published="2026-11-27T00:00:00Z",
    )
    assert unsafe_links(note["content"]) == []
    assert note["tag"] == []  # no Mention of something that is not an actor's URL
    assert "@alice@a.example" in note["content"]


@pytest.mark.parametrize("url", UNSAFE)
def test_the_sanitizer_drops_every_form(url):
    for markup in (f'<a href="{url}">x</a>', f"<a href='{url}' title='{url}'>x</a>"):
        assert unsafe_links(sanitize_html(markup)) == []


@pytest.fixture
async def members(server) -> AsyncIterator[tuple[FakeInstance, FakeInstance]]:
    """A members-only group `quiet`, with alice on a Mastodon-like server (she gets the
    group's quote notes) and bob on another."""
    await server.create_group("quiet", members_only=True)
    mastodon = await start_remote("mastodon", "alice")
    other = await start_remote("mastodon", "bob")
    mastodon.add_actor("eve", url="javascript:alert(1)")
    for remote, name in ((mastodon, "alice"), (other, "bob")):
        await join(server, remote, name, "quiet")
        await join(server, remote, name, "jazz")
    await join(server, mastodon, "eve", "jazz")
    yield mastodon, other
    await mastodon.close()
    await other.close()


def attachment(url: str) -> list[dict]:
    return [
        {"type": "Document", "mediaType": "image/png", "url": url, "name": "a picture"},
        {"type": "Link", "href": url, "name": "a link"},
    ]


@pytest.mark.parametrize("url", UNSAFE[:4] + UNSAFE[8:10])
async def test_what_members_get_from_the_group_links_only_http(server, members, url):
    mastodon, other = members
    post = await post_to_group(
        server,
        other,
        "bob",
        "quiet",
        f'<p>see <a href="{url}">this</a></p>',
        public=False,
        url=url,
        attachment=attachment(url),
    )
    quote = await mastodon.wait_for(
        lambda p: (p.json or {}).get("type") == "Create" and post.ap_id in p.body.decode()
    )
    content = quote.json["object"]["content"]
    assert unsafe_links(content) == [], content
    assert f'href="{post.ap_id}"' in content  # "Original post" falls back to the post's id


@pytest.mark.parametrize("url", UNSAFE[:3] + UNSAFE[8:11])
async def test_pages_and_feeds_link_only_http(server, members, url):
    mastodon, _other = members
    parent = f"{url}#{uuid.uuid4().hex[:6]}"
    post = await post_to_group(
        server,
        mastodon,
        "eve",
        "jazz",
        f'<p>see <a href="{url}">this</a></p>',
        url=[{"type": "Link", "href": url}],
        attachment=attachment(url),
        inReplyTo=parent,
    )
    async with aiohttp.ClientSession() as session:
        for path in (f"/groups/jazz/posts/{post.id}", "/groups/jazz", "/groups/jazz/feed.atom"):
            async with session.get(server.url(path), headers={"Accept": "text/html"}) as page:
                body = await page.text()
                assert page.status == 200, (path, body[:200])
            assert unsafe_links(body) == [], path
