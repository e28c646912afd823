"""The sidecar_session test suite: python3 -m unittest discover -s tests -t .

Tests add what they checked to SUMMARY; it is printed as the last line of
the run (after unittest's verdict), which the Go runner logs."""

import atexit
import sys

SUMMARY = []


@atexit.register
def _print_summary():
    if SUMMARY:
        print("sidecar_session: " + "; ".join(SUMMARY), file=sys.stderr)
