"""Supervise coding CLIs (Claude Code, Codex): their tool calls behind the fence, through their hooks.

- `tools`: the CLIs' tools as agentstop tools (file tools reversible, Bash irreversible);
- `server`: the resident hook endpoint on 127.0.0.1 (`HookServer`), and `answer_hook`;
- `forward`: the command hook (stdlib only) that forwards to it;
- `settings`: the hooks as the CLI's own settings JSON, every one with `"onFailure": "block"`;
- `codex`: Codex's hooks.json, the per-run `CODEX_HOME`, hook trust asked of Codex's app-server;
- `runner`: `run_cli`, the CLI as a child under one session, interrupted on Stop;
- `install`: hooks installed into the CLI's settings for people who start it themselves;
- `direct`: the installed hook, a short process per event that runs the gate on the journal;
- `policy`: the grant and the overlay.
"""
