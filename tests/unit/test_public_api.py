"""The public surface is exactly what __all__ says, and the core never pulls in Textual."""

from __future__ import annotations

import subprocess
import sys

import pytest

import agentstop

CONTRACT = {
    "Tool",
    "Reversibility",
    "StopPolicy",
    "Journal",
    "GrantSpec",
    "Supervisor",
    "Report",
    "Rejected",
    "revoke",
}


def test_all_is_exactly_the_exported_public_names() -> None:
    for name in agentstop.__all__:
        getattr(agentstop, name)  # imported on first use
    public = {name for name in vars(agentstop) if not name.startswith("_")} - {"annotations"}
    submodules = {name for name in public if type(getattr(agentstop, name)).__name__ == "module"}
    assert set(agentstop.__all__) - {"__version__"} == public - submodules


def test_every_name_imported_on_first_use_is_in_all() -> None:
    """`agentstop.X` resolves exactly the names of `__all__`: none public by accident, none missing."""
    assert set(agentstop._HOME) == set(agentstop.__all__) - {"__version__"}
    assert set(dir(agentstop)) >= set(agentstop.__all__)
    with pytest.raises(AttributeError, match="no attribute 'run_undo'"):
        agentstop.run_undo  # noqa: B018  (an internal name is not reachable from the package's face)


def test_the_contract_names_are_exported() -> None:
    assert set(agentstop.__all__) >= CONTRACT


def test_reversibility_and_stop_policy_members() -> None:
    assert [r.name for r in agentstop.Reversibility] == ["READ_ONLY", "REVERSIBLE", "COMPENSABLE", "IRREVERSIBLE"]
    assert [p.name for p in agentstop.StopPolicy] == ["WAIT", "TRY_CANCEL", "ABANDON"]


@pytest.mark.parametrize(
    "module",
    [
        "agentstop",
        "agentstop.journal",
        "agentstop.tools",
        "agentstop.supervisor",
        "agentstop.planners",
        "agentstop.report",
        "agentstop.session",
        "agentstop.live_report",
    ],
)
def test_the_core_never_imports_textual(module: str) -> None:
    code = (
        f"import sys, {module}; bad = [m for m in sys.modules if m == 'textual' or m.startswith('textual.')"
        " or m.startswith('agentstop.tui')]; print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_agentstop_help_imports_no_command_and_none_of_the_core() -> None:
    """`agentstop --help` lists the commands without importing them (it is what a person runs first)."""
    code = (
        "import sys, contextlib, io\n"
        "from agentstop.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('agentstop.') or m in ('pydantic', 'textual', "
        "'anyio', 'yaml'))\n"
        "print(loaded)\n"
        "assert 'mcp-proxy' in out.getvalue() and 'Run the demo' in out.getvalue()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['agentstop.cli']", done.stdout


def test_every_command_of_the_lazy_table_loads_and_its_help_matches() -> None:
    import click

    from agentstop.cli import COMMANDS, main

    ctx = click.Context(main)
    for name in COMMANDS:
        command = main.get_command(ctx, name)
        assert command is not None and command.name == name
