"""Settings: environment, TOML file and flags merge in that order; bad values fail in one line."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest

from fedgroup.config import (
    DEFAULT_DATABASE_URL,
    KNOWN_SETTINGS,
    KNOWN_VARIABLES,
    ConfigError,
    load_settings,
)


def test_defaults_with_empty_environment() -> None:
    settings = load_settings(environ={})
    assert settings.host == "127.0.0.1"
    assert settings.port == 8080
    assert settings.base_url == "http://127.0.0.1:8080"
    assert settings.domain == "127.0.0.1:8080"
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.trusted_proxies == ()
    assert settings.allow_private_network is False


def test_environment_values_are_parsed() -> None:
    settings = load_settings(
        environ={
            "FEDGROUP_BASE_URL": "https://groups.example/",
            "FEDGROUP_PORT": " 9000 ",
            "FEDGROUP_DATABASE_URL": "postgres://fedgroup@db.internal/fedgroup",
            "FEDGROUP_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8,::1",
            "FEDGROUP_ALLOW_PRIVATE_NETWORK": "yes",
            "FEDGROUP_LOG_LEVEL": "debug",
            "FEDGROUP_MAX_INBOX_BYTES": "2048",
            "UNRELATED": "ignored",
        }
    )
    assert settings.base_url == "https://groups.example"
    assert settings.domain == "groups.example"
    assert settings.url("/groups/x") == "https://groups.example/groups/x"
    assert settings.port == 9000
    assert settings.database_url == "postgres://fedgroup@db.internal/fedgroup"
    assert settings.trusted_proxies == (
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )
    assert settings.allow_private_network is True
    assert settings.log_level == "DEBUG"
    assert settings.max_inbox_bytes == 2048


def test_base_url_follows_host_and_port_when_unset() -> None:
    settings = load_settings(environ={"FEDGROUP_HOST": "127.0.0.5", "FEDGROUP_PORT": "8181"})
    assert settings.base_url == "http://127.0.0.5:8181"


def test_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "fedgroup.toml"
    path.write_text(
        'base_url = "https://groups.example"\n'
        "port = 8111\n"
        'trusted_proxies = ["127.0.0.1", "192.168.0.0/16"]\n'
        "accept_non_members = true\n",
        encoding="utf-8",
    )
    settings = load_settings(environ={}, config_file=path)
    assert settings.base_url == "https://groups.example"
    assert settings.port == 8111
    assert settings.trusted_proxies == (
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("192.168.0.0/16"),
    )
    assert settings.accept_non_members is True


def test_file_then_environment_then_flags(tmp_path: Path) -> None:
    path = tmp_path / "fedgroup.toml"
    path.write_text('port = 8001\nhost = "127.0.0.2"\nlog_level = "ERROR"\n', encoding="utf-8")
    environ = {"FEDGROUP_PORT": "8002", "FEDGROUP_LOG_LEVEL": "WARNING"}
    settings = load_settings(
        environ=environ, config_file=path, overrides={"port": "8003", "log_level": None}
    )
    assert settings.port == 8003  # flag beats env beats file
    assert settings.log_level == "WARNING"  # env beats file; an absent flag (None) changes nothing
    assert settings.host == "127.0.0.2"  # only the file says it


def test_settings_are_frozen() -> None:
    settings = load_settings(environ={})
    with pytest.raises(AttributeError):
        settings.port = 1  # type: ignore[misc]


def _error(**kwargs: object) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(**kwargs)  # type: ignore[arg-type]
    message = str(caught.value)
    assert "\n" not in message, "an operator should read one line"
    return message


@pytest.mark.parametrize(
    ("env", "value", "words"),
    [
        ("FEDGROUP_PORT", "abc", "whole number"),
        ("FEDGROUP_PORT", "70000", "outside"),
        ("FEDGROUP_BASE_URL", "https://groups.example/fedgroup", "without a path"),
        ("FEDGROUP_BASE_URL", "https://groups.example/?x=1", "without a path"),
        ("FEDGROUP_BASE_URL", "groups.example", "origin"),
        ("FEDGROUP_BASE_URL", "ftp://groups.example", "origin"),
        ("FEDGROUP_DATABASE_URL", "mysql://root@localhost/x", "sqlite://"),
        ("FEDGROUP_DATABASE_URL", "./data/fedgroup.sqlite3", "sqlite://"),
        ("FEDGROUP_TRUSTED_PROXIES", "127.0.0.1,proxy.local", "'proxy.local'"),
        ("FEDGROUP_TRUSTED_PROXIES", "300.1.1.1", "not an IP"),
        ("FEDGROUP_ALLOW_PRIVATE_NETWORK", "maybe", "boolean"),
        ("FEDGROUP_LOG_LEVEL", "loud", "DEBUG"),
        ("FEDGROUP_MAX_INBOX_BYTES", "10", "outside"),
    ],
)
def test_bad_environment_value_names_the_setting(env: str, value: str, words: str) -> None:
    message = _error(environ={env: value})
    assert message.startswith(env + ":")
    assert words in message


def test_bad_flag_names_the_flag() -> None:
    message = _error(environ={}, overrides={"port": "eighty"})
    assert message.startswith("--port:")


def test_bad_toml_value_names_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "fedgroup.toml"
    path.write_text('port = "abc"\n', encoding="utf-8")
    message = _error(environ={}, config_file=path)
    assert message.startswith(f"{path}: port:")


def test_unknown_toml_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "fedgroup.toml"
    path.write_text('base_url = "https://groups.example"\nbaseurl = "typo"\n', encoding="utf-8")
    message = _error(environ={}, config_file=path)
    assert "unknown setting 'baseurl'" in message
    assert str(path) in message


def test_invalid_toml_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "fedgroup.toml"
    path.write_text("port = = 1\n", encoding="utf-8")
    message = _error(environ={}, config_file=path)
    assert message.startswith("--config:") and "not valid TOML" in message


def test_missing_config_file(tmp_path: Path) -> None:
    message = _error(environ={}, config_file=tmp_path / "nope.toml")
    assert message.startswith("--config: file not found")
    assert "nope.toml" in message


def test_every_setting_has_an_environment_variable() -> None:
    """The README documents FEDGROUP_<NAME> for each setting; each one must be read."""
    samples = {
        "base_url": "https://g.example",
        "database_url": "sqlite://:memory:",
        "host": "127.0.0.9",
        "port": "1234",
        "trusted_proxies": "127.0.0.1",
        "allow_private_network": "true",
        "accept_non_members": "true",
        "log_level": "ERROR",
        "workers": "inline",
    }
    defaults = load_settings(environ={})
    for key in KNOWN_SETTINGS:
        raw = samples.get(key) or str(getattr(defaults, key) + 1)
        settings = load_settings(environ={"FEDGROUP_" + key.upper(): raw})
        assert getattr(settings, key) != getattr(defaults, key), key


def test_no_code_reads_a_fedgroup_variable_that_is_not_a_setting() -> None:
    """The FEDGROUP_ prefix belongs to settings and unknown ones stop start-up, so a tool or
    test that read FEDGROUP_SOMETHING would make the server refuse a developer's shell."""
    root = Path(__file__).resolve().parents[1]
    reads = re.compile(
        r"(?:environ\.get\(|environ\[|getenv\(|[A-Z_]*ENV[A-Z_]* = )"
        r"""\s*["'](FEDGROUP_[A-Z0-9_]+)"""
    )
    found = {
        (path.relative_to(root).as_posix(), name)
        for folder in ("fedgroup", "tests", "bench")
        for path in (root / folder).rglob("*.py")
        for name in reads.findall(path.read_text(encoding="utf-8"))
    }
    assert {(path, name) for path, name in found if name not in KNOWN_VARIABLES} == set()
