"""What a request that fails unexpectedly gets: a 500, a log line and a count."""

from __future__ import annotations

import logging
from typing import Any

import falcon

from conserje.metrics import Metrics

__all__ = ["UnexpectedErrorHandler"]

log = logging.getLogger(__name__)


class UnexpectedErrorHandler:
    """Falcon's handler for any exception that is not an HTTP answer.

    Falcon picks the most specific handler, so ``HTTPError`` keeps its own.
    """

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def __call__(
        self, req: falcon.Request, resp: falcon.Response, ex: Exception, params: dict[str, Any]
    ) -> None:
        """Log and count the exception, and answer 500 without its details."""
        self._metrics.unexpected_errors.labels("request").inc()
        log.error("%s %s failed unexpectedly", req.method, req.path, exc_info=ex)
        raise falcon.HTTPInternalServerError(description="an unexpected error; it was logged")
