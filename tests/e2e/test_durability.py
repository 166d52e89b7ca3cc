"""Durability across restarts: snapshots at boot, and a disk that fills up."""

from __future__ import annotations

import contextlib
import os
import subprocess

import pytest

from conserje.testing import payloads
from conserje.testing.wait import wait_for
from tests.e2e.conftest import settle

pytestmark = pytest.mark.e2e

GUEST = "34622333444@s.whatsapp.net"


def test_a_restart_from_a_snapshot_keeps_the_conversation(make_server, whapi_fake, openai_fake):
    server = make_server(JOURNAL_SNAPSHOT_EVENTS="1")
    server.start()
    whapi_fake.post_webhook(payloads.text_message(GUEST, "Llegamos el viernes"))
    settle(server, whapi_fake, turns=1)
    server.stop()
    server.restart()  # replays the first turn and writes a snapshot
    server.stop()
    assert list((server.data_dir / "snapshots").glob("*.snapshot"))

    server.restart()  # boots from the snapshot, with nothing after it to replay
    whapi_fake.post_webhook(payloads.text_message(GUEST, "¿Y el parking?"))
    settle(server, whapi_fake, turns=2)
    server.stop()

    assert "0 events replayed after snapshot" in server.log_text()
    second_input = str(openai_fake.created()[1]["input"])
    assert "Llegamos el viernes" in second_input
    assert "echo: Llegamos el viernes" in second_input


@pytest.fixture
def tiny_disk(tmp_path):
    """A 512 KiB file system of its own, so the journal can really run out of space."""
    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mountpoint)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {mounted.stderr.decode().strip()}")
    yield mountpoint
    subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def fill(mountpoint):
    """Take every free byte of the file system; return the filler file."""
    filler = mountpoint / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (65536, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    return filler


def test_a_full_disk_stops_acknowledging_and_exits_then_restarts_whole(
    make_server, whapi_fake, openai_fake, tiny_disk
):
    server = make_server(data_dir=tiny_disk / "data")
    server.start()
    whapi_fake.post_webhook(payloads.text_message(GUEST, "antes de llenar el disco"))
    settle(server, whapi_fake, turns=1)
    filler = fill(tiny_disk)

    acknowledged, refused = [], None
    for n in range(60):
        payload = payloads.text_message(GUEST, f"mensaje {n} " + "x" * 200)
        status = server.post("/hook", json=payload).status_code
        if status != 200:
            refused = (status, payload)
            break
        acknowledged.append(payload["messages"][0]["id"])
    assert refused is not None
    assert refused[0] == 503
    wait_for(lambda: server.process.poll() is not None, timeout=15, what="the server exits")
    assert server.process.returncode != 0
    server.process = None

    filler.unlink()
    server.restart()
    stored = {e["message_id"] for e in server.events("message_received")}
    assert set(acknowledged) <= stored
    assert refused[1]["messages"][0]["id"] not in stored
    assert server.post("/hook", json=refused[1]).status_code == 200
    server.stop()


def test_a_damaged_journal_stops_the_start_with_advice_and_changes_nothing(
    make_server, whapi_fake, openai_fake
):
    server = make_server().start()
    for text in ("uno", "dos"):
        whapi_fake.post_webhook(payloads.text_message(GUEST, text))
    settle(server, whapi_fake, turns=1)
    server.stop()
    (segment,) = server.journal_dir.glob("*.jsonl")
    segment.write_bytes(segment.read_bytes().replace(b'"text":"uno"', b'"text":"UNO"'))
    damaged = segment.read_bytes()

    with pytest.raises(RuntimeError, match="exited with 1"):
        server.start()
    server.process = None

    log = server.log_text()
    assert f"{segment}: line 1: hash does not match" in log
    assert "conserje log verify" in log
    assert "Traceback" not in log
    assert segment.read_bytes() == damaged
