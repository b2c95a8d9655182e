"""Reusable widgets of the agentstop TUI."""
