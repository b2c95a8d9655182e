"""`python -m agentstop` runs the command line."""

from __future__ import annotations

from agentstop.cli import main

main()
