"""init_local_stores: the git origin, the PR list, the production database and the ledger."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

from demo_tools.local_stores import git_env, init_local_stores


def _heads(remote: str) -> dict[str, str]:
    out = subprocess.run(
        ["git", f"--git-dir={remote}", "for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads"],
        capture_output=True,
        text=True,
        env=git_env(),
        check=True,
    ).stdout
    return dict(line.split() for line in out.splitlines())


def test_creates_every_store_with_absolute_paths(tmp_path: Path) -> None:
    paths = init_local_stores(tmp_path / "world")
    assert set(paths) == {"git_remote", "prs", "database", "ledger"}
    assert all(Path(p).is_absolute() and Path(p).exists() for p in paths.values())
    assert set(_heads(paths["git_remote"])) == {"main", "release"}
    assert json.loads(Path(paths["prs"]).read_text()) == []
    with closing(sqlite3.connect(paths["database"])) as db:
        assert db.execute("SELECT count(*) FROM customers").fetchone()[0] == 5
        assert db.execute("SELECT count(*) FROM audit").fetchone()[0] == 0
    with closing(sqlite3.connect(paths["ledger"])) as ledger:
        assert ledger.execute("SELECT balance_cents FROM accounts WHERE id = 'acme'").fetchone()[0] == 50_000
        assert ledger.execute("SELECT count(*) FROM entries").fetchone()[0] == 0


def test_running_again_keeps_what_is_there(tmp_path: Path) -> None:
    paths = init_local_stores(tmp_path)
    heads = _heads(paths["git_remote"])
    Path(paths["prs"]).write_text('[{"number": 1}]')
    with closing(sqlite3.connect(paths["ledger"])) as ledger, ledger:
        ledger.execute("UPDATE accounts SET balance_cents = 7 WHERE id = 'acme'")

    assert init_local_stores(tmp_path) == paths
    assert _heads(paths["git_remote"]) == heads
    assert json.loads(Path(paths["prs"]).read_text()) == [{"number": 1}]
    with closing(sqlite3.connect(paths["ledger"])) as ledger:
        assert ledger.execute("SELECT balance_cents FROM accounts WHERE id = 'acme'").fetchone()[0] == 7


def test_seed_commits_are_the_same_in_every_world(tmp_path: Path) -> None:
    one = _heads(init_local_stores(tmp_path / "a")["git_remote"])
    two = _heads(init_local_stores(tmp_path / "b")["git_remote"])
    assert one == two
    assert one["main"] != one["release"]
