"""Where the demo world's services live: the contract between the world and the tools.

The world process (`python -m demo_tools.world DIR`) starts every service on
127.0.0.1 and writes `DIR/world.json`. Tools find it through the environment
variable `AGENTSTOP_DEMO_WORLD` (the path of that file), so a tool loaded from a
task file by its import path needs no constructor arguments.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["ENV_VAR", "WorldConfig", "WorldNotRunning"]

ENV_VAR = "AGENTSTOP_DEMO_WORLD"


class WorldNotRunning(RuntimeError):
    """Raised when a demo tool cannot find the demo world."""


@dataclass(frozen=True)
class WorldConfig:
    """Addresses and paths of the demo services.

    Attributes:
        dir: the world's directory (everything below is inside it).
        mail_api: base URL of the mail API (outbox with undo window).
        smtp_port: port of the SMTP server the delivery worker sends to.
        mailbox: directory (Maildir) where delivered mail lands.
        calendar_api: base URL of the calendar service.
        chat_api: base URL of the chat webhook service.
        git_remote: path of the bare "origin" repository.
        prs: path of the JSON file of pull-request records.
        database: path of the SQLite "production" database.
        ledger: path of the SQLite payments ledger.
        pid: the world process id.
    """

    dir: str
    mail_api: str
    smtp_port: int
    mailbox: str
    calendar_api: str
    chat_api: str
    git_remote: str
    prs: str
    database: str
    ledger: str
    pid: int

    def save(self, path: Path) -> None:
        """Write the config atomically (readers never see half a file)."""
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        os.replace(tmp, path)

    @classmethod
    def read(cls, path: Path) -> WorldConfig:
        """Read a config written by `save`."""
        return cls(**json.loads(path.read_text()))

    @classmethod
    def load(cls) -> WorldConfig:
        """The running world, found through `AGENTSTOP_DEMO_WORLD`."""
        where = os.environ.get(ENV_VAR)
        if not where:
            raise WorldNotRunning(
                f"the demo world is not running ({ENV_VAR} is not set). "
                "Start it with `agentstop demo`, or `python -m demo_tools.world DIR` and export "
                f"{ENV_VAR}=DIR/world.json."
            )
        path = Path(where)
        if not path.exists():
            raise WorldNotRunning(f"{ENV_VAR} points to {path}, which does not exist. Restart the demo world.")
        return cls.read(path)
