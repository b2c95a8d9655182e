"""The task.yaml models: what a task file may say, field by field.

Every model forbids unknown fields, and every field has a description (the
JSON schema and the README reuse them). Values that people write in several
forms (durations, patterns, import paths, `approve`) are checked by one
validator each, so a mistake gives one clear error instead of a union's worth.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.json_schema import WithJsonSchema
from pydantic_core import PydanticCustomError

from agentstop.journal.backend import is_url
from agentstop.mcp.config import SERVER_NAME_PATTERN, ServerConfig, server_name

from .durations import DURATION_HINT, DURATION_PATTERN, parse_duration
from .values import show

__all__ = [
    "IMPORT_PATH_PATTERN",
    "AgentSpec",
    "CallSpec",
    "GrantModel",
    "OpenAIAgentSpec",
    "ScriptedAgentSpec",
    "StepModel",
    "StopModel",
    "TaskModel",
    "bracket_problem",
]

_FORBID = ConfigDict(extra="forbid", frozen=True)

_DOTTED = r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*"
IMPORT_PATH_PATTERN = rf"^{_DOTTED}:{_DOTTED}$"


def _fail(kind: str, problem: str) -> PydanticCustomError:
    # The problem goes in as context, so braces in user values are never read as a template.
    return PydanticCustomError(kind, "{problem}", {"problem": problem})


# -- durations -------------------------------------------------------------------


def _duration(value: object) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise _fail("duration", str(exc)) from None


Duration = Annotated[
    float,
    BeforeValidator(_duration),
    WithJsonSchema({"anyOf": [{"type": "number", "minimum": 0}, {"type": "string", "pattern": DURATION_PATTERN}]}),
]

# -- patterns and names ------------------------------------------------------------


def bracket_problem(pattern: str) -> str | None:
    """Why an fnmatch pattern's brackets are wrong, or None when they balance.

    fnmatch quietly treats an unclosed `[` as a literal character, which is
    almost never what the author meant in a grant.
    """
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        i += 1
        if c != "[":
            continue
        j = i
        if j < n and pattern[j] == "!":
            j += 1
        if j < n and pattern[j] == "]":  # "[]...]" and "[!]...]": the first ] is a literal
            j += 1
        while j < n and pattern[j] != "]":
            j += 1
        if j >= n:
            return f"pattern {pattern!r} has a '[' with no closing ']'; close it, or write [[] to match a literal '['"
        i = j + 1
    return None


def _pattern(value: str) -> str:
    if not value:
        raise _fail("pattern", "expected a non-empty pattern like 'send_*' or 'mail:*@example.com'")
    problem = bracket_problem(value)
    if problem is None:
        try:
            re.compile(fnmatch.translate(value))
        except re.error as exc:
            problem = f"pattern {value!r} does not compile ({exc}); fix its [...] classes"
    if problem is not None:
        raise _fail("pattern", problem)
    return value


Pattern = Annotated[str, AfterValidator(_pattern), WithJsonSchema({"type": "string", "minLength": 1})]


def _import_path(value: str) -> str:
    if not re.fullmatch(IMPORT_PATH_PATTERN, value):
        hint = "" if ":" in value else "; separate the module and the class with a colon"
        raise _fail("import_path", f"expected an import path like package.module:ClassName (got {show(value)}){hint}")
    return value


ImportPath = Annotated[
    str, AfterValidator(_import_path), WithJsonSchema({"type": "string", "pattern": IMPORT_PATH_PATTERN})
]


def _non_empty(value: str) -> str:
    if not value.strip():
        raise _fail("empty", "expected a non-empty name")
    return value


Name = Annotated[str, AfterValidator(_non_empty), WithJsonSchema({"type": "string", "minLength": 1})]
McpServerName = Annotated[
    str, AfterValidator(server_name), WithJsonSchema({"type": "string", "pattern": SERVER_NAME_PATTERN})
]


def _journal(value: str) -> str:
    if not value.strip():
        raise _fail("journal", "expected a journal file or a postgresql:// URL; omit `journal` for the default")
    if "://" in value and not is_url(value):
        scheme = value.split("://", 1)[0]
        raise _fail("journal", f"a journal is a file or a postgresql:// URL; {show(scheme + '://')} is not supported")
    if is_url(value):
        try:
            urlsplit(value).port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError as exc:
            raise _fail("journal", f"not a valid postgresql:// URL ({exc})") from None
    return value


JournalTarget = Annotated[str, AfterValidator(_journal), WithJsonSchema({"type": "string", "minLength": 1})]

# -- steps -------------------------------------------------------------------------


class CallSpec(BaseModel):
    """One call of a parallel step."""

    model_config = _FORBID

    tool: Name = Field(description="The name of the tool to call (its `name`, like send_email).")
    args: dict[str, Any] = Field(
        default_factory=dict, description="The call's arguments, checked against the tool's Args model."
    )


class StepModel(BaseModel):
    """One step of a scripted agent: a thought, then one call, several calls at once, or none."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_extra={"not": {"required": ["tool", "parallel"]}}
    )

    thought: str = Field(default="", description="What the agent thinks aloud before acting; streamed word by word.")
    tool: Name | None = Field(default=None, description="The tool to call in this step (omit for a thought alone).")
    args: dict[str, Any] | None = Field(
        default=None, description="Arguments for `tool`, checked against its Args model; default {}."
    )
    parallel: list[CallSpec] | None = Field(
        default=None, min_length=1, description="Calls issued at once instead of `tool` (a non-empty list)."
    )

    @field_validator("args")
    @classmethod
    def _args_need_a_tool(cls, value: dict[str, Any] | None, info: ValidationInfo) -> dict[str, Any] | None:
        if value is not None and "tool" in info.data and info.data["tool"] is None:
            raise _fail("args_without_tool", "args need a tool: add `tool: <name>` to this step, or remove args")
        return value

    @field_validator("parallel")
    @classmethod
    def _tool_or_parallel(cls, value: list[CallSpec] | None, info: ValidationInfo) -> list[CallSpec] | None:
        if value is not None and info.data.get("tool") is not None:
            raise _fail(
                "tool_and_parallel",
                "a step has either `tool` or `parallel`, not both; split it into two steps",
            )
        return value

    @property
    def calls(self) -> tuple[tuple[str, dict[str, Any]], ...]:
        """The step's calls as `(tool, args)` pairs (empty for a thought alone)."""
        if self.parallel is not None:
            return tuple((c.tool, dict(c.args)) for c in self.parallel)
        if self.tool is not None:
            return ((self.tool, dict(self.args or {})),)
        return ()


# -- agent, grant, stop --------------------------------------------------------------


class ScriptedAgentSpec(BaseModel):
    """An agent that plays the task's `steps`, streaming each thought at a steady rate."""

    model_config = _FORBID

    kind: Literal["scripted"] = Field(description="The kind of agent: `scripted` plays the task's steps.")
    tokens_per_second: float = Field(
        default=40.0, ge=0, description="How fast thoughts stream, in words per second; 0 streams at once."
    )


ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"


def _env_name(value: str) -> str:
    if not re.fullmatch(ENV_NAME_PATTERN, value):
        # Never echo the value: people paste the key itself here.
        raise _fail(
            "env_name",
            "expected the NAME of an environment variable (like OPENAI_API_KEY), not its value; "
            "put the key in that variable",
        )
    return value


EnvName = Annotated[str, AfterValidator(_env_name), WithJsonSchema({"type": "string", "pattern": ENV_NAME_PATTERN})]


def _http_url(value: str) -> str:
    if not re.match(r"^https?://[^/\s]+", value):
        raise _fail("url", f"expected an http(s) URL like http://127.0.0.1:11434/v1 (got {show(value)})")
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url), WithJsonSchema({"type": "string", "pattern": "^https?://"})]


class OpenAIAgentSpec(BaseModel):
    """A real model behind an OpenAI-compatible Chat Completions server (OpenAI, Ollama, vLLM, llama.cpp)."""

    model_config = _FORBID

    kind: Literal["openai"] = Field(description="The kind of agent: `openai` talks to a model that plans the calls.")
    model: Name = Field(description="The model's name on the server (like gpt-4o-mini, llama3.1, qwen2.5:7b).")
    base_url: HttpUrl | None = Field(
        default=None,
        description="The server's OpenAI-compatible endpoint, like http://127.0.0.1:11434/v1; default OpenAI's.",
    )
    api_key_env: EnvName | None = Field(
        default=None,
        description="The environment variable holding the API key (like OPENAI_API_KEY); omit for a local "
        "server without auth.",
    )
    max_steps: int = Field(
        default=20, ge=1, strict=True, description="The most model turns before the agent gives up and ends."
    )
    temperature: float | None = Field(
        default=None, ge=0, le=2, description="Sampling temperature (0 to 2); omit for the server's default."
    )
    system: str | None = Field(default=None, description="Extra system prompt, added after agentstop's own.")
    timeout: Duration = Field(
        default=120.0,
        description="How long to wait to connect, and between two pieces of the model's answer (like 2m).",
    )
    max_retries: int = Field(
        default=2, ge=0, strict=True, description="How often a failed request is retried (connection errors, 5xx)."
    )

    @field_validator("timeout")
    @classmethod
    def _positive_timeout(cls, value: float) -> float:
        if value <= 0:
            raise _fail("duration", f"expected a positive duration ({DURATION_HINT})")
        return value


AgentSpec = Annotated[ScriptedAgentSpec | OpenAIAgentSpec, Field(discriminator="kind")]


class GrantModel(BaseModel):
    """What the agent may do: which tools, on which resources, for how long, how many times."""

    model_config = _FORBID

    tools: list[Pattern] = Field(
        min_length=1, description="Tool name patterns the grant allows (fnmatch, like send_* or create_event)."
    )
    scopes: list[Pattern] = Field(
        default_factory=lambda: ["**"],
        min_length=1,
        description="Resource patterns each call must match (like mail:*@example.com): `*` does not match `/`, "
        "`**` does; default any resource (`**`).",
    )
    ttl: Duration | None = Field(
        default=None, description="How long the grant lasts from the start (like 10m); omit for no time limit."
    )
    max_calls: int | None = Field(
        default=None, ge=0, strict=True, description="How many calls may reach the world; omit for no limit."
    )

    @field_validator("ttl")
    @classmethod
    def _positive_ttl(cls, value: float | None) -> float | None:
        if value is not None and value <= 0:
            raise _fail("duration", f"expected a positive duration ({DURATION_HINT}); omit ttl for no time limit")
        return value


class StopModel(BaseModel):
    """How Stop treats calls already past the fence."""

    model_config = _FORBID

    grace: Duration = Field(
        default=2.0, description="How long Stop lets commits in flight finish before applying each tool's on_stop."
    )


def _approve(value: object) -> object:
    expected = "expected 'irreversible', 'none' or a list of tool names"
    if isinstance(value, str):
        if value not in ("irreversible", "none"):
            raise _fail("approve", f"{expected} (got {show(value)})")
        return value
    if isinstance(value, list):
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item:
                raise _fail("approve", f"{expected}; item {i} is {show(item)}, not a tool name")
        return value
    raise _fail("approve", f"{expected} (got {show(value)})")


Approve = Annotated[Literal["irreversible", "none"] | list[str], BeforeValidator(_approve)]

# -- the task ---------------------------------------------------------------------------


def _task_schema(schema: dict[str, Any]) -> None:
    # `steps` is required (non-empty) for the scripted agent, and absent or empty for a model.
    schema["description"] = "A task for agentstop: the agent, its tools, its grant and its steps."
    schema["required"] = [name for name in schema.get("required", []) if name != "steps"]
    schema["if"] = {
        "required": ["agent"],
        "properties": {"agent": {"required": ["kind"], "properties": {"kind": {"const": "openai"}}}},
    }
    schema["then"] = {"properties": {"steps": {"maxItems": 0}}}
    schema["else"] = {"required": ["steps"], "properties": {"steps": {"minItems": 1}}}
    # Tools come from `tools`, from `mcp_servers`, or from both.
    schema["anyOf"] = [{"required": ["tools"]}, {"required": ["mcp_servers"]}]


class TaskModel(BaseModel):
    """A task file: what the agent should do, with which tools, under which grant."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        title="agentstop task file",
        json_schema_extra=_task_schema,
    )

    name: Name = Field(description="A short title people recognise in lists and reports.")
    goal: str = Field(default="", description="What the agent was asked to do, in a sentence or two.")
    journal: JournalTarget | None = Field(
        default=None,
        description="The journal: a file (a relative path is relative to the task file) or a "
        "postgresql://user:password@host/db URL. Default: the CLI's journal.",
    )
    agent: AgentSpec = Field(
        default_factory=lambda: ScriptedAgentSpec(kind="scripted"),
        description="Which agent runs the task; default {kind: scripted, tokens_per_second: 40}.",
    )
    tools: list[ImportPath] = Field(
        default_factory=list,
        description="Tool classes as package.module:ClassName; modules next to the task file can be imported.",
    )
    mcp_servers: dict[McpServerName, ServerConfig] = Field(
        default_factory=dict,
        description="MCP servers whose tools the agent may use, named server.tool: {command, args, env} run over "
        "stdio, or {url, headers} over streamable HTTP. Env and header values are never journaled.",
    )
    mcp_overlay: str | None = Field(
        default=None,
        min_length=1,
        description="The overlay file (relative to the task file): per server and tool, its class, compensate, "
        "probe and capture.",
    )
    grant: GrantModel = Field(title="Grant", description="What the agent is allowed to do; Stop revokes it.")
    stop: StopModel = Field(default_factory=StopModel, title="Stop", description="How Stop treats calls in flight.")
    approve: Approve = Field(
        default="none",
        description="Which calls wait for a person's approval: irreversible, none, or a list of tool names.",
    )
    steps: list[StepModel] = Field(
        description="The scripted agent's steps, in order: a thought, then a call or parallel calls "
        "(none for kind openai: the model plans the calls)."
    )

    @model_validator(mode="before")
    @classmethod
    def _a_model_needs_no_steps(cls, data: Any) -> Any:
        agent = data.get("agent") if isinstance(data, dict) else None
        if isinstance(agent, dict) and agent.get("kind") == "openai" and "steps" not in data:
            return {**data, "steps": []}
        return data

    @model_validator(mode="after")
    def _some_tools(self) -> TaskModel:
        if not self.tools and not self.mcp_servers:
            raise _fail("tools", "give `tools` (package.module:ClassName) or `mcp_servers`, or both")
        return self

    @field_validator("agent")
    @classmethod
    def _a_model_needs_a_goal(
        cls, value: ScriptedAgentSpec | OpenAIAgentSpec, info: ValidationInfo
    ) -> ScriptedAgentSpec | OpenAIAgentSpec:
        goal = info.data.get("goal")  # absent when goal itself was wrong: say that alone
        if isinstance(value, OpenAIAgentSpec) and isinstance(goal, str) and not goal.strip():
            raise _fail(
                "goal",
                "an openai agent sends `goal` to the model as its request; add `goal: ...` "
                "saying what the agent should do",
            )
        return value

    @field_validator("steps")
    @classmethod
    def _steps_fit_the_agent(cls, value: list[StepModel], info: ValidationInfo) -> list[StepModel]:
        agent = info.data.get("agent")  # absent when the agent itself was wrong: say that alone
        if isinstance(agent, OpenAIAgentSpec) and value:
            raise _fail(
                "steps_with_model",
                "an openai agent plans its own calls, so it takes no steps; remove "
                "`steps`, or use `agent: {kind: scripted}` to play them",
            )
        if isinstance(agent, ScriptedAgentSpec) and not value:
            raise PydanticCustomError(
                "too_short",
                "List should have at least 1 item",
                {"field_type": "List", "min_length": 1, "actual_length": 0},
            )
        return value
