"""What the numbers were measured on: CPU, cores, OS, filesystem, and every version that matters."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import agentstop

__all__ = ["compile_bytecode", "load_average", "machine_info"]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _filesystem(path: Path) -> str:
    """The mount holding `path` and its type, from /proc/mounts (fsync cost depends on it)."""
    best, kind = "", "unknown"
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            mount, fstype = parts[1], parts[2]
            if str(path).startswith(mount) and len(mount) > len(best):
                best, kind = mount, fstype
    except OSError:
        pass
    return f"{kind} (mounted at {best or '?'})"


def _git_commit(repo: Path) -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True, check=True, timeout=5
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head} (with uncommitted changes)" if dirty else head


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (on a shared machine, how busy the neighbours were)."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3]) + f" on {os.cpu_count()} cores"
    except OSError:
        return "unknown"


def compile_bytecode() -> str:
    """Compile agentstop's modules to bytecode in the checkout, as installing the package does; what was done.

    The CLI's timings (a process each: `replay` opening a session, `report --json`, the
    exports) include Python's start and imports, as a user's do. An installed package's
    bytecode is compiled at install and Python caches it after a first run; a checkout run
    with PYTHONDONTWRITEBYTECODE set (as this machine's environment sets it) or with stale
    caches compiles every changed module again in every process, about 0.1 s of each.
    """
    import compileall

    package = Path(agentstop.__file__).resolve().parent
    compileall.compile_dir(package, quiet=1)
    flag = os.environ.get("PYTHONDONTWRITEBYTECODE", "")
    return f"compiled before the run ({package.name}/; PYTHONDONTWRITEBYTECODE={flag!r} here)"


def machine_info(tmp: Path) -> dict[str, str]:
    """One row per fact, in the order the markdown shows them."""
    repo = Path(__file__).resolve().parent.parent
    return {
        "date (UTC)": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
        "CPU": _cpu_model(),
        "cores": str(os.cpu_count()),
        "OS": f"{platform.system()} {platform.release()}",
        "journal files on": _filesystem(tmp.resolve()),
        "Python": f"{platform.python_implementation()} {sys.version.split()[0]}",
        "SQLite": sqlite3.sqlite_version,
        "aiosqlite": _version("aiosqlite"),
        "anyio": _version("anyio"),
        "agentstop": f"{agentstop.__version__} at {_git_commit(repo)}",
    }
