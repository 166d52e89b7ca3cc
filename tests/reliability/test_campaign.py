"""The crash campaign, short: one kill at every chosen point, and a few at random."""

from __future__ import annotations

import pytest

from tests.reliability.campaign import POINTS, run_campaign

pytestmark = pytest.mark.e2e


# Minutes on a loaded machine; the default 120 s is for single scenarios.
@pytest.mark.timeout(400)
def test_kills_at_every_point_lose_nothing_and_answer_nothing_twice(tmp_path):
    figures = run_campaign(tmp_path, rounds=2 * len(POINTS), chats=4, size=3, seed=3, say=print)
    print(figures.report())

    assert figures.ok, figures.report()
    assert figures.acknowledged >= 40
    reached = dict(p.split(":") for p in figures.extra["reached"].split(","))
    assert reached == dict.fromkeys(POINTS, "2"), "every chosen point was really reached"
    assert figures.extra["tool_runs"] >= 2
