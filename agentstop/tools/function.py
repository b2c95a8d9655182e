"""`@agentstop.tool`: a plain function becomes a tool, and stays a function.

```python
@agentstop.tool(reversibility="reversible", on_stop="wait", resource=lambda a: f"notes:{a.path}")
async def write_note(path: str, text: Annotated[str, Field(description="the note")]) -> dict:
    \"\"\"Write a note to the notes folder.\"\"\"
    ctx = agentstop.current_call()          # the ToolContext: idempotency_key, call_id, note()
    ...
    return {"path": path}                   # the receipt

@write_note.compensate
async def _(receipt: dict, ctx: agentstop.ToolContext) -> None: ...
```

The function's body is the commit and what it returns is the receipt. Its
arguments become the tool's `Args` (from the type hints, with pydantic: defaults,
`Annotated[..., Field(...)]`, datetimes, optionals), its name the tool's name,
its docstring's first paragraph the description. `write_note.Tool` is an
ordinary `agentstop.Tool` subclass, importable as `module:write_note.Tool`, so a
`Supervisor`, a task file's `tools:` and `agentstop undo` in another process
take it like any tool class. The hooks `prepare(args, ctx)`, `compensate(receipt,
ctx)`, `lookup(ctx)`, `check(receipt, ctx)` and `reapply(receipt, ctx)` are
registered with the decorators of the same names, typed so mypy checks each
hook's shape (see `ToolFunction`); sync functions work for all of them (run in
a worker thread).

Calling `write_note(...)` runs it through the fence of the supervisor bound
with `agentstop.bind(sup)` in this context, exactly as `sup.call` would:
the receipt comes back, a call that did not go through raises the same `CallCutOff`
(`Rejected`, `OutcomeUnknown`). With
no supervisor bound it raises `NotBound` and runs nothing. The wrapper keeps the
function's signature (`functools.wraps`), so frameworks that read a function's
schema (the OpenAI Agents SDK's `function_tool`, LangChain's `@tool`,
PydanticAI's `Agent(tools=[...])`) take it as they take the function.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import re
import threading
import typing
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ParamSpec, Protocol, TypeVar, cast, overload

import anyio
from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.fields import FieldInfo

from agentstop.errors import NotBound, ToolError

from .base import Reversibility, StopPolicy, Tool, ToolContext

__all__ = ["BoundGate", "ToolFunction", "binding", "bound", "current_call", "tool"]

P = ParamSpec("P")
R_co = TypeVar("R_co", covariant=True)
R = TypeVar("R")

# The hooks' shapes, so mypy checks what a tool author registers (sync or async: the result may be awaitable).
# A decorated tool's receipt is a dict: what its function returned, as journaled.
PrepareHook = TypeVar("PrepareHook", bound=Callable[[Any, ToolContext], Any])
"""`prepare(args, ctx)`: the validated arguments model; returns what the body finds as `ctx.prepared`."""
ReceiptHook = TypeVar("ReceiptHook", bound=Callable[[dict[str, Any], ToolContext], Any])
"""`compensate(receipt, ctx)` and `reapply(receipt, ctx)` (which returns the new receipt)."""
CheckHook = TypeVar("CheckHook", bound=Callable[[dict[str, Any], ToolContext], "str | Awaitable[str | None] | None"])
"""`check(receipt, ctx)`: None when the undo is safe, else what changed."""
LookupHook = TypeVar("LookupHook", bound=Callable[[ToolContext], Any])
"""`lookup(ctx)`: the receipt if the effect landed, else None."""


class BoundGate(Protocol):
    """What a decorated tool needs from the supervisor bound to its context (`agentstop.Supervisor`)."""

    async def call(
        self, tool: str | type[Tool], args: Any, *, key: str | None = None, cancelled_as: str = ...
    ) -> dict[str, Any]: ...

    def call_sync(
        self, tool: str | type[Tool], args: Any, *, key: str | None = None, timeout: float | None = None
    ) -> dict[str, Any]: ...


_BOUND: ContextVar[BoundGate | None] = ContextVar("agentstop_bound_supervisor", default=None)
_CURRENT: ContextVar[ToolContext | None] = ContextVar("agentstop_current_call", default=None)

# Bindings active in this process, for a call from a thread that did not inherit the binder's
# context (a framework's own thread pool): used only while exactly one supervisor is bound.
_ACTIVE: list[BoundGate] = []
_ACTIVE_LOCK = threading.Lock()


@contextmanager
def binding(gate: BoundGate) -> Iterator[None]:
    """Bind `gate` for decorated tools called in this context (`agentstop.bind` uses it)."""
    token = _BOUND.set(gate)
    with _ACTIVE_LOCK:
        _ACTIVE.append(gate)
    try:
        yield
    finally:
        with _ACTIVE_LOCK:
            _ACTIVE.remove(gate)
        _BOUND.reset(token)


def bound() -> BoundGate | None:
    """The supervisor decorated tools called here go through: this context's, else the process's only one."""
    gate = _BOUND.get()
    if gate is not None:
        return gate
    with _ACTIVE_LOCK:
        distinct = {id(g): g for g in _ACTIVE}
    return next(iter(distinct.values())) if len(distinct) == 1 else None


def current_call() -> ToolContext:
    """The `ToolContext` of the call a decorated tool's body (or hook) is serving.

    Raises:
        LookupError: called outside a decorated tool's body or hooks.
    """
    ctx = _CURRENT.get()
    if ctx is None:
        raise LookupError(
            "agentstop.current_call() is only available inside an @agentstop.tool function "
            "(or its prepare/compensate/lookup/check/reapply) while agentstop runs it"
        )
    return ctx


async def _run(fn: Callable[..., Any], ctx: ToolContext, *args: Any, **kwargs: Any) -> Any:
    """Run a user function (async, or sync in a worker thread) with `ctx` as the current call."""
    token = _CURRENT.set(ctx)
    try:
        if inspect.iscoroutinefunction(fn):
            return await fn(*args, **kwargs)
        result = await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))
        if inspect.isawaitable(result):
            return await result
        return result
    finally:
        _CURRENT.reset(token)


def _args_model(fn: Callable[..., Any], model_name: str) -> type[BaseModel]:
    """The pydantic model of a function's parameters (type hints, defaults, `Annotated` fields)."""
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as exc:
        raise ToolError(
            f"@agentstop.tool {fn.__qualname__}: its type hints cannot be resolved ({exc}); "
            "import the types they name at module level"
        ) from exc
    fields: dict[str, Any] = {}
    described = _arg_docs(fn)
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ToolError(
                f"@agentstop.tool {fn.__qualname__}: *{param.name} cannot be a tool argument; name every argument"
            )
        if param.kind is param.POSITIONAL_ONLY:
            raise ToolError(
                f"@agentstop.tool {fn.__qualname__}: {param.name} is positional-only; tool arguments are passed by name"
            )
        annotation = hints.get(param.name, Any)
        default = ... if param.default is param.empty else param.default
        if param.name in described and not isinstance(default, FieldInfo) and not _has_description(annotation):
            default = Field(default, description=described[param.name])
        fields[param.name] = (annotation, default)
    model: type[BaseModel] = create_model(model_name, __config__=ConfigDict(extra="forbid"), **fields)
    return model


_ARG_SECTIONS = ("args:", "arguments:", "parameters:", "params:")
_ARG_LINE = re.compile(r"^(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def _has_description(annotation: Any) -> bool:
    """True for `Annotated[..., Field(description=...)]`."""
    return any(isinstance(m, FieldInfo) and m.description for m in getattr(annotation, "__metadata__", ()))


def _description(fn: Callable[..., Any]) -> str:
    doc = inspect.getdoc(fn) or ""
    return doc.split("\n\n", 1)[0].strip()


def _arg_docs(fn: Callable[..., Any]) -> dict[str, str]:
    """Each argument's description from a Google-style docstring's `Args:` section (`name: text`)."""
    docs: dict[str, str] = {}
    lines = (inspect.getdoc(fn) or "").splitlines()
    in_args, indent, current = False, 0, ""
    for line in lines:
        stripped = line.strip()
        if stripped.lower() in _ARG_SECTIONS:
            in_args, indent, current = True, -1, ""
            continue
        if not in_args:
            continue
        if not stripped:
            continue
        depth = len(line) - len(line.lstrip())
        if indent < 0:
            indent = depth
        if depth < indent or (depth == 0 and stripped.endswith(":")):
            break  # the next section
        match = _ARG_LINE.match(stripped)
        if depth == indent and match:
            current = match.group(1)
            docs[current] = match.group(2).strip()
        elif current:
            docs[current] = f"{docs[current]} {stripped}".strip()
    return docs


def _receipt(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return value
    return {"result": value}


class ToolFunction(Protocol[P, R_co]):
    """What `@agentstop.tool` returns: the function itself, plus its tool class and hook decorators.

    Its signature is the function's, and each hook decorator takes a function of
    that hook's shape, so mypy checks them (`receipt` is a `dict[str, Any]`):

    ```python
    @write_note.compensate
    async def _(receipt: dict[str, Any], ctx: agentstop.ToolContext) -> None: ...

    @write_note.lookup
    def _(ctx: agentstop.ToolContext) -> dict[str, Any] | None: ...   # (receipt, ctx) here: a mypy error
    ```
    """

    Tool: type[Tool]
    name: str

    @property
    def __wrapped__(self) -> Callable[P, R_co]:
        """The undecorated function (as `functools.wraps` keeps it): what a framework's own decorator would see."""
        ...

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co: ...

    def prepare(self, fn: PrepareHook) -> PrepareHook: ...

    def compensate(self, fn: ReceiptHook) -> ReceiptHook: ...

    def lookup(self, fn: LookupHook) -> LookupHook: ...

    def check(self, fn: CheckHook) -> CheckHook: ...

    def reapply(self, fn: ReceiptHook) -> ReceiptHook: ...


def _tool_class(
    fn: Callable[..., Any],
    *,
    name: str,
    description: str,
    reversibility: Reversibility,
    on_stop: StopPolicy,
    resource: Callable[[Any], str] | str | None,
    undo_hint: str,
    settle_time: float,
) -> type[Tool]:
    camel = "".join(part.capitalize() for part in name.split("_")) or "Function"
    args_model = _args_model(fn, f"{camel}Args")
    params = list(args_model.model_fields)

    class FunctionTool(Tool):
        __doc__ = f"The tool `@agentstop.tool` made of {fn.__module__}.{fn.__qualname__}."

        async def commit(self, prepared: Any, ctx: ToolContext) -> dict[str, Any]:
            args = ctx.args if isinstance(ctx.args, args_model) else args_model.model_validate(ctx.args)
            kwargs = {p: getattr(args, p) for p in params}
            return _receipt(await _run(fn, dataclasses.replace(ctx, prepared=prepared), **kwargs))

        def resource(self, args: Any) -> str:
            if resource is None:
                return self.name
            if isinstance(resource, str):
                return resource
            return str(resource(args))

    FunctionTool.name = name
    FunctionTool.description = description
    FunctionTool.reversibility = reversibility
    FunctionTool.on_stop = on_stop
    FunctionTool.Args = args_model
    FunctionTool.undo_hint = undo_hint
    FunctionTool.settle_time = settle_time
    # Importable as `module:function.Tool`: task files, the journal and `agentstop undo` name it so.
    FunctionTool.__module__ = fn.__module__
    FunctionTool.__qualname__ = f"{fn.__qualname__}.Tool"
    FunctionTool.__name__ = "Tool"
    return FunctionTool


def _hook(cls: type[Tool], hook: str, fn: Callable[..., Any]) -> None:
    """Install a user function as the tool class's `hook` method (with the current call set)."""
    if hook == "prepare":

        async def prepare(self: Tool, args: Any, ctx: ToolContext) -> Any:
            return await _run(fn, ctx, args, ctx)

        method: Callable[..., Awaitable[Any]] = prepare
    elif hook == "lookup":

        async def lookup(self: Tool, ctx: ToolContext) -> Any:
            found = await _run(fn, ctx, ctx)
            return None if found is None else _receipt(found)

        method = lookup
    elif hook == "reapply":

        async def reapply(self: Tool, receipt: Any, ctx: ToolContext) -> Any:
            return _receipt(await _run(fn, ctx, receipt, ctx))

        method = reapply
    else:  # compensate, check: (receipt, ctx)

        async def receipt_hook(self: Tool, receipt: Any, ctx: ToolContext) -> Any:
            return await _run(fn, ctx, receipt, ctx)

        method = receipt_hook
    method.__name__ = hook
    method.__qualname__ = f"{cls.__qualname__}.{hook}"
    setattr(cls, hook, method)


@overload
def tool(fn: Callable[P, R], /) -> ToolFunction[P, R]: ...


@overload
def tool(
    *,
    name: str | None = None,
    reversibility: Reversibility | str = Reversibility.IRREVERSIBLE,
    on_stop: StopPolicy | str = StopPolicy.WAIT,
    resource: Callable[[Any], str] | str | None = None,
    description: str | None = None,
    undo_hint: str = "",
    settle_time: float = 0.0,
) -> Callable[[Callable[P, R]], ToolFunction[P, R]]: ...


def tool(
    fn: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    reversibility: Reversibility | str = Reversibility.IRREVERSIBLE,
    on_stop: StopPolicy | str = StopPolicy.WAIT,
    resource: Callable[[Any], str] | str | None = None,
    description: str | None = None,
    undo_hint: str = "",
    settle_time: float = 0.0,
) -> ToolFunction[P, R] | Callable[[Callable[P, R]], ToolFunction[P, R]]:
    """Make a plain function (async or sync) an agentstop tool; see the module docstring.

    Args:
        name: the tool's name (default: the function's).
        reversibility: what its effect allows afterwards (default "irreversible", until
            you register a `compensate` and say "reversible" or "compensable").
        on_stop: what Stop does to a commit of it in flight: "wait" (default),
            "try_cancel" or "abandon".
        resource: what grant scopes match: a function of the validated arguments
            (`lambda a: f"notes:{a.path}"`), or a fixed string (default: the tool's name).
        description: what the model reads (default: the docstring's first paragraph).
        undo_hint: for an irreversible tool, what a person should do by hand.
        settle_time: seconds an effect may still land after its commit began (see `Tool`).

    Returns:
        The function, unchanged in signature, whose calls go through the fence of the
        supervisor bound with `agentstop.bind`; `.Tool` is its tool class, and
        `.prepare`, `.compensate`, `.lookup`, `.check`, `.reapply` register hooks.
    """
    if fn is None:
        decorate = functools.partial(
            tool,
            name=name,
            reversibility=reversibility,
            on_stop=on_stop,
            resource=resource,
            description=description,
            undo_hint=undo_hint,
            settle_time=settle_time,
        )
        return cast(Callable[[Callable[P, R]], ToolFunction[P, R]], decorate)
    if not callable(fn) or isinstance(fn, type):
        raise ToolError(f"@agentstop.tool decorates a function, not {fn!r}")
    try:
        rev, policy = Reversibility(reversibility), StopPolicy(on_stop)
    except ValueError as exc:
        raise ToolError(
            f"@agentstop.tool {fn.__qualname__}: {exc}; reversibility is one of "
            f"{[r.value for r in Reversibility]}, on_stop one of {[p.value for p in StopPolicy]}"
        ) from None
    tool_name = name or fn.__name__
    cls = _tool_class(
        fn,
        name=tool_name,
        description=description if description is not None else _description(fn),
        reversibility=rev,
        on_stop=policy,
        resource=resource,
        undo_hint=undo_hint,
        settle_time=settle_time,
    )
    signature = inspect.signature(fn)

    def arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        try:
            bound_args = signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{tool_name}(): {exc}") from None
        return dict(bound_args.arguments)

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def call_async(*args: Any, **kwargs: Any) -> dict[str, Any]:
            gate = bound()
            if gate is None:
                raise NotBound(tool_name)
            return await gate.call(cls, arguments(args, kwargs))

        wrapper: Callable[..., Any] = call_async
    else:

        @functools.wraps(fn)
        def call_sync(*args: Any, **kwargs: Any) -> dict[str, Any]:
            gate = bound()
            if gate is None:
                raise NotBound(tool_name)
            return gate.call_sync(cls, arguments(args, kwargs))

        wrapper = call_sync

    def hook_decorator(hook: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def register(hook_fn: Callable[..., Any]) -> Callable[..., Any]:
            _hook(cls, hook, hook_fn)
            return hook_fn

        register.__name__ = hook
        return register

    attrs = cast(Any, wrapper)
    attrs.Tool = cls
    attrs.name = tool_name
    for hook in ("prepare", "compensate", "lookup", "check", "reapply"):
        setattr(attrs, hook, hook_decorator(hook))
    return cast(ToolFunction[P, R], wrapper)
