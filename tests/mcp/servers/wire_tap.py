"""A transparent stdio relay in front of a real MCP server, logging every JSON-RPC message it passes on.

    WIRE_LOG=wire.jsonl python wire_tap.py node server/dist/index.js

It runs the server given as its arguments, copies each line from its own stdin
to the server and from the server to its own stdout, unchanged and in order,
and appends `{"at": epoch seconds, "dir": "to_server" | "to_client", "msg": ...}`
to WIRE_LOG for each one. The MCP tests read it to see what crossed the wire
that neither side logs: a `notifications/cancelled`, progress the client never
passed on, a response the server never sent. The server's stderr is left as is.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import IO

LOG = open(os.environ["WIRE_LOG"], "a", buffering=1, encoding="utf-8")  # noqa: SIM115 (open for the process)
LOCK = threading.Lock()


def log(direction: str, line: bytes) -> None:
    try:
        msg = json.loads(line)
    except ValueError:
        msg = {"unparsed": line.decode("utf-8", "replace")}
    with LOCK:
        LOG.write(json.dumps({"at": time.time(), "dir": direction, "msg": msg}) + "\n")


def pump(src: IO[bytes], dst: IO[bytes], direction: str) -> None:
    for line in iter(src.readline, b""):
        if line.strip():
            log(direction, line)
        dst.write(line)
        dst.flush()


def main() -> None:
    server = subprocess.Popen(sys.argv[1:], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert server.stdin is not None and server.stdout is not None

    def end(*_: object) -> None:
        server.terminate()
        sys.exit(0)

    signal.signal(signal.SIGTERM, end)
    to_client = threading.Thread(target=pump, args=(server.stdout, sys.stdout.buffer, "to_client"), daemon=True)
    to_client.start()
    try:
        pump(sys.stdin.buffer, server.stdin, "to_server")
    except BrokenPipeError:
        pass
    # The client closed our stdin: close the server's, as the client would have, then make sure it ends.
    server.stdin.close()
    try:
        server.wait(timeout=2)
    except subprocess.TimeoutExpired:
        server.terminate()
        server.wait(timeout=5)
    to_client.join(timeout=2)


if __name__ == "__main__":
    main()
