"""Ids and links from webhooks cannot steer Whapi calls elsewhere (real HTTP, fake Whapi)."""

from __future__ import annotations

import contextlib

import pytest

from conserje.errors import WhapiError
from conserje.testing.fake_whapi import FakeWhapi
from conserje.whapi.client import WhapiClient

TOKEN = "whapi-token"
HOSTILE = [
    "../../settings?x=",
    "..",
    ".",
    "a/../../messages/text",
    "%2e%2e/%2e%2e/users",
    "x#y",
    "",
]


@pytest.fixture
def whapi():
    with FakeWhapi(token=TOKEN) as fake:
        client = WhapiClient(fake.url, TOKEN, timeout=5)
        yield fake, client
        client.close()


def test_a_hostile_chat_id_cannot_reach_another_whapi_endpoint(whapi):
    fake, client = whapi

    for contact in HOSTILE:
        chat = f"{contact}@s.whatsapp.net"
        with contextlib.suppress(WhapiError):
            client.subscribe_presence(contact)
        with contextlib.suppress(WhapiError):
            client.set_presence(chat, "typing")
        with contextlib.suppress(WhapiError):
            client.list_sent(chat, since=0)

    paths = [(r.method, r.path) for r in fake.requests()]
    assert paths, "no call reached the fake"
    for method, path in paths:
        assert path.startswith(("/presences/", "/messages/list/")), (method, path)
        assert not path.endswith(("/..", "/."))
    assert fake.subscriptions <= {c for c in HOSTILE if c not in ("", ".", "..")}


def test_ordinary_ids_reach_whapi_as_they_are(whapi):
    fake, client = whapi

    client.subscribe_presence("34600111222")
    client.set_presence("34600111222@s.whatsapp.net", "typing")

    assert fake.subscriptions == {"34600111222"}
    assert fake.presences_set == [("34600111222@s.whatsapp.net", "typing")]


def test_a_media_link_to_a_private_or_local_address_is_never_fetched(whapi):
    _, client = whapi
    with FakeWhapi(token="other") as internal:
        internal.add_media("secret", b"internal data", "image/jpeg")
        for link in (
            internal.media_link("secret"),
            internal.media_link("secret").replace("127.0.0.1", "localhost"),
            f"http://[::1]:{internal.url.rsplit(':', 1)[1]}/x",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.1/x.jpg",
            "file:///etc/passwd",
            "gopher://127.0.0.1/x",
            "http:///x.jpg",
            "http://127.0.0.1:99999/x.jpg",
        ):
            with pytest.raises(WhapiError):
                client.get_link(link, max_bytes=1_000_000, timeout=5)

        assert internal.requests() == []


def test_a_media_link_on_whapis_own_host_is_fetched(whapi):
    fake, client = whapi
    fake.add_media("photo-1", b"jpeg bytes", "image/jpeg")

    assert client.get_link(fake.media_link("photo-1"), max_bytes=1_000, timeout=5) == b"jpeg bytes"
