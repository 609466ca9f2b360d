"""Pages for people: Jinja2 templates with autoescaping, every string marked for gettext.

Why Jinja2 (through aiohttp-jinja2, aio-libs' binding that keeps the environment on the app):
it escapes everything by default, so remote names and texts cannot become markup; templates
need no build step; its i18n extension speaks gettext, the format translators' tools read.
All text a visitor reads is in `templates/`, inside `_()`/`ngettext()`: Python code hands the
templates values and problem codes, never sentences (tests/test_page_strings.py checks it).
"""

from __future__ import annotations

import gettext
import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from markupsafe import Markup

from ..activitypub.sanitize import sanitize_html
from ..config import Settings
from .text import plain_text_to_html

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
LOCALES = HERE / "locale"
GETTEXT_DOMAIN = "fedgroup"
LANGUAGE = "en"


def content_security_policy(settings: Settings) -> str:
    """Scripts, styles and images from us only; no plugins, frames or inline code.

    Forms post only to us, and the join form's answer may send the browser on to the
    visitor's own server over https (http too when private networks are allowed, as in
    tests): browsers apply `form-action` to that redirect as well.
    """
    form_action = "'self' https:" + (" http:" if settings.allow_private_network else "")
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self'",
            f"form-action {form_action}",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ]
    )


def _static_versions() -> dict[str, str]:
    """Content hashes for cache-busting URLs: a new release never shows a stale stylesheet."""
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        for path in STATIC.iterdir()
        if path.is_file()
    }


def _when(value: datetime | None) -> str:
    """A date anyone can read whatever their language: `2026-11-23 10:00 UTC`."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _iso(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def make_environment() -> jinja2.Environment:
    """The template environment; the same one renders pages and feeds the string catalog."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    translations = gettext.translation(
        GETTEXT_DOMAIN, localedir=LOCALES, languages=[LANGUAGE], fallback=True
    )
    env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
    versions = _static_versions()
    env.globals["static"] = lambda name: f"/static/{name}?v={versions.get(name, '0')}"
    env.globals["lang"] = LANGUAGE
    env.filters["when"] = _when
    env.filters["iso"] = _iso
    env.filters["clean"] = lambda html: Markup(sanitize_html(html or ""))
    env.filters["paragraphs"] = lambda text: Markup(plain_text_to_html(text or ""))
    return env


def setup_pages(app: web.Application, settings: Settings) -> None:
    """Install the template environment and the static files on the application."""
    env = make_environment()
    env.globals["site"] = {"domain": settings.domain, "base_url": settings.base_url}
    app[aiohttp_jinja2.APP_KEY] = env
    app.router.add_static("/static/", STATIC, name="static")


def render(
    request: web.Request, template: str, context: dict[str, Any], *, status: int = 200
) -> web.Response:
    """A page; the security headers are added for every HTML response by the middleware."""
    return aiohttp_jinja2.render_template(template, request, context, status=status)
