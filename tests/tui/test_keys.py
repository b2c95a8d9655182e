"""Keys a person moves in keys.toml: every mistake refused with what to change; the moved keys act and are named."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Button

from agentstop.session import SessionPhase
from agentstop.tui.keymap_file import KEYS_ENV, KeymapError, check_keymap, key_rows, keys_path, load_keymap
from agentstop.tui.keys import DEFAULT_KEYS, KeyId
from agentstop.tui.screens.run import RunPhase
from tests.tui.helpers import GatedNote, Puppet, app_for, ended, finish, note, press, shown, wait_until

pytestmark = pytest.mark.anyio


def _keys(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "keys.toml"
    path.write_text(text)
    return path


def test_every_key_id_has_a_default_and_acts_somewhere() -> None:
    assert set(DEFAULT_KEYS) == set(KeyId)
    rows = key_rows({})
    assert [r.key_id for r in rows] == list(KeyId)
    assert all(r.places and r.description and r.now == r.default for r in rows), [r for r in rows if not r.places]


def test_the_per_user_file_may_be_absent_a_named_one_may_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEYS_ENV, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert keys_path() == tmp_path / "config" / "agentstop" / "keys.toml"
    assert load_keymap() == {}
    monkeypatch.setenv(KEYS_ENV, str(tmp_path / "mine.toml"))
    says = r"no keys file at .*mine\.toml \(\$AGENTSTOP_KEYS names it\): create it, or unset \$AGENTSTOP_KEYS"
    with pytest.raises(KeymapError, match=says):
        load_keymap()


def test_ids_are_written_flat_dotted_or_in_tables_and_keys_as_textual_names_them(tmp_path: Path) -> None:
    path = _keys(tmp_path, 'stop = "x"\n"report.undo-all" = "ctrl+u"\ntimeline.speed = "?"\n[question]\nyes = "o, Y"\n')
    assert load_keymap(path) == {
        "stop": "x",
        "report.undo-all": "ctrl+u",
        "timeline.speed": "question_mark",
        "question.yes": "o,Y",
    }


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('report.undo-al = "x"', r"no key is called 'report.undo-al' \(did you mean 'report.undo-all'\?\)"),
        ('launch = "x"', r"no key is called 'launch'; `agentstop keys` lists them"),
        ("stop = 3", r'stop must be a key in quotes, as in stop = "x"'),
        ('stop = ""', r'stop must be a key in quotes, as in stop = "x"'),
        ('stop = "foo"', r"'foo' is not a key \(a character, or a name such as f5"),
        ('stop = "hyp+x"', r"'hyp' is not a modifier"),
        ('stop = "ctrl+"', r"a key is missing after the last '\+'"),
        ('stop = "ctrl+c"', r"Ctrl\+C always stops, on every screen"),
        ('"report.undo-all" = "u"', r"'u' is report.undo-row's key in the report \(move report.undo-row too"),
        ('stop = "S"', r"'S' is stop-after-step's key in the run screen"),
        ('"question.yes" = "s"', r"'s' is stop's key in a question"),
        ('"report.undo-row" = "escape"', r"'escape' is the key for Back in the report"),
        ('stop = "ctrl+p"', r"'ctrl\+p' is the key for the command palette in the run screen"),
        ('"question.yes" = "tab"', r"'tab' is the key for Focus Next in a question"),  # Textual's, inherited
        ("stop = ", r"is not TOML"),
    ],
)
def test_every_mistake_is_refused_saying_what_to_change(tmp_path: Path, text: str, says: str) -> None:
    with pytest.raises(KeymapError, match=says) as caught:
        load_keymap(_keys(tmp_path, text))
    assert str(tmp_path / "keys.toml") in str(caught.value)  # which file


def test_every_default_written_back_is_taken() -> None:
    for key_id, keys in DEFAULT_KEYS.items():
        assert check_keymap({key_id.value: keys}, "keys.toml") == {key_id.value: keys}


@pytest.mark.parametrize(
    ("raw", "taken"),
    [
        ({"timeline.next": "right,l"}, {"timeline.next": "right,l"}),  # a key beside the default
        ({"report.expand": "o,enter"}, {"report.expand": "o,enter"}),
        # The timeline's arrows take the table's by default: swapping them takes nothing more.
        (
            {"timeline.next": "left", "timeline.previous": "right"},
            {"timeline.next": "left", "timeline.previous": "right"},
        ),
        ({"sessions.filter": "/"}, {"sessions.filter": "slash"}),
        ({"stop": "-"}, {"stop": "minus"}),
        ({"stop": "ctrl+/"}, {"stop": "ctrl+slash"}),
        ({"stop": "shift+x"}, {"stop": "X"}),  # what a terminal sends for it
        ({"stop": "F5"}, {"stop": "f5"}),
    ],
)
def test_keys_are_taken_as_textual_names_what_a_terminal_sends(raw: dict[str, str], taken: dict[str, str]) -> None:
    assert check_keymap(raw, "keys.toml") == taken


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ({"stop": "CTRL+C"}, r"Ctrl\+C always stops"),
        ({"approval.approve": "enter"}, r"'enter' is the key for Press button in an approval"),  # the focused button's
        ({"question.yes": "enter"}, r"'enter' is the key for Press button in a question"),
        ({"timeline.next": "up"}, r"'up' is the key for Cursor up in a timeline"),  # the table's, not given up
    ],
)
def test_a_key_that_would_never_do_what_the_screen_says_is_refused(raw: dict[str, str], says: str) -> None:
    with pytest.raises(KeymapError, match=says):
        check_keymap(raw, "keys.toml")


def test_keys_moved_together_may_trade_places(tmp_path: Path) -> None:
    path = _keys(tmp_path, '"report.undo-row" = "A"\n"report.undo-all" = "u"\n')
    assert load_keymap(path) == {"report.undo-row": "A", "report.undo-all": "u"}


async def test_a_moved_stop_key_stops_the_old_one_does_not_and_the_screen_names_the_new_one(
    tmp_path: Path, notes: GatedNote
) -> None:
    notes.hold_prepare("b")
    app = app_for(tmp_path, [notes], Puppet([note("a"), note("b")]))
    app.keymap.update({"stop": "x", "question.yes": "o"})
    app.set_keymap(app.keymap)
    async with app.run_test(size=(160, 42)) as pilot:
        await wait_until(pilot, lambda: notes.parked("b"), "b is held")
        run = app.mode.run_screen
        assert shown(run, "#stop-hint").startswith("x or Ctrl+C stops at once")
        assert "■ Stop (x)" in str(run.query_one("#stop", Button).label)
        await press(pilot, "s")  # no longer Stop
        await press(pilot, "tab")  # keys act in order: once the report shows, s has been handled
        await wait_until(pilot, lambda: app.screen is app.report_screen, "the report shown")
        assert app.mode.control is not None and app.mode.control.phase is SessionPhase.RUNNING
        await press(pilot, "x")
        await wait_until(pilot, lambda: ended(app), "Stop settled")
        assert run.phase is RunPhase.ENDED
        await wait_until(pilot, lambda: app.report is not None and len(app.report.undoable) == 1, "a undoable")
        await press(pilot, "A")
        await wait_until(pilot, lambda: "Undo (o)" in str(app.screen.query_one("#yes", Button).label), "the question")
        await press(pilot, "o")
        await wait_until(pilot, lambda: app.report is not None and not app.report.undoable, "a undone")
        await finish(pilot)
