"""Argument templates of the overlay: literal JSON with `{jmes: "expr"}` holes.

A compensation, probe or capture call is written in the overlay as a tool and
its arguments. Each argument value is a literal (any JSON), or a mapping with
the single key `jmes` whose value is a JMESPath expression evaluated over a
context such as `{"args": ..., "result": ..., "capture": ...}`. Holes may sit
anywhere inside lists and mappings. JMESPath only selects and reshapes data:
nothing in an overlay ever runs code.

Expressions are compiled when the overlay is loaded (`template_problems`), so a
typo is reported with its file and line before any server starts.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import jmespath
import jmespath.exceptions
import jmespath.parser

__all__ = ["JMES", "compile_expression", "expression_problem", "is_hole", "render", "template_problems", "truthy"]

JMES = "jmes"
"""The key that marks a hole: `{jmes: "result.structured_content.id"}`."""


def is_hole(value: object) -> bool:
    """True for `{jmes: ...}`: a mapping whose only key is `jmes`."""
    return isinstance(value, dict) and len(value) == 1 and JMES in value


@functools.lru_cache(maxsize=1024)
def compile_expression(expression: str) -> jmespath.parser.ParsedResult:
    """The compiled expression (cached); raises `jmespath.exceptions.JMESPathError`."""
    return jmespath.compile(expression)


def expression_problem(expression: object) -> str | None:
    """Why `expression` is not a usable JMESPath expression, or None when it compiles."""
    if not isinstance(expression, str) or not expression.strip():
        return f"a JMESPath expression is a non-empty string, got {expression!r}"
    try:
        compile_expression(expression)
    except jmespath.exceptions.IncompleteExpressionError:
        return f"JMESPath {expression!r} does not compile: it ends too early; fix the expression"
    except jmespath.exceptions.LexerError as exc:
        return (
            f"JMESPath {expression!r} does not compile: {exc.message} at column {exc.lexer_position}; "
            "fix the expression"
        )
    except jmespath.exceptions.ParseError as exc:
        return (
            f"JMESPath {expression!r} does not compile: {exc.msg.lower()} at column {exc.lex_position}; "
            "fix the expression"
        )
    except jmespath.exceptions.JMESPathError as exc:
        return f"JMESPath {expression!r} does not compile ({' '.join(str(exc).split())}); fix the expression"
    return None


def template_problems(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every hole in `value` whose expression does not compile: (path to the hole, problem)."""
    if is_hole(value):
        problem = expression_problem(value[JMES])
        if problem is not None:
            yield (*path, JMES), problem
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from template_problems(item, (*path, str(key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from template_problems(item, (*path, i))


def render(value: Any, context: dict[str, Any], missing: list[str] | None = None, path: str = "") -> Any:
    """`value` with every hole replaced by its expression's value over `context`.

    Args:
        value: the template (literals and holes).
        context: what expressions see, e.g. `{"args": ..., "result": ...}`.
        missing: when given, the path of every hole that evaluated to null is appended to it.
        path: where `value` sits, for `missing` ("entityNames", "filter.ids[0]").
    """
    if is_hole(value):
        result = compile_expression(value[JMES]).search(context)
        if result is None and missing is not None:
            missing.append(path or "(arguments)")
        return result
    if isinstance(value, dict):
        return {k: render(v, context, missing, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, context, missing, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def truthy(value: object) -> bool:
    """JMESPath's truth: false, null, "", [] and {} are false; everything else, 0 included, is true."""
    if value is None or value is False:
        return False
    if isinstance(value, str | list | dict):
        return len(value) > 0
    return True
