"""Ids and links from webhooks cannot steer Whapi calls elsewhere (real HTTP, fake Whapi)."""

from __future__ import annotations

import contextlib
import http.server
import threading

import pytest

from conserje.errors import WhapiError
from conserje.testing.fake_whapi import FakeWhapi
from conserje.whapi.client import WhapiClient
from conserje.whapi.links import pin_link

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


class ForwardProxy:
    """An HTTP forward proxy on 127.0.0.1 that answers every request itself and records it.

    A client sends a proxy the full target (``GET http://<host>/path``), so the record
    shows which address the client meant to connect to, without leaving this machine.
    """

    def __init__(self, body: bytes) -> None:
        self.seen: list[tuple[str, str | None]] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                proxy.seen.append((self.path, self.headers.get("Host")))
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> ForwardProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class Rebinding:
    """A resolver whose answer turns from a public address to a local one after one look."""

    def __init__(self, first: list[str], then: list[str]) -> None:
        self.answers = [first]
        self.then = then
        self.asked: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append((host, port))
        return self.answers.pop(0) if self.answers else self.then


PUBLIC = "93.184.215.14"


def test_a_media_link_is_fetched_from_the_address_that_was_checked(monkeypatch):
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    resolver = Rebinding([PUBLIC], ["127.0.0.1"])
    with FakeWhapi(token=TOKEN) as fake, ForwardProxy(b"photo bytes") as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        client = WhapiClient(fake.url, TOKEN, timeout=5, resolve=resolver)

        data = client.get_link(
            "http://files.rebind.test:8080/f/photo.jpg?x=1", max_bytes=1_000, timeout=5
        )
        client.close()

    assert data == b"photo bytes"
    # Looked up once, for the check; the fetch went to the address the check approved,
    # naming the link's own host, so a changed DNS answer never reaches the fetch.
    assert resolver.asked == [("files.rebind.test", 8080)]
    assert proxy.seen == [(f"http://{PUBLIC}:8080/f/photo.jpg?x=1", "files.rebind.test:8080")]


def test_an_https_link_names_its_host_in_tls_and_is_pinned_to_the_checked_address():
    resolver = Rebinding(["2606:2800:21f:cb07:6820:80da:af6b:8b2c"], ["::1"])

    pinned = pin_link("https://Files.Rebind.test/f/a.ogg", ("https", "gate.test", 443), resolver)

    assert pinned.url == "https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/f/a.ogg"
    assert pinned.headers == {"Host": "files.rebind.test"}
    assert pinned.extensions == {"sni_hostname": "files.rebind.test"}


@pytest.mark.parametrize(
    "answer",
    [
        [PUBLIC, "10.0.0.7"],
        ["127.0.0.1"],
        ["::ffff:127.0.0.1"],
        # IPv6 forms a NAT64 gateway or a tunnel turns into a private IPv4 address.
        ["64:ff9b::a00:7"],
        ["::10.0.0.7"],
        ["::127.0.0.1"],
        ["2002:a00:7::1"],
        # NAT64's local-use prefix (any IPv4 address behind it), deprecated site-local
        # addresses, and multicast: none is a public host.
        ["64:ff9b:1::a00:7"],
        ["fec0::1"],
        ["ff02::1"],
        [],
        ["not-an-address"],
    ],
)
def test_a_link_whose_name_resolves_to_any_non_public_address_is_refused(answer):
    with pytest.raises(WhapiError):
        pin_link("http://files.rebind.test/x", ("https", "gate.test", 443), lambda h, p: answer)


@pytest.mark.parametrize("answer", [[PUBLIC], ["64:ff9b::5db8:d70e"], ["2606:2800:21f::1"]])
def test_a_link_whose_name_resolves_to_public_addresses_only_is_pinned(answer):
    pinned = pin_link(
        "http://files.rebind.test/x", ("https", "gate.test", 443), lambda h, p: answer
    )

    assert pinned.headers == {"Host": "files.rebind.test"}
    assert answer[0] in pinned.url


def test_a_link_on_whapis_own_host_is_fetched_as_it_is_without_a_lookup():
    def no_lookup(host: str, port: int) -> list[str]:
        raise AssertionError("Whapi's own host is trusted as configured")

    pinned = pin_link("https://gate.test/files/x", ("https", "gate.test", 443), no_lookup)

    assert (pinned.url, pinned.headers, pinned.extensions) == ("https://gate.test/files/x", {}, {})
