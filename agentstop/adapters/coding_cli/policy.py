"""What a coding CLI may do under agentstop: the grant, and the overlay for the CLI's tools.

Read from `--task FILE` (a task.yaml works: its `grant:` is used, the rest ignored) with an optional
`coding_cli:` section:

```yaml
grant:
  tools: ["*"]                       # the CLI's tool names: Write, Edit, Bash, mcp__github__create_issue, ...
  scopes: ["*", "project:**"]        # file tools' resources: project:REL inside the project, file:/ABS outside
  ttl: 2h
coding_cli:
  ask: ["Bash"]                      # handed back to the CLI's own permission prompt ("ask")
```

Without a file: every tool, files inside the project only (a write outside it is refused at the fence).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentstop.errors import AgentstopError
from agentstop.grant import GrantSpec
from agentstop.task.durations import parse_duration

__all__ = ["DEFAULT_SCOPES", "CliPolicy", "load_policy"]

DEFAULT_SCOPES = ["*", "project:**"]
"""Any resource without a `/` (Bash, MCP tools by name) and any file inside the project."""


class _Grant(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tools: list[str] = Field(default_factory=lambda: ["*"], min_length=1)
    scopes: list[str] = Field(default_factory=lambda: list(DEFAULT_SCOPES), min_length=1)
    ttl: str | float | None = None
    max_calls: int | None = Field(default=None, ge=0)


class _Overlay(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ask: list[str] = Field(default_factory=list)


class _File(BaseModel):
    model_config = ConfigDict(extra="ignore")
    grant: _Grant = Field(default_factory=_Grant)
    coding_cli: _Overlay = Field(default_factory=_Overlay)


@dataclass(frozen=True)
class CliPolicy:
    """The grant a CLI session runs under, and which tools the CLI's own prompt must approve."""

    grant: GrantSpec = field(default_factory=lambda: GrantSpec(tools=["*"], scopes=list(DEFAULT_SCOPES)))
    ask: tuple[str, ...] = ()
    path: str | None = None

    def asks(self, tool: str) -> bool:
        """True when `tool` is handed back to the CLI's own permission prompt."""
        return any(fnmatch.fnmatchcase(tool, p) for p in self.ask)


def load_policy(path: Path | None) -> CliPolicy:
    """The policy in `path` (None: the default). Raises `AgentstopError` with where the file is wrong."""
    if path is None:
        return CliPolicy()
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        parsed = _File.model_validate(data)
    except OSError as exc:
        raise AgentstopError(f"cannot read the policy file {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise AgentstopError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise AgentstopError(f"{path}: {where}: {first['msg']}; fix the file (see agentstop claude --help)") from exc
    g = parsed.grant
    ttl = parse_duration(g.ttl) if isinstance(g.ttl, str) else g.ttl
    return CliPolicy(
        GrantSpec(tools=g.tools, scopes=g.scopes, ttl=ttl, max_calls=g.max_calls),
        tuple(parsed.coding_cli.ask),
        str(path),
    )
