"""Prints the fault-injection table at the end of a session that ran fault tests."""
from __future__ import annotations

from tests.faults.harness import LEDGER


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if LEDGER.rows:
        terminalreporter.write_sep("=", "fault injection: injected / fired / recovered / lost / duplicated / manual")
        terminalreporter.write_line(LEDGER.table())
        bad = [r for r in LEDGER.rows if not r.recovered or r.lost or r.duplicated or r.manual]
        for r in bad:
            terminalreporter.write_line(f"  NOT RECOVERED: {r.area}: {r.fault}: {r.note}")
