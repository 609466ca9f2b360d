"""Install a test's npm packages from its lock file, once, the same way for every harness.

The interop peer (Fedify) and the browser suite (axe-core) each keep a package.json and a
package-lock.json beside their code; `npm ci` installs exactly what the lock names. A stamp
with the lock's digest makes later runs free; a file lock keeps parallel runs from racing.
"""

from __future__ import annotations

import fcntl
import hashlib
import subprocess
import tempfile
from pathlib import Path


class NpmInstallError(RuntimeError):
    """npm could not install the packages; the message carries npm's own output."""


def _digest(directory: Path) -> str:
    files = (directory / "package-lock.json", directory / "package.json")
    return hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()


def npm_ci(directory: Path, *, expect: Path) -> None:
    """`npm ci` in `directory` unless `expect` exists and the lock has not changed since.

    Never skips: a registry that cannot be reached is a loud failure with npm's output.
    """
    digest = _digest(directory)
    stamp = directory / "node_modules" / ".fedgroup-lock-sha256"
    name = hashlib.sha256(str(directory).encode()).hexdigest()[:12]
    lock_path = Path(tempfile.gettempdir()) / f"fedgroup-npm-{name}.lock"
    with open(lock_path, "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        if expect.exists() and stamp.exists() and stamp.read_text().strip() == digest:
            return
        result = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if result.returncode != 0 or not expect.exists():
            raise NpmInstallError(
                f"npm ci failed in {directory} (exit {result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}"
            )
        stamp.write_text(digest)
