"""The demo world's local stores: a git "origin", its PR list, a production database, a ledger.

None of them needs a server process: the git remote is a bare repository on
disk, pull requests are records in a JSON file, and the database and the ledger
are SQLite files. `init_local_stores` creates them (idempotently) and returns
their paths, which the world process writes into world.json.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Sequence
from pathlib import Path

__all__ = ["GIT_IDENTITY", "connect", "git_env", "init_local_stores"]

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "agentstop demo agent",
    "GIT_AUTHOR_EMAIL": "agent@agentstop.invalid",
    "GIT_COMMITTER_NAME": "agentstop demo agent",
    "GIT_COMMITTER_EMAIL": "agent@agentstop.invalid",
}

_SEED_DATE = "2024-01-02T09:00:00+00:00"

_MAIN_FILES = {
    "README.md": "# acme-app\n\nThe repository the demo agent opens pull requests against.\n",
    "app.py": 'def greet(name: str) -> str:\n    return f"Hello, {name}!"\n',
}
_RELEASE_FILES = {**_MAIN_FILES, "CHANGELOG.md": "# Changelog\n\n## 1.0.0\n\n- First release.\n"}

_CUSTOMERS = [
    (1, "Ada Lovelace", "ada@example.com", "pro", "GB"),
    (2, "Grace Hopper", "grace@example.com", "enterprise", "US"),
    (3, "Alan Turing", "alan@example.com", "free", "GB"),
    (4, "Katherine Johnson", "katherine@example.com", "pro", "US"),
    (5, "Edsger Dijkstra", "edsger@example.com", "free", "NL"),
]

_ACCOUNTS = [
    ("acme", "Acme Corp (customer wallet)", 50_000),
    ("globex", "Globex (customer wallet)", 1_500),
    ("initech", "Initech (customer wallet)", 0),
    ("ops", "Our operating account", 1_000_000),
]

_DATABASE_SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE,
    plan TEXT NOT NULL DEFAULT 'free',
    country TEXT
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('migration', 'revert')),
    description TEXT NOT NULL,
    statements TEXT NOT NULL,
    before_images TEXT NOT NULL,
    effects TEXT NOT NULL,
    rows_changed INTEGER NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE TABLE IF NOT EXISTS tombstones (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    object TEXT NOT NULL,
    key TEXT NOT NULL,
    reason TEXT NOT NULL,
    at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (object, key)
);
"""

_LEDGER_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    balance_cents INTEGER NOT NULL CHECK (balance_cents >= 0)
);
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('charge', 'refund', 'wire')),
    account TEXT NOT NULL REFERENCES accounts (id),
    counterparty TEXT,
    amount_cents INTEGER NOT NULL CHECK (amount_cents > 0),
    memo TEXT NOT NULL DEFAULT '',
    refund_of INTEGER REFERENCES entries (id),
    balance_after_cents INTEGER NOT NULL,
    at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
"""


def git_env() -> dict[str, str]:
    """The environment every demo git command runs with.

    A fixed identity, no prompts, no system or user configuration (so a
    developer's hooks, signing or aliases never change what the demo does), and
    literal pathspecs (so a file named ":(glob)*" is just that file).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_IDENTITY)
    env.update(
        {
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_LITERAL_PATHSPECS": "1",
            "LC_ALL": "C",
        }
    )
    return env


def connect(path: str | Path) -> sqlite3.Connection:
    """Open a demo SQLite store for explicit transactions.

    `isolation_level=None` hands transaction control to the caller (BEGIN
    IMMEDIATE / COMMIT); `check_same_thread=False` because worker threads take
    turns on one connection; the timeout bounds waiting for another writer.
    The caller closes the connection.
    """
    conn = sqlite3.connect(path, isolation_level=None, timeout=5.0, check_same_thread=False)
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def init_local_stores(dir: Path) -> dict[str, str]:
    """Create the local stores under `dir`, leaving existing ones as they are.

    Args:
        dir: the world's directory.

    Returns:
        Absolute paths as strings: {"git_remote", "prs", "database", "ledger"}.
    """
    root = Path(dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    paths = {
        "git_remote": root / "origin.git",
        "prs": root / "prs.json",
        "database": root / "production.db",
        "ledger": root / "ledger.db",
    }
    _init_git(paths["git_remote"])
    if not paths["prs"].exists():
        tmp = paths["prs"].with_suffix(".json.tmp")
        tmp.write_text("[]\n")
        os.replace(tmp, paths["prs"])
    _init_sqlite(
        paths["database"],
        _DATABASE_SCHEMA,
        "INSERT OR IGNORE INTO customers VALUES (?, ?, ?, ?, ?)",
        _CUSTOMERS,
    )
    _init_sqlite(paths["ledger"], _LEDGER_SCHEMA, "INSERT OR IGNORE INTO accounts VALUES (?, ?, ?)", _ACCOUNTS)
    return {name: str(path) for name, path in paths.items()}


def _git(git_dir: Path, *args: str, stdin: str | None = None) -> str:
    env = git_env()
    # Fixed dates make the seed commits, and so their ids, the same in every world.
    env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = _SEED_DATE
    done = subprocess.run(
        ["git", f"--git-dir={git_dir}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {git_dir}: {done.stderr.strip()}")
    return done.stdout.strip()


def _init_git(remote: Path) -> None:
    if not (remote / "HEAD").exists():
        remote.mkdir(parents=True, exist_ok=True)
        _git(remote, "init", "--quiet", "--bare", "--initial-branch=main")
    main = _ref(remote, "main") or _seed_commit(remote, _MAIN_FILES, "Initial commit", parent=None)
    _git(remote, "update-ref", "refs/heads/main", main)
    if not _ref(remote, "release"):
        release = _seed_commit(remote, _RELEASE_FILES, "Release 1.0.0", parent=main)
        _git(remote, "update-ref", "refs/heads/release", release)
    _git(remote, "symbolic-ref", "HEAD", "refs/heads/main")


def _ref(remote: Path, branch: str) -> str | None:
    done = subprocess.run(
        ["git", f"--git-dir={remote}", "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"],
        capture_output=True,
        text=True,
        env=git_env(),
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else None


def _seed_commit(remote: Path, files: dict[str, str], message: str, parent: str | None) -> str:
    # Plumbing instead of a work tree: the seed lands directly in the bare repository.
    lines = []
    for name, content in sorted(files.items()):
        blob = _git(remote, "hash-object", "-w", "--stdin", stdin=content)
        lines.append(f"100644 blob {blob}\t{name}\n")
    tree = _git(remote, "mktree", stdin="".join(lines))
    parents = ["-p", parent] if parent else []
    return _git(remote, "commit-tree", tree, *parents, "-m", message)


def _init_sqlite(path: Path, schema: str, seed_sql: str, rows: Sequence[tuple[object, ...]]) -> None:
    conn = connect(path)
    try:
        # WAL so readers (the world's views, tests) see committed data while a
        # prepared migration holds the write lock.
        conn.execute("PRAGMA journal_mode = WAL")
        conn.executescript(schema)
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(seed_sql, rows)
        conn.execute("COMMIT")
    finally:
        conn.close()
