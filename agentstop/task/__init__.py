"""Task files (task.yaml): what an agent should do, with which tools, under which grant.

```python
task = load_task("release.yaml")      # TaskFileError says the line and the field
tools = task.load_tools()             # imports package.module:ClassName entries
task.check_steps(tools)               # steps and grant against the real tools
sup = Supervisor(journal, tools, task.grant_spec(), task.planner(), grace=task.grace_seconds)
```
"""

from __future__ import annotations

from .durations import parse_duration
from .loader import load_task, parse_task
from .models import TaskModel
from .schema import task_json_schema
from .taskfile import TaskFile

__all__ = ["TaskFile", "TaskModel", "load_task", "parse_duration", "parse_task", "task_json_schema"]
