"""The admin command line from a checkout: `python admin_cli.py group list`.

fedgroup's dependencies live in the checkout's virtualenv (.venv, made by `make run` or
`make test`). Run with another interpreter (a bare `python3`), this script re-runs itself
with .venv's, so the README's command works as written; without a .venv it says in one line
how to make one.
"""

import os
import sys
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent
VENV = CHECKOUT / ".venv"

try:
    from fedgroup.cli.main import main
except ModuleNotFoundError as exc:
    if (exc.name or "").split(".")[0] == "fedgroup":
        raise
    venv_python = VENV / "bin" / "python"
    if venv_python.exists() and Path(sys.prefix).resolve() != VENV.resolve():
        os.execv(venv_python, [str(venv_python), str(Path(__file__).resolve()), *sys.argv[1:]])
    sys.stderr.write(
        f"error: fedgroup's dependencies are not installed for {sys.executable} "
        f"(no module {exc.name!r}); run `make run` or `make test` in {CHECKOUT} once "
        "to create .venv, then run this again\n"
    )
    raise SystemExit(1) from None

raise SystemExit(main())
