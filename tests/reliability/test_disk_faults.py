"""Disk faults under the journal: the server stops acknowledging, exits, and comes back whole.

Each fault is real (a full tmpfs, an ext4 whose ``fdatasync`` fails, a read-only
directory); the server meets it through the kernel. In every case: the delivery the
journal could not take gets 503 (Whapi retries it), the server exits non-zero, and once
the fault is fixed it starts cleanly, with every acknowledged message, and answers each
one exactly once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from conserje.testing import payloads
from conserje.testing.wait import wait_for
from tests.reliability import disks
from tests.reliability.checker import check
from tests.reliability.rig import Rig, rig

pytestmark = pytest.mark.e2e

GUEST = "34633444555@s.whatsapp.net"


def until_refused(r: Rig, limit: int = 400) -> tuple[list[dict[str, Any]], dict[str, Any], Any]:
    """Deliver messages until one is not answered 200; return the acknowledged, that one, why."""
    acknowledged = []
    for n in range(limit):
        payload = payloads.text_message(GUEST, f"mensaje k{n:06d} " + "x" * 300)
        try:
            status = r.server.post("/hook", json=payload).status_code
        except httpx2.HTTPError as exc:
            status = exc
        if status != 200:
            return acknowledged, payload, status
        acknowledged.append(payload)
    pytest.fail(f"the journal took {limit} deliveries without a fault")


def exits_non_zero(r: Rig) -> str:
    process = r.server.process
    wait_for(lambda: process.poll() is not None, timeout=20, what="the server exits")
    assert process.returncode != 0
    r.server.process = None
    return r.server.log_text()


def comes_back_whole(r: Rig, acknowledged: list[dict[str, Any]], refused: dict[str, Any]) -> None:
    r.server.restart()
    stored = {e["message_id"] for e in r.server.events("message_received")}
    ids = {
        p["messages"][0]["id"]: p["messages"][0]["text"]["body"].split()[1] for p in acknowledged
    }
    assert set(ids) <= stored, "everything acknowledged is in the journal"
    assert r.server.post("/hook", json=refused).status_code == 200, "Whapi's retry is taken"
    refused_message = refused["messages"][0]
    ids[refused_message["id"]] = refused_message["text"]["body"].split()[1]

    def answered() -> bool:
        said = " ".join(m.body for m in r.whapi.sent)
        return all(token in said for token in ids.values())

    wait_for(answered, timeout=60, what="every message answered")
    wait_for(lambda: r.server.get("/locks").json()["activeLocks"] == 0, what="no turn at work")
    r.server.stop()
    figures = check(
        "disk",
        ids,
        r.server.journal(),
        sent_bodies=[m.body for m in r.whapi.sent],
        running=r.openai.running(),
        data_dir=r.server.data_dir,
    )
    assert figures.ok, figures.report()


@contextlib.contextmanager
def full_tmpfs(root: Path) -> Iterator[tuple[Path, Path]]:
    with disks.tiny_disk(root / "disk") as disk:
        yield disk, disk


@pytest.mark.parametrize(
    ("disk", "said"),
    [(full_tmpfs, "No space left on device"), (disks.thin_disk, "fdatasync failed")],
    ids=["full disk", "failing fdatasync"],
)
def test_a_disk_that_stops_taking_writes(tmp_path, disk, said):
    with disk(tmp_path) as (mounted, backing), rig(tmp_path, data_dir=mounted / "data") as r:
        r.server.start()
        filler = disks.fill(backing)
        acknowledged, refused, status = until_refused(r)
        assert status == 503
        log = exits_non_zero(r)
        assert said in log
        # The page cache may hold the refused batch while the disk does not: a restart
        # must not read it back as journaled (and find zeros there later).
        refused_id = refused["messages"][0]["id"].encode()
        assert not any(refused_id in f.read_bytes() for f in r.server.journal_dir.iterdir())
        assert "cut back to its last synced size" in log

        filler.unlink()
        comes_back_whole(r, acknowledged, refused)


def test_a_journal_directory_that_turns_read_only(tmp_path):
    # Small segments, so the journal soon has to create a file in the directory.
    with rig(tmp_path, JOURNAL_SEGMENT_BYTES="4096") as r:
        r.server.start()
        with disks.read_only(r.server.journal_dir):
            acknowledged, refused, status = until_refused(r)
            # The failure comes after a batch, as the next segment is opened: the server
            # is already stopping when the next delivery comes, which Whapi retries too.
            assert status == 503 or isinstance(status, httpx2.TransportError)
            log = exits_non_zero(r)
            assert "opening" in log
            assert "Read-only file system" in log
        comes_back_whole(r, acknowledged, refused)


def test_a_data_dir_that_is_read_only_at_boot(tmp_path):
    with rig(tmp_path) as r:
        r.server.start()
        acknowledged = [payloads.text_message(GUEST, f"antes k{n:06d}") for n in range(3)]
        for payload in acknowledged:
            assert r.server.post("/hook", json=payload).status_code == 200
        r.server.kill()
        with disks.read_only(r.server.data_dir):
            with pytest.raises(RuntimeError, match="exited with 2"):
                r.server.start()
            r.server.process = None
            log = r.server.log_text()
            assert "is not a writable directory" in log
            assert "Traceback" not in log
        refused = payloads.text_message(GUEST, "después k000099")
        comes_back_whole(r, acknowledged, refused)
