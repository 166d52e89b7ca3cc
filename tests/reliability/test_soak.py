"""The soak, small: many chats in rounds, actors capped, passivated chats come back whole.

Memory is measured, not asserted: the run prints the server's RSS per round
(``python -m tests.reliability.soak`` runs the big one).
"""

from __future__ import annotations

import pytest

from tests.reliability.soak import run_soak

pytestmark = pytest.mark.e2e


# Minutes on a loaded machine; the default 120 s is for single scenarios.
@pytest.mark.timeout(400)
def test_chats_past_the_actor_cap_are_answered_once_with_their_history(tmp_path):
    chats, cap = 150, 30
    soak = run_soak(tmp_path, chats=chats, rounds=2, cap=cap, latency=0.2, say=print)
    print(soak.report())

    assert soak.figures.ok, soak.report()
    assert soak.figures.acknowledged == 2 * chats
    assert soak.max_live <= cap
    assert soak.passivations >= chats - cap, "most chats were passivated between rounds"
    assert soak.history_broken == [], "a passivated chat came back without its history"
