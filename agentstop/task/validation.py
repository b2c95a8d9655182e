"""Turning pydantic validation errors into `Problem`s a person can act on.

A pydantic error's `loc` is walked alongside the model's types, which drops
the tags pydantic inserts for discriminated unions (`agent.scripted.x` is
`agent.x` in the file), finds the field's description for "missing", and the
fields allowed where an unknown one was written, for "did you mean".
"""

from __future__ import annotations

import types
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, time
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from agentstop.yaml_lines import LineIndex, format_path

from .problems import Problem
from .values import closest, did_you_mean, show

__all__ = ["describe", "problems_from"]

# Messages for pydantic's own error types: what was expected, in a task file's words.
_EXPECTED: dict[str, str] = {
    "string_type": "expected text",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "finite_number": "expected a finite number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "dict_type": "expected a mapping (key: value lines, or {key: value})",
    "model_type": "expected a mapping (key: value lines, or {key: value})",
    "model_attributes_type": "expected a mapping (key: value lines, or {key: value})",
    "list_type": "expected a list ([a, b], or one '- ' item per line)",
    "greater_than_equal": "expected a number >= {ge}",
    "greater_than": "expected a number > {gt}",
    "less_than_equal": "expected a number <= {le}",
    "less_than": "expected a number < {lt}",
    "literal_error": "expected {expected}",
    "invalid_key": "expected text keys",
    "string_too_short": "expected at least {min_length} character(s)",
    "string_too_long": "expected at most {max_length} character(s)",
}

# Our own validators (and plain ValueErrors in tool Args) already say everything.
_PREFIXES = ("Value error, ", "Assertion failed, ")


@dataclass
class _Resolved:
    """Where a `loc` leads in the model's types."""

    path: list[str | int] = field(default_factory=list)
    type_: Any = None
    field: FieldInfo | None = None
    discriminator: str | None = None  # set when the last step entered a discriminated field


def _unwrap(tp: Any) -> Any:
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            members = [a for a in get_args(tp) if a is not type(None)]
            if len(members) != 1:
                return tp
            tp = members[0]
        else:
            return tp


def _model(tp: Any) -> type[BaseModel] | None:
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _tagged(tp: Any, discriminator: str) -> dict[str, type[BaseModel]]:
    """Tag value -> member model, for a discriminated union (or a single tagged model)."""
    members = get_args(tp) if get_origin(tp) in (Union, types.UnionType) else (tp,)
    out: dict[str, type[BaseModel]] = {}
    for member in members:
        model = _model(_unwrap(member))
        if model is None or discriminator not in model.model_fields:
            continue
        for tag in get_args(model.model_fields[discriminator].annotation):
            out[str(tag)] = model
    return out


def _resolve(loc: Sequence[str | int], root: type[BaseModel]) -> _Resolved:
    r = _Resolved(type_=root)
    for part in loc:
        tp = _unwrap(r.type_)
        if r.discriminator is not None:
            tags = _tagged(tp, r.discriminator)
            r.discriminator = None
            if isinstance(part, str) and part in tags:
                r.type_ = tags[part]  # pydantic's tag step has no counterpart in the file
                continue
        r.path.append(part)
        model = _model(tp)
        origin = get_origin(tp)
        r.field = None
        if model is not None:
            r.field = model.model_fields.get(part) if isinstance(part, str) else None
            r.type_ = r.field.annotation if r.field is not None else Any
            disc = r.field.discriminator if r.field is not None else None
            r.discriminator = disc if isinstance(disc, str) else None
        elif origin is list and get_args(tp):
            r.type_ = get_args(tp)[0]
        elif origin is dict and len(get_args(tp)) == 2:
            r.type_ = get_args(tp)[1]
        else:
            r.type_ = Any
    return r


def _got(value: object, kind: str = "") -> str:
    # YAML reads 2026, yes and 2026-12-01 as a number, a bool and a date: quoting keeps them text.
    quote = kind == "string_type" and isinstance(value, int | float | bool | date | time)
    return f" (got {show(value)})" + ("; put it in quotes" if quote else "")


def _plain(ctx: dict[str, Any]) -> dict[str, Any]:
    return {k: int(v) if isinstance(v, float) and v.is_integer() else v for k, v in ctx.items()}


def describe(err: ErrorDetails, root: type[BaseModel], noun: str = "field") -> tuple[list[str | int], str]:
    """The path (in the file's terms) and the message for one pydantic error.

    Args:
        err: one entry of `ValidationError.errors()`.
        root: the model that was validated (`TaskModel`, or a tool's Args).
        noun: what a key is called in messages ("field", "argument").
    """
    kind = err["type"]
    loc = list(err["loc"])
    ctx: dict[str, Any] = dict(err.get("ctx") or {})
    value = err.get("input")
    r = _resolve(loc, root)
    path = r.path
    if kind == "missing":
        desc = (r.field.description or "").rstrip(".") if r.field is not None else ""
        about = f": {desc[:1].lower()}{desc[1:]}" if desc else ""
        return path, f"required {noun} missing; add it{about}"
    if kind == "extra_forbidden" and loc:
        parent = _model(_unwrap(_resolve(loc[:-1], root).type_))
        known = list(parent.model_fields) if parent is not None else []
        name = loc[-1]
        listing = f"; the {noun}s here are: {', '.join(known)}" if known else ""
        return path, f"unknown {noun} {show(name)}{did_you_mean(name, known)}{listing}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        disc = r.discriminator or str(ctx.get("discriminator", "kind")).strip("'")
        tags = ", ".join(repr(t) for t in _tagged(_unwrap(r.type_), disc)) or str(ctx.get("expected_tags", ""))
        if kind == "union_tag_invalid":
            return [*path, disc], f"expected one of {tags} (got {show(ctx.get('tag'))})"
        return [*path, disc], f"required {noun} missing; add `{disc}:` with one of {tags}"
    if kind == "too_short" and "min_length" in ctx:
        n = ctx["min_length"]
        return path, f"expected at least {n} item{'s' if n != 1 else ''} (got {ctx.get('actual_length', 0)})"
    if kind in _EXPECTED:
        try:
            text = _EXPECTED[kind].format(**_plain(ctx))
        except (KeyError, IndexError, ValueError):
            text = err["msg"]
        return path, text + _got(value, kind)
    msg = err["msg"]
    for prefix in _PREFIXES:
        if msg.startswith(prefix):
            return path, msg[len(prefix) :]
    if ctx.keys() == {"problem"}:  # one of our own validators: the message is complete
        return path, msg
    return path, f"{msg}{_got(value)}"


def _typo_targets(errors: list[ErrorDetails], root: type[BaseModel]) -> set[tuple[str | int, ...]]:
    """Paths of required fields that an unknown sibling is probably a typo of."""
    out: set[tuple[str | int, ...]] = set()
    for err in errors:
        loc = list(err["loc"])
        if err["type"] != "extra_forbidden" or not loc:
            continue
        parent = _resolve(loc[:-1], root)
        model = _model(_unwrap(parent.type_))
        target = closest(loc[-1], model.model_fields) if model is not None else None
        if target is not None:
            out.add((*parent.path, target))
    return out


def problems_from(
    exc: ValidationError,
    root: type[BaseModel],
    index: LineIndex,
    prefix: Sequence[str | int] = (),
    *,
    noun: str = "field",
    line_path: Sequence[str | int] | None = None,
) -> list[Problem]:
    """Every error of `exc` as a `Problem`, with its line in the file.

    Args:
        exc: what pydantic raised.
        root: the model that was validated.
        index: the file's line index.
        prefix: where in the file the validated data sits (`("steps", 2, "args")`).
        noun: what a key is called in messages.
        line_path: where to point when the data is not written in the file
            (a step without `args:`), instead of `prefix`.
    """
    errors = exc.errors(include_url=False)
    typos = _typo_targets(errors, root)
    out: list[Problem] = []
    for err in errors:
        path, text = describe(err, root, noun)
        if err["type"] == "missing" and tuple(path) in typos:
            continue  # the unknown field next to it says "did you mean" this one
        full = [*prefix, *path]
        line = index.line(line_path) if line_path is not None else index.line(full)
        out.append(Problem(line, format_path(full) or None, text))
    return out
