"""The README's Python examples marked `<!-- runnable -->` run as they are, and print what their comments say."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCKS = re.findall(r"<!-- runnable -->\n```python\n(.*?)```", README.read_text(), re.S)


def test_the_readme_has_runnable_examples() -> None:
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("code", BLOCKS, ids=[f"example{i + 1}" for i in range(len(BLOCKS))])
def test_a_readme_example_runs_and_prints_what_it_says(tmp_path: Path, code: str) -> None:
    script = tmp_path / "example.py"
    script.write_text(code)
    run = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stderr
    promised = [m.group(1).strip() for m in re.finditer(r"print\(.*\)\s*# (.*)$", code, re.M)]
    assert promised, "an example prints what its comment promises"
    assert run.stdout.splitlines() == promised
