"""A request that fails unexpectedly gets a 500, a log line and a count; the app goes on."""

from __future__ import annotations

import falcon
import falcon.testing

from conserje.http.app import create_app


class Broken:
    """A resource with a bug, as any future one might have."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Fail the way a bug does."""
        raise KeyError("a bug in a resource")


def test_an_unexpected_exception_in_a_request_is_a_500_logged_and_counted(runtime, caplog):
    app = create_app(runtime)
    app.add_route("/broken", Broken())
    client = falcon.testing.TestClient(app)
    failures = 'conserje_unexpected_errors_total{where="request"} '

    answer = client.simulate_get("/broken")

    assert answer.status_code == 500
    assert "a bug in a resource" not in answer.text
    assert "GET /broken failed unexpectedly" in caplog.text
    assert failures + "1.0" in client.simulate_get("/metrics").text
    # HTTP answers keep their own handler, and the app keeps serving.
    assert client.simulate_get("/no/such/page").status_code == 404
    assert client.simulate_get("/health").status_code == 200
    assert failures + "1.0" in client.simulate_get("/metrics").text
