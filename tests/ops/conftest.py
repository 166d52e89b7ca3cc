"""Fixtures for the ops/ files: Prometheus's binaries and the real server.

The server fixtures are the end-to-end suite's own, imported rather than copied, so both
suites start the server the same way.
"""

from __future__ import annotations

import os
import shutil

import pytest

from tests.e2e.conftest import make_server, openai_fake, whapi_fake

__all__ = ["make_server", "openai_fake", "prometheus", "promtool", "whapi_fake"]


def _binary(name: str) -> str:
    """Return the path of a Prometheus binary; skip without it, except in CI, which fails."""
    path = shutil.which(name)
    if path is not None:
        return path
    missing = f"{name} is not installed (Debian: apt-get install prometheus; .ci/run does it)"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"{missing}: CI must run the ops tests", pytrace=False)
    pytest.skip(missing)


@pytest.fixture
def promtool() -> str:
    """The ``promtool`` binary."""
    return _binary("promtool")


@pytest.fixture
def prometheus() -> str:
    """The ``prometheus`` server binary."""
    return _binary("prometheus")
