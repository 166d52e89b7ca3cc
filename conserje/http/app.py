"""The Falcon application: routes to resources, nothing else."""

from __future__ import annotations

import falcon

from conserje.http.admin import (
    HealthResource,
    InfoResource,
    LocksClearResource,
    LocksResource,
    ReadyResource,
)
from conserje.http.chats import PauseResource, ResetResource, ResumeResource
from conserje.http.dashboard_page import DashboardAsset, DashboardPage, DashboardStats
from conserje.http.failures import UnexpectedErrorHandler
from conserje.http.live import EventStreamResource
from conserje.http.metrics import MetricsResource
from conserje.http.timeline import TimelineResource
from conserje.http.webhook import HookResource
from conserje.runtime import Runtime

__all__ = ["create_app"]


def create_app(runtime: Runtime) -> falcon.App:
    """Build the WSGI app for ``runtime``."""
    app = falcon.App()
    app.add_error_handler(Exception, UnexpectedErrorHandler(runtime.metrics))
    hook = HookResource(runtime)
    app.add_route("/hook", hook)
    app.add_route("/hook/{token}", hook)
    app.add_route("/health", HealthResource(runtime))
    app.add_route("/ready", ReadyResource(runtime))
    app.add_route("/", InfoResource(runtime))
    app.add_route("/locks", LocksResource(runtime))
    app.add_route("/locks/clear", LocksClearResource(runtime))
    app.add_route("/metrics", MetricsResource(runtime))
    app.add_route("/chats/{chat}/pause", PauseResource(runtime))
    app.add_route("/chats/{chat}/resume", ResumeResource(runtime))
    app.add_route("/chats/{chat}/reset", ResetResource(runtime))
    app.add_route("/chats/{chat}/timeline", TimelineResource(runtime))
    app.add_route("/dashboard", DashboardPage(runtime))
    app.add_route("/dashboard/events", EventStreamResource(runtime))
    app.add_route("/dashboard/stats", DashboardStats(runtime))
    for asset in ("dashboard.css", "dashboard.js"):
        app.add_route(f"/dashboard/{asset}", DashboardAsset(asset))
    return app
