"""Drill 6: fuzz. task.yaml parsing, and the journal reader over damaged journal files.

`parse_task` must raise nothing but `TaskFileError`, whatever the text. A damaged
journal (random byte flips, truncation) must open into a clear `AgentstopError`
or work, and agentstop must never write to it: its bytes are compared before
and after every attempt, read-only and read-write.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentstop import AgentstopError, GrantSpec, Journal, Report, Supervisor, TaskFileError
from agentstop.task import parse_task
from tests.drills.stats import record
from tests.support.tools import WriteNote

ROOT = Path(__file__).resolve().parents[2]
VALID = (ROOT / "tests" / "fixtures" / "tasks" / "valid.yaml").read_text()
PAGE = 4096

# -- task.yaml ---------------------------------------------------------------------------------

FIELDS = [
    "name",
    "goal",
    "journal",
    "agent",
    "kind",
    "tools",
    "grant",
    "scopes",
    "ttl",
    "max_calls",
    "stop",
    "grace",
    "approve",
    "steps",
    "thought",
    "tool",
    "args",
    "parallel",
    "tokens_per_second",
]
any_char = st.characters(codec=None, exclude_categories=())  # surrogates and controls included
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(any_char, max_size=10),
    st.sampled_from(
        [
            "10m",
            "-1s",
            "1e309",
            "0x1F",
            "~",
            "*",
            "fixture_tools:WriteFile",
            "[",
            "{{",
            "!!python/object:os.system",
            "&a",
            "*a",
            "<<",
            "\t",
            "\ufeff",
        ]
    ),
)
values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=6), inner, max_size=5)
    ),
    max_leaves=30,
)
task_counts = {"texts": 0}
damage_counts = {"files": 0, "opens": 0}


@pytest.fixture(scope="module", autouse=True)
def _count() -> Iterator[None]:
    yield
    if task_counts["texts"]:
        record(
            "fuzz",
            "task.yaml texts (random, generated YAML, mangled valid file, hostile): a task or a TaskFileError",
            task_counts["texts"],
        )
    if damage_counts["opens"]:
        record(
            "fuzz",
            "damaged journals (byte flips, truncation) opened and read, ro and rw: never written to",
            damage_counts["opens"],
        )


def _only_task_file_errors(text: str) -> None:
    task_counts["texts"] += 1
    try:
        task = parse_task(text, ROOT / "tests" / "fixtures" / "tasks" / "fuzz.yaml")
    except TaskFileError:
        return
    task.grant_spec()
    task.scripted_steps()


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(any_char, max_size=300))
def test_any_text_is_a_task_or_a_task_file_error(text: str) -> None:
    _only_task_file_errors(text)


@pytest.mark.slow
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(FIELDS), values, max_size=9))
def test_any_yaml_document_is_a_task_or_a_task_file_error(doc: dict[str, Any]) -> None:
    _only_task_file_errors(yaml.safe_dump(doc, allow_unicode=True))


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.integers(0, len(VALID)), st.integers(0, 6), st.text(any_char, max_size=4)), min_size=1, max_size=4
    )
)
def test_a_mangled_valid_task_is_a_task_or_a_task_file_error(edits: list[tuple[int, int, str]]) -> None:
    text = VALID
    for at, cut, insert in edits:
        text = text[:at] + insert + text[at + cut :]
    _only_task_file_errors(text)


def _lattice(depth: int) -> str:
    rows = ["z0: &z0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    rows += [f"z{i + 1}: &z{i + 1} [{', '.join([f'*z{i}'] * 10)}]" for i in range(depth)]
    return ", ".join(rows)


HOSTILE_TASKS = {
    "nested 100k deep": "[" * 100_000,
    "mapping nested 20k deep": "{a: " * 20_000,
    "billion laughs at the top": "{" + _lattice(8) + "}",
    "billion laughs in a step's args": VALID.replace(
        'args: {name: notes, text: "v1.0: faster"}', "args: {name: notes, " + _lattice(8) + "}"
    ),
    "an alias inside its own anchor": "name: &a [*a]",
    "a python tag": "!!python/object/apply:os.system ['touch /tmp/pwned']",
    "a lone surrogate": "name: \ud800\ngoal: x",
    "a NUL": "name: a\x00b",
    "a 5,000-digit number": "name: x\ngoal: y\ntools: [m:C]\ngrant: {max_calls: " + "9" * 5000 + "}",
    "a 1 MB goal": "name: x\ngoal: " + "y" * 1_000_000 + "\ntools: [m:C]\n",
    "duplicate keys": VALID + "\nname: again\n",
}


@pytest.mark.parametrize("text", HOSTILE_TASKS.values(), ids=HOSTILE_TASKS.keys())
def test_hostile_task_files_are_refused_quickly_and_clearly(text: str) -> None:
    # The work it took, in this thread's CPU time: what a blow-up (an alias bomb expanded, a
    # quadratic walk) multiplies by orders of magnitude, and what neighbours on a loaded machine
    # do not inflate (its wall time did: 5.4 s for 0.9 s of work).
    began = time.thread_time()
    _only_task_file_errors(text)
    assert time.thread_time() - began < 5


# -- damaged journals ----------------------------------------------------------------------------


class JournalBytes:
    """A real journal's bytes (with a short repr: hypothesis prints its arguments)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __repr__(self) -> str:
        return f"<a journal of {len(self.data)} bytes>"


@pytest.fixture(scope="module")
def real_journal(tmp_path_factory: pytest.TempPathFactory) -> JournalBytes:
    """A real journal: sessions, grants, calls in every bucket, undo, stop; checkpointed into one file."""
    root = tmp_path_factory.mktemp("damage")
    (root / "notes").mkdir()
    path = root / "journal.db"

    async def build() -> None:
        async with Journal.open(path) as journal:
            for _ in range(3):
                sup = Supervisor(journal, [WriteNote(root / "notes")], GrantSpec(scopes=["notes:a*"]))
                for i in range(5):
                    try:
                        await sup.call(
                            "write_note", {"name": f"a{i}" if i != 3 else "b", "text": "x" * 40, "api_token": "t"}
                        )
                    except AgentstopError:
                        pass
                await sup.undo(["c1"])
                await sup.stop()

    anyio.run(build)
    data = path.read_bytes()
    assert not Path(f"{path}-wal").exists() and len(data) > 10 * PAGE
    return JournalBytes(data)


async def _read_everything(path: Path, readonly: bool) -> None:
    async with Journal.open(path, readonly=readonly) as journal:
        for session in await journal.sessions():
            await Report.from_journal(journal, session.session_id)
            await journal.events(session.session_id)
            await journal.grants(session.session_id)
        await journal.events(None)


def _damage(journal: JournalBytes, seed: int, flips: int, truncate: bool) -> bytes:
    """Flip `flips` bytes (a third of them in the 100-byte header, the rest anywhere), maybe cut the tail."""
    rng = random.Random(seed)
    out = bytearray(journal.data)
    for _ in range(flips):
        at = rng.randrange(100) if rng.random() < 0.3 else rng.randrange(len(out))
        out[at] = rng.randrange(256)
    return bytes(out[: rng.randrange(len(out))] if truncate else out)


# Positions come from a Random seeded by hypothesis, so they spread over the whole file (hypothesis's
# own integers favour small values, which would all land in the header).
damage = st.tuples(st.integers(0, 2**32 - 1), st.integers(1, 8), st.booleans())


@pytest.mark.slow
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(damage)
def test_a_damaged_journal_is_never_written_to(
    real_journal: JournalBytes, tmp_path: Path, damaged: tuple[int, int, bool]
) -> None:
    """Read-only or read-write, whatever the damage and whatever the outcome, the file keeps its bytes."""
    data = _damage(real_journal, *damaged)
    damage_counts["files"] += 1
    for readonly in (True, False):
        target = tmp_path / f"damaged-{damage_counts['files']}-{readonly}.db"
        target.write_bytes(data)
        try:
            anyio.run(_read_everything, target, readonly)
        except Exception:
            pass  # what it raises is the next test's business
        damage_counts["opens"] += 1
        assert target.read_bytes() == data, "agentstop wrote to a damaged journal"
        for leftover in target.parent.glob(f"{target.name}*"):
            leftover.unlink()


def _agentstop_errors_only(run: Callable[[], None]) -> None:
    try:
        run()
    except AgentstopError:
        pass
    except Exception as exc:
        raise AssertionError(f"raw {type(exc).__module__}.{type(exc).__name__}: {exc}") from exc


@pytest.mark.slow
def test_a_damaged_journal_reads_into_an_agentstop_error_or_works(real_journal: JournalBytes, tmp_path: Path) -> None:
    """The same damage, 150 seeded files (seeded, not hypothesis: a failing hypothesis test makes its pytest
    plugin import libcst, whose DeprecationWarning turns into an INTERNALERROR under filterwarnings=error)."""
    raw: dict[str, int] = {}
    for seed in range(150):
        target = tmp_path / f"damaged-{seed}.db"
        target.write_bytes(_damage(real_journal, seed, 1 + seed % 8, seed % 3 == 0))
        try:
            _agentstop_errors_only(lambda t=target: anyio.run(_read_everything, t, True))  # type: ignore[misc]
        except AssertionError as exc:
            kind = str(exc).split(":")[0]
            raw[kind] = raw.get(kind, 0) + 1
        for leftover in tmp_path.glob(f"damaged-{seed}.db*"):
            leftover.unlink()
    assert raw == {}, f"raw exceptions out of 150 damaged journals: {raw}"


def _edit(data: bytes, tmp_path: Path, sql: str | None = None, swap: tuple[bytes, bytes] | None = None) -> Path:
    path = tmp_path / "damaged.db"
    path.write_bytes(data if swap is None else data.replace(swap[0], swap[1], 1))
    if sql is not None:
        with sqlite3.connect(path) as db:
            db.execute(sql)
        db.close()
    return path


def test_the_damage_helpers_hit_what_they_aim_at(real_journal: JournalBytes) -> None:
    assert real_journal.data.count(b"tablegrantsgrants") == 1


@pytest.mark.parametrize(
    ("damage_kind", "readonly"),
    [
        pytest.param("table name not UTF-8", True),
        pytest.param("negative schema version", False),
        pytest.param("btree page", True),
        pytest.param("JSON column", True),
        pytest.param("unknown state", True),
    ],
)
def test_each_kind_of_damage_is_reported_as_a_journal_error(
    real_journal: JournalBytes, tmp_path: Path, damage_kind: str, readonly: bool
) -> None:
    data = real_journal.data
    if damage_kind == "table name not UTF-8":
        path = _edit(data, tmp_path, swap=(b"tablegrantsgrants", b"tablegr\xffntsgrants"))
    elif damage_kind == "negative schema version":
        path = _edit(data, tmp_path, sql="PRAGMA user_version = -3")
    elif damage_kind == "btree page":
        broken = bytearray(data)
        broken[5 * PAGE : 5 * PAGE + 8] = b"\x0d\xff\xff\xff\xff\xff\xff\xff"
        path = _edit(bytes(broken), tmp_path)
    elif damage_kind == "JSON column":
        path = _edit(data, tmp_path, sql="UPDATE events SET data = '{\"broken' WHERE seq = 5")
    else:
        path = _edit(data, tmp_path, sql="UPDATE calls SET state = 'exploded' WHERE call_id = 'c2'")
    before = path.read_bytes()
    _agentstop_errors_only(lambda: anyio.run(_read_everything, path, readonly))
    assert path.read_bytes() == before
