"""The throwaway PostgreSQL server of tests/support/postgres.py works: it starts, it needs its password,
it gives each test its own database, and it is gone after stop."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.support import postgres
from tests.support.postgres import PostgresNotInstalled, PostgresServer, postgres_server


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server


def test_server_starts_on_loopback_with_a_password_url(pg: PostgresServer) -> None:
    assert pg.url == f"postgresql://agentstop:{pg.password}@127.0.0.1:{pg.port}/postgres"
    with psycopg.connect(pg.url) as conn:
        row = conn.execute(
            "SELECT current_user, inet_server_addr()::text, current_setting('max_connections'),"
            " current_setting('fsync'), current_setting('synchronous_commit')"
        ).fetchone()
        assert row == ("agentstop", "127.0.0.1/32", "200", "on", "on")
        assert conn.info.server_version >= 140000
    assert pg.startup_seconds < 30


def test_the_unix_socket_needs_the_password_too(pg: PostgresServer) -> None:
    with psycopg.connect(
        host=str(pg.socket_dir), port=pg.port, user=pg.user, password=pg.password, dbname="postgres"
    ) as conn:
        assert conn.execute("SELECT inet_server_addr()").fetchone() == (None,)  # None: a unix socket
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(host=str(pg.socket_dir), port=pg.port, user=pg.user, password="wrong", dbname="postgres")


def test_a_wrong_password_is_an_authentication_error(pg: PostgresServer) -> None:
    with pytest.raises(psycopg.OperationalError, match='password authentication failed for user "agentstop"'):
        psycopg.connect(pg.url_for("postgres", password="not-the-password"), connect_timeout=5)


def test_each_test_database_is_isolated(pg: PostgresServer) -> None:
    a, b = pg.create_database(), pg.create_database()
    assert a != b
    assert a.startswith(f"postgresql://agentstop:{pg.password}@127.0.0.1:{pg.port}/t_")
    with psycopg.connect(a) as conn:
        conn.execute("CREATE TABLE events (id bigserial PRIMARY KEY, what text NOT NULL)")
        conn.execute("INSERT INTO events (what) VALUES ('in a')")
    with psycopg.connect(b) as conn:
        assert conn.execute("SELECT to_regclass('events')").fetchone() == (None,)
    with psycopg.connect(a) as conn:
        assert conn.execute("SELECT what FROM events").fetchall() == [("in a",)]
    name_a = a.rsplit("/", 1)[1]
    with psycopg.connect(a):  # still connected: the drop forces it out
        pg.drop_database(name_a)
    with pytest.raises(psycopg.OperationalError, match=f'database "{name_a}" does not exist'):
        psycopg.connect(a)


def test_stop_deletes_the_server_and_its_files() -> None:
    with postgres_server() as server:
        with psycopg.connect(server.url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        base = server.base_dir
        assert (base / "data" / "PG_VERSION").exists()
    assert not base.exists()
    with pytest.raises(psycopg.OperationalError, match="Connection refused"):
        psycopg.connect(server.url, connect_timeout=5)
    server.stop()  # idempotent


def test_missing_binaries_say_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AGENTSTOP_PG_BINDIR", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no pg_config, no initdb
    monkeypatch.setattr(postgres, "DEBIAN_ROOT", tmp_path)
    with pytest.raises(PostgresNotInstalled, match=r"apt-get install -y postgresql"):
        postgres.start_postgres()
