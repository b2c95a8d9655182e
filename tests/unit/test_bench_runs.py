"""`python -m bench --quick` runs end to end and writes its results (no timing is asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SECTIONS = [
    "# agentstop benchmarks",
    "## Targets",
    "## Machine",
    "## 1. Per-call overhead",
    "## 2. Concurrency and group commit",
    "## 3. Stop latency",
    "## 4. Fence race",
    "## 5. Report for a long session",
    "## Where the time goes",
    "## How to run",
]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_quick_bench_exits_zero_and_writes_every_section(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    text = (tmp_path / "benchmarks.md").read_text()
    missing = [heading for heading in SECTIONS if f"\n{heading}\n" not in f"\n{text}"]
    assert missing == []
