"""agentstop's benchmarks: one command, `python -m bench`, writes docs/benchmarks.md.

Not a test suite: nothing here is named test_*, and pytest's testpaths is
["tests"]. Targets are printed as PASS/FAIL lines; a missed target is profiled
(pyinstrument, when installed) and explained in the results, not hidden.
"""
