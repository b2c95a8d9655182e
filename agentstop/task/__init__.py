"""Task files (task.yaml): what an agent should do, with which tools, under which grant.

```python
task = load_task("release.yaml")      # TaskFileError says the line and the field
tools = task.load_tools()             # imports package.module:ClassName entries
task.check_steps(tools)               # steps and grant against the real tools
sup = Supervisor(journal, tools, task.grant_spec(), task.planner(), grace=task.grace_seconds)
```
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentstop.lazy_names import names_imported_on_use

if TYPE_CHECKING:
    from .durations import parse_duration
    from .loader import load_task, parse_task
    from .models import TaskModel
    from .schema import task_json_schema
    from .taskfile import TaskFile

__all__ = ["TaskFile", "TaskModel", "load_task", "parse_duration", "parse_task", "task_json_schema"]

_LAZY = {
    "TaskFile": ".taskfile",
    "TaskModel": ".models",
    "load_task": ".loader",
    "parse_duration": ".durations",
    "parse_task": ".loader",
    "task_json_schema": ".schema",
}
"""Where each name lives: imported on first use, so a command that only imports a session's recorded tools
(`agentstop report`, `undo`: `task.tool_import`) does not build the task file's pydantic models."""

__getattr__ = names_imported_on_use(__name__, _LAZY)
