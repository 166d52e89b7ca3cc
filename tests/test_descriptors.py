"""``conserje serve`` raises a low open-files limit so connections cannot starve the journal."""

from __future__ import annotations

import logging
import resource

import pytest

from conserje.server import ensure_descriptors


@pytest.fixture
def limits():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    yield soft, hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_low_soft_limit_is_raised_for_the_connections_allowed(limits):
    _, hard = limits
    if hard != resource.RLIM_INFINITY and hard < 2000:
        pytest.skip(f"the hard limit ({hard}) leaves no room to test")
    resource.setrlimit(resource.RLIMIT_NOFILE, (300, hard))

    soft = ensure_descriptors(1000)

    assert soft > 1000
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == soft


def test_a_hard_limit_too_low_is_warned_about(limits, caplog):
    _, hard = limits
    if hard == resource.RLIM_INFINITY or hard > 50_000:
        pytest.skip(f"the hard limit ({hard}) is enough for any connection limit tested")
    with caplog.at_level(logging.WARNING, logger="conserje.server"):
        soft = ensure_descriptors(hard)

    assert soft == hard
    assert "HTTP_CONNECTION_LIMIT" in caplog.text
