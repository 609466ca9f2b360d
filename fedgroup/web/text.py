"""Turning operator-written plain text (summaries, rules) into safe HTML, for the pages.

The function lives with the protocol's HTML helpers because the actor document (built by the
service layer for `Update{Group}` too) renders the same text the same way.
"""

from __future__ import annotations

from ..activitypub.sanitize import plain_text_to_html

__all__ = ["plain_text_to_html"]
