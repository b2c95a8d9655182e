"""The task file's JSON schema, for editors and the README."""

from __future__ import annotations

from typing import Any

from .models import TaskModel

__all__ = ["task_json_schema"]

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def task_json_schema() -> dict[str, Any]:
    """The JSON schema of task.yaml (draft 2020-12), every field with a title and a description.

    Example:
        ```python
        json.dump(task_json_schema(), open("task.schema.json", "w"), indent=2)
        ```
    """
    schema = TaskModel.model_json_schema()
    return {"$schema": SCHEMA_DIALECT, **schema}
