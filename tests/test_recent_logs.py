"""The dashboard's latest warnings and errors: kept in memory, bounded and masked."""

from __future__ import annotations

import logging

import pytest

from conserje.recent_logs import RecentLogs


@pytest.fixture
def logger():
    logger = logging.getLogger("conserje.test_recent_logs")
    handlers = []

    def attach(handler: RecentLogs) -> logging.Logger:
        logger.addHandler(handler)
        handlers.append(handler)
        return logger

    yield attach
    for handler in handlers:
        logger.removeHandler(handler)


def test_warnings_and_errors_are_kept_masked_with_their_exception(logger):
    recent = RecentLogs()
    log = logger(recent)

    log.info("turn finished for 34600111222@s.whatsapp.net")
    log.warning("Whapi refused a send to %s", "34600111222@s.whatsapp.net")
    try:
        raise ConnectionError("Bearer abc.def refused")
    except ConnectionError:
        log.exception("reply to 34600111222 failed")

    first, second = recent.records()
    assert (first["level"], first["logger"]) == ("WARNING", "conserje.test_recent_logs")
    assert first["message"] == "Whapi refused a send to 346****22@s.whatsapp.net"
    assert second["level"] == "ERROR"
    assert second["message"] == "reply to 346****22 failed (ConnectionError: Bearer **** refused)"
    assert second["id"] > first["id"]
    assert second["ts"] >= first["ts"]


def test_only_the_latest_records_are_kept(logger):
    recent = RecentLogs(capacity=3)
    log = logger(recent)

    for n in range(5):
        log.error("problem %d", n)

    assert [r["message"] for r in recent.records()] == ["problem 2", "problem 3", "problem 4"]
