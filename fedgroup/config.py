"""Settings: environment variables, an optional TOML file, command-line flags win.

One frozen object is built at start-up and handed down; a bad value fails start-up with
one line that names the setting, so an operator never has to read a traceback.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

DEFAULT_DATABASE_URL = "sqlite://./data/fedgroup.sqlite3"
WORKERS_SEPARATE = "separate"
WORKERS_INLINE = "inline"
WORKER_MODES = (WORKERS_SEPARATE, WORKERS_INLINE)


class ConfigError(ValueError):
    """A setting has a value we cannot run with; the message names it."""


@dataclass(frozen=True)
class Settings:
    """Everything the server, the workers and the admin CLI need to know."""

    base_url: str = "http://127.0.0.1:8080"
    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = 8080
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    allow_private_network: bool = False
    max_inbox_bytes: int = 1_048_576
    max_fetch_bytes: int = 1_048_576
    header_timeout: int = 10
    body_timeout: int = 30
    keepalive_timeout: int = 75
    max_connections: int = 512
    max_connections_per_address: int = 64
    signature_max_age: int = 3900
    signature_max_future: int = 3600
    max_json_depth: int = 32
    max_json_items: int = 1000
    max_ld_bytes: int = 262_144
    ld_time_budget: int = 5
    ld_workers: int = 1
    max_icon_bytes: int = 2_097_152
    delivery_concurrency: int = 32
    delivery_per_host: int = 2
    delivery_give_up_after: int = 7 * 24 * 3600
    unreachable_after: int = 24 * 3600
    accept_non_members: bool = False
    authorized_fetch: bool = False
    # Federate only with domains that have an allow entry (`policy allow`); every other
    # domain is treated as suspended, as Mastodon's limited federation mode does.
    allowlist_mode: bool = False
    group_name_reuse_after: int = 30 * 24 * 3600
    join_lookup_timeout: int = 8
    prune_interval: int = 3600
    prune_inbound_after: int = 30 * 24 * 3600
    prune_outbound_after: int = 30 * 24 * 3600
    prune_deliveries_after: int = 7 * 24 * 3600
    prune_remote_after: int = 30 * 24 * 3600
    # "separate": `fedgroup serve` answers HTTP in one process and runs the queues (inbound,
    # delivery, housekeeping) in a worker process it supervises, so sending never takes the
    # event loop (nor the GIL) from the inbox; "inline": everything in one process.
    workers: str = WORKERS_SEPARATE
    log_level: str = "INFO"
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def domain(self) -> str:
        """The host (with a non-default port) that names our actors: `acct:NAME@domain`."""
        return urlsplit(self.base_url).netloc

    def url(self, path: str) -> str:
        """Absolute public URL for a local path."""
        return self.base_url.rstrip("/") + path

    def with_bound_port(self, port: int) -> Settings:
        """These settings once the server is listening on `port` (what `port = 0` became):
        a base URL that was derived from the port follows it; an explicit one stays."""
        derived = self.base_url == default_base_url(self.host, self.port)
        base_url = default_base_url(self.host, port) if derived else self.base_url
        return replace(self, port=port, base_url=base_url)


def default_base_url(host: str, port: int) -> str:
    """The public origin when none is configured: where the server listens."""
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{port}"


_ENV_PREFIX = "FEDGROUP_"


def _parse_bool(name: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"{name}: expected a boolean (1/0, true/false), got {raw!r}")


def _parse_int(name: str, raw: Any, *, low: int, high: int) -> int:
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise ConfigError(f"{name}: expected a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}: {value} is outside {low}..{high}")
    return value


def _parse_base_url(name: str, raw: Any) -> str:
    text = str(raw).strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(f"{name}: expected an origin such as https://groups.example, got {raw!r}")
    if parts.path or parts.query or parts.fragment:
        raise ConfigError(f"{name}: must be an origin without a path, got {raw!r}")
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 0 < port < 65536:
        raise ConfigError(f"{name}: not a usable port in {raw!r}")
    return text


def _parse_database_url(name: str, raw: Any) -> str:
    text = str(raw).strip()
    scheme = text.split("://", 1)[0] if "://" in text else ""
    if scheme not in {"sqlite", "postgres", "postgresql", "asyncpg"}:
        raise ConfigError(f"{name}: expected sqlite://PATH or postgres://USER@HOST/DB, got {raw!r}")
    if scheme == "sqlite" and not text[len("sqlite://") :].split("?", 1)[0].strip():
        raise ConfigError(
            f"{name}: no file in {raw!r}; expected sqlite://PATH, e.g. {DEFAULT_DATABASE_URL}"
        )
    return text


def _parse_proxies(name: str, raw: Any) -> tuple:
    items = raw if isinstance(raw, list | tuple) else str(raw).split(",")
    nets = []
    for item in items:
        item = str(item).strip()
        if not item:
            continue
        try:
            nets.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(f"{name}: {item!r} is not an IP address or network") from None
    return tuple(nets)


def _parse_log_level(name: str, raw: Any) -> str:
    text = str(raw).strip().upper()
    if text not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ConfigError(f"{name}: expected DEBUG, INFO, WARNING or ERROR, got {raw!r}")
    return text


def _parse_workers(name: str, raw: Any) -> str:
    text = str(raw).strip().lower()
    if text not in WORKER_MODES:
        raise ConfigError(f"{name}: expected separate or inline, got {raw!r}")
    return text


_PARSERS: dict[str, Any] = {
    "base_url": _parse_base_url,
    "database_url": _parse_database_url,
    "host": lambda n, v: str(v).strip(),
    "port": lambda n, v: _parse_int(n, v, low=0, high=65535),
    "trusted_proxies": _parse_proxies,
    "allow_private_network": _parse_bool,
    "accept_non_members": _parse_bool,
    "authorized_fetch": _parse_bool,
    "allowlist_mode": _parse_bool,
    "log_level": _parse_log_level,
    "workers": _parse_workers,
}
_INT_RANGES = {
    "max_inbox_bytes": (1024, 64 * 1_048_576),
    "max_fetch_bytes": (1024, 64 * 1_048_576),
    "header_timeout": (1, 3600),
    "body_timeout": (1, 3600),
    "keepalive_timeout": (1, 3600),
    "max_connections": (1, 1_000_000),
    "max_connections_per_address": (1, 1_000_000),
    "signature_max_age": (60, 7 * 24 * 3600),
    "signature_max_future": (0, 24 * 3600),
    "max_json_depth": (8, 512),
    "max_json_items": (16, 1_000_000),
    "max_ld_bytes": (1024, 16 * 1_048_576),
    "ld_time_budget": (1, 300),
    "ld_workers": (1, 64),
    "max_icon_bytes": (1024, 64 * 1_048_576),
    "delivery_concurrency": (1, 1024),
    "delivery_per_host": (1, 256),
    "delivery_give_up_after": (60, 365 * 24 * 3600),
    "unreachable_after": (60, 365 * 24 * 3600),
    "group_name_reuse_after": (0, 100 * 365 * 24 * 3600),
    "join_lookup_timeout": (1, 60),
    "prune_interval": (1, 7 * 24 * 3600),
    # 0 keeps those rows for ever.
    "prune_inbound_after": (0, 100 * 365 * 24 * 3600),
    "prune_outbound_after": (0, 100 * 365 * 24 * 3600),
    "prune_deliveries_after": (0, 100 * 365 * 24 * 3600),
    "prune_remote_after": (0, 100 * 365 * 24 * 3600),
}
KNOWN_SETTINGS = tuple(f.name for f in fields(Settings) if f.name != "extra")
KNOWN_VARIABLES = tuple(_ENV_PREFIX + key.upper() for key in KNOWN_SETTINGS)


def _unknown(name: str, known: tuple[str, ...], what: str) -> ConfigError:
    """An unknown name is refused, not ignored: a typo would otherwise silently run with the
    default (FEDGROUP_PROT leaves the port at 8080). Names are compared without the
    FEDGROUP_ prefix they all share, so only a real near-miss is suggested."""
    by_stem = {k.removeprefix(_ENV_PREFIX).lower(): k for k in known}
    stem = name.removeprefix(_ENV_PREFIX).lower()
    close = difflib.get_close_matches(stem, list(by_stem), n=1, cutoff=0.6)
    hint = f"; did you mean {by_stem[close[0]]}?" if close else ""
    return ConfigError(f"{what} {name!r}{hint}")


def _parse_one(key: str, raw: Any, origin: str) -> Any:
    label = f"{origin}" if origin else key
    if key in _INT_RANGES:
        low, high = _INT_RANGES[key]
        return _parse_int(label, raw, low=low, high=high)
    return _PARSERS[key](label, raw)


def load_settings(
    *,
    environ: Mapping[str, str] | None = None,
    config_file: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Merge file < environment < flags into one validated Settings.

    Raises ConfigError with a single line naming the offending setting.
    """
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    if config_file is not None:
        path = Path(config_file)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"--config: file not found: {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"--config: {path} is not valid TOML: {exc}") from None
        for key, raw in data.items():
            if key not in KNOWN_SETTINGS:
                raise _unknown(key, KNOWN_SETTINGS, f"{path}: unknown setting")
            values[key] = _parse_one(key, raw, f"{path}: {key}")
    for env_name in sorted(environ):
        if env_name.startswith(_ENV_PREFIX) and env_name not in KNOWN_VARIABLES:
            raise _unknown(env_name, KNOWN_VARIABLES, "unknown environment variable")
    for key in KNOWN_SETTINGS:
        env_name = _ENV_PREFIX + key.upper()
        if env_name in environ:
            values[key] = _parse_one(key, environ[env_name], env_name)
    for key, raw in (overrides or {}).items():
        if raw is None:
            continue
        if key not in KNOWN_SETTINGS:
            raise _unknown(key, KNOWN_SETTINGS, "unknown setting")
        values[key] = _parse_one(key, raw, "--" + key.replace("_", "-"))
    settings = Settings(**values)
    if "base_url" not in values:
        settings = replace(settings, base_url=default_base_url(settings.host, settings.port))
    return settings


def settings_as_values(settings: Settings) -> dict[str, Any]:
    """Every setting as a plain (JSON and TOML) value that `load_settings` reads back to the
    same Settings: how `fedgroup serve` hands its exact effective settings, the bound port
    and base URL included, to the worker process it starts."""
    values: dict[str, Any] = {}
    for key in KNOWN_SETTINGS:
        value = getattr(settings, key)
        if key == "trusted_proxies":
            value = [str(network) for network in value]
        values[key] = value
    return values


def settings_from_values(values: Mapping[str, Any]) -> Settings:
    """The Settings `settings_as_values` described, checked as any setting is; nothing is
    read from the environment, so the receiving process cannot drift from the sender."""
    return load_settings(environ={}, overrides=values)
