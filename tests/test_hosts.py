"""One canonical spelling per host: every way of writing a host that reaches the same server
gives the same string, so rules written one way cannot be passed by writing it another."""

from __future__ import annotations

import pytest

from fedgroup.activitypub.hosts import (
    InvalidHost,
    canonical_authority,
    canonical_host,
    host_or_none,
)

SAME_AS_BAD_EXAMPLE = [
    "bad.example",
    "BAD.Example",
    "bad.example.",
    "bad.example:443",
    "bad.example.:8443",
    "https://bad.example/users/x",
    "https://bad.example.:443/users/x",
    "http://user@bad.example:80/",
    "ｂａｄ.example",  # fullwidth letters
    "ｂａｄ．ｅｘａｍｐｌｅ",  # fullwidth letters and full stop
    "bad。example",  # ideographic full stop
    "bad｡example.",  # halfwidth ideographic full stop
]


@pytest.mark.parametrize("spelling", SAME_AS_BAD_EXAMPLE)
def test_every_spelling_of_a_host_is_one_host(spelling: str) -> None:
    assert canonical_host(spelling) == "bad.example"


def test_unicode_and_punycode_forms_are_one_host() -> None:
    assert canonical_host("bücher.example") == "xn--bcher-kva.example"
    assert canonical_host("https://BÜCHER.example/") == "xn--bcher-kva.example"
    assert canonical_host("xn--bcher-kva.example") == "xn--bcher-kva.example"


@pytest.mark.parametrize(
    ("url", "authority"),
    [
        ("https://bad.example:443/x", "bad.example"),
        ("http://bad.example:80/x", "bad.example"),
        ("https://bad.example:80/x", "bad.example:80"),
        ("http://127.0.0.5:8080/inbox", "127.0.0.5:8080"),
        ("https://[::1]:8443/", "[::1]:8443"),
        ("https://[0:0::1]/", "[::1]"),
        ("https://BAD.example.:8443/", "bad.example:8443"),
    ],
)
def test_authority_keeps_only_a_non_default_port(url: str, authority: str) -> None:
    assert canonical_authority(url) == authority


@pytest.mark.parametrize(
    "bad", ["", "https:///x", "a..b", "bad.example:99999", "bad.example:x", "-.example", "[::1"]
)
def test_what_names_no_host_is_refused(bad: str) -> None:
    with pytest.raises(InvalidHost):
        canonical_host(bad)
    assert host_or_none(bad) is None
