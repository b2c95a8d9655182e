"""`python -m bench [--quick] [--out DIR]`: run every benchmark and write the results.

Exits 0 whether targets pass or not (the results say which, and why); non-zero
only when the benchmark itself could not run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import Config
from .render import write_markdown, write_plot
from .run import log, main_sync, print_targets

DOCS = Path(__file__).resolve().parent.parent / "docs"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: few iterations, numbers not quotable")
    parser.add_argument("--out", type=Path, default=DOCS, help=f"where to write benchmarks.md and the plot ({DOCS})")
    args = parser.parse_args(argv)
    cfg = Config.smoke() if args.quick else Config.full()
    results = main_sync(cfg)
    args.out.mkdir(parents=True, exist_ok=True)
    plot_note = write_plot(results, args.out)
    path = write_markdown(results, args.out, plot_note)
    print_targets(results)
    log(f"wrote {path}" + (f" and {args.out / 'bench_callers.png'}" if not plot_note else f" ({plot_note})"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
