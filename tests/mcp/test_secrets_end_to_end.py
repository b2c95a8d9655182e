"""A literal secret in an MCP server's `env:` reaches no channel (issue 20, item 6).

The task file writes the server's credential literally (not `${env:NAME}`), so
nothing but agentstop's registration of env values can mask it: the value has no
shape the redactor knows. The server (tests/mcp/servers/echo_secret_server.py,
started over stdio by `agentstop run` as the task file says) echoes it in a
successful result, in an error result and on its stderr. The journal file, its
WAL taken while a call is in flight, `agentstop report` (plain and `--json`),
`sessions`, every replay export and both output streams of every command are
grepped for it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

from agentstop.redact import MASK

from .conftest import SERVERS

ROOT = Path(__file__).resolve().parents[2]
ECHO_SERVER = SERVERS / "echo_secret_server.py"
COMMAND_TIMEOUT = 60.0


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)  # this checkout
    env.pop("ECHO_API_CREDENTIAL", None)  # only the task file gives it
    return env


def _agentstop(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentstop", *args],
        capture_output=True,
        text=True,
        env=_env(),
        check=False,
        timeout=COMMAND_TIMEOUT,
        cwd=cwd,
    )


def _task(directory: Path, credential: str, flags: Path) -> Path:
    env = {"ECHO_API_CREDENTIAL": credential, "ECHO_HOLD_DIR": str(flags)}
    task = directory / "task.yaml"
    task.write_text(
        "\n".join(
            [
                "name: echoed credential",
                "goal: Ask the server who I am.",
                "agent: {kind: scripted, tokens_per_second: 0}",
                "mcp_servers:",
                f"  echo: {{command: {json.dumps(sys.executable)}, args: [{json.dumps(str(ECHO_SERVER))}], "
                f"env: {json.dumps(env)}}}",
                "grant: {tools: ['echo.*'], ttl: 10m}",
                "steps:",
                "  - {thought: 'Who am I?', tool: echo.whoami, args: {who: ada}}",
                "  - {thought: 'Try the forbidden one.', tool: echo.deny, args: {who: ada}}",
                "  - {thought: 'Wait for the go-ahead.', tool: echo.hold, args: {who: ada}}",
                "  - {thought: 'Done.'}",
            ]
        )
        + "\n"
    )
    return task


def _wait_for(path: Path, run: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + COMMAND_TIMEOUT
    while not path.exists():
        assert run.poll() is None, f"agentstop run ended before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_a_literal_env_value_echoed_by_the_server_is_in_no_file_and_on_no_stream(tmp_path: Path) -> None:
    credential = "lit" + secrets.token_hex(12)  # no telltale shape: only the registration of env values masks it
    flags = tmp_path / "flags"
    flags.mkdir()
    task = _task(tmp_path, credential, flags)
    assert credential in task.read_text()  # literally in the task file, as the user wrote it
    journal = tmp_path / "j.db"

    run = subprocess.Popen(
        [sys.executable, "-m", "agentstop", "run", str(task), "--headless", "--json", "--journal", str(journal)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        cwd=tmp_path,
    )
    try:
        # While `hold` is in flight the echoes are written and the journal is open: keep its WAL as it is now.
        _wait_for(flags / "held", run, "the hold call")
        wal = Path(f"{journal}-wal")
        assert wal.exists(), "the journal has no WAL while a call is in flight"
        snapshot = tmp_path / "snapshot"
        snapshot.mkdir()
        for part in (journal, wal):
            shutil.copy(part, snapshot / part.name)
        (flags / "release").touch()
        run_out, run_err = run.communicate(timeout=COMMAND_TIMEOUT)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    outputs = {"run --json": (run.returncode, run_out, run_err)}
    assert run.returncode == 1, run_err  # the refused call is interrupted
    for name, args in {
        "report": ("report", "--journal", str(journal)),
        "report --json": ("report", "--journal", str(journal), "--json"),
        "sessions": ("sessions", "--journal", str(journal)),
        **{
            f"replay --export {suffix}": (
                "replay",
                "--journal",
                str(journal),
                "--session",
                "latest",
                "--export",
                str(tmp_path / f"export{suffix}"),
            )
            for suffix in (".md", ".html", ".json")
        },
    }.items():
        done = _agentstop(tmp_path, *args)
        outputs[name] = (done.returncode, done.stdout, done.stderr)

    for name, (_code, stdout, stderr) in outputs.items():
        assert credential not in stdout, f"`agentstop {name}` printed the credential on stdout"
        assert credential not in stderr, f"`agentstop {name}` printed the credential on stderr"
    files = [*snapshot.iterdir(), *tmp_path.glob("j.db*"), *tmp_path.glob("export.*")]
    assert len(files) >= 6  # the snapshot's journal and WAL, the journal, three exports
    for path in files:
        assert credential.encode() not in path.read_bytes(), f"{path} holds the credential"

    # The echoes were there to leak, and are there masked: in the receipt, the error and the WAL.
    report = json.loads(outputs["report --json"][1])
    [whoami, hold] = report["done"]
    assert whoami["receipt"]["result"]["content"][0]["text"] == f"hello ada, you are authenticated with {MASK}"
    assert hold["receipt"]["result"]["content"][0]["text"] == "released ada"
    [deny] = report["interrupted"]
    assert f"credential {MASK} may not do this" in deny["reason"]
    assert f"credential {MASK} may not do this" in run_err
    assert json.loads(run_out)["done"][0]["receipt"] == whoami["receipt"]
    assert f"authenticated with {MASK}".encode() in (snapshot / wal.name).read_bytes()
    for name, (code, _stdout, stderr) in outputs.items():
        assert name == "run --json" or code == 0, f"`agentstop {name}` failed: {stderr}"
