"""Fixtures for running `agentstop demo --headless --json` as a real process against its own world.

A demo run takes seconds (the seed story streams at 6 words a second), so each
distinct run happens once per test session and the tests that read it share it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .world_state import WorldState

ROOT = Path(__file__).resolve().parents[2]
DEMO_TIMEOUT = 60.0
# The longest runs (the whole seed story, ~15 s, and the seed stopped at 9.5 s) go on in the
# background from the start, while the shorter runs go one by one.
BACKGROUND: list[tuple[str, ...]] = [(), ("--stop-after", "9.5"), ("--stop-after", "14.5")]


@dataclass(frozen=True)
class DemoRun:
    """One finished `agentstop demo --headless --json` process and the world it left."""

    dir: Path
    code: int
    stdout: str
    stderr: str
    world: WorldState = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "world", WorldState(self.dir))

    @property
    def report(self) -> dict[str, Any]:
        report: dict[str, Any] = json.loads(self.stdout)
        return report

    @property
    def journal(self) -> Path:
        return self.dir / "demo.db"


def agentstop(
    *args: str | os.PathLike[str], env: dict[str, str] | None = None, timeout: float = DEMO_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """`python -m agentstop ARGS` with this environment (plus `env`), from the repository root."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "agentstop", *(str(a) for a in args)],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )


class DemoRuns:
    """Runs each distinct demo once; later requests for the same run get the finished one.

    A run can be started ahead (`start`), so a long one goes on in the background
    while shorter ones run; `get` waits for it.
    """

    def __init__(self, base: Path) -> None:
        self.base = base
        self._started = 0
        self._pending: dict[tuple[str, ...], tuple[Path, subprocess.Popen[str]]] = {}
        self._runs: dict[tuple[str, ...], DemoRun] = {}

    def start(self, *args: str, undo_window: float = 10.0) -> tuple[str, ...]:
        """Start `agentstop demo --headless --json --dir DIR ARGS` unless it ran or runs; returns its key."""
        key = (*args, f"window={undo_window}")
        if key in self._runs or key in self._pending:
            return key
        directory = self.base / f"world{self._started}"
        self._started += 1
        # The window goes through the environment, as a user would set it for every run.
        # The seed story runs with the upstreams' realistic latencies; the parallel story is about the fence
        # race of calls issued at once, with none.
        latency = "0" if "parallel" in args else "1"
        env = {
            **os.environ,
            "AGENTSTOP_DEMO_UNDO_WINDOW": str(undo_window),
            "AGENTSTOP_DEMO_LATENCY": latency,
            "AGENTSTOP_JOURNAL": str(self.base / "unused.db"),
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "agentstop", "demo", "--headless", "--json", "--dir", str(directory), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        self._pending[key] = (directory, proc)
        return key

    def get(self, *args: str, undo_window: float = 10.0) -> DemoRun:
        """The finished run (started now if it was not yet)."""
        key = self.start(*args, undo_window=undo_window)
        if key in self._pending:
            directory, proc = self._pending.pop(key)
            try:
                stdout, stderr = proc.communicate(timeout=DEMO_TIMEOUT)
            except subprocess.TimeoutExpired:
                _interrupt(proc)
                raise
            self._runs[key] = DemoRun(directory, proc.returncode, stdout, stderr)
        return self._runs[key]

    def close(self) -> None:
        """Stop the runs nobody asked for."""
        for _, proc in self._pending.values():
            _interrupt(proc)
        self._pending.clear()


def _interrupt(proc: subprocess.Popen[str]) -> None:
    # Ctrl+C, not SIGTERM: it is Stop once the run started, and a KeyboardInterrupt before that,
    # so either way the demo's `running_world` block ends and stops the world process too.
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=DEMO_TIMEOUT)


@pytest.fixture(scope="session")
def demo_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRuns]:
    runs = DemoRuns(tmp_path_factory.mktemp("demo_command"))
    for args in BACKGROUND:
        runs.start(*args)
    yield runs
    runs.close()
