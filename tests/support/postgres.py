"""A throwaway PostgreSQL server for the tests: started by the tests themselves, never by hand.

    with postgres_server() as pg:                 # initdb + pg_ctl start in a temp dir: ~1-2 s, mostly initdb
        url = pg.create_database()                # a fresh, empty database for one test: ~0.2-0.4 s
        ...                                       # postgresql://agentstop:<pw>@127.0.0.1:<port>/t_<hex>

`start_postgres()` runs `initdb` into a new temp dir, listens on 127.0.0.1 on a free port (and on a unix
socket in the same temp dir), and makes one superuser, `agentstop`, with a random password: every
connection, TCP or socket, must authenticate with it (scram-sha-256), so tests can check credentials too.
`PostgresServer.stop()` stops the server (`pg_ctl stop -m immediate`: it is thrown away, no checkpoint
needed) and deletes the temp dir; an `atexit` hook does the same if a test run forgets.

Root: `initdb` and `postgres` refuse to run as root, so as root every server command runs as the
`postgres` OS user through `runuser -u postgres --`, and the temp dir is chowned to it (it is made with
`tempfile.mkdtemp`, not under pytest's `tmp_path`, because that is private to root). As any other user the
commands run directly.

Binaries: `$AGENTSTOP_PG_BINDIR`, else `pg_config --bindir` (if it holds `initdb`; Debian's `pg_config`
comes from libpq-dev and may belong to another version), else the newest `/usr/lib/postgresql/*/bin`,
else `initdb` on PATH. If none is found, `PostgresNotInstalled` says how to install it
(`apt-get install -y postgresql`, which is what `.ci/postgres.sh` does).

Speed: `initdb --no-sync` (the cluster is thrown away, so there is no point in syncing its initial files)
and small settings; `fsync` and `synchronous_commit` keep their defaults unless asked, so commit
durability costs in tests what it costs in production. `max_connections = 200` because the tests run
many processes against one server.
"""

from __future__ import annotations

import atexit
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql

__all__ = [
    "PostgresError",
    "PostgresNotInstalled",
    "PostgresServer",
    "create_database",
    "drop_database",
    "find_bindir",
    "postgres_server",
    "start_postgres",
]

INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found. Install them with "
    "`apt-get install -y postgresql` (Debian/Ubuntu; or run .ci/postgres.sh), `brew install postgresql` "
    "(macOS), or point AGENTSTOP_PG_BINDIR at the directory that holds initdb."
)

DEBIAN_ROOT = Path("/usr/lib/postgresql")  # Debian/Ubuntu: one <version>/bin per installed server
SUPERUSER = "agentstop"
OS_USER_WHEN_ROOT = "postgres"

# Settings for a small, fast, honest test server. fsync/synchronous_commit stay at their defaults.
DEFAULT_SETTINGS: Mapping[str, str] = {
    "max_connections": "200",
    "shared_buffers": "32MB",  # the default is 128MB; tests hold little data
    "autovacuum": "off",  # short-lived databases; fewer background processes
    "jit": "off",  # JIT only costs time on tiny queries
    "log_min_messages": "warning",
    "log_line_prefix": "'%m [%p] %d '",
}


class PostgresError(RuntimeError):
    """The test server could not be started or stopped; the message includes its log."""


class PostgresNotInstalled(PostgresError):
    """No PostgreSQL server binaries on this machine."""


def _is_root() -> bool:
    return os.geteuid() == 0


def find_bindir() -> Path:
    """The directory holding initdb, pg_ctl and postgres, or `PostgresNotInstalled`."""
    candidates: list[Path] = []
    if env := os.environ.get("AGENTSTOP_PG_BINDIR"):
        candidates.append(Path(env))
    if pg_config := shutil.which("pg_config"):
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True)
            candidates.append(Path(out.stdout.strip()))
        except (OSError, subprocess.SubprocessError):
            pass

    def version(p: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", p.parent.name)) or (0,)

    candidates += sorted((p.parent for p in DEBIAN_ROOT.glob("*/bin/initdb")), key=version, reverse=True)
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).resolve().parent)
    for d in candidates:
        if all(os.access(d / name, os.X_OK) for name in ("initdb", "pg_ctl", "postgres")):
            return d
    raise PostgresNotInstalled(INSTALL_HINT)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _server_env() -> dict[str, str]:
    # No PGDATA/PGPORT/PGHOST... from the caller leaks into initdb or pg_ctl; a plain C locale needs no locales.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(LC_ALL="C", LANG="C")
    return env


@dataclass
class PostgresServer:
    """A running throwaway server. `url` is the admin URL (database `postgres`)."""

    bindir: Path
    base_dir: Path  # the temp dir: data/, the log and the unix socket
    host: str
    port: int
    user: str
    password: str
    startup_seconds: float  # initdb + start, as measured
    _stopped: bool = field(default=False, repr=False)
    _owner_pid: int = field(default_factory=os.getpid, repr=False)  # a forked child must not stop it at exit

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def log_file(self) -> Path:
        return self.base_dir / "postgres.log"

    @property
    def socket_dir(self) -> Path:
        return self.base_dir

    @property
    def url(self) -> str:
        return self.url_for("postgres")

    def url_for(self, dbname: str, *, password: str | None = None) -> str:
        """`postgresql://user:password@127.0.0.1:port/dbname`; `password` overrides the real one."""
        pw = self.password if password is None else password
        auth = f"{quote(self.user, safe='')}:{quote(pw, safe='')}"
        return f"postgresql://{auth}@{self.host}:{self.port}/{quote(dbname, safe='')}"

    def create_database(self, name: str | None = None) -> str:
        """Create a fresh empty database (default name `t_<random>`) and return its URL."""
        return create_database(self.url, name)

    def drop_database(self, name: str) -> None:
        drop_database(self.url, name)

    def log(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except OSError:
            return ""

    def _stop_at_exit(self) -> None:
        if os.getpid() == self._owner_pid:
            self.stop()

    def stop(self) -> None:
        """Stop the server at once and delete its temp dir. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self._stop_at_exit)
        try:
            if (self.data_dir / "postmaster.pid").exists():
                _run(
                    self.bindir / "pg_ctl",
                    ["stop", "-D", str(self.data_dir), "-m", "immediate", "-w", "-t", "30"],
                    cwd=self.base_dir,
                    check=False,
                )
        finally:
            shutil.rmtree(self.base_dir, ignore_errors=True)


def _run(
    exe: Path, args: Sequence[str], *, cwd: Path, check: bool = True, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run a server binary, as the `postgres` OS user when we are root."""
    cmd = [str(exe), *args]
    if _is_root():
        cmd = ["runuser", "-u", OS_USER_WHEN_ROOT, "--", *cmd]
    proc = subprocess.run(
        cmd, cwd=cwd, env=_server_env(), capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )
    if check and proc.returncode != 0:
        raise PostgresError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc


def _conf_line(key: str, value: str) -> str:
    return f"{key} = {value}\n"


def start_postgres(
    *, settings: Mapping[str, str] | None = None, temp_root: str | None = None, attempts: int = 3
) -> PostgresServer:
    """Start a throwaway server on 127.0.0.1 and a free port; the caller must `stop()` it.

    `settings` are added to (and override) `DEFAULT_SETTINGS`, e.g. `{"fsync": "off"}`, values written
    as they go into postgresql.conf (quote strings: `"'...'"`). `temp_root` is where the temp dir is
    made (default: the system temp dir); as root it must be traversable by the `postgres` user.
    """
    bindir = find_bindir()
    owner: pwd.struct_passwd | None = None
    if _is_root():
        if shutil.which("runuser") is None:
            raise PostgresError("running as root needs `runuser` (util-linux) to start PostgreSQL as `postgres`")
        try:
            owner = pwd.getpwnam(OS_USER_WHEN_ROOT)
        except KeyError:
            raise PostgresError(
                f"running as root needs an OS user `{OS_USER_WHEN_ROOT}` to own the server "
                "(Debian's postgresql package creates it; or `useradd --system postgres`)"
            ) from None
    t0 = time.monotonic()
    # Short path: the socket path (dir + "/.s.PGSQL.<port>") must stay under 107 bytes.
    base = Path(tempfile.mkdtemp(prefix="agentstop-pg-", dir=temp_root))
    password = secrets.token_urlsafe(16)
    try:
        if owner is not None:
            os.chown(base, owner.pw_uid, owner.pw_gid)
        pwfile = base / "pwfile"
        pwfile.write_text(password + "\n")
        pwfile.chmod(0o600)
        if owner is not None:
            os.chown(pwfile, owner.pw_uid, owner.pw_gid)
        _run(
            bindir / "initdb",
            [
                "-D",
                str(base / "data"),
                "-U",
                SUPERUSER,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ],
            cwd=base,
        )
        pwfile.unlink()
        conf = dict(DEFAULT_SETTINGS)
        conf.update(settings or {})
        conf.update(listen_addresses="'127.0.0.1'", unix_socket_directories=f"'{base}'")
        last_error = ""
        for _ in range(attempts):
            port = _free_port()  # another process may take it before postgres binds: then retry
            with (base / "data" / "postgresql.conf").open("a") as f:  # later lines win
                f.write("\n# tests/support/postgres.py\n")
                f.write(_conf_line("port", str(port)))
                f.writelines(_conf_line(k, v) for k, v in conf.items())
            log = base / "postgres.log"
            proc = _run(
                bindir / "pg_ctl",
                ["start", "-D", str(base / "data"), "-l", str(log), "-w", "-t", "60"],
                cwd=base,
                check=False,
            )
            if proc.returncode == 0:
                server = PostgresServer(
                    bindir=bindir,
                    base_dir=base,
                    host="127.0.0.1",
                    port=port,
                    user=SUPERUSER,
                    password=password,
                    startup_seconds=time.monotonic() - t0,
                )
                atexit.register(server._stop_at_exit)
                return server
            last_error = proc.stdout + proc.stderr + (log.read_text(errors="replace") if log.exists() else "")
            if "could not bind" not in last_error and "already in use" not in last_error:
                break
        raise PostgresError(f"PostgreSQL did not start (data dir {base / 'data'}):\n{last_error}")
    except BaseException:
        shutil.rmtree(base, ignore_errors=True)
        raise


@contextmanager
def postgres_server(*, settings: Mapping[str, str] | None = None) -> Iterator[PostgresServer]:
    """`start_postgres()` as a context manager that always stops and deletes the server."""
    server = start_postgres(settings=settings)
    try:
        yield server
    finally:
        server.stop()


def _with_dbname(url: str, dbname: str) -> str:
    """`url` with its database replaced; a `postgresql://` URL stays a URL (query string kept)."""
    parts = urlsplit(url)
    if parts.scheme in ("postgresql", "postgres"):
        return urlunsplit(parts._replace(path="/" + quote(dbname, safe="")))
    return psycopg.conninfo.make_conninfo(url, dbname=dbname)


def create_database(admin_url: str, name: str | None = None) -> str:
    """CREATE DATABASE `name` (default `t_<random hex>`) through `admin_url`; return its URL.

    The returned URL is the admin URL with the database replaced. Each test gets its own database, so
    tests sharing a server are isolated (tables, and LISTEN/NOTIFY channels, which are per database).
    Copying the empty template1 takes ~0.2-0.4 s here, mostly CPU.
    """
    name = name or f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return _with_dbname(admin_url, name)


def drop_database(admin_url: str, name: str) -> None:
    """DROP DATABASE ... WITH (FORCE): disconnects whoever is still connected."""
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
