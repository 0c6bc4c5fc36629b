"""`make test-compose`'s summary: how many chapters and tests ran, and which were left out and why (issue 19)."""

from __future__ import annotations

from stack.harness import compose_suite

REPORT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="notebooks.00-overview.ipynb" name="Cell 1" time="0.1" />
<testcase classname="notebooks.00-overview.ipynb" name="Cell 2" time="0.1" />
<testcase classname="notebooks.03-migrations.ipynb" name="Cell 1" time="0.1"><failure message="x" /></testcase>
<testcase classname="tests.test_readme" name="test_walkthrough" time="0.1" />
<testcase classname="tests.test_compose_engine" name="test_x" time="0.1"><skipped message="no engine" /></testcase>
</testsuite></testsuites>"""

LOG = """... 3 passed
skipped 02-build-caddy.ipynb, test_caddy.py (40 items): they run the Caddy binary of this machine
skipped nothing here
"""


def test_summary_counts_chapters_and_tests_by_outcome(tmp_path):
    report = tmp_path / "report.xml"
    report.write_text(REPORT)
    found = compose_suite.summary(report)
    assert len(found["files"]["chapters"]) == 2 and len(found["files"]["tests"]) == 2
    assert found["counts"]["chapters"] == {"passed": 2, "failed": 1}
    assert found["counts"]["tests"] == {"passed": 1, "skipped": 1}


def test_left_out_lines_are_conftests_one_line_per_reason():
    assert compose_suite.left_out(LOG) == [
        "skipped 02-build-caddy.ipynb, test_caddy.py (40 items): they run the Caddy binary of this machine"
    ]
