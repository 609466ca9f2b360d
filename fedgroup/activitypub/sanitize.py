"""Sanitizing remote HTML before we ever render or re-publish it.

Remote content is kept as received (for the Announce, which must stay the member's words)
and, separately, reduced to a safe subset here with nh3 (Ammonia): the same set of tags
Mastodon keeps, links forced to http(s) with rel=nofollow noopener.
"""

from __future__ import annotations

import html as html_lib

import nh3

from .vocab import http_url

_TAGS = {
    "p",
    "br",
    "a",
    "span",
    "em",
    "i",
    "strong",
    "b",
    "u",
    "s",
    "del",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "sup",
    "sub",
    "hr",
}
_ATTRIBUTES = {"a": {"href", "class", "title"}, "span": {"class"}, "ol": {"start", "reversed"}}
_URL_ATTRIBUTES = {"href", "src", "action", "formaction", "cite", "poster"}


def _only_absolute_http(_tag: str, attribute: str, value: str) -> str | None:
    """Every URL we keep is an absolute http(s) URL (`vocab.http_url`): no relative or
    scheme-relative links either, which would point at our own server or anywhere."""
    if attribute in _URL_ATTRIBUTES and http_url(value) is None:
        return None
    return value


def sanitize_html(html: str) -> str:
    """A safe HTML subset of remote content: no scripts, styles, handlers or foreign schemes."""
    if not html:
        return ""
    return nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https"},
        attribute_filter=_only_absolute_http,
        link_rel="nofollow noopener noreferrer",
        strip_comments=True,
    )


def plain_text_to_html(text: str) -> str:
    """Operator-written plain text (summaries, rules) as HTML: escaped, paragraphs and line
    breaks kept, so nothing an admin types becomes markup."""
    paragraphs = [p.strip() for p in text.replace("\r\n", "\n").split("\n\n")]
    return "".join(
        "<p>" + "<br>".join(html_lib.escape(line) for line in p.split("\n")) + "</p>"
        for p in paragraphs
        if p
    )
