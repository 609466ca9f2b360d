"""The catalog of every string a visitor reads, as a gettext template (`messages.pot`).

Translators start from `fedgroup/web/locale/messages.pot` (Poedit, Weblate…) and put
`locale/LANG/LC_MESSAGES/fedgroup.mo` beside it. `make messages` rewrites the catalog from
the templates; tests fail when it is out of date, so it always lists every string.
"""

from __future__ import annotations

import sys
from collections import defaultdict

from .templating import LOCALES, TEMPLATES, make_environment

CATALOG = LOCALES / "messages.pot"
_HEADER = """\
# Strings of fedgroup's pages for people. Regenerate with `make messages`.
msgid ""
msgstr ""
"Content-Type: text/plain; charset=UTF-8\\n"
"Content-Transfer-Encoding: 8bit\\n"
"""


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def pot_text() -> str:
    """The catalog for the templates as they are now, in a stable order."""
    env = make_environment()
    where: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for path in sorted(TEMPLATES.rglob("*.html")):
        name = path.relative_to(TEMPLATES).as_posix()
        source = path.read_text(encoding="utf-8")
        for lineno, _function, message in env.extract_translations(source):
            strings = message if isinstance(message, tuple) else (message,)
            key = tuple(s for s in strings if s is not None)
            where[key].append(f"{name}:{lineno}")
    entries = [_HEADER]
    for key in sorted(where):
        lines = [f"#: {' '.join(where[key])}", f"msgid {_quote(key[0])}"]
        if len(key) > 1:
            lines += [f"msgid_plural {_quote(key[1])}", 'msgstr[0] ""', 'msgstr[1] ""']
        else:
            lines.append('msgstr ""')
        entries.append("\n".join(lines) + "\n")
    return "\n".join(entries)


def main() -> int:
    CATALOG.parent.mkdir(parents=True, exist_ok=True)
    CATALOG.write_text(pot_text(), encoding="utf-8")
    print(f"wrote {CATALOG}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
