"""The command hook: forwards one hook event to the resident endpoint (for CLIs whose hooks run commands).

Run as a script with the standard library only (`python -I -S forward.py URL`: ~20 ms, no site-packages),
so it imports nothing of agentstop. It reads the hook's JSON on stdin, posts it with the session's secret
(from `$AGENTSTOP_HOOK_SECRET`), and prints the endpoint's answer. Anything that goes wrong (the endpoint
down, the secret refused, a timeout) exits 2 with the reason on stderr: the CLIs read exit code 2 from a
PreToolUse hook as "blocked", and agentstop's hooks also set `"onFailure": "block"`, so the tool does not run.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request

BLOCKED = 2


def main(argv: list[str]) -> int:
    """Forward stdin to `argv[1]`; print the answer; 2 when the fence could not answer."""
    if len(argv) < 2:
        sys.stderr.write("agentstop hook: no endpoint URL given; the tool was blocked\n")
        return BLOCKED
    body = sys.stdin.buffer.read()
    request = urllib.request.Request(
        argv[1],
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "X-Agentstop-Secret": os.environ.get("AGENTSTOP_HOOK_SECRET", "")},
    )
    try:
        with urllib.request.urlopen(request, timeout=float(os.environ.get("AGENTSTOP_HOOK_TIMEOUT", "60"))) as reply:
            answer = reply.read()
    except urllib.error.HTTPError as exc:
        sys.stderr.write(f"agentstop hook: the fence refused the request ({exc.code}); the tool was blocked\n")
        return BLOCKED
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"agentstop hook: the fence is unreachable ({exc}); the tool was blocked\n")
        return BLOCKED
    try:
        json.loads(answer or b"{}")
    except ValueError:
        sys.stderr.write("agentstop hook: the fence answered something that is not JSON; the tool was blocked\n")
        return BLOCKED
    sys.stdout.buffer.write(answer)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
