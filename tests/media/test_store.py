"""Media on disk: named by content, and deleted past retention."""

from __future__ import annotations

import os
import time

from conserje.media.store import MediaStore


def test_guest_files_are_named_by_their_hash_and_read_back(tmp_path):
    store = MediaStore(tmp_path / "media", tmp_path / "audio", retention_days=30)

    stored = store.save_media(b"photo bytes", "image/jpeg")

    assert stored.name == f"{stored.sha256}.jpg"
    assert store.read_media(stored.name) == b"photo bytes"
    assert store.read_media("../audio/x") is None
    assert store.read_media("missing.jpg") is None


def test_spoken_replies_get_names_the_audio_route_serves(tmp_path):
    store = MediaStore(tmp_path / "media", tmp_path / "audio", retention_days=30)

    first, second = store.save_audio(b"one"), store.save_audio(b"two")

    assert first != second
    assert store.audio_path(first) == tmp_path / "audio" / first
    assert store.read_audio(second) == b"two"
    assert store.audio_path("../media/x.ogg") is None


def test_the_sweep_deletes_only_files_past_retention(tmp_path):
    store = MediaStore(tmp_path / "media", tmp_path / "audio", retention_days=2)
    old_photo = tmp_path / "media" / store.save_media(b"old", "image/jpeg").name
    new_photo = tmp_path / "media" / store.save_media(b"new", "image/jpeg").name
    old_voice = tmp_path / "audio" / store.save_audio(b"old voice")
    three_days_ago = time.time() - 3 * 86_400
    for path in (old_photo, old_voice):
        os.utime(path, (three_days_ago, three_days_ago))

    assert store.sweep() == 2

    assert not old_photo.exists()
    assert not old_voice.exists()
    assert new_photo.read_bytes() == b"new"


def test_the_sweep_of_an_empty_data_dir_does_nothing(tmp_path):
    assert MediaStore(tmp_path / "m", tmp_path / "a", retention_days=1).sweep() == 0
