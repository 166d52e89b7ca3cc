"""Media past MEDIA_RETENTION_DAYS is deleted by the periodic sweep, on the actors' clock."""

from __future__ import annotations

import os

import openai

from conserje.media.ingest import MediaIngest
from conserje.media.store import MediaStore
from conserje.whapi.client import WhapiClient
from tests.actors.test_chat_actor import actor_world, tick

DAY = 86_400


def test_the_periodic_sweep_deletes_media_past_retention(tmp_path):
    store = MediaStore(tmp_path / "media", tmp_path / "audio", retention_days=30)
    # Never called here: the sweep only needs the store.
    whapi = WhapiClient("http://127.0.0.1:9", "t")
    client = openai.OpenAI(api_key="k", base_url="http://127.0.0.1:9/v1")
    media = MediaIngest(
        whapi,
        client,
        store,
        transcribe_model="gpt-transcribe",
        timeout=1.0,
        max_bytes=1000,
        image_max_bytes=1000,
        file_input=True,
    )
    with actor_world(tmp_path, deps_options={"media": media}, sweep_every=600.0) as built:
        clock = built[0]
        supervisor = built[2]
        old_photo = store.media_dir / store.save_media(b"old photo", "image/jpeg").name
        old_voice = store.audio_dir / store.save_audio(b"old voice")
        recent = store.media_dir / store.save_media(b"recent", "image/jpeg").name
        for path, age_days in ((old_photo, 31), (old_voice, 40), (recent, 29)):
            at = clock.now() - age_days * DAY
            os.utime(path, (at, at))
        tick(supervisor, clock)
        assert old_photo.exists()

        clock.advance(601)
        tick(supervisor, clock)

        assert not old_photo.exists()
        assert not old_voice.exists()
        assert recent.read_bytes() == b"recent"
    whapi.close()
