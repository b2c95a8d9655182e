"""The wheel a user installs: no top-level `demo_tools` in site-packages, and the demo still runs from it.

The wheel is built from this checkout (hatchling, no network) and installed into a
fresh virtual environment. That environment sees this machine's site-packages as a
plain path for the dependencies (textual, pydantic, ...), not through
`--system-site-packages`: that would also run the site's `.pth` files, and an
editable install's puts this checkout, with its top-level `demo_tools`, on
`sys.path`, so the demo would run from the checkout and prove nothing. Every
process runs outside the checkout, without PYTHONPATH.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Installed:
    """agentstop installed from its wheel into a virtual environment of its own."""

    python: Path
    site_packages: Path
    home: Path

    def run(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """`python ARGS` in the environment, from a folder of its own, without PYTHONPATH."""
        clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        return subprocess.run(
            [str(self.python), *args],
            capture_output=True,
            text=True,
            cwd=self.home,
            env={**clean, **(env or {})},
            timeout=60,
            check=False,
        )


def _run(*argv: str | Path, cwd: Path) -> None:
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True, cwd=cwd, timeout=120, check=False)
    assert done.returncode == 0, f"{' '.join(map(str, argv))} failed:\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("wheel")
    dist, venv, home = base / "dist", base / "venv", base / "home"
    home.mkdir()
    # --no-build-isolation: hatchling comes from the test extras, so no index is needed.
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", ROOT, "-w", dist, cwd=base)
    [wheel] = dist.glob("agentstop-*.whl")
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=base)
    python = venv / "bin" / "python"
    _run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index", wheel, cwd=base)
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    site_packages = Path(purelib)
    # The dependencies: this interpreter's site-packages as plain paths (their .pth files are not run).
    deps = dict.fromkeys([*site.getsitepackages(), sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
    (site_packages / "_test_dependencies.pth").write_text("".join(f"{d}\n" for d in deps))
    return Installed(python, site_packages, home)


def test_the_wheel_installs_no_top_level_demo_tools(installed: Installed) -> None:
    top_level = {p.name for p in installed.site_packages.iterdir()}
    assert "demo_tools" not in top_level
    assert "agentstop" in top_level
    assert (installed.site_packages / "agentstop" / "_bundled" / "demo_tools" / "tasks" / "seed.yaml").is_file()


def test_a_recorded_demo_tool_path_imports_the_bundled_package_under_its_own_name(installed: Installed) -> None:
    probe = (
        "import json, agentstop\n"
        "from agentstop.task.tool_import import import_tool\n"
        "tool = import_tool('demo_tools.mail:SendEmail', 'nowhere')\n"
        "import demo_tools\n"
        "print(json.dumps([type(tool).__module__, type(tool).__qualname__, demo_tools.__file__, agentstop.__file__]))\n"
    )
    done = installed.run("-c", probe)
    assert done.returncode == 0, done.stderr
    module, qualname, demo_file, agentstop_file = json.loads(done.stdout)
    # The same path a checkout records, so journals written by either resolve in the other.
    assert (module, qualname) == ("demo_tools.mail", "SendEmail")
    assert Path(agentstop_file).is_relative_to(installed.site_packages)
    assert Path(demo_file) == installed.site_packages / "agentstop" / "_bundled" / "demo_tools" / "__init__.py"


def test_agentstop_demo_runs_from_the_wheel(installed: Installed) -> None:
    helped = installed.run("-m", "agentstop", "demo", "--help")
    assert helped.returncode == 0, helped.stderr
    assert "--headless" in helped.stdout

    world = installed.home / "world"
    ran = installed.run(
        "-m",
        "agentstop",
        "demo",
        "--task",
        "parallel",
        "--headless",
        "--json",
        "--dir",
        str(world),
        env={"AGENTSTOP_DEMO_LATENCY": "0", "HOME": str(installed.home)},
    )
    assert "Traceback" not in ran.stderr, ran.stderr
    report = json.loads(ran.stdout)
    # The story to its end, as from a checkout (tests/demo_command): one call outside the grant is refused.
    assert ran.returncode == 1, ran.stderr
    assert report["session"]["status"] == "completed"
    assert len(report["done"]) == 7
    assert (world / "calendar.ics").is_file()  # the world process ran, from the bundled package too
