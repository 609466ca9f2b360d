"""`fedgroup serve` runs the server; `fedgroup admin …` is the admin CLI."""

from __future__ import annotations

import sys

from . import __version__

USAGE = """\
usage: fedgroup {serve,admin} ... | --version
  serve      run the server (fedgroup serve --help)
  admin      the admin CLI (fedgroup admin --help)
  worker     the worker process that serve starts (not run by hand)
  --version  print the version"""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in {"-h", "--help"}:
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command in {"--version", "-V"}:
        print(f"fedgroup {__version__}")
        return 0
    if command == "serve":
        from .serve import serve

        return serve(rest)
    if command == "worker":
        from .worker_process import main as worker_main

        return worker_main(rest)
    if command == "admin":
        from .cli.main import main as admin_main

        return admin_main(rest, prog="fedgroup admin")
    print(f"fedgroup: unknown command {command!r} (try fedgroup --help)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
