"""``GET /openapi.yaml``: the OpenAPI 3.1 description of this server's HTTP API.

The file ships in the package (``conserje/http/openapi.yaml``) and is served as written;
a test compares its paths with the routes the app registers, so none goes undocumented.
"""

from __future__ import annotations

from importlib import resources

import falcon

__all__ = ["SPEC_FILE", "OpenApiResource"]

SPEC_FILE = "openapi.yaml"
"""The description's file name in this package."""


class OpenApiResource:
    """Serves the description (no token: it holds nothing secret)."""

    def __init__(self) -> None:
        self._data = (resources.files(__package__) / SPEC_FILE).read_bytes()

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Serve the file."""
        resp.content_type = "application/yaml"
        resp.data = self._data
