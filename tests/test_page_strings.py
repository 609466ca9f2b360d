"""Every word a visitor reads is in one catalog, ready for translation.

Templates hold all the text of the pages, each string inside `_()` or `ngettext()`; Python
code passes values and problem codes only. A literal word left in a template, or in an
attribute a screen reader speaks, would escape translation, so it fails here.
"""

from __future__ import annotations

import re

import jinja2
import pytest

from fedgroup.web.catalog import CATALOG, pot_text
from fedgroup.web.templating import TEMPLATES, make_environment

TEMPLATE_NAMES = sorted(p.relative_to(TEMPLATES).as_posix() for p in TEMPLATES.rglob("*.html"))
_SPOKEN_ATTRIBUTE = re.compile(
    r"""\s(?:alt|title|aria-label|placeholder|data-done|data-failed)\s*=\s*["']([^"']*)["']"""
)
_TAG = re.compile(r"<!--.*?-->|<[^>]*>", re.DOTALL)
_WORD = re.compile(r"[^\W\d_]{2,}")


_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)


def _literal_text(source: str) -> list[str]:
    """Words outside `{{ }}`/`{% %}` and outside tags, and words in spoken attributes."""
    markup = _JINJA.sub("\x00", source)
    found = [value for value in _SPOKEN_ATTRIBUTE.findall(markup) if _WORD.search(value)]
    found += _WORD.findall(_TAG.sub(" ", markup))
    # The doctype is markup, not text.
    return [w for w in found if w.strip() and w not in {"doctype", "html"}]


@pytest.mark.parametrize("template", TEMPLATE_NAMES)
def test_templates_have_no_untranslatable_text(template: str) -> None:
    assert _literal_text((TEMPLATES / template).read_text(encoding="utf-8")) == []


def test_the_check_catches_a_literal_word() -> None:
    source = (
        '<p>Hello</p><img alt="A cat" src="x"><nav aria-label="{{ _(\'Site\') }}">'
        '{% if x %}<p>{{ _("fine") }}</p>{% endif %}</nav>'
    )
    assert _literal_text(source) == ["A cat", "Hello"]


@pytest.mark.parametrize("template", TEMPLATE_NAMES)
def test_every_template_renders_its_strings_through_gettext(template: str) -> None:
    """Each `_()` gets a literal string, so the catalog can list it."""
    source = (TEMPLATES / template).read_text(encoding="utf-8")
    calls = len(re.findall(r"\b(?:_|ngettext)\(", source))
    extracted = list(make_environment().extract_translations(source))
    assert len(extracted) == calls


def test_catalog_lists_every_string_of_the_templates() -> None:
    assert CATALOG.read_text(encoding="utf-8") == pot_text(), (
        "fedgroup/web/locale/messages.pot is out of date: run `make messages`"
    )


def test_templates_escape_what_they_are_given() -> None:
    env = make_environment()
    env.globals["site"] = {"domain": "<b>x</b>", "base_url": "http://x"}
    html = env.get_template("not_found.html").render()
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ missing.value }}").render()
