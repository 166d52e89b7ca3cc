"""Schemathesis against the real server: every documented operation, hostile and valid inputs.

Each operation gets a bounded number of generated requests; every answer must be one the
description allows (status, content type, body schema), never a 5xx, and invalid input
must be refused. The server runs with both tokens set, so authentication is exercised too.
For a longer run by hand: ``CONSERJE_FUZZ_EXAMPLES=1000 pytest tests/e2e/test_openapi_contract.py``.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import given
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.audit.conftest import run_log
from tests.http.hostile import fuzz_settings

ADMIN = "adm1n-T0ken"
WEBHOOK = "w3bh00k-T0ken"

# A stream lasts DASHBOARD_STREAM_MS (30 s): generated requests would each hold it that long.
# Its answers are covered by tests/http/test_live_stream.py.
STREAMING = {"/dashboard/events"}

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def exercise(operation, mode: GenerationMode, base_url: str, token: str) -> int:
    """Send the operation's generated requests; fail on the first answer out of contract."""
    sent = 0

    @fuzz_settings(40)
    @given(operation.as_strategy(mode))
    def check(case) -> None:
        nonlocal sent
        sent += 1
        case.call_and_validate(base_url=base_url, headers={"Authorization": f"Bearer {token}"})

    try:
        check()
    except Unsatisfiable:
        # Nothing to break in an operation without parameters or body.
        if mode is GenerationMode.POSITIVE:
            raise
    return sent


def test_the_running_server_keeps_to_its_openapi_description(make_server):
    with make_server(ADMIN_TOKEN=ADMIN, WEBHOOK_TOKEN=WEBHOOK) as server:
        schema = schemathesis.openapi.from_url(f"{server.url}/openapi.yaml")
        tested = []
        for result in schema.get_all_operations():
            operation = result.ok()
            if operation.path in STREAMING:
                continue
            token = WEBHOOK if operation.path.startswith("/hook") else ADMIN
            for mode in GenerationMode:
                sent = exercise(operation, mode, server.url, token)
                tested.append((operation.path, mode.value, sent))
        assert server.get("/health").json()["status"] == "ok"

    assert all(sent for _, mode, sent in tested if mode == "positive")
    assert {"/hook", "/chats/{chat}/pause"} <= {path for path, mode, sent in tested if sent > 1}
    verify = run_log("verify", CONSERJE_DATA_DIR=str(server.data_dir))
    assert verify.returncode == 0, verify.stdout
