"""The error tree tells the truth about a call that did not go through: refused, or maybe landed."""

from __future__ import annotations

import agentstop
from agentstop import errors


def test_a_call_that_may_have_landed_is_not_a_rejection() -> None:
    assert issubclass(errors.Rejected, errors.CallCutOff)
    assert issubclass(errors.OutcomeUnknown, errors.CallCutOff)
    assert not issubclass(errors.OutcomeUnknown, errors.Rejected)


def test_every_refusal_is_a_rejection() -> None:
    for kind in (
        errors.InvalidArgs,
        errors.GrantRevoked,
        errors.GrantExpired,
        errors.OutOfScope,
        errors.CallLimitReached,
        errors.Interrupted,
    ):
        assert issubclass(kind, errors.Rejected), kind


def test_the_message_says_what_became_of_the_call() -> None:
    refused = errors.OutOfScope("c1", "send", "not in grant g1; nothing was sent")
    unknown = errors.OutcomeUnknown("c2", "pay", "commit cancelled by Stop; the tool has no lookup")
    assert str(refused) == "call c1 (send) rejected: not in grant g1; nothing was sent"
    assert str(unknown) == "call c2 (pay) outcome unknown: commit cancelled by Stop; the tool has no lookup"
    assert (unknown.call_id, unknown.tool) == ("c2", "pay")


def test_every_error_class_is_drawn_in_the_tree_and_exported_by_errors() -> None:
    doc = errors.__doc__ or ""
    for name in errors.__all__:
        kind = getattr(errors, name)
        assert issubclass(kind, errors.AgentstopError) or kind is errors.AgentstopError
        assert name in doc, f"{name} is missing from the tree in agentstop/errors.py's docstring"


def test_the_cut_off_base_is_public() -> None:
    assert agentstop.CallCutOff is errors.CallCutOff
    assert "CallCutOff" in agentstop.__all__
