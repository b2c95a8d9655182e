"""The Tool contract: a side effect split into prepare and commit, with its undo.

A tool is a class. Its integrator declares what it does to the world (its
`reversibility`), how to build the effect without showing it to anyone
(`prepare`), how to issue it exactly once (`commit`, which gets a stable
idempotency key), and where one exists, how to take it back (`compensate`), how
to tell that the effect was changed by someone since (`check`, run before the
undo so it never overwrites a person's edit unasked), how to carry the effect
out again after its undo (`reapply`: the person's "undo the undo") and how to
ask the upstream whether an effect landed (`lookup`).

Example:
    ```python
    class CreateEvent(Tool):
        name = "create_event"
        description = "Book a meeting in the team calendar."
        reversibility = Reversibility.REVERSIBLE

        class Args(BaseModel):
            title: str
            start: datetime

        def resource(self, args: CreateEvent.Args) -> str:
            return "calendar:team"

        async def prepare(self, args, ctx):
            return {"uid": ctx.idempotency_key, "title": args.title, "start": args.start.isoformat()}

        async def commit(self, prepared, ctx):
            await calendar.put(prepared)            # upstream dedupes on uid
            return {"uid": prepared["uid"]}

        async def check(self, receipt, ctx):
            event = await calendar.get(receipt["uid"])
            if event is not None and event.etag != receipt["etag"]:
                return "the event was edited since the agent booked it"
            return None

        async def compensate(self, receipt, ctx):
            await calendar.delete(receipt["uid"])

        async def reapply(self, receipt, ctx):
            # After the undo, the person wants it back: book the same event again (same uid,
            # so a retried re-apply books it once); the new receipt is what the next undo takes back.
            event = await calendar.put(receipt)
            return {"uid": event.uid, "etag": event.etag}

        async def lookup(self, ctx):
            return await calendar.get(ctx.idempotency_key)
    ```
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, cast

from pydantic import BaseModel
from typing_extensions import TypeVar  # a default (PEP 696): a bare `Tool` stays `Tool[Any, Any, Any]`

from agentstop.journal.policies import Reversibility, StopPolicy

__all__ = ["Reversibility", "StopPolicy", "Tool", "ToolContext"]

_SUMMARY_JSON = json.JSONEncoder(default=str, ensure_ascii=False)
"""`json.dumps(value, default=str, ensure_ascii=False)` without building an encoder per value (a summary per call)."""


@dataclass(frozen=True)
class ToolContext:
    """What a tool knows about the call it is serving.

    Attributes:
        session_id: the session the call belongs to.
        call_id: the call's id within the session ("c3").
        tool: the tool's name.
        idempotency_key: stable for this call across retries and recovery; pass it
            upstream so a repeated commit never repeats the effect.
        args: the validated arguments (as journaled, secrets redacted, when the
            context is rebuilt from the journal for undo or recovery).
        attempt: 1 for the first try of a compensation or re-apply, 2 for its first retry, ...
        forced: in `compensate`, True when the person forced the undo past `check`
            (which was then not run): take the effect back even if it changed since.
            False: a compensation may refuse (raise) when it finds a change `check`
            could not see yet, say one made between the check and the undo.
        prepared: in a `@agentstop.tool` function's body, what its `prepare` returned;
            in `lookup` after a crash, what it returned as journaled (secrets redacted),
            so a lookup can compare the world with what prepare captured. None
            elsewhere: a class's `commit` receives it as its argument.
        note: while the call runs, journal what a person watching should see
            (`await ctx.note("processes", {"pids": [...]})`): a session event of
            that kind carrying this call's id, shown on its in-flight row. None
            where there is no live call to annotate (undo, re-apply, recovery).
    """

    session_id: str
    call_id: str
    tool: str
    idempotency_key: str
    args: Any = None
    attempt: int = 1
    extra: dict[str, Any] = field(default_factory=lambda: {})
    forced: bool = False
    note: Callable[[str, dict[str, Any]], Awaitable[None]] | None = None
    prepared: Any = None


ArgsT = TypeVar("ArgsT", default=Any)
"""What `prepare`, `resource` and `summary` get: the tool's validated `Args` model."""
PreparedT = TypeVar("PreparedT", default=Any)
"""What `prepare` returns and `commit` and `discard` get (journaled as JSON)."""
ReceiptT = TypeVar("ReceiptT", default=Any)
"""What `commit` returns and the hooks get back from the journal: JSON, so a dict or a `TypedDict`."""


class Tool(Generic[ArgsT, PreparedT, ReceiptT]):
    """Base class for every tool agentstop runs.

    Class attributes:
        name: the name planners and grants use ("send_email").
        description: one or two sentences the model reads.
        reversibility: a `Reversibility`.
        Args: a pydantic model of the arguments.
        on_stop: a `StopPolicy` for a commit in flight when Stop comes.
        undo_hint: for irreversible tools, what a person should do by hand.
        settle_time: seconds after its commit began that an effect may still land
            even if the agent's process died (a subprocess, a request in a queue);
            recovery keeps such a call *unknown* until then instead of calling it failed.

    A tool must define `commit`. The hooks `compensate`, `lookup`, `reapply` and
    `check` are optional: a tool has one when its class overrides the method
    declared here (`can_compensate()`, `can_lookup()`, `can_reapply()`,
    `can_check()` say so); setting it to None in a subclass takes it away.

    The three type parameters are optional too (a bare `Tool` subclass means
    `Tool[Any, Any, Any]`, also under `mypy --strict`). Given, mypy checks every method and hook against
    them: the arguments, what `prepare` builds, and the receipt.

    Example:
        ```python
        class Booked(TypedDict):
            uid: str
            etag: str

        class EventArgs(BaseModel):
            title: str

        class CreateEvent(Tool[EventArgs, dict[str, str], Booked]):
            name = "create_event"
            reversibility = Reversibility.REVERSIBLE
            Args = EventArgs

            async def prepare(self, args: EventArgs, ctx: ToolContext) -> dict[str, str]:
                return {"uid": ctx.idempotency_key, "title": args.title}

            async def commit(self, prepared: dict[str, str], ctx: ToolContext) -> Booked:
                return await calendar.put(prepared)

            async def compensate(self, receipt: Booked, ctx: ToolContext) -> None:
                await calendar.delete(receipt["uid"])  # mypy checks the key against Booked

            async def lookup(self, ctx: ToolContext) -> Booked | None:
                return await calendar.get(ctx.idempotency_key)
        ```
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    reversibility: ClassVar[Reversibility] = Reversibility.IRREVERSIBLE
    Args: ClassVar[type[BaseModel]] = BaseModel
    on_stop: ClassVar[StopPolicy] = StopPolicy.WAIT
    undo_hint: ClassVar[str] = ""
    settle_time: ClassVar[float] = 0.0

    def summary(self, args: ArgsT) -> str:
        """One line a person reads in the side-effect panel."""
        data = args.model_dump(mode="json") if isinstance(args, BaseModel) else args
        if isinstance(data, dict):
            text = ", ".join(f"{k}={_SUMMARY_JSON.encode(v)}" for k, v in data.items())
        else:
            text = _SUMMARY_JSON.encode(data)
        return f"{self.name} {text}".strip()[:160]

    def resource(self, args: ArgsT) -> str:
        """What the grant's scopes are matched against; by default the tool name."""
        return self.name

    async def prepare(self, args: ArgsT, ctx: ToolContext) -> PreparedT:
        """Build the effect with nothing visible to the world; return it JSON-serialisable.

        By default, the arguments as JSON.
        """
        return cast(PreparedT, args.model_dump(mode="json") if isinstance(args, BaseModel) else args)

    async def commit(self, prepared: PreparedT, ctx: ToolContext) -> ReceiptT:
        """Issue the one side effect and return its receipt (JSON-serialisable).

        Raise `CommitRefused` when the upstream refused and nothing landed.
        """
        raise NotImplementedError(f"tool {self.name!r} does not implement commit()")

    async def discard(self, prepared: PreparedT, ctx: ToolContext) -> None:
        """Release a prepared effect that will never be committed."""

    # -- optional hooks: a tool has one when it overrides it ------------------------------------

    async def compensate(self, receipt: ReceiptT, ctx: ToolContext) -> object:
        """Take the effect back (optional: a tool without it is not undoable).

        `receipt` is the one `commit` returned, as journaled (secrets redacted).
        `ctx.idempotency_key` is stable across the attempts of one undo. What it
        returns is not used. Raise when it cannot be done: the undo is retried
        with backoff, then ends `compensation_failed`, retryable.
        """
        raise NotImplementedError(f"tool {self.name!r} defines no compensate(): it is not undoable")

    async def lookup(self, ctx: ToolContext) -> ReceiptT | None:
        """Ask the upstream whether this call's effect landed (optional).

        Returns its receipt if it did, None if it did not; raise when it cannot
        tell. Run after a commit was cut off or raised, and by recovery after a
        crash, keyed by `ctx.idempotency_key`. Without it such a call stays
        *unknown* (in flight) until a person settles it.
        """
        raise NotImplementedError(f"tool {self.name!r} defines no lookup()")

    async def reapply(self, receipt: ReceiptT, ctx: ToolContext) -> ReceiptT:
        """After its compensation ran, carry the original effect out again; return the new receipt.

        Optional: define it where doing the effect again is natural (book the event
        again, re-create the branch, re-insert the rows), not where a second time
        means something else to people (an email they would receive twice). It
        counts only with `compensate`: only what was undone is re-applied.

        It is the person's own action, like undo: it does not pass the fence (Stop
        revoked the agent's grant, not the person's say), it is journaled
        `reapplying` (durably) before it runs and `committed` with the new receipt
        after, and the call is then undoable again: `compensate` gets the new
        receipt. `receipt` is the one the compensation undid. `ctx.idempotency_key`
        is `<key>:reapply<n>`, n = 1 for the call's first re-apply, the same across
        the retries of one re-apply (after a failure, or a crash that cut it off,
        when it may have landed): pass it upstream, or make the effect keyed by the
        receipt, so a retry does it once. The compensation of re-apply n gets
        `<key>:reapply<n>:undo`.

        Raise when it cannot be done (the slot was taken since, the name is in use):
        the re-apply is retried with backoff, then ends `reapply_failed` with the
        error, the effect still undone, retryable.
        """
        raise NotImplementedError(f"tool {self.name!r} defines no reapply()")

    async def check(self, receipt: ReceiptT, ctx: ToolContext) -> str | None:
        """Before an undo: has the effect been changed since the agent made it? (optional)

        Runs before each attempt of `compensate` (never when the person forces
        the undo), and must only read. Compare what the receipt says was done
        with what the upstream holds now (an ETag or SEQUENCE, a head commit,
        the row's values) and say what changed, in words a person reads in the
        refusal ("the event was edited since the agent booked it: title ...").
        An effect already gone, or already undone, is not drift: return None and
        let `compensate` treat it as done. Without it (the default here) an undo
        runs unchecked.

        Returns:
            None when the undo is safe; otherwise the reason it is not. The undo
            is then refused, nothing is run, and the call stays undoable: the
            person may force it (`Supervisor.undo(..., force=True)`,
            `agentstop undo --force`).

        Raises:
            Exception: the check could not be made (the upstream is down). That
            is not drift: it counts as a failed attempt of the undo, retried with
            backoff like a failing `compensate`, and after the last attempt the
            undo ends `compensation_failed`, retryable.
        """
        return None

    def undo_summary(self, receipt: ReceiptT) -> str:
        """What `compensate` will do to this effect, in one line the undo confirmation shows.

        "" (the default) when the tool has nothing more specific to say than its
        reversibility ("exact undo", "compensation (leaves a trace)").
        """
        return ""

    def reapply_summary(self, receipt: ReceiptT) -> str:
        """What `reapply` will do, in one line the re-apply confirmation shows ("" by default:
        the confirmation then shows the call's own summary, to be done again)."""
        return ""

    @classmethod
    def _has(cls, hook: str) -> bool:
        """True when the class overrides the optional `hook` declared on `Tool` with something callable."""
        found = getattr(cls, hook, None)
        return callable(found) and found is not getattr(Tool, hook)

    @classmethod
    def can_compensate(cls) -> bool:
        """True when the tool defines `compensate(receipt, ctx)`."""
        return cls._has("compensate")

    @classmethod
    def can_check(cls) -> bool:
        """True when the tool defines `check(receipt, ctx)` (looks for drift before an undo)."""
        return cls._has("check")

    @classmethod
    def can_reapply(cls) -> bool:
        """True when the tool defines `reapply(receipt, ctx)`, and `compensate`: only what was undone is re-applied."""
        return cls.can_compensate() and cls._has("reapply")

    @classmethod
    def can_lookup(cls) -> bool:
        """True when the tool defines `lookup(ctx)`."""
        return cls._has("lookup")

    @property
    def is_read_only(self) -> bool:
        """True for tools with no side effect (not gated by the grant)."""
        return self.reversibility is Reversibility.READ_ONLY

    def __repr__(self) -> str:
        return f"<Tool {self.name} {self.reversibility.value}>"
