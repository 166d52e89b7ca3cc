"""The Falcon application: routes to resources, nothing else."""

from __future__ import annotations

from collections.abc import Iterable

import falcon

from conserje.http.admin import (
    HealthResource,
    InfoResource,
    LocksClearResource,
    LocksResource,
    ReadyResource,
)
from conserje.http.audio import AudioResource
from conserje.http.chats import PauseResource, ResetResource, ResumeResource
from conserje.http.dashboard_page import DashboardAsset, DashboardPage, DashboardStats
from conserje.http.failures import UnexpectedErrorHandler
from conserje.http.live import EventStreamResource
from conserje.http.metrics import MetricsResource
from conserje.http.openapi import OpenApiResource
from conserje.http.timeline import TimelineResource
from conserje.http.webhook import HookResource
from conserje.runtime import Runtime

__all__ = ["create_app"]


def create_app(runtime: Runtime, extra_routes: Iterable[tuple[str, object]] = ()) -> falcon.App:
    """Build the WSGI app for ``runtime``, with ``extra_routes`` (the demo's) added."""
    app = falcon.App()
    app.add_error_handler(Exception, UnexpectedErrorHandler(runtime.metrics))
    hook = HookResource(runtime)
    app.add_route("/hook", hook)
    # Whapi's path and method modes append the event type (and method) to the URL; Falcon
    # needs one field name per position, so the segments are named by their first use.
    app.add_route("/hook/{token}", hook, suffix="typed")
    app.add_route("/hook/{token}/{event}", hook, suffix="typed")
    app.add_route("/hook/{token}/{event}/{method}", hook, suffix="path")
    app.add_route("/health", HealthResource(runtime))
    app.add_route("/ready", ReadyResource(runtime))
    app.add_route("/", InfoResource(runtime))
    app.add_route("/locks", LocksResource(runtime))
    app.add_route("/locks/clear", LocksClearResource(runtime))
    app.add_route("/metrics", MetricsResource(runtime))
    app.add_route("/openapi.yaml", OpenApiResource())
    app.add_route("/chats/{chat}/pause", PauseResource(runtime))
    app.add_route("/chats/{chat}/resume", ResumeResource(runtime))
    app.add_route("/chats/{chat}/reset", ResetResource(runtime))
    app.add_route("/chats/{chat}/timeline", TimelineResource(runtime))
    app.add_route("/dashboard", DashboardPage(runtime))
    app.add_route("/dashboard/events", EventStreamResource(runtime))
    app.add_route("/dashboard/stats", DashboardStats(runtime))
    # The path converter takes the rest of the path, so a name with slashes (or ``..``)
    # reaches the resource and is refused with 400 rather than falling through to 404.
    app.add_route("/audio/{filename:path}", AudioResource(runtime))
    for asset in ("dashboard.css", "dashboard.js", "live.js"):
        app.add_route(f"/dashboard/{asset}", DashboardAsset(asset))
    for route, resource in extra_routes:
        app.add_route(route, resource)
    return app
