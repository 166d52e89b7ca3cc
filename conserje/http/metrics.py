"""``GET /metrics``: the Prometheus exposition of the server's own registry."""

from __future__ import annotations

import falcon
from prometheus_client import CONTENT_TYPE_LATEST

from conserje.runtime import Runtime

__all__ = ["MetricsResource"]


class MetricsResource:
    """Serves every metric of :class:`conserje.metrics.Metrics` in the text format."""

    def __init__(self, runtime: Runtime) -> None:
        self._metrics = runtime.metrics

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Render the metrics; answers from boot on, like ``/health``."""
        resp.content_type = CONTENT_TYPE_LATEST
        resp.data = self._metrics.exposition()
