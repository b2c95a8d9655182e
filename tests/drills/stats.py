"""What the drills tried and what they lost, counted as they run.

Set `AGENTSTOP_DRILLS_STATS=/some/file.jsonl` and each drill appends one line:
its name, what was tried, how many times, and what was lost. Then
`python -m tests.drills.stats /some/file.jsonl` prints the Markdown table that
docs/drills.md carries. Without the variable nothing is written.
"""

from __future__ import annotations

import json
import os
import sys
from collections import defaultdict
from pathlib import Path

__all__ = ["STATS_ENV", "record", "table"]

STATS_ENV = "AGENTSTOP_DRILLS_STATS"


def record(drill: str, tried: str, times: int, lost: str = "nothing") -> None:
    """Append one drill's counts to the stats file, if one was asked for."""
    target = os.environ.get(STATS_ENV)
    if not target:
        return
    line = json.dumps({"drill": drill, "tried": tried, "times": times, "lost": lost})
    with Path(target).open("a", encoding="utf-8") as f:
        f.write(line + "\n")


def table(path: Path) -> str:
    """The Markdown table of a stats file (lines of one drill and attempt are added up)."""
    rows: dict[tuple[str, str], list[object]] = defaultdict(lambda: [0, set()])
    for raw in path.read_text(encoding="utf-8").splitlines():
        entry = json.loads(raw)
        row = rows[(entry["drill"], entry["tried"])]
        row[0] = int(row[0]) + int(entry["times"])  # type: ignore[call-overload]
        row[1].add(entry["lost"])  # type: ignore[attr-defined]
    out = ["| drill | what was tried | times | lost |", "|---|---|---:|---|"]
    for (drill, tried), (times, lost) in rows.items():
        out.append(f"| {drill} | {tried} | {times} | {', '.join(sorted(lost))} |")  # type: ignore[call-overload]
    return "\n".join(out)


if __name__ == "__main__":
    print(table(Path(sys.argv[1])))
