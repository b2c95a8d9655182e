"""The gated call path: plan, validate, prepare, fence, commit, outcome.

Each step is journaled before the next one acts. The commit runs shielded from
the caller's cancellation: once a call has passed the fence, only its tool's
`on_stop` policy (applied by Stop, or after a caller went away) may cut it
short, and then its outcome is recorded as *unknown* until `lookup` settles it,
never as something it was not.

A `Caller` is the call as the one awaiting it sees it: the supervisor runs the
call in a task of its own, and when the caller is cancelled (`task.cancel()`,
a timeout, a framework's cancel) it marks the `Caller` gone. Before the fence
the call is then discarded; past it the commit goes on (see
`Supervisor.call`).
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import anyio
from pydantic import BaseModel, ValidationError

from agentstop.errors import (
    CallLimitReached,
    CommitRefused,
    GrantExpired,
    GrantRevoked,
    Interrupted,
    InvalidArgs,
    JournalError,
    OutcomeUnknown,
    OutOfScope,
    Rejected,
    ToolFailed,
    Undone,
)
from agentstop.grant import FenceRefusal
from agentstop.journal import CallState, EventKind, Journal
from agentstop.redact import Redactor
from agentstop.report_buckets import IN_EFFECT, IN_FLIGHT, LANDED, TAKEN_BACK, UNSETTLED
from agentstop.tools import Tool, ToolContext, ToolRegistry

from .approval import Allow, ApprovalRequest, Approver, effect_hash
from .flight import Caller, Flight, Phase, past_fence_or_done
from .keys import new_key
from .shape import shape_problem, storable

__all__ = ["CallPath", "Caller", "Flight", "KeyScope", "Phase", "past_fence_or_done", "reconcile"]

T = TypeVar("T")


class KeyScope(enum.StrEnum):
    """Where an explicit idempotency key is matched against earlier calls."""

    SESSION = "session"
    """Only this session's calls (every epoch of it): two sessions may use the same key."""

    JOURNAL = "journal"
    """Every session in the journal: a key that landed anywhere is not issued again."""


_REJECTIONS: dict[FenceRefusal, type[Rejected]] = {
    FenceRefusal.REVOKED: GrantRevoked,
    FenceRefusal.EXPIRED: GrantExpired,
    FenceRefusal.SCOPE: OutOfScope,
    FenceRefusal.LIMIT: CallLimitReached,
}


@functools.lru_cache(maxsize=1024)
def _hooks(cls: type[Tool]) -> dict[str, bool]:
    """Which optional hooks a tool class defines, as a plan records them (set as the class is made)."""
    return {"can_compensate": cls.can_compensate(), "can_lookup": cls.can_lookup(), "can_reapply": cls.can_reapply()}


def _error_text(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if str(exc) else text


async def shielded(awaitable: Awaitable[T]) -> T:
    """Await a journal write that must finish even if the caller is being cancelled."""
    with anyio.CancelScope(shield=True):
        result = await awaitable
    return result


class CallPath:
    """Runs tool calls for one session through the fence, and tracks those in flight.

    Its owner steers it through methods: `stop` once Stop has revoked the grant
    (from then on a new call is discarded before it is prepared, and cut-off
    calls give Stop's reason), and each `Flight` in `in_flight` through its own.

    Args:
        journal, registry, redactor, session_id: the session's.
        grant_id: the grant the fence checks calls against (read when a call is planned).
        needs_approval: which tools wait for a person (`approver`) before the fence.
        approver: who answers; without one, such calls are rejected.
        key_scope: where an explicit idempotency key is matched against earlier calls.
        announce: told each call's id and summary once it is planned (the transcript).
    """

    def __init__(
        self,
        journal: Journal,
        registry: ToolRegistry,
        redactor: Redactor,
        session_id: str,
        grant_id: Callable[[], int],
        needs_approval: Callable[[Tool], bool] = lambda tool: False,
        approver: Approver | None = None,
        key_scope: KeyScope = KeyScope.SESSION,
        announce: Callable[[str, str], None] = lambda call_id, summary: None,
    ) -> None:
        self.journal = journal
        self.key_scope = key_scope
        self.registry = registry
        self.redact = redactor
        self.session_id = session_id
        self._grant_id = grant_id
        self._flights: dict[Flight, None] = {}
        """Calls running now, in the order they started (a dict: an ordered set)."""
        self.needs_approval = needs_approval
        self.approver = approver
        self.announce = announce
        self._stop_reason: str | None = None

    @property
    def stopping(self) -> bool:
        """True once `stop` was called."""
        return self._stop_reason is not None

    @property
    def stop_reason(self) -> str:
        """Stop's reason as cut-off calls give it ("stopped by ada: misread the goal"); empty before Stop."""
        return self._stop_reason or ""

    @property
    def in_flight(self) -> list[Flight]:
        """Calls running right now, with their phase."""
        return list(self._flights)

    @property
    def _alone(self) -> bool:
        """No other call is in flight: this call's writes share no commit, and may skip the writer thread."""
        return len(self._flights) <= 1

    def stop(self, reason: str) -> None:
        """Stop has revoked the grant (or the journal ended the session): discard every new call, for `reason`."""
        self._stop_reason = reason

    def context(self, call_id: str, tool: Tool, key: str, args: Any, attempt: int = 1) -> ToolContext:
        """The ToolContext a tool sees for this call."""

        async def note(kind: str, data: dict[str, Any]) -> None:
            # A session event (readers take a call event's kind for the call's state), naming the call.
            await shielded(
                self.journal.append(self.session_id, kind, {**self.redact(data), "call_id": call_id, "tool": tool.name})
            )

        return ToolContext(
            session_id=self.session_id,
            call_id=call_id,
            tool=tool.name,
            idempotency_key=key,
            args=args,
            attempt=attempt,
            note=note,
        )

    async def call(
        self,
        tool_name: str,
        raw_args: Any,
        key: str | None = None,
        caller: Caller | None = None,
        *,
        defer: bool = False,
    ) -> dict[str, Any]:
        """Run one call through the fence; returns its receipt.

        With `defer`, the call stops once it passed the fence (durably `committing`):
        someone else issues the effect (a coding CLI runs its own tool after its
        PreToolUse hook answered) and its outcome is recorded later (`record`). It
        then returns `{"call_id": ..., "deferred": True}`.

        Raises:
            UnknownTool: no tool of that name (nothing journaled).
            InvalidArgs: the arguments failed the tool's Args model (journaled as rejected).
            Rejected: the fence refused it, or Stop cut it off before it (a subclass says which).
            OutcomeUnknown: Stop cut the commit off and lookup could not tell whether it landed.
            Undone: a keyed call that landed before was undone since (nothing issued).
            ToolFailed: prepare or commit failed (the journal says whether anything landed).
        """
        caller = caller or Caller()
        tool = self.registry.get(tool_name)
        caller.tool = tool.name
        if key is not None:
            recorded = await self._recorded_receipt(tool, key)
            if recorded is not None:
                return recorded
        key = key or new_key()
        args, invalid, dumped, shown_args = self._check(tool, raw_args)
        try:
            summary = self._summary(tool, args, shown_args) if args is not None else f"{tool.name} (invalid arguments)"
            resource = storable(tool.resource(args)) if args is not None else tool.name
        except Exception as exc:
            summary, resource = f"{tool.name} (summary failed)", tool.name
            invalid = invalid or f"the tool could not describe these arguments: {_error_text(exc)}"
        plan: dict[str, Any] = {
            "tool": tool.name,
            "summary": summary,
            "resource": resource,
            "args": shown_args,
            "reversibility": tool.reversibility.value,
            "on_stop": tool.on_stop.value,
            "undo_hint": tool.undo_hint,
            "idempotency_key": key,
            "grant_id": self._grant_id(),
            **_hooks(type(tool)),  # type: ignore[arg-type]  # (mypy takes a Tool class for unhashable)
        }
        if invalid is None and self._plans_at_the_fence(tool) and not self.stopping and not caller.gone:
            # The default prepare returns the arguments as JSON: `dumped` is its result, `shown_args` its record.
            return await self._run_planned_at_the_fence(tool, caller, args, key, plan, dumped, defer)
        call_id = await shielded(self.journal.plan_call(self.session_id, inline=self._alone, **plan))
        caller.call_id = call_id
        self.announce(call_id, summary)
        if invalid is not None:
            await self._set(call_id, CallState.REJECTED, reason=f"invalid arguments: {invalid}")
            raise InvalidArgs(call_id, tool.name, f"invalid arguments: {invalid}; nothing was prepared")
        if self.stopping:
            reason = f"stopped before it was prepared ({self.stop_reason})"
            await self._set(call_id, CallState.DISCARDED, reason=reason)
            raise Interrupted(call_id, tool.name, reason + "; nothing was sent")
        if caller.gone:
            reason = f"{caller.gone} before it was prepared; nothing was sent"
            await self._set(call_id, CallState.DISCARDED, reason=reason)
            raise Interrupted(call_id, tool.name, reason)
        flight = Flight(call_id, tool)
        self._flights[flight] = None
        caller.flight = flight
        try:
            return await self._run(flight, args, key, plan["grant_id"], resource, defer)
        finally:
            flight.end()
            del self._flights[flight]

    def _plans_at_the_fence(self, tool: Tool) -> bool:
        """True when nothing of the call needs journaling between its plan and the fence.

        So for a gated tool whose prepare is `Tool`'s own (it returns the
        arguments: it awaits nothing, issues nothing and cannot be cut off) and
        that waits for no approval: `planned`, `prepared` and the fence's check
        then share one durable transaction (`Journal.plan_and_fence`). A prepare
        of the tool's own can do anything, so `planned` is on record before it runs.
        """
        own_prepare = type(tool).prepare is not Tool.prepare or "prepare" in getattr(tool, "__dict__", ())
        return not own_prepare and not tool.is_read_only and not self.needs_approval(tool)

    async def _run_planned_at_the_fence(
        self, tool: Tool, caller: Caller, args: Any, key: str, plan: dict[str, Any], prepared: Any, defer: bool
    ) -> dict[str, Any]:
        """The call of a tool `_plans_at_the_fence`: plan, prepared and fence in one transaction, then its commit.

        Its flight is on record from the start (Stop, and a caller who leaves, see
        it), numbered once the transaction has numbered the call. A Stop or a
        caller's cancel that comes while the transaction runs finds it at the
        fence: the revoke is ordered against it by the journal's writer, and a
        call that passed goes on as any call past the fence does.
        """
        flight = Flight("", tool)
        self._flights[flight] = None
        caller.flight = flight
        try:
            # Shielded whole: it awaits nothing a cancel may cut short but the commit, which Stop cuts
            # through the flight's own scope (one shield for the call, not one per journal write).
            with anyio.CancelScope(shield=True):
                call_id, verdict = await self.journal.plan_and_fence(
                    self.session_id, prepared=plan["args"], inline=self._alone, **plan
                )
                flight.call_id = caller.call_id = call_id
                self.announce(call_id, plan["summary"])
                ctx = self.context(call_id, tool, key, args)
                if verdict is not None:
                    await self._discard_quietly(tool, prepared, ctx)
                    raise _REJECTIONS[verdict[0]](call_id, tool.name, verdict[1])
                receipt = await self._past_the_fence(flight, prepared, ctx, defer, shielded=True)
            return receipt
        finally:
            flight.end()
            del self._flights[flight]

    async def _recorded_receipt(self, tool: Tool, key: str) -> dict[str, Any] | None:
        """The answer to a keyed call made again, from the journal; None when it is to be issued.

        A retry of a call that landed (or a Resume running its plan again) gets the
        recorded receipt instead of issuing the effect again; one whose outcome
        is still being settled is not issued again either; one undone since
        says so (`Undone`) rather than handing back a receipt that no longer holds.
        """
        session = None if self.key_scope is KeyScope.JOURNAL else self.session_id
        for earlier in await self.journal.calls_by_key(key, session):
            if earlier.tool != tool.name:
                continue
            if earlier.state in IN_EFFECT:  # its effect is in the world: the receipt is the answer
                self.announce(earlier.call_id, f"{earlier.summary} (done before: not issued again)")
                return dict(earlier.receipt or {})
            if earlier.state in TAKEN_BACK:  # taken back since: the caller is told so
                self.announce(earlier.call_id, f"{earlier.summary} (done, then undone: not issued again)")
                raise Undone(earlier.call_id, tool.name, earlier.receipt, earlier.undo_by or "", earlier.state)
            if earlier.state in UNSETTLED:  # its outcome is not known yet: not issued again
                raise OutcomeUnknown(
                    earlier.call_id, tool.name, f"still in flight ({earlier.state}) from before; not issued again"
                )
        return None

    def _cut_off_reason(self, flight: Flight, where: str = "") -> str:
        """Why a call not yet past the fence was cut off (`where`: "before the fence"): Stop, or its caller."""
        if flight.cancelled_because and not self.stopping:
            return f"{flight.cancelled_because} {where}".strip()
        return f"stopped {where} ({self.stop_reason})".replace("  ", " ")

    def _check(self, tool: Tool, raw: Any) -> tuple[BaseModel | None, str | None, Any, Any]:
        """Validated args (or None), why not, the args as JSON, and as journaled (redacted, bounded)."""
        problem = shape_problem(_jsonable(raw), max_bytes=None)  # depth first: validation recurses
        if problem is None:
            args, invalid = self._validate(tool, raw)
            problem = invalid and storable(invalid)
            dumped = args.model_dump(mode="json") if args is not None else _jsonable(raw)
            too_big = shape_problem(dumped)
            if too_big is None:
                return args, problem, dumped, self.redact(dumped)
            problem = problem or too_big
        return None, problem, None, {"_refused": problem}

    def _summary(self, tool: Tool, args: BaseModel, shown_args: Any) -> str:
        # The default summary lists the arguments: build it from the redacted ones.
        if type(tool).summary is Tool.summary:
            return storable(Tool.summary(tool, shown_args))
        return storable(self.redact(tool.summary(args)))

    def _validate(self, tool: Tool, raw: Any) -> tuple[BaseModel | None, str | None]:
        if isinstance(raw, tool.Args):
            return raw, None
        try:
            return tool.Args.model_validate(raw), None
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(arguments)'}: {e['msg']}" for e in exc.errors()
            )
            return None, problems

    async def _set(
        self, call_id: str, state: CallState, *, durable: bool = False, shield: bool = True, **fields: Any
    ) -> None:
        """Journal the call's move to `state`, shielded (`shield` false: its caller's scope is shielded already)."""
        for name in ("reason", "undo_error"):
            if isinstance(fields.get(name), str):
                fields[name] = storable(self.redact(fields[name]))
        write = self.journal.transition(self.session_id, call_id, state, durable=durable, inline=self._alone, **fields)
        await (shielded(write) if shield else write)

    async def record(self, call_id: str, state: CallState, **fields: Any) -> None:
        """Durably record the outcome of a call whose commit another program ran (see `call(defer=True)`)."""
        if "receipt" in fields:
            fields["receipt"] = self.redact(_jsonable(fields["receipt"]))
        await self._set(call_id, state, durable=True, **fields)

    async def _run(
        self, flight: Flight, args: Any, key: str, grant_id: int, resource: str, defer: bool = False
    ) -> dict[str, Any]:
        tool, call_id = flight.tool, flight.call_id
        ctx = self.context(call_id, tool, key, args)
        prepared = await self._prepare(flight, args, ctx)
        shown_prepared = self.redact(_jsonable(prepared))
        # `prepared` is written on its own only when something waits between it and
        # the fence (an approval, or a read-only call's commit); otherwise in the
        # fence's own transaction.
        fence_prepared: dict[str, Any] = {"prepared": shown_prepared}
        try:
            if tool.is_read_only or self.needs_approval(tool):
                await self._set(call_id, CallState.PREPARED, prepared=shown_prepared)
                fence_prepared = {}
        except JournalError as exc:
            await self._fail_closed(tool, prepared, ctx, exc)
        if self.needs_approval(tool):
            await self._approve(flight, args, shown_prepared, prepared, ctx)
        if flight.cancelled_because and not self.stopping:
            # The caller went away after the prepare returned: it never reaches the fence.
            reason = f"{flight.cancelled_because} before the fence; nothing was sent"
            await self._discard_quietly(tool, prepared, ctx)
            await self._set(call_id, CallState.DISCARDED, reason=reason)
            raise Interrupted(call_id, tool.name, reason)
        try:
            if tool.is_read_only:
                # Read-only calls have no effect to gate; they are journaled all the same.
                await self._set(call_id, CallState.COMMITTING, data={"read_only": True})
                verdict = None
            else:
                verdict = await shielded(
                    self.journal.fence(
                        self.session_id, call_id, grant_id, tool.name, resource, inline=self._alone, **fence_prepared
                    )
                )
        except JournalError as exc:
            await self._fail_closed(tool, prepared, ctx, exc)
        if verdict is not None:
            await self._discard_quietly(tool, prepared, ctx)
            raise _REJECTIONS[verdict[0]](call_id, tool.name, verdict[1])
        return await self._past_the_fence(flight, prepared, ctx, defer)

    async def _past_the_fence(
        self, flight: Flight, prepared: Any, ctx: ToolContext, defer: bool, *, shielded: bool = False
    ) -> dict[str, Any]:
        """The call is durably `committing`: mark its flight so, then commit (or, deferred, hand it back).

        `shielded`: the caller runs it in a shielded scope already (see `_commit`).
        """
        flight.pass_fence()
        if defer:
            return {"call_id": flight.call_id, "deferred": True}
        if shielded:
            return await self._commit_shielded(flight, prepared, ctx)
        return await self._commit(flight, prepared, ctx)

    async def _fail_closed(self, tool: Tool, prepared: Any, ctx: ToolContext, exc: JournalError) -> NoReturn:
        """A call whose steps cannot be journaled is never issued."""
        await self._discard_quietly(tool, prepared, ctx)
        reason = f"the journal could not record the fence ({exc.problem}); nothing was sent"
        try:
            await self._set(ctx.call_id, CallState.REJECTED, reason=reason)
        except JournalError:
            pass  # the report then shows it short of the fence, which is also true
        raise Rejected(ctx.call_id, tool.name, reason) from exc

    async def _approve(self, flight: Flight, args: Any, shown_prepared: Any, prepared: Any, ctx: ToolContext) -> None:
        """Wait, prepared, for a person's approval; deny on Stop or when nobody can answer."""
        tool, call_id = flight.tool, flight.call_id
        shown_args = self.redact(_jsonable(args))
        effect = effect_hash(tool.name, shown_args, shown_prepared)
        standing = await self._standing_approval(tool.name, effect)
        if standing is not None:
            await shielded(self.journal.append(self.session_id, EventKind.APPROVED, standing, call_id=call_id))
            return
        if self.approver is None:
            reason = "needs approval and nobody can approve here (headless); run it in the TUI; nothing was sent"
            await self._discard_quietly(tool, prepared, ctx)
            await self._set(call_id, CallState.REJECTED, reason=reason)
            raise Rejected(call_id, tool.name, reason)
        request = ApprovalRequest(
            call_id=call_id,
            tool=tool.name,
            summary=tool.summary(args),
            reversibility=tool.reversibility.value,
            args=shown_args,
            prepared=shown_prepared,
            undo_hint=tool.undo_hint,
            effect=effect,
        )
        await shielded(
            self.journal.append(self.session_id, EventKind.APPROVAL_REQUESTED, {"effect": effect}, call_id=call_id)
        )
        answer: bool | str | Allow = False
        flight.prepare_scope = anyio.CancelScope()  # Stop, or the caller leaving, cancels the wait like a prepare
        if flight.cancelled_because:
            flight.prepare_scope.cancel()
        try:
            with flight.prepare_scope:
                answer = await self.approver(request)
        except anyio.get_cancelled_exc_class():
            await self._discard_quietly(tool, prepared, ctx)
            why = f"denied: stopped ({self.stop_reason})" if self.stopping else "denied: the caller was cancelled"
            await self._set(call_id, CallState.REJECTED, reason=f"{why}; nothing was sent")
            raise
        if flight.prepare_scope.cancelled_caught:
            answer = f"denied: {self._cut_off_reason(flight)}"
        if answer is not True and not isinstance(answer, Allow):
            why = answer if isinstance(answer, str) and answer else "denied by the user"
            await self._discard_quietly(tool, prepared, ctx)
            await self._set(call_id, CallState.REJECTED, reason=f"{why}; nothing was sent", data={"approval": False})
            raise Rejected(call_id, tool.name, f"{why}; nothing was sent")
        scope = answer.value if isinstance(answer, Allow) else Allow.ONCE.value
        await shielded(
            self.journal.append(
                self.session_id,
                EventKind.APPROVED,
                {"effect": effect, "scope": scope, "tool": tool.name},
                call_id=call_id,
            )
        )

    async def _standing_approval(self, tool: str, effect: str) -> dict[str, Any] | None:
        """An earlier answer that still covers this call, from the journal (so it survives a restart).

        "Allow for this session" for the tool; or "allow once" for this very effect
        whose call never landed (Stop came first) and that no later call has used.
        """
        events = [e for e in await self.journal.events(self.session_id) if e.kind == EventKind.APPROVED]
        if not events:
            return None
        used = {e.data.get("reused") for e in events}
        states = {c.call_id: c.state for c in await self.journal.calls(self.session_id)}
        for e in events:
            if e.data.get("scope") == Allow.SESSION.value and e.data.get("tool") == tool:
                return {"effect": effect, "scope": "session", "tool": tool, "standing": e.call_id}
        for e in events:
            landed_or_flying = states.get(e.call_id or "") in LANDED | IN_FLIGHT  # what an approval counts as used
            if (
                e.data.get("effect") == effect
                and e.data.get("scope") == Allow.ONCE.value
                and not landed_or_flying
                and e.call_id not in used
            ):
                return {"effect": effect, "scope": "once", "tool": tool, "reused": e.call_id}
        return None

    async def _prepare(self, flight: Flight, args: Any, ctx: ToolContext) -> Any:
        tool, call_id = flight.tool, flight.call_id
        prepared: Any = None
        try:
            with flight.prepare_scope:
                prepared = await tool.prepare(args, ctx)
        except anyio.get_cancelled_exc_class():
            # The caller itself was cancelled (e.g. the planner, by Stop).
            reason = f"cancelled before the fence ({self.stop_reason or 'the caller was cancelled'})"
            await self._set(call_id, CallState.DISCARDED, reason=reason)
            raise
        except Exception as exc:
            reason = f"prepare failed: {_error_text(exc)}; nothing was issued"
            await self._set(call_id, CallState.FAILED, reason=reason, data={"phase": "prepare"})
            raise ToolFailed(call_id, tool.name, "prepare", _error_text(exc), "nothing was issued") from exc
        if flight.prepare_scope.cancelled_caught:
            reason = self._cut_off_reason(flight, "before the fence")
            if flight.cancelled_because and not self.stopping:
                reason += "; nothing was sent"  # Stop's own wording is kept as it was
            await self._discard_quietly(tool, prepared, ctx)
            await self._set(call_id, CallState.DISCARDED, reason=reason)
            raise Interrupted(
                call_id, tool.name, reason if reason.endswith("nothing was sent") else reason + "; nothing was sent"
            )
        return prepared

    async def _discard_quietly(self, tool: Tool, prepared: Any, ctx: ToolContext) -> None:
        # Releasing a prepared effect is best effort: nothing was issued either way.
        with anyio.CancelScope(shield=True), anyio.move_on_after(5):
            try:
                await tool.discard(prepared, ctx)
            except Exception:
                pass

    async def _commit(self, flight: Flight, prepared: Any, ctx: ToolContext) -> dict[str, Any]:
        # Shielded: cancelling the caller does not cut a commit short; Stop decides
        # through flight.commit_scope, by the tool's on_stop policy.
        with anyio.CancelScope(shield=True):
            receipt = await self._commit_shielded(flight, prepared, ctx)
        return receipt

    async def _commit_shielded(self, flight: Flight, prepared: Any, ctx: ToolContext) -> dict[str, Any]:
        """`_commit`, run in a shielded scope by its caller."""
        tool, call_id = flight.tool, flight.call_id
        receipt: Any = None
        error: BaseException | None = None
        try:
            with flight.commit_scope:
                receipt = await tool.commit(prepared, ctx)
        except CommitRefused as exc:
            reason = f"refused upstream: {exc}; nothing landed"
            await self._set(call_id, CallState.FAILED, durable=True, reason=reason, data={"phase": "commit"})
            raise ToolFailed(call_id, tool.name, "commit", str(exc), "nothing landed") from exc
        except Exception as exc:
            error = exc
        if flight.commit_scope.cancelled_caught or error is not None:
            return await self._settle_uncertain(flight, ctx, error)
        receipt = receipt if receipt is not None else {}
        await self._set(
            call_id, CallState.COMMITTED, durable=True, shield=False, receipt=self.redact(_jsonable(receipt))
        )
        return dict(receipt) if isinstance(receipt, dict) else {"result": receipt}

    async def _settle_uncertain(self, flight: Flight, ctx: ToolContext, error: BaseException | None) -> dict[str, Any]:
        """The commit raised or was cancelled: did the effect land? Ask `lookup`, never guess."""
        tool, call_id = flight.tool, flight.call_id
        if error is not None:
            why = f"commit raised {_error_text(error)}"
        elif flight.cancelled_because:
            why = f"commit cancelled: {flight.cancelled_because}"
        else:
            why = f"commit cancelled by Stop ({self.stop_reason})"
        await self._set(call_id, CallState.UNKNOWN, durable=True, reason=f"{why}; outcome unknown, checking")
        found, lookup_error = await reconcile(tool, ctx)
        if found is not None:
            await self._set(
                call_id,
                CallState.COMMITTED,
                durable=True,
                receipt=self.redact(_jsonable(found)),
                data={"reconciled": True},
            )
            return dict(found)
        if lookup_error is None and tool.can_lookup():
            reason = f"{why}; lookup found no effect, nothing landed"
            await self._set(call_id, CallState.FAILED, durable=True, reason=reason, data={"reconciled": True})
            if error is None:
                raise Interrupted(call_id, tool.name, reason)
            raise ToolFailed(call_id, tool.name, "commit", _error_text(error), "lookup found no effect")
        detail = f"lookup failed: {lookup_error}" if lookup_error else "the tool has no lookup"
        if error is None:
            raise OutcomeUnknown(call_id, tool.name, f"{why}; {detail}; the outcome stays unknown")
        raise ToolFailed(call_id, tool.name, "commit", _error_text(error), f"outcome unknown ({detail})")


async def reconcile(tool: Tool, ctx: ToolContext) -> tuple[dict[str, Any] | None, str | None]:
    """Ask the tool's lookup whether the effect landed: (receipt or None, error text or None)."""
    if not tool.can_lookup():
        return None, None
    with anyio.CancelScope(shield=True):
        try:
            with anyio.fail_after(10):
                found = await tool.lookup(ctx)
        except TimeoutError:
            return None, "lookup timed out after 10 s"
        except Exception as exc:
            return None, _error_text(exc)
    return (dict(found) if found is not None else None), None


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return value
