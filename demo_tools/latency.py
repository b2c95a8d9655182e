"""How long the demo's upstreams take: realistic latencies, so a Stop catches work in flight.

A real mail relay takes a moment to accept a message, a `git push` seconds, a
migration on a production table longer. The demo tools wait these times where
a real upstream would make them wait (composing before the fence, the upstream's
round trip in the commit, before the effect lands), so whenever Stop is pressed
some work is usually being prepared (Stop discards it: interrupted) or committed
(Stop gives it the grace: in flight, then landed or settled).

`AGENTSTOP_DEMO_LATENCY` scales them all (1 by default; 0 turns them off, as the
tests that check other things do).
"""

from __future__ import annotations

import anyio

from demo_tools.settings import env_seconds

__all__ = ["LATENCY_ENV", "LATENCY_S", "upstream"]

LATENCY_ENV = "AGENTSTOP_DEMO_LATENCY"

LATENCY_S: dict[str, float] = {
    "compose_email": 1.8,  # draft the message and check it against the mail policy (prepare)
    "relay_email": 1.0,  # the outbox hands it to the SMTP relay (commit)
    "find_slot": 1.5,  # free/busy lookup across the team's calendars (prepare)
    "book_event": 0.6,  # the calendar server books and answers (commit)
    "test_branch": 3.0,  # run the checks on the release branch before proposing it (prepare)
    "push_branch": 2.5,  # git push to origin over the network (commit)
    "post_chat": 0.7,  # the chat webhook's round trip (commit)
    "dry_run_migration": 2.5,  # run the statements in a transaction, count the rows (prepare)
    "migrate": 4.0,  # COMMIT on a production table, waiting for its locks (commit)
    "authorize_charge": 1.5,  # card authorization hold (prepare)
    "capture_charge": 1.1,  # capture of the hold (commit)
}


async def upstream(step: str) -> None:
    """Wait as long as the upstream takes for `step` (scaled by $AGENTSTOP_DEMO_LATENCY)."""
    seconds = LATENCY_S[step] * env_seconds(LATENCY_ENV, 1.0)
    if seconds > 0:
        await anyio.sleep(seconds)
