"""ServerProcess, the real server as a child process: started once, never left behind."""

from __future__ import annotations

import pytest

from conserje.testing.fake_openai import FakeOpenAI
from conserje.testing.fake_whapi import FakeWhapi
from conserje.testing.process import ServerProcess

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(tmp_path):
    with FakeOpenAI() as model, FakeWhapi(token="process-token") as whapi:
        server = ServerProcess(
            tmp_path / "data",
            {
                "OPENAI_API_KEY": "sk-test",
                "OPENAI_BASE_URL": model.base_url,
                "WHAPI_TOKEN": "process-token",
                "WHAPI_API_URL": whapi.url,
            },
        )
        yield server
        server.kill()


@pytest.mark.parametrize("how", ["start", "restart"])
def test_a_server_started_in_a_with_statement_is_one_process_and_gone_after(server, how):
    with getattr(server, how)():
        process = server.process
        assert process is not None
        assert server.get("/ready").status_code == 200
    # Before the fix ``with server.start():`` started a second server; the first, the
    # one that answered, outlived the test.
    assert process.poll() == 0
    assert server.process is None


def test_starting_a_running_server_again_is_refused(server):
    server.start()
    with pytest.raises(RuntimeError, match="already running"):
        server.start()
    assert server.stop() == 0
