"""The fault table, row by row, through the real server (one server for every row)."""

from __future__ import annotations

import pytest

from tests.reliability.faults import CASES, run_case, table_rig

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def started(tmp_path_factory):
    with table_rig(tmp_path_factory.mktemp("faults")) as r:
        r.server.start()
        yield r


@pytest.mark.parametrize("number", range(1, len(CASES) + 1), ids=[c.fault for c in CASES])
def test_each_fault_loses_nothing_and_answers_nothing_twice(started, number):
    case = CASES[number - 1]
    seen = run_case(started, case, number)
    assert seen.problems == [], f"{case.fault}: {seen}"
