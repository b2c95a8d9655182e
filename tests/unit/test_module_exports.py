"""A module's `__all__` says what other modules may use of it, and stays true as the code moves.

For every module under agentstop/ that has an `__all__`, each name another
agentstop module takes from it (`from X import name`, or `X.name` after
`from pkg import X`) is in that `__all__`. So a private name (`_CALL_COLS`) taken
from such a module fails too: give it a public name and list it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import agentstop

PACKAGE = Path(agentstop.__file__).parent


@dataclass(frozen=True)
class Use:
    """One name a module takes from another."""

    user: str
    source: str
    name: str


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _all_of(tree: ast.Module) -> set[str] | None:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return {str(name) for name in ast.literal_eval(node.value)}
    return None


def _source(module: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute name of the module an import takes from (`from ..x import y` made absolute)."""
    if not node.level:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _uses(module: str, path: Path, tree: ast.Module, modules: dict[str, Path]) -> list[Use]:
    uses: list[Use] = []
    module_aliases: dict[str, str] = {}  # local name -> the agentstop module it is bound to
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            source = _source(module, path, node)
            for alias in node.names:
                if f"{source}.{alias.name}" in modules:  # a submodule, not a name of the module
                    module_aliases[alias.asname or alias.name] = f"{source}.{alias.name}"
                else:
                    uses.append(Use(module, source, alias.name))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname and alias.name in modules:
                    module_aliases[alias.asname] = alias.name
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in module_aliases:
            uses.append(Use(module, module_aliases[node.value.id], node.attr))
    return uses


def test_every_name_taken_from_another_module_is_in_its_all() -> None:
    modules = _modules()
    trees = {name: ast.parse(path.read_text(encoding="utf-8")) for name, path in modules.items()}
    exported = {name: _all_of(tree) for name, tree in trees.items()}
    missing = sorted(
        f"{use.user} takes {use.name!r} from {use.source}, whose __all__ does not list it"
        for module, tree in trees.items()
        for use in _uses(module, modules[module], tree, modules)
        if use.source != module
        and use.source in modules
        and f"{use.source}.{use.name}" not in modules
        and (listed := exported[use.source]) is not None
        and use.name not in listed
    )
    assert not missing, "\n".join(missing)


def test_the_check_sees_a_name_taken_by_attribute_and_a_private_one() -> None:
    """The rule above is not vacuous: it finds `ops.x` uses and private imports when they are there."""
    modules = _modules()
    tree = ast.parse("from . import ops\nfrom .reads import _HIDDEN\nops.anything()\n")
    uses = _uses("agentstop.journal.journal", modules["agentstop.journal.journal"], tree, modules)
    assert Use("agentstop.journal.journal", "agentstop.journal.reads", "_HIDDEN") in uses
    assert Use("agentstop.journal.journal", "agentstop.journal.ops", "anything") in uses
