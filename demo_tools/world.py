"""The demo world: every local service the demo tools talk to, in one process.

`python -m demo_tools.world DIR` starts, on 127.0.0.1 and free ports:

- an SMTP server filing delivered mail in the Maildir `DIR/mailbox`;
- the mail API (an outbox with an undo window, delivered over that SMTP server);
- the calendar service (`DIR/calendar.ics`);
- the chat webhook (messages land in `DIR/chat.jsonl` after a short delay);
- the local stores (git remote, pull requests, database, ledger) from
  `demo_tools.local_stores`.

Once every service listens it writes `DIR/world.json` (a `WorldConfig`); it runs
until SIGTERM or SIGINT, then removes `world.json` and shuts down. It logs to
`DIR/world.log`. Code and tests start it with `running_world(dir)`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import anyio.to_thread
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import SMTP

from demo_tools.services.calendar_api import CalendarService
from demo_tools.services.chat_api import ChatService
from demo_tools.services.delayed_queue import DelayedQueue
from demo_tools.services.jsonhttp import JsonServer
from demo_tools.services.mail_api import MailService
from demo_tools.world_config import ENV_VAR, WorldConfig, WorldNotRunning

__all__ = ["WorldStartFailed", "main", "running_world"]

log = logging.getLogger("demo_tools.world")

CONFIG_NAME = "world.json"
LOG_NAME = "world.log"
DELIVERY_TICK_S = 0.05
STORE_KEYS = ("git_remote", "prs", "database", "ledger")


class WorldStartFailed(WorldNotRunning):
    """Raised by `running_world` when the world process did not come up."""


# -- the world process ---------------------------------------------------------


async def serve(directory: Path) -> None:
    """Run every service until SIGTERM or SIGINT.

    Args:
        directory: the world's directory; created if missing, reused if not (queued
            mail and booked events survive a restart).
    """
    stores = await anyio.to_thread.run_sync(_init_local_stores, directory)
    smtp = await _start_smtp(directory / "mailbox")
    smtp_port: int = smtp.sockets[0].getsockname()[1]
    config_path = directory / CONFIG_NAME
    try:
        mail = MailService(DelayedQueue(directory / "outbox.sqlite"), smtp_port)
        chat = ChatService(DelayedQueue(directory / "chat_queue.sqlite"), directory / "chat.jsonl")
        calendar = CalendarService(directory / "calendar.ics")
        services = {"mail": mail.routes(), "calendar": calendar.routes(), "chat": chat.routes()}
        signals_wanted = (signal.SIGTERM, signal.SIGINT)
        with contextlib.ExitStack() as stack, anyio.open_signal_receiver(*signals_wanted) as signals:
            servers: dict[str, JsonServer] = {}
            for name, routes in services.items():
                servers[name] = server = JsonServer(f"{name}-api", routes)
                stack.callback(server.stop)
                server.start()
            config = WorldConfig(
                dir=str(directory),
                mail_api=servers["mail"].url,
                smtp_port=smtp_port,
                mailbox=str(directory / "mailbox"),
                calendar_api=servers["calendar"].url,
                chat_api=servers["chat"].url,
                pid=os.getpid(),
                **stores,
            )
            # Removed first on the way out, so nobody picks up a world that is stopping.
            stack.callback(config_path.unlink, missing_ok=True)
            config.save(config_path)
            log.info("world ready: %s", config)
            async with anyio.create_task_group() as tg:
                tg.start_soon(_deliver_forever, "mail", mail.deliver_due)
                tg.start_soon(_deliver_forever, "chat", chat.deliver_due)
                async for signum in signals:
                    log.info("received %s, shutting down", signal.Signals(signum).name)
                    break
                tg.cancel_scope.cancel()
    finally:
        smtp.close()
        await smtp.wait_closed()
        log.info("world stopped")


async def _start_smtp(maildir: Path) -> asyncio.Server:
    handler = Mailbox(maildir)
    loop = asyncio.get_running_loop()
    # A fixed hostname: aiosmtpd's default asks DNS for the FQDN, which can hang.
    return await loop.create_server(
        lambda: SMTP(handler, hostname="agentstop.demo", ident="agentstop demo SMTP"), "127.0.0.1", 0
    )


async def _deliver_forever(name: str, deliver_due: Callable[[], int]) -> None:
    while True:
        try:
            sent = await anyio.to_thread.run_sync(deliver_due)
        except Exception:
            # The message stays queued (its status only changes once sent): next tick retries it.
            log.exception("%s delivery failed", name)
        else:
            if sent:
                log.info("%s: delivered %d message(s)", name, sent)
        await anyio.sleep(DELIVERY_TICK_S)


def _init_local_stores(directory: Path) -> dict[str, str]:
    try:
        module = importlib.import_module("demo_tools.local_stores")
    except ModuleNotFoundError as exc:
        if exc.name != "demo_tools.local_stores":
            raise
        return _placeholder_stores(directory)
    stores = module.init_local_stores(directory)
    return {key: str(stores[key]) for key in STORE_KEYS}


def _placeholder_stores(directory: Path) -> dict[str, str]:
    log.warning("demo_tools.local_stores is missing: git, PRs, database and ledger are placeholders")
    paths = {
        "git_remote": directory / "origin.git",
        "prs": directory / "prs.json",
        "database": directory / "production.db",
        "ledger": directory / "ledger.db",
    }
    paths["git_remote"].mkdir(exist_ok=True)
    if not paths["prs"].exists():
        paths["prs"].write_text("[]\n")
    return {key: str(path) for key, path in paths.items()}


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m demo_tools.world DIR`."""
    parser = argparse.ArgumentParser(prog="python -m demo_tools.world", description="Run the agentstop demo world.")
    parser.add_argument("dir", type=Path, help="the world's directory (created if missing)")
    directory = parser.parse_args(argv).dir.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        filename=directory / LOG_NAME,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        anyio.run(serve, directory)
    except Exception as exc:
        log.exception("the demo world crashed")
        # Last, so the tail that `running_world` shows ends with the cause.
        log.error("the demo world crashed: %s: %s", type(exc).__name__, exc)
        return 1
    return 0


# -- starting it from code and tests ---------------------------------------------


@contextlib.contextmanager
def running_world(directory: Path | str, *, timeout: float = 20.0) -> Iterator[WorldConfig]:
    """Run the demo world in a subprocess for the duration of a `with` block.

    Inside the block `AGENTSTOP_DEMO_WORLD` points to its `world.json`, so the demo
    tools find it; the previous value is restored afterwards and the process is
    terminated (killed if it does not stop within 10 s).

    Args:
        directory: the world's directory (created if missing).
        timeout: how long to wait for every service to listen.

    Yields:
        The running world's config.

    Raises:
        WorldStartFailed: the process exited or was not ready in time; the message
            carries the tail of its log.
    """
    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / CONFIG_NAME
    config_path.unlink(missing_ok=True)
    env = dict(os.environ)
    # So `-m demo_tools.world` imports this very package, installed or not.
    source_root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (source_root, env.get("PYTHONPATH")) if p)
    with (directory / LOG_NAME).open("ab") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "demo_tools.world", str(directory)],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
            env=env,
        )
    try:
        config = _wait_ready(proc, config_path, timeout)
        previous = os.environ.get(ENV_VAR)
        os.environ[ENV_VAR] = str(config_path)
        try:
            yield config
        finally:
            if previous is None:
                os.environ.pop(ENV_VAR, None)
            else:
                os.environ[ENV_VAR] = previous
    finally:
        _stop(proc)


def _wait_ready(proc: subprocess.Popen[bytes], config_path: Path, timeout: float) -> WorldConfig:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            raise WorldStartFailed(
                f"the demo world exited with code {code} before it was ready.\n{_log_tail(config_path)}"
            )
        if config_path.exists():
            config = WorldConfig.read(config_path)
            if config.pid == proc.pid:
                return config
        time.sleep(0.02)
    _stop(proc)
    raise WorldStartFailed(
        f"the demo world was not ready after {timeout:.0f} s (no {config_path}).\n{_log_tail(config_path)}"
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _log_tail(config_path: Path, lines: int = 20) -> str:
    log_path = config_path.with_name(LOG_NAME)
    try:
        tail = log_path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return f"(no log at {log_path})"
    return f"Last lines of {log_path}:\n" + "\n".join(tail)


if __name__ == "__main__":
    sys.exit(main())
