"""A booted runtime with a real journal, behind the real app, in this process."""

from __future__ import annotations

import falcon.testing
import pytest

from conserje.config import load_settings
from conserje.http.app import create_app
from conserje.runtime import Runtime

CHAT = "34600111222@s.whatsapp.net"
OTHER = "34600999888@s.whatsapp.net"


@pytest.fixture
def make_runtime(tmp_path):
    """Boot runtimes on one data dir; events are appended to their journal directly."""
    runtimes: list[Runtime] = []

    def make(**env: str) -> Runtime:
        settings = load_settings(
            {
                "OPENAI_API_KEY": "sk-test",
                "WHAPI_TOKEN": "t",
                "CONSERJE_DATA_DIR": str(tmp_path / "data"),
                "JOURNAL_FSYNC": "off",
                **env,
            }
        )
        rt = Runtime(settings)
        rt.boot()
        assert rt.phase == "ready"
        runtimes.append(rt)
        return rt

    yield make
    for rt in runtimes:
        if rt.phase != "stopping":
            rt.shutdown(timeout=5)


@pytest.fixture
def runtime(make_runtime):
    return make_runtime()


@pytest.fixture
def client(runtime):
    return falcon.testing.TestClient(create_app(runtime))
