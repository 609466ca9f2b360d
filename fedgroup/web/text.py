"""Turning operator-written plain text (summaries, rules) into safe HTML."""

from __future__ import annotations

import html


def plain_text_to_html(text: str) -> str:
    """Escape and keep paragraphs and line breaks, so nothing an admin types becomes markup."""
    paragraphs = [p.strip() for p in text.replace("\r\n", "\n").split("\n\n")]
    return "".join(
        "<p>" + "<br>".join(html.escape(line) for line in p.split("\n")) + "</p>"
        for p in paragraphs
        if p
    )
