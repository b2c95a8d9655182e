"""An MCP server's tool as an agentstop `Tool`: prepare, commit, probe and undo over MCP.

Each listed tool becomes an instance of its own subclass of `McpTool` (the
Tool contract keeps name, class and Args on the class, and whether a tool can
compensate or look up is a property of its class). The model calls it as
`server__tool`; grants, steps and the journal name it `server.tool`.

The life of one call:

- **prepare**: the server's current definition is compared with the one pinned at
  start (a change refuses the call, nothing sent); the overlay's `capture` calls
  (read-only) record what the undo will need, and its `undoable_if` judges from
  them whether the undo can take this call back (a write that creates a file
  cannot be undone by a server with no delete tool). The arguments were already
  checked against the tool's input schema by its `Args` model (an invalid call
  is rejected before anything is prepared).
- **commit**: exactly one `tools/call`, carrying the call's id and idempotency key
  in `_meta`. A result is the receipt. `isError` means the tool refused
  (`CommitRefused`), unless the overlay says its errors may have effects. A
  JSON-RPC invalid request / method / params / parse error means nothing ran
  (`CommitRefused`). Anything else (a timeout, a lost connection, a crash, a
  result that breaks the output schema) leaves the outcome unknown
  (`McpOutcomeUnknown`), and the supervisor asks `lookup`.
- **lookup**: the overlay's `probe`: a read-only call, then `done_if` over
  `{args, result}`.
- **check** (only when the overlay has one): before each undo, a read-only call
  and `drift_if` over `{args, result, capture, receipt}`; when it holds the undo
  is refused with the overlay's reason, and nothing is run.
- **compensate**: the overlay's `compensate` call, its arguments built from
  `{args, result, capture, probe}` (`result` is the receipt's tool result,
  null when the call was settled by the probe, whose result is `probe`).

A receipt whose call `undoable_if` judged not undoable carries `no_undo` (the
reason): the report shows the call done and not undoable, and never offers it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import anyio
import mcp_types as types
from jsonschema import exceptions as jsonschema_exceptions
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from mcp.shared.exceptions import MCPError
from mcp_types import HEADER_MISMATCH, INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR
from pydantic import RootModel, ValidationError, model_validator
from pydantic_core import PydanticCustomError
from referencing import Registry

from agentstop.errors import CommitRefused
from agentstop.tools import Reversibility, Tool, ToolContext

from .config import ToolOverlay
from .errors import McpCallFailed, McpOutcomeUnknown, McpServerError
from .reversibility import Classification
from .templates import compile_expression, render, truthy
from .watch import current_watch

if TYPE_CHECKING:
    from .connection import ServerConnection

__all__ = [
    "META_CALL_ID",
    "META_KEY",
    "META_SESSION",
    "McpArgs",
    "McpTool",
    "PinChecker",
    "ToolBinding",
    "describe",
    "shape_result",
    "tool_class",
]

META_KEY = "agentstop/idempotency-key"
"""The `_meta` key carrying the call's idempotency key: stable across retries, recovery and probes."""
META_CALL_ID = "agentstop/call-id"
"""The `_meta` key carrying the call's id in its session ("c3")."""
META_SESSION = "agentstop/session-id"
"""The `_meta` key carrying the session's id."""

# JSON-RPC errors that mean the server never ran the tool: it could not parse or route the request.
_NOTHING_RAN = frozenset({PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, HEADER_MISMATCH})

_TEXT_LIMIT = 32 * 1024  # characters of one text block kept in a receipt (the journal holds receipts)


def _error_path(error: jsonschema_exceptions.ValidationError) -> str:
    out = ""
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(arguments)"


class PinChecker(Protocol):
    """What a tool needs of the client that built it (`McpClient`): checking its server's tools against their pins."""

    async def verify(self, server: str, names: list[str]) -> None:
        """List `server`'s tools now and check each of `names` against its pin; raises when one changed."""
        ...


@dataclass
class ToolBinding:
    """One MCP tool as pinned at start, and what agentstop makes of it.

    Attributes:
        server: the server's name.
        remote: the tool's name on the server.
        definition: the definition pinned at start (or last approved).
        digest: its hash ("sha256:..."), compared with the server's at every call.
        entry: the overlay's entry, or None.
        classification: the class and why.
    """

    server: str
    remote: str
    definition: types.Tool
    digest: str
    entry: ToolOverlay | None
    classification: Classification
    connection: ServerConnection = field(repr=False)
    client: PinChecker = field(repr=False)
    _validator: Validator | None = field(default=None, repr=False)
    _schema_problem: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.pin(self.definition, self.digest, self.classification)

    @property
    def name(self) -> str:
        """`server.tool`: what grants, task steps and the journal call it."""
        return f"{self.server}.{self.remote}"

    def pin(self, definition: types.Tool, digest: str, classification: Classification) -> None:
        """Pin `definition` (at start, or when a person approves a changed one)."""
        self.definition, self.digest, self.classification = definition, digest, classification
        schema = definition.input_schema
        try:
            cls = validator_for(schema)
            cls.check_schema(schema)
            # An empty registry: a $ref never makes agentstop fetch anything.
            self._validator, self._schema_problem = cls(schema, registry=Registry()), None
        except jsonschema_exceptions.SchemaError as exc:
            self._validator = None
            self._schema_problem = (
                f"the server's input schema for {self.name} is not valid JSON Schema "
                f"({exc.message}); the tool cannot be called"
            )

    def arguments_problem(self, arguments: dict[str, Any]) -> str | None:
        """Why `arguments` do not fit the pinned input schema, or None when they do."""
        if self._validator is None:
            return self._schema_problem
        try:
            error = jsonschema_exceptions.best_match(self._validator.iter_errors(arguments))
        except Exception as exc:  # a $ref agentstop does not follow (referencing's Unresolvable), ...
            return f"the input schema could not be applied ({type(exc).__name__}: {exc})"
        if error is None:
            return None
        return f"{_error_path(error)}: {error.message}"


class McpArgs(RootModel[dict[str, Any]]):
    """Arguments of an MCP tool: any JSON object its input schema accepts.

    Each tool has its own subclass bound to its `ToolBinding`; validating checks
    the object against the pinned input schema, and `model_json_schema()` is that
    schema, so a model sees exactly what the server asked for.
    """

    binding: ClassVar[ToolBinding | None] = None

    @model_validator(mode="after")
    def _fits_the_input_schema(self) -> McpArgs:
        binding = type(self).binding
        if binding is not None and (problem := binding.arguments_problem(self.root)) is not None:
            raise PydanticCustomError("json_schema", "{problem}", {"problem": problem})
        return self

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The tool's input schema, as the server listed it when it was pinned."""
        if cls.binding is None:
            return {"type": "object"}
        return json.loads(json.dumps(cls.binding.definition.input_schema))  # type: ignore[no-any-return]


def _arguments(args: Any) -> dict[str, Any]:
    """The arguments as a dict: from an `McpArgs` (live call) or as journaled (undo, recovery)."""
    if isinstance(args, RootModel):
        return dict(args.root)
    if isinstance(args, dict):
        return dict(args)
    return {}


def _block(block: types.ContentBlock) -> dict[str, Any]:
    data: dict[str, Any] = block.model_dump(mode="json", by_alias=True, exclude_none=True)
    if isinstance(data.get("text"), str) and len(data["text"]) > _TEXT_LIMIT:
        data["text"] = data["text"][:_TEXT_LIMIT] + f" [... {len(data['text']) - _TEXT_LIMIT} characters cut]"
    for key in ("data", "blob"):  # base64 images, audio, blobs: their size, not their bytes
        if isinstance(data.get(key), str):
            data[key] = f"[{len(data[key])} base64 characters not kept]"
    resource = data.get("resource")
    if isinstance(resource, dict) and isinstance(resource.get("blob"), str):
        resource["blob"] = f"[{len(resource['blob'])} base64 characters not kept]"
    return data


def shape_result(result: types.CallToolResult) -> dict[str, Any]:
    """A tool result as receipts and JMESPath see it: {content, structured_content, is_error}."""
    return {
        "content": [_block(b) for b in result.content],
        "structured_content": result.structured_content,
        "is_error": bool(result.is_error),
    }


def _result_text(shaped: dict[str, Any]) -> str:
    texts = [b.get("text", "") for b in shaped.get("content", []) if isinstance(b, dict) and b.get("type") == "text"]
    text = " ".join(t.strip() for t in texts if t.strip()) or json.dumps(shaped.get("structured_content"))
    return text[:500]


def _meta(ctx: ToolContext) -> dict[str, Any]:
    return {META_KEY: ctx.idempotency_key, META_CALL_ID: ctx.call_id, META_SESSION: ctx.session_id}


class McpTool(Tool):
    """Base of the tools an `McpClient` builds, one subclass per MCP tool (see the module docstring).

    Class attributes (besides the `Tool` ones):
        model_name: the name the model calls it by (`server__tool`).
        server: the server's name.
        remote: the tool's name on the server.
        claims: what the server claims about it ("read-only", "idempotent", ...), unverified.
    """

    model_name: ClassVar[str] = ""
    server: ClassVar[str] = ""
    remote: ClassVar[str] = ""
    claims: ClassVar[tuple[str, ...]] = ()

    def __init__(self, binding: ToolBinding) -> None:
        self._binding = binding
        # When each commit began, by idempotency key: a probe finding nothing within the
        # overlay's settle_time leaves the call unknown instead of failed.
        self._commit_started: dict[str, float] = {}

    @property
    def binding(self) -> ToolBinding:
        """The pinned definition, overlay entry and connection behind this tool."""
        return self._binding

    @property
    def entry(self) -> ToolOverlay:
        """The overlay entry (an empty one when the overlay does not mention the tool)."""
        return self._binding.entry or ToolOverlay()

    def resource(self, args: Any) -> str:
        """The overlay's `resource` expression over {args}, or the tool's name."""
        expression = self.entry.resource
        if expression is None:
            return self.name
        value = compile_expression(expression).search({"args": _arguments(args)})
        if not isinstance(value, str) or not value:
            raise ValueError(f"the overlay's resource expression {expression!r} gave {value!r}, not a string")
        return value

    # -- calls agentstop makes for itself -------------------------------------------------------

    async def _side_call(
        self, tool: str, arguments: dict[str, Any], ctx: ToolContext, purpose: str, allow_error: bool = False
    ) -> dict[str, Any]:
        """A capture, probe, check or undo call; raises `McpCallFailed` unless the server answered with a result.

        With `allow_error`, an error answer (isError) is returned like any result, for the
        overlay's expressions to judge (`result.is_error`).
        """
        conn = self._binding.connection
        where = f"{purpose} call {self.server}.{tool}"
        try:
            client = await conn.client()
            result = await conn.call_tool(client, tool, arguments, meta=_meta(ctx))
        except McpServerError as exc:
            raise McpCallFailed(f"{where}: {exc}") from exc
        except MCPError as exc:
            raise McpCallFailed(f"{where} failed: {conn.scrub(exc.message)} (JSON-RPC {exc.code})") from exc
        except (RuntimeError, ValidationError) as exc:
            raise McpCallFailed(f"{where} gave an invalid result: {conn.scrub(str(exc))[:300]}") from exc
        shaped = shape_result(result)
        if result.is_error and not allow_error:
            raise McpCallFailed(f"{where} answered with an error: {conn.scrub(_result_text(shaped))}")
        return shaped

    # -- the Tool contract ----------------------------------------------------------------------

    async def prepare(self, args: Any, ctx: ToolContext) -> Any:
        """Check the pinned definition, run the overlay's captures; return {arguments, capture[, no_undo]}.

        `no_undo` is the overlay's reason when its `undoable_if` says this call cannot be undone.
        """
        binding, entry = self._binding, self.entry
        arguments = _arguments(args)
        await binding.client.verify(self.server, [self.remote, *(c.tool for c in entry.capture)])
        if (problem := binding.arguments_problem(arguments)) is not None:
            raise ValueError(f"invalid arguments for {self.name}: {problem}")
        prepared: dict[str, Any] = {"arguments": arguments}
        capture: dict[str, Any] = {}
        for spec in entry.capture:
            call_args = render(spec.args, {"args": arguments, "capture": capture})
            capture[spec.name] = await self._side_call(
                spec.tool, call_args, ctx, f"capture {spec.name!r}", spec.allow_error
            )
        if entry.capture:
            prepared["capture"] = capture
        rule = entry.undoable_if
        if rule is not None and not truthy(
            compile_expression(rule.test).search({"args": arguments, "capture": capture})
        ):
            prepared["no_undo"] = rule.reason
        return prepared

    async def commit(self, prepared: Any, ctx: ToolContext) -> dict[str, Any]:
        """Exactly one tools/call; the receipt is the server's result (and the captures).

        Raises:
            CommitRefused: the server refused and nothing ran (an error result, unless
                the overlay says errors may have effects; or a JSON-RPC error that
                means the call was never run; or the server could not be reached).
            McpOutcomeUnknown: the call may have had its effect (timeout, lost
                connection, crash, an invalid result): the probe decides.
        """
        binding = self._binding
        conn = binding.connection
        arguments = dict(prepared["arguments"])
        try:
            client = await conn.client()
        except McpServerError as exc:
            raise CommitRefused(f"{exc}; nothing was sent") from exc
        self._commit_started[ctx.idempotency_key] = time.monotonic()
        watch = current_watch()  # the MCP proxy's host waits on this very call
        try:
            result = await conn.call_tool(
                client, self.remote, arguments, meta=_meta(ctx), progress=watch.progress if watch is not None else None
            )
        except anyio.get_cancelled_exc_class():
            if watch is not None and watch.on_cut_off is not None:
                watch.on_cut_off()  # Stop cut it off (the SDK tells the server); the probe settles it
            raise
        except MCPError as exc:
            message = conn.scrub(exc.message)
            # The HTTP transport reports a 202 answer to a request as INVALID_REQUEST: that server took it.
            if exc.code in _NOTHING_RAN and "202" not in message:
                self._commit_started.pop(ctx.idempotency_key, None)
                raise CommitRefused(
                    f"{self.server} refused the call: {message} (JSON-RPC {exc.code}); the tool did not run"
                ) from exc
            raise McpOutcomeUnknown(
                f"{self.server}: {message} (JSON-RPC {exc.code}); the call may have had its effect"
            ) from exc
        except (RuntimeError, ValidationError) as exc:
            raise McpOutcomeUnknown(
                f"{self.server} answered with an invalid result "
                f"({conn.scrub(str(exc))[:300]}); the call may have had its effect"
            ) from exc
        if watch is not None and watch.on_result is not None:
            watch.on_result(result)
        shaped = shape_result(result)
        if result.is_error:
            text = conn.scrub(_result_text(shaped))
            if self.entry.errors_may_have_effects:  # keep when it began: the probe may need settle_time
                raise McpOutcomeUnknown(f"the tool answered with an error that may have had an effect: {text}")
            self._commit_started.pop(ctx.idempotency_key, None)
            raise CommitRefused(f"the tool answered with an error: {text}")
        self._commit_started.pop(ctx.idempotency_key, None)
        receipt: dict[str, Any] = {
            "server": self.server,
            "tool": self.remote,
            "result": shaped,
            "definition": binding.digest,
        }
        for key in ("capture", "no_undo"):
            if key in prepared:
                receipt[key] = prepared[key]
        return receipt

    async def _probe(self, ctx: ToolContext) -> dict[str, Any] | None:
        """`lookup`: the overlay's probe. A receipt when `done_if` holds; None when it does not.

        Raises:
            McpCallFailed: the probe could not be made, or found nothing while a
                cancelled call may still land (the overlay's settle_time).
        """
        probe = self.entry.probe
        assert probe is not None
        arguments = _arguments(ctx.args)
        await self._binding.client.verify(self.server, [probe.tool])
        result = await self._side_call(
            probe.tool, render(probe.args, {"args": arguments}), ctx, "probe", probe.allow_error
        )
        if truthy(compile_expression(probe.done_if).search({"args": arguments, "result": result})):
            receipt: dict[str, Any] = {
                "server": self.server,
                "tool": self.remote,
                "result": None,
                "probe": result,
                "settled_by": "probe",
                "definition": self._binding.digest,
            }
            rule = self.entry.undoable_if
            if rule is not None and not truthy(
                compile_expression(rule.test).search({"args": arguments, "capture": None})
            ):
                receipt["no_undo"] = (
                    "it was settled by its probe, so the captures undoable_if judges were not "
                    "kept: agentstop cannot tell whether its compensate would undo it; check by "
                    "hand"
                )
            return receipt
        began = self._commit_started.get(ctx.idempotency_key)
        if began is not None and (left := self.entry.settle_time - (time.monotonic() - began)) > 0:
            raise McpCallFailed(
                f"the probe found no effect yet, but the call may still land in the next "
                f"{left:.0f} s (settle_time); check again later"
            )
        return None

    def _undo_args(self, receipt: Any, args: Any, missing: list[str] | None) -> dict[str, Any]:
        spec = self.entry.compensate
        assert spec is not None
        receipt = receipt if isinstance(receipt, dict) else {}
        context = {
            "args": _arguments(args),
            "result": receipt.get("result"),
            "capture": receipt.get("capture"),
            "probe": receipt.get("probe"),
        }
        return dict(render(spec.args, context, missing))

    async def _check(self, receipt: Any, ctx: ToolContext) -> str | None:
        """`check`: the overlay's drift check. Its reason when `drift_if` holds, else None.

        Raises:
            McpCallFailed: the check call could not be built or made (not drift: the
                undo counts it as a failed attempt, retried).
        """
        spec = self.entry.check
        assert spec is not None
        receipt = receipt if isinstance(receipt, dict) else {}
        arguments = _arguments(ctx.args)
        context = {
            "args": arguments,
            "result": receipt.get("result"),
            "capture": receipt.get("capture"),
            "probe": receipt.get("probe"),
            "receipt": receipt,
        }
        missing: list[str] = []
        call_args = render(spec.args, context, missing)
        if missing:
            raise McpCallFailed(
                f"cannot build the drift check {self.server}.{spec.tool}: {', '.join(missing)} came "
                "out null; fix the overlay's check, or force the undo after looking by hand"
            )
        await self._binding.client.verify(self.server, [spec.tool])
        found = await self._side_call(spec.tool, dict(call_args), ctx, "check", spec.allow_error)
        judged = {"args": arguments, "result": found, "capture": receipt.get("capture"), "receipt": receipt}
        return spec.reason if truthy(compile_expression(spec.drift_if).search(judged)) else None

    async def _compensate(self, receipt: Any, ctx: ToolContext) -> None:
        """`compensate`: the overlay's undo call, its arguments built from the receipt.

        Raises:
            McpCallFailed: an argument came out null (the receipt lacks what the
                template reads), the undo tool changed, or the server refused.
        """
        spec = self.entry.compensate
        assert spec is not None
        no_undo = receipt.get("no_undo") if isinstance(receipt, dict) else None
        if no_undo:  # the report never offers it; an undo asked for by id still must not run
            raise McpCallFailed(f"this call cannot be undone: {no_undo}")
        missing: list[str] = []
        call_args = self._undo_args(receipt, ctx.args, missing)
        if missing:
            why = (
                " (the call was settled by its probe, so there is no tool result)"
                if isinstance(receipt, dict) and receipt.get("settled_by") == "probe"
                else ""
            )
            raise McpCallFailed(
                f"cannot build the undo call {self.server}.{spec.tool}: {', '.join(missing)} came "
                f"out null{why}; give the overlay's compensate a fallback (a || b), or undo by hand"
            )
        await self._binding.client.verify(self.server, [spec.tool])
        await self._side_call(spec.tool, call_args, ctx, "undo")

    def undo_summary(self, receipt: Any) -> str:
        """The undo call the overlay would make for this receipt."""
        spec = self.entry.compensate
        if spec is None:
            return ""
        if isinstance(receipt, dict) and receipt.get("no_undo"):
            return f"none: {receipt['no_undo']}"[:160]
        try:
            shown = json.dumps(self._undo_args(receipt, {}, None), ensure_ascii=False, default=str)
        except Exception:
            return f"calls {self.server}.{spec.tool}"
        return f"calls {self.server}.{spec.tool} {shown}"[:160]

    def __repr__(self) -> str:
        return f"<McpTool {self.name} {self.reversibility.value}>"


def tool_class(binding: ToolBinding, model_name: str) -> type[McpTool]:
    """A new `McpTool` subclass for one MCP tool (its name, Args, class, undo and probe)."""
    entry = binding.entry or ToolOverlay()
    definition = binding.definition
    args_cls = type(
        "Args", (McpArgs,), {"binding": binding, "__module__": __name__, "__qualname__": f"McpArgs[{binding.name}]"}
    )
    attrs: dict[str, Any] = {
        "__module__": __name__,
        "__qualname__": f"McpTool[{binding.name}]",
        "name": binding.name,
        "model_name": model_name,
        "server": binding.server,
        "remote": binding.remote,
        "Args": args_cls,
        "on_stop": entry.on_stop,
        "settle_time": entry.settle_time,
    }
    if entry.compensate is not None:
        attrs["compensate"] = McpTool._compensate
    if entry.probe is not None:
        attrs["lookup"] = McpTool._probe
    if entry.check is not None:
        attrs["check"] = McpTool._check  # so `can_check()` is true only when the overlay has one
    cls = type(f"McpTool_{model_name}", (McpTool,), attrs)
    describe(cls, binding, definition)
    return cls


def describe(cls: type[McpTool], binding: ToolBinding, definition: types.Tool) -> None:
    """Set what people and models read about the tool: description with the claims, class, undo hint."""
    classification = binding.classification
    entry = binding.entry or ToolOverlay()
    said = classification.claims
    text = (definition.description or definition.title or "").strip()
    if said:
        text += f"\n(The server claims: {', '.join(said)}. agentstop does not rely on these claims.)"
    cls.description = text.strip()
    cls.claims = said
    cls.reversibility = classification.reversibility
    hint = entry.undo_hint
    if not hint and classification.reversibility is Reversibility.IRREVERSIBLE:
        claim = f"; the server claims it is {', '.join(said)}" if said else ""
        hint = f"{classification.why}{claim}; undo it by hand on server {binding.server!r}"
    cls.undo_hint = hint
