"""Real disk faults for the journal: full, failing to sync, read-only.

Each helper mounts a file system of its own (tests run as root in CI; elsewhere they
skip), so the server meets the fault through the kernel exactly as it would in
production, with nothing in the server replaced.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["fill", "read_only", "thin_disk", "tiny_disk"]


def _run(*command: str) -> None:
    done = subprocess.run(command, capture_output=True, check=False, timeout=60)
    if done.returncode != 0:
        pytest.skip(f"cannot {' '.join(command[:2])} here: {done.stderr.decode().strip()}")


def _unmount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False, timeout=60)


@contextlib.contextmanager
def tiny_disk(mountpoint: Path, size: str = "512k") -> Iterator[Path]:
    """Mount a tmpfs of ``size`` at ``mountpoint``, so it can really run out of space."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    _run("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mountpoint))
    try:
        yield mountpoint
    finally:
        _unmount(mountpoint)


@contextlib.contextmanager
def thin_disk(root: Path) -> Iterator[tuple[Path, Path]]:
    """An ext4 file system whose writes fail at ``fdatasync`` once its backing is full.

    The ext4 sits on a loop device over a sparse 64 MiB image on an 8 MiB tmpfs (thin
    provisioning): it believes it has room, so ``write`` succeeds into the page cache,
    and the failure comes when ``fdatasync`` writes the pages back, as with a failing
    or overcommitted disk.

    Yields:
        The ext4's mount point, and the tmpfs behind it (to :func:`fill`).
    """
    backing, mountpoint = root / "backing", root / "thin"
    with tiny_disk(backing, "8m"):
        image = backing / "disk.img"
        with image.open("wb") as f:
            f.truncate(64 * 1024 * 1024)
        _run("mkfs.ext4", "-q", "-F", "-O", "^has_journal", "-E", "nodiscard", str(image))
        mountpoint.mkdir()
        _run("mount", "-o", "loop", str(image), str(mountpoint))
        try:
            yield mountpoint, backing
        finally:
            _unmount(mountpoint)


@contextlib.contextmanager
def read_only(directory: Path) -> Iterator[Path]:
    """Make ``directory`` read-only for new files (a read-only bind mount over itself).

    Files the server already holds open stay writable, as with a directory whose
    permissions change under a running process; creating a file there fails with EROFS.
    """
    _run("mount", "--bind", str(directory), str(directory))
    try:
        _run("mount", "-o", "remount,ro,bind", str(directory))
        yield directory
    finally:
        _unmount(directory)


def fill(mountpoint: Path) -> Path:
    """Take every free byte of the file system at ``mountpoint``; return the filler file."""
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
