"""The public surface is exactly what __all__ says, and the core never pulls in Textual."""

from __future__ import annotations

import subprocess
import sys

import pytest

import agentstop

CONTRACT = {
    "Tool", "Reversibility", "StopPolicy", "Journal", "GrantSpec", "Supervisor", "Report", "Rejected", "revoke",
}


def test_all_is_exactly_the_exported_public_names() -> None:
    public = {name for name in vars(agentstop) if not name.startswith("_")} - {"annotations"}
    submodules = {name for name in public if type(getattr(agentstop, name)).__name__ == "module"}
    assert set(agentstop.__all__) - {"__version__"} == public - submodules


def test_the_contract_names_are_exported() -> None:
    assert set(agentstop.__all__) >= CONTRACT


def test_reversibility_and_stop_policy_members() -> None:
    assert [r.name for r in agentstop.Reversibility] == ["READ_ONLY", "REVERSIBLE", "COMPENSABLE", "IRREVERSIBLE"]
    assert [p.name for p in agentstop.StopPolicy] == ["WAIT", "TRY_CANCEL", "ABANDON"]


@pytest.mark.parametrize("module", [
    "agentstop", "agentstop.journal", "agentstop.tools", "agentstop.supervisor", "agentstop.planners",
    "agentstop.report",
])
def test_the_core_never_imports_textual(module: str) -> None:
    code = (f"import sys, {module}; bad = [m for m in sys.modules if m == 'textual' or m.startswith('textual.')"
            " or m.startswith('agentstop.tui')]; print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
