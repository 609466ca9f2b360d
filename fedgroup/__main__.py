"""`fedgroup serve` runs the server; `fedgroup admin …` is the admin CLI."""

from __future__ import annotations

import argparse
import logging
import sys

from aiohttp import web

from .config import ConfigError, Settings, load_settings


def _serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fedgroup serve", description="Run the group server.")
    parser.add_argument("--config", help="TOML settings file (env vars and flags override it)")
    parser.add_argument("--host", help="address to listen on (FEDGROUP_HOST)")
    parser.add_argument("--port", help="port to listen on (FEDGROUP_PORT)")
    parser.add_argument("--base-url", help="public origin, e.g. https://groups.example")
    parser.add_argument("--database-url", help="sqlite://PATH or postgres://USER@HOST/DB")
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR")
    return parser


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("tortoise").setLevel(logging.WARNING)


def serve(argv: list[str]) -> int:
    args = _serve_parser().parse_args(argv)
    try:
        settings = load_settings(
            config_file=args.config,
            overrides={
                "host": args.host,
                "port": args.port,
                "base_url": args.base_url,
                "database_url": args.database_url,
                "log_level": args.log_level,
            },
        )
    except ConfigError as exc:
        print(f"fedgroup: configuration error: {exc}", file=sys.stderr)
        return 2
    return run_server(settings)


def run_server(settings: Settings) -> int:
    from .app import create_app

    configure_logging(settings.log_level)
    logging.getLogger("fedgroup").info(
        "serving %s on http://%s:%d (database %s)",
        settings.base_url,
        settings.host,
        settings.port,
        settings.database_url.split("://", 1)[0],
    )
    try:
        web.run_app(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            access_log=None,
            print=None,
            shutdown_timeout=10,
        )
    except OSError as exc:
        print(f"fedgroup: cannot listen on {settings.host}:{settings.port}: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    usage = "usage: fedgroup {serve,admin} ...\n  serve   run the server\n  admin   the admin CLI"
    if not argv or argv[0] in {"-h", "--help"}:
        print(usage)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "serve":
        return serve(rest)
    if command == "admin":
        from .cli.main import main as admin_main

        return admin_main(rest, prog="fedgroup admin")
    print(f"fedgroup: unknown command {command!r}\n{usage}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
