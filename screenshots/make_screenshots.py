"""Screenshots of the TUI on the demo world: mid-run, the report after Stop, the undo question, after undo.

Run from the repository root:

    python screenshots/make_screenshots.py

It starts the demo world (real local services on 127.0.0.1) in a temporary
directory, runs the seed story (`demo_tools/tasks/seed.yaml`) in the real app,
headless, presses Stop while the agent is opening the release pull request,
undoes everything, and saves an SVG at each moment into this folder; with
`rsvg-convert` on the PATH it writes a PNG next to each SVG. It takes about
ten seconds.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
from textual.pilot import Pilot

from agentstop.planners.scripted import ScriptedPlanner
from agentstop.task import load_task
from agentstop.tui import AgentstopApp, config_from_task, make_app
from agentstop.tui.screens.confirm import ConfirmScreen
from demo_tools.world import running_world

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SEED = ROOT / "demo_tools" / "tasks" / "seed.yaml"
SIZE = (140, 40)
TOKENS_PER_SECOND = 40.0  # the seed task streams at 6; faster keeps this script short


async def _until(pilot: Pilot[Any], condition: Callable[[], bool], what: str, within: float = 20.0) -> None:
    try:
        with anyio.fail_after(within):
            while not condition():
                await pilot.pause(0.05)
    except TimeoutError:
        raise SystemExit(f"make_screenshots: timed out waiting until {what}") from None


async def _shoot(app: AgentstopApp, name: str, written: list[Path]) -> None:
    path = Path(app.save_screenshot(f"{name}.svg", str(HERE)))
    written.append(path)
    print(f"  {path.relative_to(ROOT)}")


async def _drive(app: AgentstopApp, written: list[Path]) -> None:
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        effects = app.mode.run_screen.effects
        # Mid-run: two emails and the calendar event have landed, the pull request is on its way.
        await _until(pilot, lambda: "c4" in effects.rows, "the agent reaches its fourth call")
        await _shoot(app, "run-mid-run", written)

        await pilot.press("s")
        await _until(
            pilot,
            lambda: app.mode.finished and app.report is not None and app.report.session.status == "stopped",
            "Stop settles",
        )
        await pilot.pause(0.5)
        await _shoot(app, "report-after-stop", written)

        await _until(pilot, lambda: app.report is not None and bool(app.report.undoable), "something is undoable")
        await pilot.press("A")
        await _until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the undo question")
        await pilot.pause(0.2)
        await _shoot(app, "undo-confirmation", written)

        await pilot.press("y")
        await _until(
            pilot,
            lambda: (
                app.report is not None
                and not app.report.undoable
                and all(i.undo.status != "running" for i in app.report.done)
            ),
            "every undo ran",
            within=60,
        )
        await pilot.pause(0.5)
        await _shoot(app, "report-after-undo", written)
        app.exit(0)
        await pilot.pause(0.2)


def _to_png(svgs: list[Path]) -> None:
    converter = shutil.which("rsvg-convert")
    if converter is None:
        print("rsvg-convert not found: SVG only (apt-get install librsvg2-bin for PNGs)")
        return
    for svg in svgs:
        png = svg.with_suffix(".png")
        subprocess.run([converter, "--width", "1600", "-o", str(png), str(svg)], check=True)
        print(f"  {png.relative_to(ROOT)}")


def main() -> int:
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="agentstop-shots-") as tmp:
        world = Path(tmp) / "world"
        print(f"starting the demo world in {world} ...")
        with running_world(world):
            task = load_task(SEED)
            tools = task.load_tools()
            config = config_from_task(task, tools, Path(tmp) / "demo.db")
            config.planner = ScriptedPlanner(task.scripted_steps(), tokens_per_second=TOKENS_PER_SECOND)
            anyio.run(_drive, make_app(config), written)
    _to_png(written)
    return 0


if __name__ == "__main__":
    sys.exit(main())
