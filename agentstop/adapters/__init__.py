"""Framework adapters: the fence under the agents people already run.

```python
from agentstop.adapters import openai_agents, langgraph, pydantic_ai
```

Each adapter is a module imported only when used (its framework is an optional
extra: `agentstop[openai-agents]`, `agentstop[langgraph]`, `agentstop[pydantic-ai]`);
importing `agentstop.adapters` imports no framework.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["langgraph", "openai_agents", "pydantic_ai"]

_EXTRAS = {"openai_agents": "openai-agents", "langgraph": "langgraph", "pydantic_ai": "pydantic-ai"}


def __getattr__(name: str) -> ModuleType:
    if name not in _EXTRAS:
        raise AttributeError(f"module 'agentstop.adapters' has no attribute {name!r}")
    try:
        return importlib.import_module(f"agentstop.adapters.{name}")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("agentstop"):
            raise
        raise ImportError(
            f"agentstop.adapters.{name} needs its framework: pip install 'agentstop[{_EXTRAS[name]}]' "
            f"({exc.name} is not installed)"
        ) from exc
